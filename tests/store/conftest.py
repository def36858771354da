"""Fixtures of the store tests: real SQLite files in tmp_path, an injected clock."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from store_helpers import Clock

from edgewatch.store import Store, StoreOptions

OpenStore = Callable[..., Store]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def open_store(data_dir: Path, clock: Clock) -> Iterator[OpenStore]:
    """``open_store(options=None, readonly=False)``: a store in data_dir, closed at teardown."""
    opened: list[Store] = []

    def _open(options: StoreOptions | None = None, *, readonly: bool = False) -> Store:
        store = Store.open(data_dir, options, readonly=readonly, clock=clock)
        opened.append(store)
        return store

    yield _open
    for store in reversed(opened):
        with contextlib.suppress(sqlite3.ProgrammingError):  # the test closed it already
            store.close()

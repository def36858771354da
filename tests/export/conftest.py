"""Fixtures of the remote_write tests: a fake clock and a store filled with a backlog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from remote_write_support import FakeTime, filled_store, new_fake

from edgewatch.store import Store


@pytest.fixture
def fake() -> FakeTime:
    return new_fake()


@pytest.fixture
def store(tmp_path: Path, fake: FakeTime) -> Iterator[Store]:
    """A store holding the backlog remote_write_support.py describes, closed after."""
    s = filled_store(tmp_path, fake)
    try:
        yield s
    finally:
        s.close()

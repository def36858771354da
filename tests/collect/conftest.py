"""Fixtures of the collector tests: writable copies of the fake /proc and /sys trees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from collect_helpers import PROC, SYS


@pytest.fixture
def proc_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(PROC, tmp_path / "proc"))


@pytest.fixture
def sys_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SYS, tmp_path / "sys"))

"""Fixtures every real-cluster test folder shares; each folder's conftest adds its cluster's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reflow.stores.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A fresh SQLite manifest store of the test's own, in its ``tmp_path``.

    Its own: runs of the same tasks by another test would serve this one's from the cache.
    """
    made = SqliteStore(tmp_path / "manifest.db")
    made.init()
    yield made
    made.close()

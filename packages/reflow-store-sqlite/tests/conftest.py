"""Fixtures shared by the SQLite store's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow_store_sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    """A new store in the test's directory, holding one run, ``run-1``."""
    store = SqliteStore(tmp_path / "manifest.db")
    store.init()
    store.insert_run("run-1", "pipeline", "alice", {})
    return store

"""SqliteStore against the store conformance suite shipped in reflow.testing."""

from __future__ import annotations

from pathlib import Path

from reflow.stores import Store
from reflow.testing.store import StoreConformance
from reflow_store_sqlite import SqliteStore


class TestSqliteStoreConformance(StoreConformance):
    __test__ = True

    def make_store(self, tmp_path: Path) -> Store:
        return SqliteStore(tmp_path / "store" / "manifest.db")

    def open_peer(self, store: Store, tmp_path: Path) -> Store | None:
        assert isinstance(store, SqliteStore)
        return SqliteStore(store.path)

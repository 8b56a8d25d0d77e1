"""PostgresStore against the store conformance suite shipped in reflow.testing."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.stores import Store
from reflow.testing.store import StoreConformance
from reflow_store_postgres import PostgresStore


class TestPostgresStoreConformance(StoreConformance):
    __test__ = True

    @pytest.fixture(autouse=True)
    def _fresh_schema(self, schema_url: str) -> None:
        # Each test gets its own schema, so tests never see each other's runs.
        self.url = schema_url

    def make_store(self, tmp_path: Path) -> Store:
        return PostgresStore(self.url, connect_timeout=5)

    def open_peer(self, store: Store, tmp_path: Path) -> Store | None:
        return PostgresStore(store.url, connect_timeout=5)

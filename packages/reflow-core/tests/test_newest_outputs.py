"""``Store.newest_outputs``: the ahead cache index, one row per identity, default and SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.stores import Store
from reflow.testing.store import RUN, StoreConformance

sqlite = pytest.importorskip("reflow_store_sqlite")


class DefaultOnly(sqlite.SqliteStore):  # type: ignore[misc,name-defined]
    """The SQLite store answering with the Store ABC's default (every run read)."""

    newest_outputs = Store.newest_outputs


class Suite(StoreConformance):
    """The conformance suite's test of newest_outputs, run on one store here."""

    def make_store(self, tmp_path: Path) -> Store:
        raise NotImplementedError  # the test below makes its stores


@pytest.mark.parametrize("store_class", [sqlite.SqliteStore, DefaultOnly])
def test_newest_outputs_is_one_row_per_identity_across_workflows(
    tmp_path: Path, store_class: type[Store]
) -> None:
    store = store_class(tmp_path / "manifest.db")  # type: ignore[call-arg]
    store.init()
    store.insert_run(RUN, "pipeline", "alice", {"n": 3})
    try:
        Suite().test_newest_outputs_is_what_find_cached_outputs_finds(store)
    finally:
        store.close()

"""Shared fixtures of reflow-core's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def store(tmp_path: Path) -> Iterator[object]:
    """A fresh SQLite manifest store in the test's own directory."""
    from reflow.stores.sqlite import SqliteStore

    st = SqliteStore(tmp_path / "store" / "manifest.db")
    st.init()
    yield st
    st.close()


@pytest.fixture(autouse=True)
def _private_store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's real manifest database or config from a test."""
    monkeypatch.setenv("REFLOW_STORE_PATH", str(tmp_path / "default-store" / "manifest.db"))
    monkeypatch.delenv("REFLOW_STORE", raising=False)  # it would win over the path
    monkeypatch.delenv("REFLOW_SHARE_CACHE", raising=False)  # tests choose whose hits count
    monkeypatch.setenv("REFLOW_CONFIG", str(tmp_path / "no-config.toml"))
    (tmp_path / "no-config.toml").write_text("")

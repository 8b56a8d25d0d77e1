"""Where the database lives, and how the store is found as a plugin."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
from platformdirs import user_cache_dir

import reflow_store_sqlite
from reflow.stores import Config
from reflow_store_sqlite import SqliteStore, default_path


def test_environment_variable_wins(tmp_path: Path) -> None:
    config = Config({"store": {"path": str(tmp_path / "from-config.db")}}, environ={})
    environ = {"REFLOW_STORE_PATH": str(tmp_path / "from-env.db")}
    assert default_path(config, environ) == tmp_path / "from-env.db"


def test_configuration_comes_next(tmp_path: Path) -> None:
    config = Config({"store": {"path": str(tmp_path / "from-config.db")}}, environ={})
    assert default_path(config, {}) == tmp_path / "from-config.db"


def test_user_cache_directory_is_the_default() -> None:
    expected = Path(user_cache_dir("reflow", appauthor=False)).absolute() / "manifest.db"
    assert default_path(Config({}, environ={}), {}) == expected


def test_paths_are_absolute_and_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_path(Config({}, environ={}), {"REFLOW_STORE_PATH": "rel/m.db"}) == (
        tmp_path / "rel" / "m.db"
    )
    home = default_path(Config({}, environ={}), {"REFLOW_STORE_PATH": "~/m.db"})
    assert home == Path.home() / "m.db"


def test_without_config_the_user_file_is_read(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[store]\npath = "{tmp_path / "chosen.db"}"\n', encoding="utf-8")
    assert default_path(None, {"REFLOW_CONFIG": str(config_file)}) == tmp_path / "chosen.db"


def test_default_store_uses_the_default_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFLOW_STORE_PATH", str(tmp_path / "shared.db"))
    store = SqliteStore.default(Config({}, environ={}))
    assert store.path == tmp_path / "shared.db"
    assert SqliteStore.default_path(Config({}, environ={})) == tmp_path / "shared.db"
    assert not store.path.exists()  # nothing happens before first use
    store.init()
    assert store.path.is_file()
    assert SqliteStore.default(readonly=True).readonly


def test_store_for_a_run_directory(tmp_path: Path) -> None:
    store = SqliteStore.for_run_dir(tmp_path / "run1")
    assert store.path == tmp_path / "run1" / "manifest.db"
    store.insert_run("r", "g", "u", {})
    assert (tmp_path / "run1" / "manifest.db").is_file()


def test_registered_as_the_sqlite_store_plugin() -> None:
    [entry_point] = [e for e in entry_points(group="reflow.stores") if e.name == "sqlite"]
    assert entry_point.load() is SqliteStore


def test_reachable_from_the_core_import_path() -> None:
    from reflow.stores.sqlite import SqliteStore as FromCore

    assert FromCore is SqliteStore
    assert reflow_store_sqlite.SqliteStore is SqliteStore

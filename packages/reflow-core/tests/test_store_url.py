"""Choosing the manifest store by URL: REFLOW_STORE, [store] url, and how they rank with paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reflow import plugins
from reflow.cli.main import main
from reflow.config import Config, load_config, store_url
from reflow.engine.scheduler.dispatcher import dispatcher_command
from reflow.errors import ConfigError, PluginNotFoundError
from reflow.stores import configured_url, open_store, url_scheme


def _config(tmp_path: Path, **store: str) -> Config:
    return Config({"store": dict(store)} if store else {}, environ={})


# -- which store is selected -----------------------------------------------------


def test_reflow_store_wins_over_every_other_setting(tmp_path: Path) -> None:
    config = _config(tmp_path, url="sqlite:///file/url.db", path="/file/path.db")
    environ = {"REFLOW_STORE": "sqlite:///env/url.db", "REFLOW_STORE_PATH": "/env/path.db"}
    assert store_url(config, environ) == "sqlite:///env/url.db"


def test_the_environment_path_wins_over_the_files_url(tmp_path: Path) -> None:
    config = _config(tmp_path, url="sqlite:///file/url.db")
    assert store_url(config, {"REFLOW_STORE_PATH": "/env/path.db"}) == "sqlite:///env/path.db"


def test_in_the_file_the_url_wins_over_the_path(tmp_path: Path) -> None:
    config = _config(tmp_path, url="sqlite:///file/url.db", path="/file/path.db")
    assert store_url(config, {}) == "sqlite:///file/url.db"
    assert store_url(_config(tmp_path, path="/file/path.db"), {}) == "sqlite:///file/path.db"


def test_without_settings_the_sqlite_file_in_the_user_cache_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    expected = f"sqlite://{(tmp_path / 'cache' / 'reflow' / 'manifest.db').as_posix()}"
    assert store_url(_config(tmp_path), {}) == expected
    assert _config(tmp_path).default_store_path == tmp_path / "cache" / "reflow" / "manifest.db"


def test_the_config_file_is_read_when_none_is_given(tmp_path: Path) -> None:
    file = tmp_path / "config.toml"
    file.write_text('[store]\nurl = "sqlite:///from/the/file.db"\n', encoding="utf-8")
    environ = {"REFLOW_CONFIG": str(file)}
    assert configured_url(None, environ) == "sqlite:///from/the/file.db"
    assert load_config(environ=environ).store_url == "sqlite:///from/the/file.db"


def test_the_configured_store_is_opened_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFLOW_STORE", f"sqlite://{tmp_path.as_posix()}/chosen.db")
    store = open_store(config=Config({}, environ={}))
    assert store.url == f"sqlite://{tmp_path.as_posix()}/chosen.db"


def test_a_path_opens_the_sqlite_store_whose_url_reopens_it(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    store.insert_run("r1", "wf", "me", {})
    again = open_store(store.url)
    assert again.url == store.url == f"sqlite://{(tmp_path / 'm.db').as_posix()}"
    assert again.get_run_record("r1") is not None


def test_url_scheme_is_case_blind_and_none_for_paths() -> None:
    assert url_scheme("SQLITE:///x.db") == "sqlite"
    assert url_scheme("/x.db") is None
    assert url_scheme("://x") is None


# -- refusing what is not a URL -------------------------------------------------------


@pytest.mark.parametrize("value", ["/shared/manifest.db", "sqlite:/x.db", "sqlite://", "1x://a"])
def test_a_malformed_reflow_store_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        store_url(Config({}, environ={}), {"REFLOW_STORE": value})
    message = str(caught.value)
    assert message.startswith(f"REFLOW_STORE={value!r} is not valid: write a URL, scheme://")
    assert "REFLOW_STORE_PATH" in message
    assert "\n" not in message


def test_a_malformed_store_url_in_the_file_is_refused_on_load(tmp_path: Path) -> None:
    file = tmp_path / "config.toml"
    file.write_text('[store]\nurl = "/shared/manifest.db"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"store\.url = '/shared/manifest\.db' in the config"):
        load_config(file, environ={})


def test_reflow_runs_stops_with_exit_2_on_a_malformed_reflow_store(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REFLOW_STORE", "manifest.db")
    assert main(["runs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reflow: error: REFLOW_STORE='manifest.db' is not valid")
    assert err.count("\n") == 1


def test_an_unknown_scheme_names_the_installed_stores(tmp_path: Path) -> None:
    with pytest.raises(PluginNotFoundError) as caught:
        open_store("nosuchstore://somewhere/db")
    message = str(caught.value)
    assert "No store named 'nosuchstore'" in message
    assert "installed: " in message and "sqlite" in message.split("installed: ", 1)[1]


def test_a_missing_sqlite_store_gives_the_pip_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(plugins, "_read_entry_points", lambda group: ())
    plugins.clear_cache()
    try:
        with pytest.raises(PluginNotFoundError, match="pip install reflow-store-sqlite"):
            open_store(tmp_path / "m.db")
    finally:
        monkeypatch.undo()
        plugins.clear_cache()


# -- what the scheduler jobs get ----------------------------------------------------


def test_the_dispatcher_job_is_given_the_run_context_not_a_store_file(tmp_path: Path) -> None:
    run_json = tmp_path / "run" / ".reflow" / "run-1" / "run.json"
    command = dispatcher_command(run_json)
    assert command[1:] == ("-m", "reflow.job", "dispatch", str(run_json))
    assert not any(part.endswith(".db") for part in command)


def test_import_reflow_stores_loads_no_store_configuration_or_plugin_loader() -> None:
    code = (
        "import sys, reflow.stores\n"
        "heavy = {'reflow.config', 'reflow.manifest', 'reflow.plugins', 'reflow_store_sqlite'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"

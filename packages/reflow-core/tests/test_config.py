"""Tests of the user configuration: file layout, environment overrides, errors."""

from __future__ import annotations

import logging
import os
import textwrap
from pathlib import Path

import pytest

from reflow.config import Config, canonical_submit_options, default_config_path, load_config
from reflow.errors import ConfigError, ReflowError

SAMPLE = """\
[executor]
name = "slurm"

[executor.submit_options]
Queue = "compute"
account = "proj42"
mail-user = "me@example.org"
time-min = "01:00:00"

[dispatch.submit_options]
partition = "short"

[store]
path = "/shared/reflow/manifest.db"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return write(tmp_path / "config.toml", SAMPLE)


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME and every XDG directory at one empty directory."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for variable in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(variable, str(home / variable.lower()))
    return home


# -- reading the file ---------------------------------------------------------------


def test_file_values_are_exposed_with_canonical_keys(sample: Path) -> None:
    config = load_config(sample, environ={})
    assert config.source == sample
    assert config.executor_name == "slurm"
    assert config.executor_submit_options == {
        "partition": "compute",
        "account": "proj42",
        "mail_user": "me@example.org",
        "time_min": "01:00:00",
    }
    assert config.dispatch_submit_options == {"partition": "short"}
    assert config.store_path == Path("/shared/reflow/manifest.db")


def test_empty_configuration_has_defaults() -> None:
    config = Config(environ={})
    assert config.executor_name == "local"
    assert config.executor_submit_options == {}
    assert config.dispatch_submit_options == {}
    assert config.store_path is None
    assert config.source is None
    assert config.data == {}


def test_data_is_a_copy(sample: Path) -> None:
    config = load_config(sample, environ={})
    config.data["executor"]["name"] = "pbs"
    assert config.data["executor"]["name"] == "slurm"
    assert config.executor_name == "slurm"


# -- environment over file -------------------------------------------------------------


def test_environment_overrides_file(sample: Path) -> None:
    environ = {
        "REFLOW_EXECUTOR": "pbs",
        "REFLOW_PARTITION": "gpu",
        "REFLOW_QOS": "high",
        "REFLOW_DISPATCH_PARTITION": "debug",
        "REFLOW_DISPATCH_ACCOUNT": "proj7",
        "REFLOW_STORE_PATH": "/elsewhere/m.db",
    }
    config = load_config(sample, environ=environ)
    assert config.executor_name == "pbs"
    assert config.executor_submit_options["partition"] == "gpu"
    assert config.executor_submit_options["qos"] == "high"
    assert config.executor_submit_options["account"] == "proj42"
    assert config.dispatch_submit_options == {"partition": "debug", "account": "proj7"}
    assert config.store_path == Path("/elsewhere/m.db")


def test_empty_environment_values_do_not_override(sample: Path) -> None:
    environ = {"REFLOW_EXECUTOR": "", "REFLOW_PARTITION": "", "REFLOW_STORE_PATH": ""}
    config = load_config(sample, environ=environ)
    assert config.executor_name == "slurm"
    assert config.executor_submit_options["partition"] == "compute"
    assert config.store_path == Path("/shared/reflow/manifest.db")


def test_dispatch_options_do_not_inherit_task_options() -> None:
    config = Config(
        {"executor": {"submit_options": {"partition": "compute", "account": "p"}}},
        environ={"REFLOW_PARTITION": "gpu", "REFLOW_ACCOUNT": "q"},
    )
    assert config.dispatch_submit_options == {}


def test_environment_is_read_from_os_environ_when_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REFLOW_EXECUTOR", "flux")
    assert Config().executor_name == "flux"


def test_store_path_expands_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    from_env = Config(environ={"REFLOW_STORE_PATH": "~/m.db"})
    from_file = Config({"store": {"path": "~/f.db"}}, environ={})
    assert from_env.store_path == tmp_path / "m.db"
    assert from_file.store_path == tmp_path / "f.db"


def test_relative_store_path_in_file_is_relative_to_the_file(tmp_path: Path) -> None:
    file = write(tmp_path / "conf" / "config.toml", '[store]\npath = "db/manifest.db"\n')
    assert load_config(file, environ={}).store_path == tmp_path / "conf" / "db" / "manifest.db"


# -- task options ------------------------------------------------------------------------


def test_task_options_beat_environment_beat_file(sample: Path) -> None:
    config = load_config(sample, environ={"REFLOW_ACCOUNT": "env-acct", "REFLOW_QOS": "env-q"})
    merged = config.task_submit_options({"QOS": "task-q", "queue": "gpu", "gres": "gpu:2"})
    assert merged == {
        "partition": "gpu",
        "account": "env-acct",
        "qos": "task-q",
        "mail_user": "me@example.org",
        "time_min": "01:00:00",
        "gres": "gpu:2",
    }


def test_task_option_none_removes_a_configured_default(sample: Path) -> None:
    config = load_config(sample, environ={"REFLOW_QOS": "high"})
    merged = config.task_submit_options({"account": None, "qos": None})
    assert "account" not in merged
    assert "qos" not in merged
    assert merged["partition"] == "compute"


# -- canonical submit options --------------------------------------------------------------


def test_canonical_keys() -> None:
    options = {"Partition": "a", "MAIL-TYPE": "END", "queue_limit": 3, "cpus-per-gpu": 4}
    assert canonical_submit_options(options) == {
        "partition": "a",
        "mail_type": "END",
        "queue_limit": 3,
        "cpus_per_gpu": 4,
    }


def test_queue_is_an_alias_of_partition() -> None:
    assert canonical_submit_options({"queue": "short"}) == {"partition": "short"}
    assert canonical_submit_options({"queue": "x", "partition": "x"}) == {"partition": "x"}


def test_conflicting_aliases_name_both_keys_and_where() -> None:
    with pytest.raises(ConfigError) as info:
        canonical_submit_options({"queue": "a", "partition": "b"}, where="task 'align'")
    message = str(info.value)
    assert "'queue'" in message
    assert "'partition'" in message
    assert "task 'align'" in message


def test_conflicting_spellings_of_one_key_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"mail-user.*mail_user"):
        canonical_submit_options({"mail-user": "a@x", "mail_user": "b@x"})


def test_non_string_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="Submit option key 3"):
        canonical_submit_options({3: "x"})  # type: ignore[dict-item]


def test_conflict_in_file_names_the_file(tmp_path: Path) -> None:
    file = write(tmp_path / "c.toml", '[executor.submit_options]\nqueue = "a"\npartition = "b"\n')
    with pytest.raises(ConfigError, match=r"\[executor\.submit_options\].*c\.toml"):
        load_config(file, environ={})


# -- finding the file ------------------------------------------------------------------------


def test_reflow_config_variable_names_the_file(sample: Path) -> None:
    config = load_config(environ={"REFLOW_CONFIG": str(sample)})
    assert config.source == sample
    assert config.executor_name == "slurm"


def test_explicit_path_wins_over_reflow_config(sample: Path, tmp_path: Path) -> None:
    other = write(tmp_path / "other.toml", '[executor]\nname = "lsf"\n')
    config = load_config(other, environ={"REFLOW_CONFIG": str(sample)})
    assert config.executor_name == "lsf"


def test_default_file_is_read_when_present(isolated_home: Path) -> None:
    assert default_config_path() == isolated_home / "xdg_config_home" / "reflow" / "config.toml"
    write(default_config_path(), '[executor]\nname = "sge"\n')
    config = load_config(environ={})
    assert config.executor_name == "sge"
    assert config.source == default_config_path()


def test_missing_default_file_gives_empty_config(isolated_home: Path) -> None:
    config = load_config(environ={"REFLOW_CONFIG": ""})
    assert config.source is None
    assert config.executor_name == "local"


def test_loading_creates_no_file_or_directory(isolated_home: Path) -> None:
    config = load_config(environ={})
    assert config.store_path is None
    assert config.executor_submit_options == {}
    default_config_path()
    assert list(isolated_home.iterdir()) == []


def test_missing_explicit_file_gives_defaults_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # reflow-hpc's load_config(path) returned the defaults; code written for it relies on that.
    missing = tmp_path / "nope.toml"
    with caplog.at_level("WARNING", logger="reflow.config"):
        config = load_config(missing, environ={})
    assert config.executor_name == "local"
    assert config.source is None
    assert f"No configuration file at {missing}; using the defaults" in caplog.text
    assert not missing.exists()


def test_missing_file_from_variable_names_path_and_variable(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(environ={"REFLOW_CONFIG": str(missing)})
    assert str(missing) in str(info.value)
    assert "REFLOW_CONFIG" in str(info.value)


def test_directory_instead_of_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read configuration file"):
        load_config(tmp_path, environ={})


# -- invalid files ---------------------------------------------------------------------------


def test_invalid_toml_names_file_and_position(tmp_path: Path) -> None:
    file = write(tmp_path / "bad.toml", '[executor]\nname = "slurm\n')
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={})
    message = str(info.value)
    assert str(file) in message
    assert "line 2" in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('executor = "slurm"\n', "[executor]"),
        ('[executor]\nsubmit_options = "compute"\n', "[executor.submit_options]"),
        ("[executor]\nname = 3\n", "executor.name"),
        ('[executor]\nname = ""\n', "executor.name"),
        ("[dispatch]\nsubmit_options = [1]\n", "[dispatch.submit_options]"),
        ("[store]\npath = false\n", "store.path"),
        ("[executor.submit_options.partition]\nx = 1\n", "'partition'"),
    ],
)
def test_wrong_shapes_name_key_and_file(tmp_path: Path, text: str, key: str) -> None:
    file = write(tmp_path / "shape.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={})
    assert key in str(info.value)
    assert str(file) in str(info.value)


def test_config_errors_are_reflow_errors() -> None:
    with pytest.raises(ReflowError):
        Config({"executor": []}, environ={})


def test_unknown_sections_are_kept_for_other_components(tmp_path: Path) -> None:
    file = write(tmp_path / "c.toml", '[slurm]\nsbatch = "/opt/slurm/bin/sbatch"\n')
    assert load_config(file, environ={}).data == {"slurm": {"sbatch": "/opt/slurm/bin/sbatch"}}


def test_os_environ_is_not_modified(sample: Path) -> None:
    before = dict(os.environ)
    load_config(sample, environ={"REFLOW_PARTITION": "gpu"})
    assert dict(os.environ) == before


def test_unknown_keys_and_sections_warn_with_the_closest_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "config.toml"
    file.write_text('[executor]\nnmae = "slurm"\n\n[dispath]\npartition = "short"\n')

    with caplog.at_level(logging.WARNING, logger="reflow.config"):
        config = load_config(file, environ={})

    assert [r.getMessage() for r in caplog.records] == [
        f"Unknown key 'nmae' in [executor] of the configuration file {file} is ignored. "
        "Did you mean 'name'?",
        f"Unknown section [dispath] in the configuration file {file} is ignored. "
        "Did you mean [dispatch]?",
    ]
    assert config.executor_name == "local"  # the typo is not guessed into effect
    assert file.read_text().startswith("[executor]")  # loading never writes


def test_known_keys_do_not_warn(sample: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="reflow.config"):
        load_config(sample, environ={})

    assert caplog.records == []


def test_site_options_are_canonical_names() -> None:
    config = Config({"executor": {"site_options": ["Licenses", "gpu-binding"]}})

    assert config.site_options == ("licenses", "gpu_binding")


def test_site_options_must_be_a_list_of_names() -> None:
    with pytest.raises(ConfigError) as caught:
        Config({"executor": {"site_options": "licenses"}})

    assert str(caught.value) == (
        "executor.site_options in the configuration must be a list of option names, got "
        "'licenses'. Write it as site_options = [\"licenses\"] under [executor]."
    )

"""Plugin discovery, loading and ``reflow plugins``, isolated from installed plugins.

Every test replaces the entry-point source of :mod:`reflow.plugins` with fake
distributions (real :class:`importlib.metadata.Distribution` subclasses whose
metadata lives in memory), and fake plugin modules written to ``tmp_path``.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from importlib.metadata import Distribution, EntryPoint
from pathlib import Path

import pytest

from reflow import plugins
from reflow._version import __version__
from reflow.cli.main import main
from reflow.errors import (
    PluginIncompatibleError,
    PluginLoadError,
    PluginNotFoundError,
    ReflowError,
)
from reflow.executors import Executor, load_executor

FAKE_PYTHON = "/opt/venv/bin/python"


class FakeDistribution(Distribution):
    """An installed distribution whose metadata files are held in memory."""

    def __init__(
        self,
        name: str,
        version: str,
        requires: Iterable[str] = (),
        entry_points: dict[str, dict[str, str]] | None = None,
    ) -> None:
        metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        metadata += [f"Requires-Dist: {line}" for line in requires]
        self._files = {"METADATA": "\n".join(metadata) + "\n"}
        sections = [
            f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in names.items())
            for group, names in (entry_points or {}).items()
        ]
        self._files["entry_points.txt"] = "\n".join(sections)

    def read_text(self, filename: str) -> str | None:
        return self._files.get(filename)

    def locate_file(self, path: str | os.PathLike[str]) -> Path:
        return Path("/nonexistent") / path


class FakeEnvironment:
    """The installed distributions and plugin modules one test sees."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.distributions: list[FakeDistribution] = []
        self.reads: Counter[str] = Counter()
        self.modules: list[str] = []

    def source(self, group: str) -> list[EntryPoint]:
        """Stands in for ``importlib.metadata.entry_points(group=...)``."""
        self.reads[group] += 1
        return [
            entry_point
            for dist in self.distributions
            for entry_point in dist.entry_points
            if entry_point.group == group
        ]

    def module(self, body: str) -> str:
        """Write a uniquely named module into ``tmp_path`` and return its name."""
        name = f"reflow_fake_{uuid.uuid4().hex[:10]}"
        (self.tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
        self.modules.append(name)
        return name

    def executor_module(self, class_name: str = "FakeExecutor") -> str:
        return self.module(
            f"""
            from reflow.executors import Executor

            class {class_name}(Executor):
                name = "fake"
                _KEY_ALIASES = {{"partition": "queue"}}
            """
        )

    def install(
        self,
        dist_name: str,
        version: str = "0.1.0",
        *,
        requires: Iterable[str] = ("reflow-core>=0.1,<0.2",),
        executors: dict[str, str] | None = None,
        stores: dict[str, str] | None = None,
    ) -> FakeDistribution:
        groups = {}
        if executors:
            groups[plugins.EXECUTORS] = executors
        if stores:
            groups[plugins.STORES] = stores
        dist = FakeDistribution(dist_name, version, requires, groups)
        self.distributions.append(dist)
        return dist


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeEnvironment]:
    fake = FakeEnvironment(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins, "_read_entry_points", fake.source)
    monkeypatch.setattr(plugins, "_installed_core_version", lambda: "0.1.0")
    monkeypatch.setattr(sys, "executable", FAKE_PYTHON)
    plugins.clear_cache()
    yield fake
    plugins.clear_cache()
    for name in fake.modules:
        sys.modules.pop(name, None)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)


# -- not found -------------------------------------------------------------------------


def test_missing_executor_message_names_interpreter_installed_and_pip_line(
    env: FakeEnvironment,
) -> None:
    env.install(
        "reflow-core", executors={"local": "reflow.executors.local.executor:LocalExecutor"}
    )
    env.install("reflow-executor-sge", executors={"sge": "reflow_executor_sge:SGEExecutor"})

    with pytest.raises(PluginNotFoundError) as caught:
        plugins.load("executors", "slurm")

    assert str(caught.value) == (
        "No executor named 'slurm' for /opt/venv/bin/python (installed: local, sge). "
        "Install it with: pip install reflow-executor-slurm"
    )
    # code written against the builtin, or against reflow's family, catches it
    assert isinstance(caught.value, ImportError)
    assert isinstance(caught.value, ReflowError)


def test_missing_store_with_none_installed(env: FakeEnvironment) -> None:
    with pytest.raises(PluginNotFoundError) as caught:
        plugins.load("stores", "postgres")

    assert str(caught.value) == (
        "No store named 'postgres' for /opt/venv/bin/python (installed: none). "
        "reflow's own stores are sqlite; another must be installed into this interpreter "
        "from its own package."
    )


def test_misspelled_executor_gets_the_closest_name_and_no_pip_line(
    env: FakeEnvironment,
) -> None:
    # "pip install reflow-executor-slrum" would invite a typosquatted package.
    env.install(
        "reflow-core", executors={"local": "reflow.executors.local.executor:LocalExecutor"}
    )

    with pytest.raises(PluginNotFoundError) as caught:
        plugins.load("executors", "slrum")

    assert str(caught.value) == (
        "No executor named 'slrum' for /opt/venv/bin/python (installed: local). "
        "Did you mean 'slurm'?"
    )


def test_unknown_kind_is_rejected(env: FakeEnvironment) -> None:
    with pytest.raises(ValueError, match="executors' or 'stores"):
        plugins.available("schedulers")


# -- loading -----------------------------------------------------------------------------


def test_listing_imports_nothing_and_load_imports_only_the_selected_plugin(
    env: FakeEnvironment,
) -> None:
    first = env.executor_module()
    second = env.executor_module()
    env.install("reflow-executor-one", executors={"one": f"{first}:FakeExecutor"})
    env.install("reflow-executor-two", executors={"two": f"{second}:FakeExecutor"})

    assert list(plugins.available("executors")) == ["one", "two"]
    assert first not in sys.modules
    assert second not in sys.modules

    cls = plugins.load("executors", "two")

    assert cls is sys.modules[second].FakeExecutor
    assert first not in sys.modules


def test_names_are_matched_ignoring_case(env: FakeEnvironment) -> None:
    module = env.executor_module()
    env.install("reflow-executor-one", executors={"one": f"{module}:FakeExecutor"})

    assert plugins.load("executor", "ONE") is plugins.load(plugins.EXECUTORS, "one")


def test_broken_plugin_raises_load_error_with_the_original_cause(env: FakeEnvironment) -> None:
    broken = env.module("raise RuntimeError('boom: libfoo.so not found')\n")
    env.install("reflow-executor-broken", "1.2.3", executors={"broken": f"{broken}:X"})

    with pytest.raises(PluginLoadError) as caught:
        plugins.load("executors", "broken")

    message = str(caught.value)
    assert "executor 'broken'" in message
    assert "reflow-executor-broken 1.2.3" in message
    assert "RuntimeError: boom: libfoo.so not found" in message
    assert "pip install --force-reinstall reflow-executor-broken" in message
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_executor_entry_point_must_name_an_executor_class(env: FakeEnvironment) -> None:
    module = env.module("class NotAnExecutor:\n    pass\n\ndef factory():\n    pass\n")
    env.install(
        "reflow-executor-odd",
        executors={"plain": f"{module}:NotAnExecutor", "func": f"{module}:factory"},
    )

    # The executor layer passes its base class: reflow.plugins imports no layer it loads for.
    with pytest.raises(PluginLoadError, match=r"not a subclass of reflow\.executors\.Executor"):
        load_executor("plain")
    with pytest.raises(PluginLoadError, match=r"not a subclass of reflow\.executors\.Executor"):
        plugins.load("executors", "plain", Executor)
    with pytest.raises(PluginLoadError, match="not a class"):
        plugins.load("executors", "func")


def test_duplicate_names_first_wins_with_a_warning(
    env: FakeEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    first = env.executor_module()
    second = env.executor_module()
    env.install("reflow-executor-slurm", executors={"slurm": f"{first}:FakeExecutor"})
    env.install("site-slurm", executors={"slurm": f"{second}:FakeExecutor"})

    with caplog.at_level(logging.WARNING, logger="reflow.plugins"):
        cls = plugins.load("executors", "slurm")

    assert cls is sys.modules[first].FakeExecutor
    assert "Two executor plugins are named 'slurm'" in caplog.text
    assert "site-slurm" in caplog.text


# -- compatibility ---------------------------------------------------------------------


def test_plugin_needing_newer_core_is_refused_before_import(env: FakeEnvironment) -> None:
    module = env.executor_module()
    env.install(
        "reflow-executor-future",
        "0.3.0",
        requires=["reflow-core>=0.3,<0.4"],
        executors={"future": f"{module}:FakeExecutor"},
    )

    with pytest.raises(PluginIncompatibleError) as caught:
        plugins.load("executors", "future")

    message = str(caught.value)
    assert "executor 'future'" in message
    assert "reflow-executor-future 0.3.0" in message
    assert "requires reflow-core>=0.3,<0.4" in message
    assert f"{FAKE_PYTHON} has reflow-core 0.1.0" in message
    assert message.endswith('Fix it with: pip install --upgrade "reflow-core>=0.3,<0.4"')
    assert module not in sys.modules


def test_plugin_built_for_older_core_suggests_a_matching_plugin(
    env: FakeEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugins, "_installed_core_version", lambda: "0.2.1")
    module = env.executor_module()
    env.install(
        "reflow-executor-old",
        "0.1.4",
        requires=["reflow-core<0.2,>=0.1"],
        executors={"old": f"{module}:FakeExecutor"},
    )

    with pytest.raises(PluginIncompatibleError) as caught:
        plugins.load("executors", "old")

    assert "has reflow-core 0.2.1" in str(caught.value)
    assert str(caught.value).endswith(
        'Fix it with: pip install --upgrade reflow-executor-old "reflow-core==0.2.1"'
    )


@pytest.mark.parametrize(
    ("requires", "compatible"),
    [
        (["reflow-core>=0.1,<0.2"], True),
        (["reflow-core (>=0.1,<0.2)"], True),  # the older Requires-Dist form
        (["Reflow_Core~=0.1.0"], True),  # names compare normalised
        (["reflow-core==0.1.*"], True),
        (["reflow-core>=0.2"], False),
        (["reflow-core!=0.1.0"], False),
        (["reflow-core<0.2", "reflow-core>=0.1.1"], False),  # all requirements apply
        (['reflow-core>=9; extra == "dev"'], True),  # only for an extra: ignored
        (['reflow-core<0.1; python_version >= "3"'], False),  # a marker that holds: applied
        (['reflow-core<0.1; python_version < "3"'], True),  # one that does not: ignored, as pip
        (["reflow-core @ https://example.org/reflow_core-0.1.0.whl"], True),  # no version
        (["reflow-core-extras>=9"], True),  # another distribution
        (["numpy>=1.20"], True),  # no requirement on reflow-core at all
        ([], True),
    ],
)
def test_core_requirement_is_read_from_requires_dist(
    env: FakeEnvironment, requires: list[str], compatible: bool
) -> None:
    module = env.executor_module()
    env.install("reflow-executor-x", requires=requires, executors={"x": f"{module}:FakeExecutor"})

    (info,) = plugins.describe_plugins()

    assert info.compatible is compatible
    assert (info.error is None) is compatible


# -- describe_plugins and `reflow plugins` --------------------------------------------------


def _install_mixed(env: FakeEnvironment) -> dict[str, str]:
    good = env.executor_module()
    broken = env.module("import reflow_no_such_dependency\n")
    future = env.executor_module()
    store = env.module("class MemoryStore:\n    pass\n")
    env.install("reflow-executor-good", "1.0.0", executors={"good": f"{good}:FakeExecutor"})
    env.install("reflow-executor-broken", "2.0.0", executors={"broken": f"{broken}:X"})
    env.install(
        "reflow-executor-future",
        "0.3.0",
        requires=["reflow-core>=0.3,<0.4"],
        executors={"future": f"{future}:FakeExecutor"},
    )
    env.install("reflow-store-memory", "0.1.0", stores={"memory": f"{store}:MemoryStore"})
    return {"good": good, "broken": broken, "future": future, "store": store}


def test_describe_plugins_reports_every_plugin_and_never_raises(env: FakeEnvironment) -> None:
    modules = _install_mixed(env)

    infos = {info.name: info for info in plugins.describe_plugins()}

    assert [(i.kind, i.name) for i in infos.values()] == [
        ("executor", "broken"),
        ("executor", "future"),
        ("executor", "good"),
        ("store", "memory"),
    ]
    good = infos["good"]
    assert good.ok
    assert good.distribution == "reflow-executor-good"
    assert good.version == "1.0.0"
    assert good.value == f"{modules['good']}:FakeExecutor"
    assert good.core_requirement == "reflow-core>=0.1,<0.2"
    assert good.path == str(env.tmp_path / f"{modules['good']}.py")
    broken = infos["broken"]
    assert broken.compatible
    assert broken.error is not None
    assert "ModuleNotFoundError" in broken.error
    assert "reflow_no_such_dependency" in broken.error
    assert broken.path == str(env.tmp_path / f"{modules['broken']}.py")
    future = infos["future"]
    assert not future.compatible
    assert future.error is not None
    assert "requires reflow-core>=0.3,<0.4" in future.error
    assert modules["future"] not in sys.modules  # incompatible plugins are not imported
    assert infos["memory"].ok


def test_reflow_plugins_table_shows_status_of_each_plugin(
    env: FakeEnvironment, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    _install_mixed(env)

    assert main(["plugins"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"reflow-core {__version__} on {FAKE_PYTHON}"
    assert lines[1].split() == ["KIND", "NAME", "DISTRIBUTION", "VERSION", "PATH", "STATUS"]
    rows = {line.split()[1]: line for line in lines[2:]}
    assert rows["good"].split()[:4] == ["executor", "good", "reflow-executor-good", "1.0.0"]
    assert rows["good"].endswith("  ok")
    assert "ModuleNotFoundError: No module named 'reflow_no_such_dependency'" in rows["broken"]
    assert "requires reflow-core>=0.3,<0.4" in rows["future"]
    assert rows["memory"].startswith("store")
    assert rows["memory"].endswith("  ok")


def test_reflow_plugins_json(
    env: FakeEnvironment, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    _install_mixed(env)

    assert main(["plugins", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["python"] == FAKE_PYTHON
    assert report["reflow_core"] == __version__
    by_name = {entry["name"]: entry for entry in report["plugins"]}
    assert by_name["good"]["error"] is None
    assert by_name["good"]["compatible"] is True
    assert by_name["good"]["kind"] == "executor"
    assert "reflow_no_such_dependency" in by_name["broken"]["error"]
    assert by_name["future"]["compatible"] is False
    assert by_name["memory"]["kind"] == "store"
    assert set(by_name["good"]) == {
        "kind",
        "name",
        "value",
        "distribution",
        "version",
        "path",
        "core_requirement",
        "compatible",
        "error",
    }


def test_reflow_plugins_with_nothing_installed(
    env: FakeEnvironment, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    assert main(["plugins"]) == 0
    assert "No executor or store plugins are installed." in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--help"], ["plugins", "--help"], ["--version"]])
def test_help_works_with_a_broken_plugin_and_without_discovery(
    env: FakeEnvironment, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    broken = env.module("raise RuntimeError('boom')\n")
    env.install("reflow-executor-broken", executors={"broken": f"{broken}:X"})

    assert main(argv) == 0

    out = capsys.readouterr().out
    assert out.startswith("usage: reflow") or out == f"reflow {__version__}\n"
    assert env.reads == Counter()  # building the parser never reads entry points
    assert broken not in sys.modules


# -- discovery is cached -----------------------------------------------------------------


def test_each_group_is_read_once_per_process(
    env: FakeEnvironment, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    module = env.executor_module()
    env.install("reflow-executor-one", executors={"one": f"{module}:FakeExecutor"})

    plugins.available("executors")
    plugins.available("executors")
    plugins.load("executors", "one")
    with pytest.raises(PluginNotFoundError):
        plugins.load("stores", "nope")
    plugins.describe_plugins()
    main(["plugins", "--json"])
    main(["plugins"])

    assert env.reads == Counter({plugins.EXECUTORS: 1, plugins.STORES: 1})

    plugins.clear_cache()
    plugins.available("executors")

    assert env.reads[plugins.EXECUTORS] == 2


def test_available_returns_a_copy(env: FakeEnvironment) -> None:
    module = env.executor_module()
    env.install("reflow-executor-one", executors={"one": f"{module}:FakeExecutor"})

    plugins.available("executors").clear()

    assert list(plugins.available("executors")) == ["one"]


# -- the `reflow` command ------------------------------------------------------------------


def test_reflow_error_is_one_line_with_exit_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    monkeypatch.setenv("REFLOW_LOG_LEVEL", "chatty")

    assert main(["plugins"]) == 2

    err = capsys.readouterr().err
    assert err == (
        "reflow: error: REFLOW_LOG_LEVEL='chatty' is not valid: use one of DEBUG, INFO, "
        "WARNING, ERROR, CRITICAL, or unset it for WARNING.\n"
    )
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    monkeypatch.setenv("REFLOW_LOG_LEVEL", "chatty")

    assert main(["plugins", "--debug"]) == 2

    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "ConfigError" in err
    assert err.rstrip().splitlines()[-1].startswith("reflow: error: ")


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: reflow" in capsys.readouterr().err


def test_verbosity_options_set_the_log_level(
    env: FakeEnvironment, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    main(["-vv", "plugins"])
    assert "reflow: DEBUG: reflow.plugins: Found 0 plugin(s)" in capsys.readouterr().err

    plugins.clear_cache()
    main(["plugins"])
    assert "DEBUG" not in capsys.readouterr().err

    plugins.clear_cache()
    main(["plugins", "-v", "-v"])  # also accepted after the subcommand
    assert "reflow: DEBUG: reflow.plugins" in capsys.readouterr().err

    main(["-q", "plugins"])
    assert logging.getLogger().level == logging.ERROR


def test_python_dash_m_reflow_runs_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reflow", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0
    assert result.stdout == f"reflow {__version__}\n"


# -- documented import paths of plugin classes -----------------------------------------


@pytest.mark.parametrize(
    ("module", "package"),
    [
        ("reflow.executors.slurm", "reflow_executor_slurm"),
        ("reflow.executors.pbs", "reflow_executor_pbs"),
        ("reflow.executors.lsf", "reflow_executor_lsf"),
        ("reflow.executors.sge", "reflow_executor_sge"),
        ("reflow.executors.flux", "reflow_executor_flux"),
        ("reflow.stores.sqlite", "reflow_store_sqlite"),
    ],
)
def test_compat_module_names_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch, module: str, package: str
) -> None:
    monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.setitem(sys.modules, package, None)  # as if it were not installed

    with pytest.raises(ImportError) as caught:
        importlib.import_module(module)

    assert isinstance(caught.value, PluginNotFoundError)
    assert str(caught.value).endswith(f"pip install {package.replace('_', '-')}")


# -- the version range check -------------------------------------------------------------


@pytest.mark.parametrize(
    ("specifier", "version", "expected"),
    [
        (">=0.1,<0.2", "0.1.0", True),
        (">=0.1,<0.2", "0.1.9", True),
        (">=0.1,<0.2", "0.2", False),
        (">=0.1,<0.2", "0.0.9", False),
        (">=0.1,<0.2", "0.10.0", False),  # segments compare as numbers, not text
        (">=0.1,<0.2", "0.2.0rc1", False),  # "<0.2" excludes pre-releases of 0.2
        (">=0.1,<0.2", "0.2.0.dev3", False),
        (">=0.1,<0.2", "0.1.5.post2", True),
        (">=0.1,<0.2", "0.1.0rc1", False),  # a pre-release sorts before its release
        (">=0.1,<0.2", "0.1.1rc1", True),  # installed pre-releases are admitted
        (">=0.1,<0.2", "0.1.3+cluster.7", True),  # local labels are ignored
        ("", "7.0", True),
        ("==0.1", "0.1.0", True),  # trailing zeros do not matter
        ("==0.1.0", "0.1", True),
        ("==0.1", "0.1.1", False),
        ("==0.1.0+abc", "0.1.0", False),
        ("==0.1.0+abc", "0.1.0+ABC", True),
        ("==0.1.*", "0.1.7", True),
        ("==0.1.*", "0.1", True),
        ("==0.1.*", "0.10", False),
        ("!=0.1.*", "0.2.0", True),
        ("!=0.1.*", "0.1.2", False),
        ("!=0.1.3", "0.1.3", False),
        ("<=0.2", "0.2.0", True),
        ("<=0.2", "0.2.1", False),
        (">0.1", "0.1.0.post1", False),  # ">0.1" excludes post-releases of 0.1
        (">0.1", "0.1.1", True),
        (">0.1.post1", "0.1.post2", True),
        ("<0.2rc2", "0.2rc1", True),
        ("~=0.1", "0.9", True),
        ("~=0.1", "1.0", False),
        ("~=1.4.2", "1.4.9", True),
        ("~=1.4.2", "1.4.1", False),
        ("~=1.4.2", "1.5.0", False),
        ("===1.0", "1.0", True),
        ("===1.0", "1.0.0", False),
        (">= 0.1 , < 0.2", "0.1.4", True),  # whitespace is allowed
        (">=1!0.1", "5.0", False),  # epochs dominate
    ],
)
def test_core_range_check(
    env: FakeEnvironment,
    monkeypatch: pytest.MonkeyPatch,
    specifier: str,
    version: str,
    expected: bool,
) -> None:
    """A plugin requiring ``reflow-core<specifier>`` loads with core ``version`` or is refused."""
    monkeypatch.setattr(plugins, "_installed_core_version", lambda: version)
    module = env.executor_module()
    env.install(
        "reflow-executor-x",
        requires=[f"reflow-core{specifier}"],
        executors={"x": f"{module}:FakeExecutor"},
    )

    if expected:
        assert plugins.load("executors", "x").__name__ == "FakeExecutor"
    else:
        with pytest.raises(
            PluginIncompatibleError, match=f"has reflow-core {re.escape(version)}\\."
        ):
            plugins.load("executors", "x")


def test_range_is_quoted_as_written_and_requirements_combine(env: FakeEnvironment) -> None:
    module = env.executor_module()
    env.install(
        "reflow-executor-x",
        requires=["reflow-core (< 0.4 , >=0.3)", "reflow-core[extra]!=0.3.1"],
        executors={"x": f"{module}:FakeExecutor"},
    )

    (info,) = plugins.describe_plugins()

    assert info.core_requirement == "reflow-core<0.4,>=0.3,!=0.3.1"
    assert info.error is not None
    assert info.error.endswith(
        'Fix it with: pip install --upgrade "reflow-core<0.4,>=0.3,!=0.3.1"'
    )


@pytest.mark.parametrize(
    "specifier",
    [" 0.1", ">=", ">=0.1.*", "~=1", "~=1.*", "=>0.1", ">=0.1;", "==1.0rc1.*", ">=banana"],
)
def test_unreadable_core_requirement_is_logged_and_not_enforced(
    env: FakeEnvironment, caplog: pytest.LogCaptureFixture, specifier: str
) -> None:
    module = env.executor_module()
    env.install(
        "reflow-executor-x",
        requires=[f"reflow-core{specifier}"],
        executors={"x": f"{module}:FakeExecutor"},
    )

    with caplog.at_level(logging.WARNING, logger="reflow.plugins"):
        loaded = plugins.load("executors", "x")

    assert loaded.__name__ == "FakeExecutor"
    assert (
        f"Cannot check reflow-executor-x's requirement 'reflow-core{specifier}' on reflow-core ("
        in caplog.text
    )
    assert "not enforcing it." in caplog.text

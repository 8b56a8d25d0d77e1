"""Executor plugin packages use only the declared plugin API of reflow-core.

``reflow.executors`` re-exports every name an executor plugin may use (its
``__all__``); a plugin importing any other ``reflow`` module would tie itself
to core's internals, which move between releases.  Tests may also use
``reflow.testing``, the conformance suites and fakes.  Every import counts,
at module level, inside a function or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import reflow.executors
from reflow.testing.imports import TEST_API as TESTING
from reflow.testing.imports import forbidden_imports, package_violations

PACKAGES = Path(__file__).resolve().parent.parent / "packages"

PLUGIN_API = frozenset({"reflow.executors"})
"""The modules a plugin's source may import from reflow-core: the package itself, not
its submodules (``reflow.executors.batch`` is core's own layout)."""

TEST_API = PLUGIN_API | TESTING
"""What a plugin's tests may import: the API, ``reflow.testing`` and (``.*``) its submodules."""


def _plugin_packages() -> list[Path]:
    return sorted(PACKAGES.glob("reflow-executor-*"))


def _violations(package: Path) -> list[str]:
    """The forbidden imports of a plugin package's ``src`` and ``tests``, by path in it."""
    return package_violations(package, PLUGIN_API, TESTING)


def test_the_five_executor_packages_are_checked() -> None:
    names = {path.name for path in _plugin_packages()}
    assert {f"reflow-executor-{s}" for s in ("slurm", "pbs", "lsf", "sge", "flux")} <= names


@pytest.mark.parametrize("package", _plugin_packages(), ids=lambda path: path.name)
def test_plugin_imports_only_the_declared_api(package: Path) -> None:
    assert _violations(package) == []


@pytest.mark.parametrize(
    ("source", "api"),
    [
        ("from reflow.executors.batch import BatchExecutor\n", PLUGIN_API),
        ("from reflow._types import TaskState\n", PLUGIN_API),
        ("from reflow import env\n", PLUGIN_API),
        ("import reflow.errors\n", PLUGIN_API),
        ("def f():\n    from reflow.define.resources import parse_memory\n", PLUGIN_API),
        ("from reflow.testing.fake_schedulers import FakeScheduler\n", PLUGIN_API),
        ("from reflow.config import load_config\n", TEST_API),
    ],
)
def test_an_import_outside_the_api_is_reported(source: str, api: frozenset[str]) -> None:
    assert forbidden_imports(source, api, "bad.py") != []


@pytest.mark.parametrize(
    ("source", "api"),
    [
        ("from reflow.executors import BatchExecutor, JobSpec\n", PLUGIN_API),
        ("import reflow.executors\n", PLUGIN_API),
        ("from reflow_executor_slurm import script\nimport os\n", PLUGIN_API),
        ("from reflow.testing.fake_schedulers import FakeScheduler\n", TEST_API),
    ],
)
def test_an_import_of_the_api_passes(source: str, api: frozenset[str]) -> None:
    assert forbidden_imports(source, api) == []


def test_a_package_with_a_bad_import_fails(tmp_path: Path) -> None:
    module = tmp_path / "src" / "reflow_executor_toy" / "executor.py"
    module.parent.mkdir(parents=True)
    module.write_text("from reflow.executors.jobs import JobSpec\n", encoding="utf-8")
    test = tmp_path / "tests" / "test_toy.py"
    test.parent.mkdir()
    test.write_text("from reflow.testing.plugin import ExecutorPluginConformance\n")

    assert _violations(tmp_path) == ["src/reflow_executor_toy/executor.py:1 reflow.executors.jobs"]


def test_every_declared_name_resolves() -> None:
    # The API is lazy: a name in __all__ that does not import would fail only in a plugin.
    for name in reflow.executors.__all__:
        assert getattr(reflow.executors, name) is not None, name

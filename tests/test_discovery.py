"""With every package of the monorepo installed, reflow finds all of their plugins."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXECUTORS = {
    "slurm": ("reflow-executor-slurm", "reflow_executor_slurm:SlurmExecutor"),
    "pbs": ("reflow-executor-pbs", "reflow_executor_pbs:PBSExecutor"),
    "lsf": ("reflow-executor-lsf", "reflow_executor_lsf:LSFExecutor"),
    "sge": ("reflow-executor-sge", "reflow_executor_sge:SGEExecutor"),
    "flux": ("reflow-executor-flux", "reflow_executor_flux:FluxExecutor"),
}
STORES = {
    "sqlite": ("reflow-store-sqlite", "reflow_store_sqlite:SqliteStore"),
    "postgresql": ("reflow-store-postgres", "reflow_store_postgres:PostgresStore"),
    "postgres": ("reflow-store-postgres", "reflow_store_postgres:PostgresStore"),
}


def _console_script() -> Path:
    """The ``reflow`` script installed next to this interpreter."""
    bin_dir = Path(sys.executable).parent
    for name in ("reflow", "reflow.exe"):
        if (bin_dir / name).exists():
            return bin_dir / name
    pytest.fail(f"no reflow console script next to {sys.executable}; is reflow-core installed?")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    result = subprocess.run(
        [str(_console_script()), "plugins", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _entries(report: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in report["plugins"] if entry["kind"] == kind}


def test_reports_the_interpreter_it_runs_under(report: dict[str, Any]) -> None:
    from reflow import __version__

    assert Path(report["python"]).parent == Path(sys.executable).parent
    assert report["reflow_core"] == __version__


@pytest.mark.parametrize("name", sorted(EXECUTORS))
def test_every_executor_package_is_listed_and_compatible(
    report: dict[str, Any], name: str
) -> None:
    entry = _entries(report, "executor")[name]
    distribution, value = EXECUTORS[name]

    assert entry["distribution"] == distribution
    assert entry["value"] == value
    assert entry["core_requirement"] is not None
    assert entry["core_requirement"].startswith("reflow-core")
    assert entry["compatible"] is True
    assert entry["error"] is None
    assert entry["path"] is not None
    assert Path(entry["path"]).exists()


@pytest.mark.parametrize("name", sorted(STORES))
def test_the_stores_are_listed_and_compatible(report: dict[str, Any], name: str) -> None:
    entry = _entries(report, "store")[name]
    distribution, value = STORES[name]

    assert entry["distribution"] == distribution
    assert entry["value"] == value
    assert entry["compatible"] is True
    assert entry["error"] is None


def test_selecting_a_missing_executor_names_what_is_installed() -> None:
    code = (
        "from reflow import plugins\n"
        "try:\n"
        "    plugins.load('executors', 'nosuch')\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )

    message = result.stdout.strip()
    assert message.startswith(f"No executor named 'nosuch' for {sys.executable} (installed: ")
    for name in EXECUTORS:
        assert name in message
    # No pip line for a name the project does not ship: it could be a squatter's.
    assert "pip install" not in message
    assert message.endswith("must be installed into this interpreter from its own package.")


def test_import_reflow_does_not_discover_or_import_plugins() -> None:
    code = (
        "import sys, reflow\n"
        "prefixes = ('reflow_executor_', 'reflow_store_')\n"
        "loaded = [m for m in sys.modules if m.startswith(prefixes)]\n"
        "print(loaded, 'importlib.metadata' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )

    assert result.stdout.strip() == "[] False"

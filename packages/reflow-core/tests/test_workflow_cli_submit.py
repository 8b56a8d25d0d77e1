"""The script's scheduler commands: submit, status, runs, cancel, retry; reflow resume."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = """
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("clisub")

@wf.job()
def items(n: int = 3) -> list[int]:
    return list(range(n))

@wf.job(array=True)
def check(i: Annotated[int, Result(step="items")]) -> int:
    if i == 99:
        raise ValueError("ninety-nine is not allowed")
    return i * 10

@wf.job()
def total(xs: Annotated[list[int], Result(step="check")]) -> int:
    return sum(xs)

if __name__ == "__main__":
    raise SystemExit(wf.cli())
"""


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "clisub.py"
    path.write_text(textwrap.dedent(SCRIPT))
    monkeypatch.setenv("REFLOW_STORE_PATH", str(tmp_path / "m.db"))
    monkeypatch.setenv("REFLOW_LOCAL_STATE", str(tmp_path / "jobs"))
    return path


def cli(script: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def load(script: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(script.stem, script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_submit_wait_status_and_runs(script: Path, tmp_path: Path) -> None:
    done = cli(
        script,
        "submit",
        "--run-dir",
        str(tmp_path / "r"),
        "--executor",
        "local",
        "--n",
        "4",
        "--wait",
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[2]
    assert "total: 60" in done.stdout
    status = cli(script, "status", run_id, "--json")
    info = json.loads(status.stdout)
    assert info["run"]["status"] == "SUCCESS" and info["summary"]["check"] == {"SUCCESS": 4}
    runs = cli(script, "runs", "--status", "success")
    assert run_id in runs.stdout and "local" in runs.stdout
    assert "6/6" in runs.stdout  # items, four elements, total


def test_failed_run_shows_its_errors_and_retry_with_the_fix(script: Path, tmp_path: Path) -> None:
    failed = cli(
        script,
        "submit",
        "--run-dir",
        str(tmp_path / "r"),
        "--executor",
        "local",
        "--n",
        "100",
        "--wait",
    )
    assert failed.returncode == 1
    run_id = failed.stdout.split()[2]
    errors = cli(script, "status", run_id, "--task", "check", "--errors")
    assert "check[99]" in errors.stdout and "ninety-nine is not allowed" in errors.stdout
    assert "[99]    FAILED" in errors.stdout


def test_unknown_run_and_task_are_one_line_errors(script: Path) -> None:
    unknown = cli(script, "status", "no-such-run")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().count("\n") == 0 and "No run 'no-such-run'" in unknown.stderr
    task = cli(script, "retry", "whatever", "--task", "chek")
    assert task.returncode == 2 and "Did you mean 'check'?" in task.stderr
    param = cli(script, "submit", "--run-dir", "x", "--nn", "3")
    assert param.returncode == 2 and "--nn" in param.stderr


def test_cancel_needs_yes_when_not_interactive(script: Path, tmp_path: Path) -> None:
    done = cli(script, "submit", "--run-dir", str(tmp_path / "r"), "--executor", "local", "--wait")
    run_id = done.stdout.split()[2]
    refused = cli(script, "cancel", run_id)
    assert refused.returncode == 2 and "add --yes" in refused.stderr
    accepted = cli(script, "cancel", run_id, "--yes")
    assert accepted.returncode == 0 and "Cancelled 0 task instance(s)." in accepted.stdout
    status = json.loads(cli(script, "status", run_id, "--json").stdout)
    assert status["run"]["status"] == "SUCCESS"  # an ended run stays as it ended


def test_dry_run_submits_nothing_and_records_nothing(script: Path, tmp_path: Path) -> None:
    dry = cli(
        script, "submit", "--run-dir", str(tmp_path / "r"), "--executor", "local", "--dry-run"
    )
    assert dry.returncode == 0, dry.stderr
    assert "[local dry-run] clisub.items" in dry.stdout
    assert "nothing was submitted" in dry.stdout
    assert not (tmp_path / "jobs").exists() or not list((tmp_path / "jobs").rglob("spec.json"))
    runs = cli(script, "runs")
    assert "No runs" in runs.stdout


def test_reflow_resume_runs_one_wave(script: Path, tmp_path: Path) -> None:
    from reflow.executors.local.executor import LocalExecutor
    from reflow.stores.sqlite import SqliteStore

    module = load(script)
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    store = SqliteStore(tmp_path / "m.db")
    run = module.wf.submit(tmp_path / "r", store=store, executor=executor)
    run.wait(timeout=60)
    reflow = Path(sys.executable).parent / "reflow"
    out = subprocess.run(
        [str(reflow), "resume", run.run_id, "--store-path", str(tmp_path / "m.db")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert f"Run {run.run_id}: SUCCESS" in out.stdout

"""``python pipeline.py status/runs`` name runs and list them as ``reflow status/runs`` do."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reflow import RunState
from reflow.cli.script.commands import script_command
from reflow.runs.liveness import LOST
from reflow.stores.sqlite import SqliteStore

SCRIPT = """
from reflow import Workflow

wf = Workflow("{name}")

@wf.job()
def one(n: int = 1) -> int:
    return n

if __name__ == "__main__":
    raise SystemExit(wf.cli())
"""

PYTHON = Path(sys.executable).name


@pytest.fixture
def scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Two workflow scripts sharing one store, run from ``tmp_path`` by relative path."""
    for name in ("alpha", "beta"):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(SCRIPT.format(name=name)))
    monkeypatch.setenv("REFLOW_STORE_PATH", str(tmp_path / "m.db"))
    monkeypatch.setenv("REFLOW_LOCAL_STATE", str(tmp_path / "jobs"))
    monkeypatch.chdir(tmp_path)
    return Path("alpha.py"), Path("beta.py")


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def run_ids(tmp_path: Path) -> list[str]:
    store = SqliteStore(tmp_path / "m.db")
    try:
        return [r.run_id for r in store.list_run_records()]
    finally:
        store.close()


def test_status_takes_latest_and_short_ids_of_this_workflow(
    scripts: tuple[Path, Path], tmp_path: Path
) -> None:
    alpha, beta = scripts
    assert cli(str(alpha), "run", "--run-dir", "r").returncode == 0
    assert cli(str(beta), "run", "--run-dir", "r").returncode == 0  # newer, other workflow
    alpha_id = run_ids(tmp_path)[1]
    latest = cli(str(alpha), "status", "latest")
    assert latest.returncode == 0, latest.stderr
    assert latest.stdout.splitlines()[0] == f"Run      {alpha_id}"  # alpha's, not beta's
    short = cli(str(alpha), "status", alpha_id[-8:])
    assert short.returncode == 0, short.stderr
    assert short.stdout.splitlines()[0] == f"Run      {alpha_id}"


def test_an_unknown_run_is_one_line_with_a_command_that_runs_as_typed(
    scripts: tuple[Path, Path], tmp_path: Path
) -> None:
    alpha, beta = scripts
    assert cli(str(beta), "run", "--run-dir", "r").returncode == 0
    before = run_ids(tmp_path)
    for ref in ("nope", "latest"):
        done = cli(str(alpha), "status", ref)
        assert done.returncode == 2
        assert done.stdout == ""
        expected = {
            "nope": f"alpha: error: No run 'nope' in the manifest store {tmp_path / 'm.db'}. "
            f"List the runs with '{PYTHON} alpha.py runs', or point REFLOW_STORE_PATH (or "
            "--store-path) at the store the run was recorded in.",
            "latest": f"alpha: error: The manifest store {tmp_path / 'm.db'} holds no runs of "
            "workflow 'alpha' yet.",
        }[ref]
        assert done.stderr.splitlines() == [expected]
    beta_id = before[0]
    other = cli(str(alpha), "status", beta_id)
    assert other.returncode == 2
    assert other.stderr.splitlines() == [
        f"alpha: error: Run '{beta_id}' belongs to workflow 'beta', not 'alpha'; show it "
        f"with: reflow status {beta_id}"
    ]
    assert run_ids(tmp_path) == before  # nothing written or lost


def test_the_hint_after_submit_can_be_run_as_typed(
    scripts: tuple[Path, Path], tmp_path: Path
) -> None:
    alpha, _ = scripts
    done = cli(str(alpha), "submit", "--run-dir", "r", "--executor", "local", "--wait")
    assert done.returncode == 0, done.stderr
    hint = done.stdout.splitlines()[1]
    run_id = run_ids(tmp_path)[0]
    assert hint == f"Follow it with: {PYTHON} alpha.py status {run_id}"
    command = hint.removeprefix("Follow it with: ").split()
    assert command[0] == PYTHON
    again = cli(*command[1:])
    assert again.returncode == 0 and again.stdout.splitlines()[0] == f"Run      {run_id}"


def test_script_command_quotes_the_path_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["../flows/my pipe.py", "status"])
    monkeypatch.setattr(sys, "executable", "/opt/py/bin/python3.12")
    assert script_command() == "python3.12 '../flows/my pipe.py'"


def test_runs_has_the_columns_of_reflow_runs(scripts: tuple[Path, Path], tmp_path: Path) -> None:
    alpha, beta = scripts
    for script in (alpha, beta, alpha):
        assert cli(str(script), "run", "--run-dir", "r").returncode == 0
    ours = cli(str(alpha), "runs", "--json")
    theirs = cli("-m", "reflow", "runs", "--workflow", "alpha", "--json")
    assert ours.returncode == theirs.returncode == 0, ours.stderr + theirs.stderr
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    assert [r["workflow"] for r in json.loads(ours.stdout)] == ["alpha", "alpha"]
    text = cli(str(alpha), "runs", "--last", "1").stdout.splitlines()
    assert text[0].split() == ["RUN", "WORKFLOW", "STATUS", "PROGRESS", "AGE", "EXECUTOR"]
    assert text[-1] == "The 1 newest of 2 runs; --last 2 shows all."


def test_runs_refuses_a_state_that_does_not_exist(
    scripts: tuple[Path, Path], tmp_path: Path
) -> None:
    alpha, _ = scripts
    assert cli(str(alpha), "run", "--run-dir", "r").returncode == 0
    before = run_ids(tmp_path)
    done = cli(str(alpha), "runs", "--status", "finished")
    assert done.returncode == 2
    states = ", ".join([*(s.value for s in RunState), LOST])  # as reflow runs lists them
    assert done.stderr.splitlines() == [
        f"alpha: error: --status 'finished' is not a run state; use one of {states}."
    ]
    assert run_ids(tmp_path) == before


def test_runs_lists_your_runs_unless_all_users(
    scripts: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha, _ = scripts
    monkeypatch.setenv("LOGNAME", "alice")  # what getpass, hence the run's user, reads first
    assert cli(str(alpha), "run", "--run-dir", "r").returncode == 0
    monkeypatch.setenv("LOGNAME", "bob")
    assert cli(str(alpha), "run", "--run-dir", "r").returncode == 0
    bob_id, alice_id = run_ids(tmp_path)
    mine = cli(str(alpha), "runs")
    assert mine.returncode == 0, mine.stderr
    assert bob_id in mine.stdout and alice_id not in mine.stdout
    assert "1 run(s) of other users not shown; --all-users shows them." in mine.stdout
    everyone = cli(str(alpha), "runs", "--all-users", "--json")
    assert everyone.returncode == 0, everyone.stderr
    assert [(r["run_id"], r["user"]) for r in json.loads(everyone.stdout)] == [
        (bob_id, "bob"),
        (alice_id, "alice"),
    ]

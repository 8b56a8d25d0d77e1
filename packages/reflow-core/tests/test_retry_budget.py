"""A manual ``retry`` gives the retried instances their automatic retries back (issue 18).

The user retries after fixing what failed; an instance that then fails again
for a listed reason is retried automatically as often as its task says, not
failed at once because the attempts before the fix used the retries up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reflow import RunState, TaskState
from reflow.executors.local.executor import LocalExecutor
from reflow.runs.attempts import RETRIED_BY_USER, Attempt, AttemptLog
from reflow.runs.layout import RunLayout
from reflow.testing.scripts import load_template

SCRIPT = """
from pathlib import Path
from typing import Annotated
from reflow import Result, RunDir, Workflow

wf = Workflow("{name}")

@wf.job()
def items(n: int = 2) -> list[int]:
    return list(range(n))

@wf.job(array=True, retries=1, retry_on=[RuntimeError])
def flaky(i: Annotated[int, Result(step="items")], run_dir: RunDir = RunDir()) -> int:
    # fails-<i> holds how many more attempts of element i fail
    left = run_dir / f"fails-{{i}}"
    if left.exists() and int(left.read_text()) > 0:
        left.write_text(str(int(left.read_text()) - 1))
        raise RuntimeError(f"element {{i}} is flaky")
    return i * 10
"""


def test_a_manual_retry_gives_the_automatic_retries_back(tmp_path: Path, store: Any) -> None:
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    mod = load_template(tmp_path, "budget", SCRIPT)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # Attempts 1 and 2 fail (retries=1 is used up), so does the first after the retry.
    (run_dir / "fails-1").write_text("3")
    run = mod.wf.submit(run_dir, store=store, executor=executor)
    assert run.wait(timeout=300) is RunState.FAILED
    failed = store.get_task_instance_record(run.run_id, "flaky", 1)
    assert failed.state is TaskState.FAILED
    assert "Not retried: no retries left (retries=1)" in failed.error_text
    assert (run_dir / "fails-1").read_text() == "1"

    assert run.retry(executor=executor, quiet=True) == 1
    # Its first attempt after the retry fails; the retry given back runs it again.
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("flaky") == [0, 10]
    assert (run_dir / "fails-1").read_text() == "0"
    log = AttemptLog(RunLayout(run_dir, run.run_id))
    assert [(a.number, a.reason, a.counted) for a in log.of("flaky", 1)] == [
        (1, "RuntimeError", True),
        (2, "RuntimeError", True),
        (0, RETRIED_BY_USER, False),
        (1, "RuntimeError", True),
    ]
    assert log.of("flaky", 0) == []  # it never failed: nothing to give back
    raw = json.loads(RunLayout(run_dir, run.run_id).attempts_file.read_text())
    assert raw["flaky[1]"][2]["detail"] == "retried by the user: the task's retries start again"


def test_a_manual_retry_still_fails_for_good_once_the_given_back_retries_are_used(
    tmp_path: Path, store: Any
) -> None:
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    mod = load_template(tmp_path, "budget_again", SCRIPT)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "fails-0").write_text("4")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=1)
    assert run.wait(timeout=300) is RunState.FAILED
    assert run.retry(executor=executor, quiet=True) == 1
    assert run.wait(timeout=300) is RunState.FAILED  # 2 attempts again, no more
    assert (run_dir / "fails-0").read_text() == "0"
    failed = store.get_task_instance_record(run.run_id, "flaky", 0)
    assert "retried by the user (retries start again); #1 RuntimeError" in failed.error_text
    assert failed.error_text.endswith("Not retried: no retries left (retries=1).")


def test_a_manual_retry_spends_none_of_the_preemption_requeues(tmp_path: Path) -> None:
    # Preempted attempts (not counted) are capped over the instance's whole life; the
    # mark a manual retry leaves is not a requeue and must not use one up.
    log = AttemptLog(RunLayout(tmp_path, "r1"))
    log.add("t", 0, Attempt(1, "PREEMPTED", False, {}))
    log.add("t", 0, Attempt(0, RETRIED_BY_USER, False, {}))
    log.add("t", 0, Attempt(1, "PREEMPTED", False, {}))
    log.add("t", 0, Attempt(1, "FAILED", True, {}))
    assert log.requeues("t", 0) == 2
    assert log.counted("t", 0) == 1

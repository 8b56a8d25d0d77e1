"""Scheduler mode end to end on the local executor: waves, cache, faults, cancel, retry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from reflow import RunState, TaskState
from reflow.errors import ReflowError
from reflow.executors.jobs import JobResources, JobSpec
from reflow.executors.local.executor import LocalExecutor
from reflow.testing.localjobs import job_count, job_names
from reflow.testing.scripts import load_template

PIPELINE = """
import os, signal, time
from pathlib import Path
from typing import Annotated
from reflow import Result, RunDir, Workflow

wf = Workflow("{name}")

@wf.job()
def find(n: int = 6) -> list[str]:
    return [f"f{{i}}" for i in range(n)]

@wf.job(array=True, array_parallelism=2)
def process(path: Annotated[str, Result(step="find")], run_dir: RunDir = RunDir()) -> str:
    marker = run_dir / f"kill-{{path}}"
    if marker.exists() and not (run_dir / f"killed-{{path}}").exists():
        (run_dir / f"killed-{{path}}").write_text("")
        os.kill(os.getpid(), signal.SIGKILL)
    if (run_dir / "slow").exists():
        time.sleep(30)
    return path.upper()

@wf.job()
def report(xs: Annotated[list[str], Result(step="process")]) -> str:
    return ",".join(xs)
"""


@pytest.fixture
def executor(tmp_path: Path) -> LocalExecutor:
    return LocalExecutor(state_dir=tmp_path / "jobs")


def test_the_user_guide_pipeline_runs_in_waves_and_then_from_the_cache(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    mod = load_template(tmp_path, "guide_sub", PIPELINE)
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=6)
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("process") == ["F0", "F1", "F2", "F3", "F4", "F5"]
    assert run.output("report") == "F0,F1,F2,F3,F4,F5"
    logs = sorted(p.name for p in (tmp_path / "run" / "logs").iterdir())
    assert sum("dispatch" in n and n.endswith(".out") for n in logs) >= 3  # several waves
    assert (
        sum(n.startswith("process-") and n.endswith(".out") for n in logs) == 6
    )  # <task>-<job>_<i>
    record = store.get_run_record(run.run_id)
    assert record.executor == "local"
    assert record.executor_options["state_dir"] == str(executor.state_dir)

    before = job_count(executor)
    again = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=6)
    assert again.wait(timeout=60) is RunState.SUCCESS
    assert job_count(executor) == before + 1  # one dispatcher, no worker job
    assert again.output("report") == "F0,F1,F2,F3,F4,F5"


def test_a_killed_worker_fails_with_a_reason_and_retry_reruns_only_it(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    mod = load_template(tmp_path, "killed_sub", PIPELINE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "kill-f2").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=4)
    assert run.wait(timeout=120) is RunState.FAILED
    dead = store.get_task_instance_record(run.run_id, "process", 2)
    assert dead.state is TaskState.FAILED
    assert "without writing a result" in dead.error_text and "SIGKILL" in dead.error_text
    summary = store.task_state_summary(run.run_id)
    assert summary["process"] == {"SUCCESS": 3, "FAILED": 1}
    # Submitted ahead with a dependency on process, it never ran: cancelled.
    assert summary["report"] == {"CANCELLED": 1}

    first_ids = {
        i: store.get_task_instance_record(run.run_id, "process", i).job_id for i in (0, 1, 3)
    }
    assert run.retry() == 2  # process[2] and report
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("report") == "F0,F1,F2,F3"
    for i, job in first_ids.items():  # the others were not run again
        assert store.get_task_instance_record(run.run_id, "process", i).job_id == job


def test_retry_with_nothing_to_retry_changes_nothing(
    tmp_path: Path, store: Any, executor: LocalExecutor, capsys: pytest.CaptureFixture[str]
) -> None:
    mod = load_template(tmp_path, "nothing_sub", PIPELINE)
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=2)
    assert run.wait(timeout=60) is RunState.SUCCESS
    jobs = job_count(executor)
    assert run.retry() == 0
    assert "Nothing to retry" in capsys.readouterr().out
    assert job_count(executor) == jobs
    assert store.get_run_record(run.run_id).status is RunState.SUCCESS


def test_a_corrupt_result_file_fails_that_instance_only(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    from reflow.engine.scheduler.dispatcher import Dispatcher
    from reflow.runs.layout import RunLayout

    mod = load_template(tmp_path, "corrupt_sub", PIPELINE)
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=3)
    # Wait until the array's results exist, then break one before the wave reads it.
    deadline = time.monotonic() + 60
    target = RunLayout(run.run_dir, run.run_id).result_file("process", 1)
    while not target.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    target.write_text("{not json")
    assert run.wait(timeout=60) is RunState.FAILED
    bad = store.get_task_instance_record(run.run_id, "process", 1)
    assert bad.state is TaskState.FAILED and "result file" in bad.error_text
    assert "corrupt" in bad.error_text
    assert store.task_state_summary(run.run_id)["process"] == {"SUCCESS": 2, "FAILED": 1}
    assert isinstance(Dispatcher, type)


def test_a_dispatcher_killed_mid_wave_is_resumed_without_submitting_twice(
    tmp_path: Path, store: Any
) -> None:
    from reflow.engine.scheduler.dispatcher import Dispatcher
    from reflow.stores import StateUpdate

    mod = load_template(tmp_path, "resume_sub", PIPELINE)
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=3)
    assert run.wait(timeout=60) is RunState.SUCCESS  # a first, complete run for the cache
    # A fresh run whose first dispatcher "died" after planning and after marking
    # the array's instances, but before asking the scheduler for anything.
    run2 = mod.wf.submit(tmp_path / "run2", store=store, executor=executor, n=3, force=True)
    executor.cancel(
        [
            json.loads((run2.run_dir / ".reflow" / run2.run_id / "dispatcher.json").read_text())[
                "job_id"
            ]
        ]
    )
    wave = Dispatcher(store, run2.run_id, executor=executor)
    wave.plan()
    pending = store.list_task_instance_records(run2.run_id, states=[TaskState.PENDING])
    store.apply_state_updates(
        [StateUpdate(i.id, TaskState.SUBMITTED, job_id="pending:dead") for i in pending]
    )
    mark = job_count(executor)
    assert Dispatcher(store, run2.run_id, executor=executor).wave() is RunState.RUNNING
    assert run2.wait(timeout=120) is RunState.SUCCESS
    workers = [n for n in job_names(executor, after=mark) if not n.endswith(".dispatch")]
    assert workers == ["resume_sub.find", "resume_sub.process", "resume_sub.report"]


def test_a_wave_that_loses_the_store_right_after_submitting_submits_nothing_twice(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store goes away (a database server past its connect timeout) between the
    # scheduler's answer and the store's update: the job exists, its instances still
    # hold their pending token, and the job never started (here: cancelled at once).
    from reflow.engine.scheduler.dispatcher import Dispatcher
    from reflow.stores import StoreError

    mod = load_template(tmp_path, "ledger_sub", PIPELINE)
    run = mod.wf.submit(
        tmp_path / "run", store=store, executor=LocalExecutor(state_dir=tmp_path / "jobs"), n=3
    )
    first = json.loads((run.run_dir / ".reflow" / run.run_id / "dispatcher.json").read_text())
    losing = _LosesStoreAfterSubmit(state_dir=tmp_path / "jobs")
    losing.cancel([first["job_id"]])
    mark = job_count(losing)

    real = store.apply_state_updates

    def updates(batch: Any) -> None:
        if losing.lost:
            raise StoreError("the store went away")
        real(batch)

    monkeypatch.setattr(store, "apply_state_updates", updates)
    with pytest.raises(StoreError):
        Dispatcher(store, run.run_id, executor=losing).wave()
    monkeypatch.setattr(store, "apply_state_updates", real)
    [find] = store.list_task_instance_records(run.run_id)
    assert (find.job_id or "").startswith("pending:")
    # The next wave records the job the lost one submitted instead of submitting again.
    plain = LocalExecutor(state_dir=tmp_path / "jobs")
    Dispatcher(store, run.run_id, executor=plain).wave()
    assert job_names(plain, after=mark).count("ledger_sub.find") == 1
    job_id = store.get_task_instance_record(run.run_id, "find", None).job_id
    assert job_id and not job_id.startswith("pending:")
    run.cancel()


class _LosesStoreAfterSubmit(LocalExecutor):
    """Cancels each task job it submits before it starts, and then the store is lost."""

    lost = False

    def submit(
        self, job: JobSpec | JobResources, command: Sequence[str] | str | None = None
    ) -> str:
        job_id = super().submit(job, command)
        if isinstance(job, JobSpec) and not job.name.endswith(".dispatch"):
            self.cancel([job_id])
            self.lost = True
        return job_id


def test_cancel_leaves_no_job_of_the_run_running(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    mod = load_template(tmp_path, "cancel_sub", PIPELINE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "slow").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=4)
    deadline = time.monotonic() + 60
    while not list((run_dir / ".reflow" / run.run_id).glob("started/process/*.json")):
        assert time.monotonic() < deadline, "the array never started"
        time.sleep(0.1)
    assert run.cancel() >= 1
    assert store.get_run_record(run.run_id).status is RunState.CANCELLED
    ids = [d.name for d in (executor.state_dir / "jobs").iterdir()]
    states = executor.query(ids)
    assert all(s.state.value not in ("RUNNING", "PENDING") for s in states.values()), states
    pids = []
    for started in (run_dir / ".reflow" / run.run_id).glob("started/process/*.json"):
        pids.append(json.loads(started.read_text())["pid"])
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    active = store.list_task_instance_records(
        run.run_id, states=[TaskState.PENDING, TaskState.SUBMITTED, TaskState.RUNNING]
    )
    assert active == []


DRIVER = """
import sys
from typing import Annotated
from reflow import Result, Workflow
from reflow.executors.local.executor import LocalExecutor
from reflow.testing.localjobs import job_count, job_names
from reflow.testing.scripts import load_template
from reflow.stores.sqlite import SqliteStore

wf = Workflow("driver")

@wf.job()
def items() -> list[int]:
    return [1, 2, 3]

@wf.job(array=True)
def double(i: Annotated[int, Result(step="items")]) -> int:
    return 2 * i

run = wf.submit(sys.argv[2], store=SqliteStore(sys.argv[1]),
                executor=LocalExecutor(state_dir=sys.argv[3]))
print("RUN", run.run_id, flush=True)
"""


def test_a_driver_without_main_guard_gives_exactly_one_run(tmp_path: Path) -> None:
    from reflow.stores.sqlite import SqliteStore

    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    db = tmp_path / "m.db"
    out = subprocess.run(
        [sys.executable, str(script), str(db), str(tmp_path / "run"), str(tmp_path / "jobs")],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    run_id = out.split()[1]
    store = SqliteStore(db)
    store.init()
    deadline = time.monotonic() + 90
    while getattr(store.get_run_record(run_id), "status", None) not in RunState.terminal():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert [r.run_id for r in store.list_run_records()] == [run_id]
    record = store.get_run_record(run_id)
    assert record is not None and record.status is RunState.SUCCESS
    assert store.get_array_outputs(run_id, "double") == [2, 4, 6]


def test_a_workflow_outside_a_file_cannot_be_submitted(tmp_path: Path, store: Any) -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(
        "from reflow import Workflow\nwf = Workflow('inline')\n"
        "@wf.job()\ndef t() -> int:\n    return 1\n",
        namespace,
    )
    with pytest.raises(ReflowError, match=r"must live in an importable \.py file"):
        namespace["wf"].submit(tmp_path / "run", store=store, executor="local")
    assert store.list_run_records() == []


def test_wait_notices_a_lost_dispatcher_and_resume_recovers_the_run(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    from reflow.engine.scheduler.dispatcher import dispatch_once

    mod = load_template(tmp_path, "lost_sub", PIPELINE)
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=2)
    first = json.loads((run.run_dir / ".reflow" / run.run_id / "dispatcher.json").read_text())
    executor.cancel([first["job_id"]])  # the dispatcher is lost before it ran
    with pytest.raises(ReflowError, match=rf"reflow resume {run.run_id}"):
        run.wait(timeout=60)
    assert dispatch_once(store, run.run_id, executor) is RunState.RUNNING
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("report") == "F0,F1"


UNGUARDED = """
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job()
def items() -> list[int]:
    return [1, 2]

@wf.job(array=True)
def double(i: Annotated[int, Result(step="items")]) -> int:
    return 2 * i

raise SystemExit(wf.cli())
"""


def test_a_script_ending_in_an_unguarded_cli_call_runs_in_jobs(tmp_path: Path) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(UNGUARDED.format(name="unguarded")))
    env = {
        **os.environ,
        "REFLOW_STORE_PATH": str(tmp_path / "m.db"),
        "REFLOW_LOCAL_STATE": str(tmp_path / "jobs"),
    }
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            "submit",
            "--run-dir",
            str(tmp_path / "run"),
            "--executor",
            "local",
            "--wait",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "SUCCESS" in done.stdout


def test_a_wave_killed_before_writing_inputs_is_repaired(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    import shutil

    from reflow.engine.scheduler.dispatcher import Dispatcher

    mod = load_template(tmp_path, "repair_sub", PIPELINE)
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=3)
    executor.cancel(
        [
            json.loads((run.run_dir / ".reflow" / run.run_id / "dispatcher.json").read_text())[
                "job_id"
            ]
        ]
    )
    wave = Dispatcher(store, run.run_id, executor=executor)
    wave.plan()  # then "killed": the inputs files are lost
    shutil.rmtree(run.run_dir / ".reflow" / run.run_id / "inputs")
    assert Dispatcher(store, run.run_id, executor=executor).wave() is RunState.RUNNING
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("report") == "F0,F1,F2"


def test_resume_takes_up_a_run_failed_by_a_crashed_dispatcher(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    from reflow.engine.scheduler.dispatcher import dispatch_once

    mod = load_template(tmp_path, "crashed_sub", PIPELINE)
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=2)
    executor.cancel(
        [
            json.loads((run.run_dir / ".reflow" / run.run_id / "dispatcher.json").read_text())[
                "job_id"
            ]
        ]
    )
    from reflow.engine.scheduler.dispatcher import Dispatcher

    Dispatcher(store, run.run_id, executor=executor).plan()
    store.update_run_status(run.run_id, RunState.FAILED)  # what a crashing wave leaves
    assert dispatch_once(store, run.run_id, executor) is RunState.FAILED  # a plain wave: no
    assert dispatch_once(store, run.run_id, executor, resume=True) is RunState.RUNNING
    assert run.wait(timeout=120) is RunState.SUCCESS

"""The run context (run.json and the store's typed columns) and the job entry point."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest

from reflow import RunState, TaskState
from reflow.engine.scheduler.code import code_record
from reflow.engine.scheduler.dispatcher import Dispatcher
from reflow.errors import ReflowError
from reflow.executors.base import Executor
from reflow.executors.jobs import JobSpec, JobState, JobStatus
from reflow.executors.local.executor import LocalExecutor
from reflow.job import main as job_main
from reflow.runs.context import CONTEXT_FORMAT, RunContext, context_path, read_context
from reflow.runs.layout import RunLayout

TWO_STEPS = """
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job()
def make(n: int = 2) -> int:
    return n * 10

@wf.job()
def double(x: Annotated[int, Result(step="make")]) -> int:
    return x * 2
"""


def load(tmp_path: Path, name: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(TWO_STEPS.format(name=name)))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Held(Executor):
    """A scheduler that keeps every job it is given and runs none."""

    name: ClassVar[str] = "held"

    def __init__(self) -> None:
        self.jobs: list[JobSpec] = []

    def _submit(self, job: JobSpec) -> str:
        self.jobs.append(job)
        return str(len(self.jobs))

    def cancel(self, job_ids: Sequence[str]) -> None:
        return None

    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        # A job submitted ahead, with a dependency, waits: the test runs it by hand.
        waiting = {str(n) for n, job in enumerate(self.jobs, 1) if job.after_ok or job.after_corr}
        return {
            i: JobStatus(JobState.PENDING if i in waiting else JobState.COMPLETED) for i in job_ids
        }


CONTEXT = RunContext(
    run_id="wf-20240101-000000-abcd",
    run_dir=Path("/work/run"),
    workflow="wf",
    script=Path("/work/flow.py"),
    argv=("flow.py", "submit"),
    executor="slurm",
    executor_options={"partition": "short"},
    store_url="sqlite:///work/manifest.db",
    force_tasks=frozenset({"b", "a"}),
    verify=True,
)


def test_the_context_round_trips_through_json() -> None:
    assert RunContext.from_json(CONTEXT.to_json()) == CONTEXT
    data = json.loads(CONTEXT.to_json())
    assert data["format"] == CONTEXT_FORMAT
    assert data["force_tasks"] == ["a", "b"]


def test_a_context_from_a_newer_reflow_is_refused_in_one_line() -> None:
    data = {**CONTEXT.to_dict(), "format": CONTEXT_FORMAT + 1}
    with pytest.raises(ReflowError) as caught:
        RunContext.from_dict(data, "run.json")
    message = str(caught.value)
    assert "\n" not in message
    assert f"format {CONTEXT_FORMAT + 1}" in message and "Upgrade reflow-core" in message


@pytest.mark.parametrize(
    ("text", "said"),
    [("{", "not valid JSON"), ("[]", "not a JSON object"), ('{"format": 1}', "'run_id'")],
)
def test_a_broken_run_json_is_said_in_one_line(text: str, said: str) -> None:
    with pytest.raises(ReflowError, match=said) as caught:
        RunContext.from_json(text, "run.json")
    assert "\n" not in str(caught.value)


def test_submit_records_the_context_in_the_store_and_in_run_json(
    tmp_path: Path, store: Any
) -> None:
    mod = load(tmp_path, "ctx_submit")
    executor = Held()
    run = mod.wf.submit(
        tmp_path / "run", store=store, executor=executor, force_tasks=["make"], n=3
    )
    record = store.get_run_record(run.run_id)
    context = record.context
    assert context is not None
    assert context.run_dir == (tmp_path / "run").resolve()
    assert context.script == (tmp_path / "ctx_submit.py").resolve()
    assert (context.workflow, context.executor, context.store_url) == (
        "ctx_submit",
        "held",
        store.url,
    )
    assert (context.force, context.force_tasks, context.verify) == (False, {"make"}, False)
    assert context.argv == tuple(sys.argv)
    run_json = context_path(context.run_dir, run.run_id)
    assert read_context(run_json) == context
    # The run facts are not parameters: the task parameters and the run directory are.
    assert not [key for key in record.parameters if key.startswith("__") and key != "__wiring__"]

    (dispatch,) = executor.jobs
    assert dispatch.command == (sys.executable, "-m", "reflow.job", "dispatch", str(run_json))
    assert not any(str(store.path) in part for part in dispatch.command)


def test_the_dispatcher_refuses_a_run_without_a_run_directory_in_one_line(store: Any) -> None:
    store.insert_run("old-run", "wf", "alice", {"n": 1}, executor="held")
    with pytest.raises(ReflowError, match="records no run directory") as caught:
        Dispatcher(store, "old-run", Held())
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        ([], "dispatch RUN_JSON | work RUN_JSON TASK [PACK_PLAN] | local-job JOB_DIR"),
        (["dispatch"], "dispatch RUN_JSON"),
        (["work", "run.json"], "work RUN_JSON TASK [PACK_PLAN]"),
        (["work", "run.json", "task", "plan", "more"], "work RUN_JSON TASK [PACK_PLAN]"),
        (["local-job", "a", "b"], "local-job JOB_DIR"),
        (["launch", "run.json"], "dispatch RUN_JSON |"),
    ],
)
def test_a_usage_error_is_one_line_and_status_2(
    argv: list[str], usage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert job_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("usage: python -m reflow.job ") and usage in err


def test_the_module_runs_as_a_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reflow.job", "dispatch", str(tmp_path / "run.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "Cannot read the run context" in done.stderr


def test_a_dispatcher_queued_with_the_old_command_line_still_runs(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m reflow.dispatch.dispatcher RUN_ID STORE_PATH``, as jobs queued before 0.4."""
    mod = load(tmp_path, "ctx_old_dispatch")
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    # A run whose first dispatcher is not submitted (dry run), and that, like a run
    # made before run.json existed, has its context in the store only.
    monkeypatch.setenv("REFLOW_MODE", "dry-run")
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=4)
    monkeypatch.delenv("REFLOW_MODE")
    store.update_run_status(run.run_id, RunState.RUNNING)
    RunLayout(run.run_dir, run.run_id).dispatcher_file.unlink()
    run_json = context_path(run.run_dir, run.run_id)
    run_json.unlink()

    done = subprocess.run(
        [sys.executable, "-m", "reflow.dispatch.dispatcher", run.run_id, str(store.path)],
        capture_output=True,
        text=True,
        cwd=run.run_dir,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert read_context(run_json) == store.get_run_record(run.run_id).context
    # Its jobs (workers, the next dispatchers) run the new command lines to the end.
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("double") == 80


def test_a_worker_queued_with_the_old_command_line_still_runs(tmp_path: Path, store: Any) -> None:
    """``python -m reflow.dispatch.worker SCRIPT WORKFLOW RUN_DIR RUN_ID TASK``, as before 0.4."""
    mod = load(tmp_path, "ctx_old_worker")
    executor = Held()
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=5)
    assert Dispatcher(store, run.run_id, executor).wave() is RunState.RUNNING
    frozen = code_record(run.run_dir, run.run_id)
    assert frozen is not None
    old = [sys.executable, "-m", "reflow.dispatch.worker", str(frozen.script)]
    old += [run.workflow.name, str(run.run_dir), run.run_id, "make"]
    env = {**os.environ, "REFLOW_RUN_ID": run.run_id}
    subprocess.run(old, env=env, cwd=run.run_dir, timeout=120, check=True)

    Dispatcher(store, run.run_id, executor).wave()
    made = store.get_task_instance_record(run.run_id, "make", None)
    assert (made.state, made.output) == (TaskState.SUCCESS, 50)
    # The next worker is queued with the new command line, and runs.
    (work,) = [job for job in executor.jobs if job.name.endswith(".double")]
    assert work.command[1:5] == (
        "-m",
        "reflow.job",
        "work",
        str(context_path(run.run_dir, run.run_id)),
    )
    subprocess.run(work.command, env=env, cwd=run.run_dir, timeout=120, check=True)
    assert Dispatcher(store, run.run_id, executor).wave() is RunState.SUCCESS
    assert run.output("double") == 100


def test_a_local_supervisor_started_with_the_old_command_line_still_runs_its_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m reflow.executors.local_runner JOB_DIR``, as local jobs started before 0.4."""
    from reflow.executors.local import executor as local
    from reflow.executors.local.proc import spawn_detached

    started: list[list[str]] = []
    spawn = spawn_detached

    def old_spawn(args: list[str], log: Path, cwd: Path) -> int:
        started.append(list(args))
        return spawn([args[0], "-m", "reflow.executors.local_runner", args[-1]], log, cwd)

    monkeypatch.setattr(local, "spawn_detached", old_spawn)
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    done = tmp_path / "done"
    job_id = executor.submit(
        JobSpec(name="touch", command=("touch", str(done)), workdir=tmp_path, log_dir=tmp_path)
    )
    (args,) = started
    assert args[1:4] == ["-m", "reflow.job", "local-job"]  # what new supervisors run
    deadline = time.monotonic() + 60
    while executor.query([job_id])[job_id].state not in JobState.ended():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert executor.query([job_id])[job_id].state is JobState.COMPLETED
    assert done.exists()

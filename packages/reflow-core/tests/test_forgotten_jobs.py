"""A job its scheduler has forgotten (history purged) and that left no result fails, in time."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest

from reflow import RunState, TaskState
from reflow.errors import ConfigError
from reflow.executors.base import Executor
from reflow.executors.jobs import JobSpec, JobState, JobStatus
from reflow.testing.scripts import load_script

PIPELINE = """
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job()
def find(n: int = 2) -> list[str]:
    return [f"f{{i}}" for i in range(n)]

@wf.job(array=True)
def process(path: Annotated[str, Result(step="find")]) -> str:
    return path.upper()
"""


class Forgetful(Executor):
    """A scheduler that accepts every job, runs none and reports none of them."""

    name: ClassVar[str] = "forgetful"

    def __init__(self) -> None:
        self.jobs: list[JobSpec] = []

    def _submit(self, job: JobSpec) -> str:
        self.jobs.append(job)
        return str(len(self.jobs))

    def cancel(self, job_ids: Sequence[str]) -> None:
        pass

    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        return {i: JobStatus(JobState.UNKNOWN) for i in job_ids}


def load(tmp_path: Path, name: str) -> ModuleType:
    return load_script(tmp_path, name, PIPELINE.format(name=name))


def test_a_forgotten_job_fails_after_the_grace_and_is_not_depended_on(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflow.engine.scheduler.dispatcher import dispatch_once

    monkeypatch.setenv("REFLOW_DISPATCH_FORGET_AFTER", "1")
    executor = Forgetful()
    mod = load(tmp_path, "forgotten")
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor)

    assert dispatch_once(store, run.run_id, executor) is RunState.RUNNING
    find_job = next(j for j in executor.jobs if j.name.endswith("find"))
    find_id = str(executor.jobs.index(find_job) + 1)
    assert executor.jobs[-1].after_any == (find_id,)  # just submitted: waited for

    # The scheduler does not report it: still waited for, but not depended on.
    assert dispatch_once(store, run.run_id, executor) is RunState.RUNNING
    resubmitted = executor.jobs[-1]
    assert resubmitted.after_any == ()
    assert run.status_dict()["summary"]["find"] == {"SUBMITTED": 1}

    time.sleep(1.1)
    assert dispatch_once(store, run.run_id, executor) is RunState.FAILED
    (failed,) = store.list_task_instance_records(run.run_id, states=(TaskState.FAILED,))
    assert f"no longer knows job {find_id}" in (failed.error_text or "")


def test_a_late_result_wins_over_the_forgotten_job(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflow.engine.scheduler.dispatcher import dispatch_once

    monkeypatch.setenv("REFLOW_DISPATCH_FORGET_AFTER", "0")
    executor = Forgetful()
    mod = load(tmp_path, "late")
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor)
    assert dispatch_once(store, run.run_id, executor) is RunState.RUNNING
    find_job = next(j for j in executor.jobs if j.name.endswith("find"))
    env = {**os.environ, **find_job.env, "REFLOW_RUN_ID": run.run_id}
    subprocess.run(find_job.command, env=env, check=True, cwd=find_job.workdir)
    assert dispatch_once(store, run.run_id, executor) is RunState.RUNNING
    assert run.status_dict()["summary"]["find"] == {"SUCCESS": 1}


class Puzzling(Forgetful):
    """A scheduler that reports every job, in a state reflow cannot map."""

    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        return {i: JobStatus(JobState.UNKNOWN, None, "toy state ZZ") for i in job_ids}


def test_a_job_in_a_state_reflow_cannot_map_is_waited_for_not_forgotten(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflow.engine.scheduler.dispatcher import dispatch_once

    monkeypatch.setenv("REFLOW_DISPATCH_FORGET_AFTER", "0")
    executor = Puzzling()
    mod = load(tmp_path, "puzzling")
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor)
    assert dispatch_once(store, run.run_id, executor) is RunState.RUNNING
    find_id = str(next(n for n, j in enumerate(executor.jobs, 1) if j.name.endswith("find")))
    assert dispatch_once(store, run.run_id, executor) is RunState.RUNNING
    assert run.status_dict()["summary"]["find"] == {"SUBMITTED": 1}
    assert executor.jobs[-1].after_any == (find_id,)  # still depended on


def test_a_bad_grace_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from reflow.runs.liveness import forget_after

    monkeypatch.setenv("REFLOW_DISPATCH_FORGET_AFTER", "ten minutes")
    with pytest.raises(ConfigError, match="REFLOW_DISPATCH_FORGET_AFTER"):
        forget_after()

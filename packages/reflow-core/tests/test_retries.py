"""Automatic retries by reason in scheduler mode: more memory, more time, another node."""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, ClassVar

import pytest

from reflow import RunState, TaskState
from reflow.define.retrypolicy import Attempted, Retry, escalate, retry_policy
from reflow.engine.scheduler.dispatcher import dispatch_once
from reflow.engine.scheduler.retrying import MEMORY_KILL_LINE, failure_reason
from reflow.engine.scheduler.submit import cancel_run
from reflow.errors import WorkflowDefinitionError
from reflow.executors.base import Executor
from reflow.executors.jobs import ARRAY_INDEX_ENV, JobSpec, JobState, JobStatus, element_id
from reflow.runs.attempts import AttemptLog
from reflow.runs.layout import RunLayout
from reflow.testing.scripts import load_script

PIPELINE = """
from typing import Annotated
from reflow import Resources, Result, RunDir, Workflow
from reflow.define.retrypolicy import Retry

wf = Workflow("{name}")

@wf.job(mem="100M", time="00:01:00", retries={retries})
def big(given: Resources) -> str:
    return given.mem  # what its job really asked for

@wf.job()
def items() -> list[int]:
    return [0, 1, 2]

@wf.job(array=True, time="00:01:00", retries=1, retry_on=["TIMEOUT"])
def each(i: Annotated[int, Result(step="items")]) -> int:
    return i * 10

class Flaky(ValueError):
    pass

@wf.job(retries=1, retry_on=[ValueError])
def flaky(run_dir: RunDir = RunDir()) -> str:
    marker = run_dir / "flaky-once"
    if not marker.exists():
        marker.write_text("")
        raise Flaky("the first time")
    return "second"
"""


class Scripted(Executor):
    """A scheduler whose jobs end as the test says; a job "runs" when the test runs it."""

    name: ClassVar[str] = "scripted"
    known_options: ClassVar[frozenset[str] | None] = frozenset({"exclude"})

    def __init__(self) -> None:
        self.jobs: list[JobSpec] = []
        self.states: dict[str, JobStatus] = {}

    def _submit(self, job: JobSpec) -> str:
        self.jobs.append(job)
        return str(len(self.jobs))

    def cancel(self, job_ids: Sequence[str]) -> None:
        pass

    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        found = {}
        for n, job in enumerate(self.jobs, 1):
            if str(n) not in job_ids:
                continue
            ids = (
                [str(n)]
                if job.array is None
                else [element_id(str(n), i) for i in job.array.indices]
            )
            for ident in ids:
                found[ident] = self.states.get(ident, JobStatus(JobState.RUNNING))
        return found

    def job(self, task: str) -> tuple[str, JobSpec]:
        """The last job submitted for ``task``, with its id."""
        n, job = [(n, j) for n, j in enumerate(self.jobs, 1) if j.name.endswith("." + task)][-1]
        return str(n), job

    def run(self, task: str, index: int | None = None, *, host: str = "") -> None:
        """Run the last job of ``task`` (its element ``index``) to its result file."""
        ident, job = self.job(task)
        env = {**os.environ, **job.env, "REFLOW_JOB_ID": ident}
        if index is not None:
            env[ARRAY_INDEX_ENV] = str(index)
        code = subprocess.run(job.command, env=env, check=False, cwd=job.workdir).returncode
        state = JobState.COMPLETED if code == 0 else JobState.FAILED
        self.states[ident if index is None else element_id(ident, index)] = JobStatus(state, code)


def start(tmp_path: Path, store: Any, retries: int | str = 2) -> tuple[Scripted, Any]:
    name = f"retry{abs(hash(retries)) % 1000}"
    mod = load_script(tmp_path, name, PIPELINE.format(name=name, retries=retries))
    executor = Scripted()
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor)
    assert dispatch_once(store, run.run_id, executor) is RunState.RUNNING
    return executor, run


def attempts(run: Any, task: str, index: int | None = None) -> list[Any]:
    return AttemptLog(RunLayout(run.run_dir, run.run_id)).of(task, index)


def test_out_of_memory_is_retried_with_twice_the_memory_then_succeeds(
    tmp_path: Path, store: Any
) -> None:
    executor, run = start(tmp_path, store)
    first, job = executor.job("big")
    assert job.resources.mem == "100M"
    executor.states[first] = JobStatus(JobState.OUT_OF_MEMORY, 137, "OUT_OF_MEMORY")
    dispatch_once(store, run.run_id, executor)
    second, job = executor.job("big")
    assert second != first and job.resources.mem == "200M"
    assert job.resources.time == "00:01:00"  # only what was missing grows
    executor.run("big")
    dispatch_once(store, run.run_id, executor)
    assert run.status_dict()["summary"]["big"] == {"SUCCESS": 1}
    assert run.output("big") == "200M"  # the task is given the retry's memory
    [one] = attempts(run, "big")
    assert (one.number, one.reason, one.job_id) == (1, "OUT_OF_MEMORY", first)
    assert one.resources["mem"] == "100M" and one.next["mem"] == "200M"


def test_a_task_that_keeps_failing_stops_after_its_retries_with_every_reason(
    tmp_path: Path, store: Any
) -> None:
    executor, run = start(tmp_path, store, retries=2)
    ids = []
    for state in (JobState.OUT_OF_MEMORY, JobState.NODE_FAIL, JobState.OUT_OF_MEMORY):
        ident, _ = executor.job("big")
        ids.append(ident)
        executor.states[ident] = JobStatus(state)
        dispatch_once(store, run.run_id, executor)
    assert executor.job("big")[0] == ids[-1]  # no fourth job
    (failed,) = store.list_task_instance_records(
        run.run_id, task_name="big", states=(TaskState.FAILED,)
    )
    text = failed.error_text or ""
    assert "#1 OUT_OF_MEMORY mem=100M" in text
    assert "#2 NODE_FAIL mem=200M" in text
    assert "#3 OUT_OF_MEMORY mem=200M" in text
    assert "no retries left (retries=2)" in text
    assert [a.reason for a in attempts(run, "big")] == [
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
    ]


def test_only_the_failed_elements_of_an_array_are_resubmitted_with_their_own_time(
    tmp_path: Path, store: Any
) -> None:
    executor, run = start(tmp_path, store)
    executor.run("items")
    dispatch_once(store, run.run_id, executor)
    ident, job = executor.job("each")
    assert job.array is not None and job.array.indices == (0, 1, 2)
    executor.run("each", 0)
    executor.run("each", 2)
    executor.states[element_id(ident, 1)] = JobStatus(JobState.TIMEOUT, 0, "TIMEOUT")
    dispatch_once(store, run.run_id, executor)
    again, job = executor.job("each")
    assert again != ident
    assert job.array is not None and job.array.indices == (1,)
    assert job.resources.time == "00:02:00"
    executor.run("each", 1)
    dispatch_once(store, run.run_id, executor)
    assert run.status_dict()["summary"]["each"] == {"SUCCESS": 3}
    assert run.output("each") == [0, 10, 20]
    assert [a.reason for a in attempts(run, "each", 1)] == ["TIMEOUT"]
    assert attempts(run, "each", 0) == []


def test_node_fail_excludes_the_node_it_ran_on(tmp_path: Path, store: Any) -> None:
    executor, run = start(tmp_path, store)
    ident, job = executor.job("big")
    started = RunLayout(run.run_dir, run.run_id).started_file("big", None)
    started.parent.mkdir(parents=True, exist_ok=True)
    started.write_text(json.dumps({"host": "node2", "job_id": ident}))
    executor.states[ident] = JobStatus(JobState.NODE_FAIL)
    dispatch_once(store, run.run_id, executor)
    _, job = executor.job("big")
    assert job.resources.options["exclude"] == "node2"
    assert job.resources.mem == "100M"
    [one] = attempts(run, "big")
    assert (one.reason, one.host) == ("NODE_FAIL", "node2")


def test_a_reason_not_listed_fails_at_once(tmp_path: Path, store: Any) -> None:
    executor, run = start(tmp_path, store)
    executor.run("items")
    dispatch_once(store, run.run_id, executor)
    ident, _ = executor.job("each")
    executor.states[element_id(ident, 0)] = JobStatus(JobState.OUT_OF_MEMORY)
    dispatch_once(store, run.run_id, executor)
    assert executor.job("each")[0] == ident  # retry_on=["TIMEOUT"] only
    assert run.status_dict()["summary"]["each"].get("FAILED") == 1


def test_an_over_memory_kill_reads_as_out_of_memory() -> None:
    killed = JobStatus(JobState.FAILED, 137, "killed by signal 9 (SIGKILL)")
    stderr = f"slurmstepd: error: {MEMORY_KILL_LINE}\n"
    assert failure_reason(killed, stderr) == "OUT_OF_MEMORY"
    assert failure_reason(killed, "") == "FAILED"
    assert failure_reason(JobStatus(JobState.FAILED, 1), stderr) == "FAILED"
    assert failure_reason(JobStatus(JobState.TIMEOUT), "") == "TIMEOUT"


def test_escalation_is_capped_and_stops_at_the_cap() -> None:
    policy = Retry(3, max_mem="300M")
    oom = Attempted(1, "OUT_OF_MEMORY", "200M", "01:00:00")
    nxt, _ = escalate(policy, oom, {"mem": "200M", "time": "01:00:00"})
    assert nxt is not None and nxt["mem"] == "300M"
    nxt, why = escalate(policy, oom, {"mem": "300M", "time": "01:00:00"})
    assert nxt is None and "limit" in why
    site = escalate(Retry(3), oom, {"mem": "200M", "time": "1h"}, {"mem": 250 * 1024**2})
    assert site[0] is not None and site[0]["mem"] == "250M"


def test_escalation_by_a_callable_of_the_attempt() -> None:
    policy = Retry(3, time=lambda attempt, failure: f"{attempt + 1}h")
    nxt, _ = escalate(
        policy, Attempted(2, "TIMEOUT", "1G", "02:00:00"), {"mem": "1G", "time": "2h"}
    )
    assert nxt is not None and nxt["time"] == "03:00:00"


@pytest.mark.parametrize(
    ("retries", "retry_on", "message"),
    [
        (-1, None, "retries=-1 is not valid"),
        (2, ["OOM"], "retry_on='OOM' is not a reason"),
        (Retry(2, backoff="soon"), None, "backoff='soon'"),
        (Retry(2, mem=0.5), None, "mem=0.5 is not a growth factor"),
    ],
)
def test_bad_retry_options_fail_on_one_line_naming_them(
    retries: Any, retry_on: Any, message: str
) -> None:
    from reflow import Workflow

    wf = Workflow("bad")
    with pytest.raises(WorkflowDefinitionError, match="Task 'work'") as info:

        @wf.job(retries=retries, retry_on=retry_on)
        def work() -> None:
            pass

    assert message in str(info.value) and "\n" not in str(info.value)


def test_retry_on_takes_exception_types_and_the_default_reasons() -> None:
    policy = retry_policy(2, [ValueError, "timeout"], "t")
    assert policy is not None and policy.reasons == {"TIMEOUT"}
    assert policy.counts_exception(ValueError("x")) and not policy.counts_exception(KeyError())
    default = retry_policy(1, None, "t")
    assert default is not None and default.reasons == {"TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}
    assert not default.counts_exception(ValueError())
    assert Retry(2, backoff="10s").delay(1) == 10 and Retry(2, backoff="10s").delay(3) == 40


def test_a_listed_exception_is_retried_with_the_same_resources(tmp_path: Path, store: Any) -> None:
    executor, run = start(tmp_path, store)
    first, _ = executor.job("flaky")
    executor.run("flaky")  # raises Flaky, a ValueError
    dispatch_once(store, run.run_id, executor)
    second, job = executor.job("flaky")
    assert second != first and job.resources.mem == "4G"
    executor.run("flaky")
    dispatch_once(store, run.run_id, executor)
    assert run.output("flaky") == "second"
    [one] = attempts(run, "flaky")
    assert (one.reason, one.counted, one.detail) == ("Flaky", True, "the task raised it")


def test_a_requeued_job_is_recorded_and_not_counted(tmp_path: Path, store: Any) -> None:
    executor, run = start(tmp_path, store)
    ident, _ = executor.job("big")
    started = RunLayout(run.run_dir, run.run_id).started_file("big", None)
    started.parent.mkdir(parents=True, exist_ok=True)
    # The scheduler started the job once already (then preempted and requeued it).
    started.write_text(json.dumps({"host": "h", "node": "n2", "job_id": ident, "start": 5.0}))
    executor.run("big")
    dispatch_once(store, run.run_id, executor)
    assert run.status_dict()["summary"]["big"] == {"SUCCESS": 1}
    [requeued] = attempts(run, "big")
    assert (requeued.reason, requeued.counted, requeued.host) == ("REQUEUED", False, "n2")
    assert requeued.number == 1 and "(requeued, not counted)" in requeued.summary()


def test_a_preempted_job_not_requeued_is_submitted_again_without_counting(
    tmp_path: Path, store: Any
) -> None:
    executor, run = start(tmp_path, store, retries=0)
    for _ in range(2):  # retries=0: only an uncounted resubmission can run it again
        ident, _ = executor.job("big")
        executor.states[ident] = JobStatus(JobState.PREEMPTED)
        dispatch_once(store, run.run_id, executor)
    executor.run("big")
    dispatch_once(store, run.run_id, executor)
    assert run.status_dict()["summary"]["big"] == {"SUCCESS": 1}
    log = attempts(run, "big")
    assert [(a.number, a.reason, a.counted) for a in log] == [
        (1, "PREEMPTED", False),
        (1, "PREEMPTED", False),
    ]


def cli(tmp_path: Path, *argv: str) -> str:
    """``reflow ARGV`` against the test's store, in this process; its stdout."""
    from reflow.cli.main import main

    out = io.StringIO()
    with redirect_stdout(out):
        assert main([*argv, "--store-path", str(tmp_path / "store" / "manifest.db")]) == 0
    return out.getvalue()


def test_status_and_explain_list_the_attempts(tmp_path: Path, store: Any) -> None:
    executor, run = start(tmp_path, store)
    first, _ = executor.job("big")
    executor.states[first] = JobStatus(JobState.OUT_OF_MEMORY)
    dispatch_once(store, run.run_id, executor)
    status = cli(tmp_path, "status", run.run_id)
    assert "Attempts" in status
    assert f"#1 OUT_OF_MEMORY mem=100M time=00:01:00 job {first}" in status
    data = json.loads(cli(tmp_path, "status", run.run_id, "--json"))
    assert [a["reason"] for a in data["attempts"]["big"]] == ["OUT_OF_MEMORY"]
    assert data["attempts"]["big"][0]["next"]["mem"] == "200M"
    explained = cli(tmp_path, "explain", run.run_id, "big")
    assert f"#1 OUT_OF_MEMORY mem=100M time=00:01:00 job {first}" in explained


def test_a_manual_retry_starts_from_the_last_attempts_resources(
    tmp_path: Path, store: Any
) -> None:
    executor, run = start(tmp_path, store, retries=1)
    for _ in range(2):  # 100M, then 200M: no retries left
        ident, _ = executor.job("big")
        executor.states[ident] = JobStatus(JobState.OUT_OF_MEMORY)
        dispatch_once(store, run.run_id, executor)
    assert run.status_dict()["summary"]["big"] == {"FAILED": 1}
    last, _ = executor.job("big")
    assert run.retry("big", executor=executor, quiet=True) == 1
    dispatch_once(store, run.run_id, executor)  # the wave retry submitted
    again, job = executor.job("big")
    assert again != last and job.resources.mem == "200M"


class Limited(Scripted):
    """A scheduler whose partition allows at most 150M (as Slurm's MaxMemPerNode says)."""

    def resource_limits(self, options: Any) -> dict[str, int | None]:
        return {"mem": 150 * 1024**2, "time": None}


def test_the_partitions_maximum_caps_the_escalation(tmp_path: Path, store: Any) -> None:
    mod = load_script(tmp_path, "capped", PIPELINE.format(name="capped", retries=2))
    executor = Limited()
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor)
    dispatch_once(store, run.run_id, executor)
    for _ in range(2):
        ident, _ = executor.job("big")
        executor.states[ident] = JobStatus(JobState.OUT_OF_MEMORY)
        dispatch_once(store, run.run_id, executor)
    assert [j.resources.mem for j in executor.jobs if j.name.endswith(".big")] == ["100M", "150M"]
    (failed,) = store.list_task_instance_records(
        run.run_id, task_name="big", states=(TaskState.FAILED,)
    )
    assert "Not retried: memory already at its limit (150M)" in (failed.error_text or "")


def test_the_report_has_a_row_per_attempt(tmp_path: Path, store: Any) -> None:
    from reflow.report.data import gather
    from reflow.report.page import render_page

    executor, run = start(tmp_path, store)
    assert "id='attempts'" not in render_page(gather(store, run.run_id))
    first, _ = executor.job("big")
    executor.states[first] = JobStatus(JobState.OUT_OF_MEMORY)
    dispatch_once(store, run.run_id, executor)
    page = render_page(gather(store, run.run_id))
    assert "id='attempts'" in page
    row = page[page.index("<tbody>", page.index("class='attempts'")) :]
    assert "<td>big</td><td class='num'>1</td><td><code>OUT_OF_MEMORY</code></td>" in row
    assert "<td>100M</td><td>00:01:00</td>" in row and "<td>mem=200M</td>" in row


def test_a_backoff_holds_the_retry_back_until_it_is_due(tmp_path: Path, store: Any) -> None:
    executor, run = start(tmp_path, store, retries="Retry(1, backoff='2s')")
    first, _ = executor.job("big")
    executor.states[first] = JobStatus(JobState.OUT_OF_MEMORY)
    dispatch_once(store, run.run_id, executor)  # items and flaky still run: not waited for
    assert executor.job("big")[0] == first
    time.sleep(2.1)
    dispatch_once(store, run.run_id, executor)
    again, job = executor.job("big")
    assert again != first and job.resources.mem == "200M"


ALONE = """
from reflow import Workflow
from reflow.define.retrypolicy import Retry

wf = Workflow("{name}")

@wf.job(mem="100M", retries=Retry(1, backoff="300s"))
def big() -> str:
    return "done"
"""


def test_cancel_stops_a_wave_waiting_out_a_retry_backoff(tmp_path: Path, store: Any) -> None:
    # The only job failed and its retry is held back 300 s: the wave itself waits.
    # `cancel` must not wait with it, and the held retry is never submitted.
    mod = load_script(tmp_path, "alone_backoff", ALONE.format(name="alone_backoff"))
    executor = Scripted()
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor)
    assert dispatch_once(store, run.run_id, executor) is RunState.RUNNING
    first, _ = executor.job("big")
    executor.states[first] = JobStatus(JobState.OUT_OF_MEMORY)
    states: list[RunState] = []
    wave = threading.Thread(
        target=lambda: states.append(dispatch_once(store, run.run_id, executor))
    )
    wave.start()
    deadline = time.monotonic() + 30
    while not attempts(run, "big") and time.monotonic() < deadline:
        time.sleep(0.1)  # the wave recorded the failure: it is in the backoff now
    time.sleep(1)
    began = time.monotonic()
    cancel_run(run, executor=executor)
    assert time.monotonic() - began < 10
    wave.join(timeout=10)
    assert not wave.is_alive()
    assert executor.job("big")[0] == first  # the held retry was not submitted
    assert store.get_run_record(run.run_id).status is RunState.CANCELLED
    assert run.status_dict()["summary"]["big"] == {"CANCELLED": 1}
    assert not RunLayout(run.run_dir, run.run_id).cancel_file.exists()

"""Tasks submitted ahead of their inputs, on the local executor: waves, cache, failures, retry."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from reflow import RunState, TaskState
from reflow.cache.explain import explain_instance
from reflow.executors.local.executor import LocalExecutor
from reflow.runs.layout import RunLayout
from reflow.testing.ahead import AHEAD_PIPELINE as PIPELINE
from reflow.testing.ahead import ahead_total as expected
from reflow.testing.ahead import stop_after_first_wave
from reflow.testing.localjobs import job_specs
from reflow.testing.scripts import load_template


def waves(specs: list[dict[str, Any]]) -> list[list[str]]:
    """The task jobs each dispatcher submitted (a dispatcher submits before its successor)."""
    out: list[list[str]] = []
    for spec in specs:
        if spec["name"].endswith(".dispatch"):
            out.append([])
        else:
            out[-1].append(spec["name"].split(".", 1)[1])
    return out


@pytest.fixture
def executor(tmp_path: Path) -> LocalExecutor:
    return LocalExecutor(state_dir=tmp_path / "jobs")


def test_the_pipeline_takes_two_waves_then_comes_from_the_cache(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    mod = load_template(tmp_path, "ahead_pipe", PIPELINE)
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=8)
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("publish") == f"total={expected(8)}"
    specs = job_specs(executor)
    submitting = [w for w in waves(specs) if w]
    assert submitting == [["find"], ["process", "clean", "summary", "publish"]]
    by_name = {s["name"].split(".", 1)[1]: s for s in specs}
    # The local executor has no element-wise dependency: whole-array after_ok.
    assert by_name["clean"]["after_ok"] == [by_name["process"]["id"]]
    assert by_name["summary"]["after_ok"] == [by_name["clean"]["id"]]
    assert by_name["publish"]["after_ok"] == [by_name["summary"]["id"]]
    clean = store.get_task_instance_record(run.run_id, "clean", 3)
    assert clean.identity and clean.cache_info["status"] == "miss"
    assert set(clean.cache_info["inputs"]) == {"x"}

    # Identities are those planning gives: an identical run is served from the cache.
    mark = len(specs)
    again = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=8)
    assert again.wait(timeout=120) is RunState.SUCCESS
    assert [s["name"] for s in job_specs(executor)[mark:]] == ["ahead_pipe.dispatch"]
    assert again.output("publish") == f"total={expected(8)}"
    assert {r.cache_info["status"] for r in store.list_task_instance_records(again.run_id)} == {
        "hit"
    }


def test_a_task_submitted_ahead_reuses_cached_outputs_when_its_inputs_come_out_the_same(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    mod = load_template(tmp_path, "ahead_hit", PIPELINE)
    first = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=4)
    assert first.wait(timeout=300) is RunState.SUCCESS
    # process runs again; its outputs are the same, so clean's identities are too.
    run = mod.wf.submit(
        tmp_path / "run", store=store, executor=executor, n=4, force_tasks=["process"]
    )
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("publish") == f"total={expected(4)}"
    for i in range(4):
        inst = store.get_task_instance_record(run.run_id, "clean", i)
        old = store.get_task_instance_record(first.run_id, "clean", i)
        assert inst.cache_info["status"] == "hit"
        assert inst.cache_info["source"]["run_id"] == first.run_id
        assert inst.identity == old.identity
    result = json.loads(RunLayout(run.run_dir, run.run_id).result_file("clean", 0).read_text())
    assert "cached" in result  # the worker wrote the cached output, it did not run
    summary = store.get_task_instance_record(run.run_id, "summary", None)
    assert summary.cache_info["status"] == "hit"


def test_a_failing_element_cancels_its_dependants_and_retry_reruns_only_those(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    mod = load_template(tmp_path, "ahead_fail", PIPELINE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "fail-2").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=5)
    assert run.wait(timeout=300) is RunState.FAILED
    summary = store.task_state_summary(run.run_id)
    assert summary["process"] == {"SUCCESS": 4, "FAILED": 1}
    # Whole-array dependencies here: all of clean, and what follows, never ran.
    assert summary["clean"] == {"CANCELLED": 5}
    assert summary["summary"] == {"CANCELLED": 1}
    assert summary["publish"] == {"CANCELLED": 1}
    text = store.get_task_instance_record(run.run_id, "clean", 0).error_text
    assert text.startswith("not run: process has failed instances")
    why = explain_instance(store, run.run_id, "clean", 0)
    assert why == (
        "clean[0]: submitted ahead of its inputs (state CANCELLED); its cache decision "
        "is recorded by the dispatcher after its job has run."
    )

    first_jobs = {
        i: store.get_task_instance_record(run.run_id, "process", i).job_id for i in (0, 1, 3, 4)
    }
    (run_dir / "fail-2").unlink()
    assert run.retry() == 8
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("publish") == f"total={expected(5)}"
    for i, job in first_jobs.items():
        assert store.get_task_instance_record(run.run_id, "process", i).job_id == job


def test_a_dispatcher_killed_after_marking_ahead_jobs_submits_nothing_twice(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    from reflow.engine.scheduler.dispatcher import Dispatcher
    from reflow.engine.scheduler.forward import AheadJobs
    from reflow.stores import StateUpdate

    mod = load_template(tmp_path, "ahead_kill", PIPELINE)
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=3)
    # Stop the chain after wave 1 (find): waves are driven by hand from then on.
    stop_after_first_wave(run, executor)
    # A wave that dies right after marking the ahead instances, before any submit.
    wave = Dispatcher(store, run.run_id, executor=executor)
    wave.reconcile(wave.ingest())
    wave.plan()
    wave.submit_ready()
    jobs_ahead = AheadJobs(wave)
    real_submit = wave._submit_job

    def die_after_marking(
        name: str, insts: Any, job: Any, fallback: Any = None, **how: Any
    ) -> str | None:
        if name == "clean":
            wave.store.apply_state_updates(
                [StateUpdate(i.id, TaskState.SUBMITTED, job_id="pending:dead") for i in insts]
            )
            raise KeyboardInterrupt
        return real_submit(name, insts, job, fallback, **how)

    wave._submit_job = die_after_marking  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        jobs_ahead.submit()
    mark = len(job_specs(executor))
    assert Dispatcher(store, run.run_id, executor=executor).wave() is RunState.RUNNING
    assert run.wait(timeout=300) is RunState.SUCCESS
    names = [s["name"].split(".", 1)[1] for s in job_specs(executor)[mark:]]
    assert sorted(n for n in names if n != "dispatch") == ["clean", "publish", "summary"]
    assert run.output("publish") == f"total={expected(3)}"


def test_cancel_removes_the_jobs_submitted_ahead_too(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    from reflow.executors.jobs import JobState

    mod = load_template(tmp_path, "ahead_cancel", PIPELINE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "slow-0").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=2)

    def left(ids: list[str]) -> list[str]:
        statuses = executor.query(ids).items()
        return [key for key, status in statuses if status.state not in JobState.ended()]

    def wave_two_done() -> bool:
        # Wave 2 submits publish ahead, then the next dispatcher, then ends: cancelled
        # before that, the run's next dispatcher is not yet known to cancel and the
        # wave's own is still running (both then end without cancel's help, late
        # under load: the race this test once lost).
        if store.task_state_summary(run.run_id).get("publish") != {"SUBMITTED": 1}:
            return False
        names = [s["name"].split(".", 1)[1] for s in job_specs(executor)]
        if "publish" not in names or names[-1] != "dispatch" or names.count("dispatch") < 3:
            return False
        earlier = [s["id"] for s in job_specs(executor, "dispatch")][:-1]
        return not left(earlier)

    deadline = time.monotonic() + 300  # a deadline for a state, not a margin
    while not wave_two_done():
        assert time.monotonic() < deadline, [s["name"] for s in job_specs(executor)]
        time.sleep(0.1)
    jobs_before = len(job_specs(executor))
    assert run.cancel() > 0
    # The local executor's cancel returns once the jobs it cancelled ended: none is left,
    # neither process[0] (sleeping 15 s) nor what waits ahead on it, nor the next dispatcher.
    assert left([s["id"] for s in job_specs(executor)]) == []
    assert len(job_specs(executor)) == jobs_before  # and nothing submitted after it
    record = store.get_run_record(run.run_id)
    assert record.status is RunState.CANCELLED


def test_an_automatic_retry_upstream_submits_again_what_waited_ahead_on_it(
    tmp_path: Path, store: Any, executor: LocalExecutor
) -> None:
    # process[2] fails once and is retried by its policy: clean, summary and publish,
    # submitted ahead on the failed array, must run after the retry, not end CANCELLED.
    source = PIPELINE.replace(
        '@wf.job(array=True, time="00:05:00", mem="100M")\ndef process',
        '@wf.job(array=True, time="00:05:00", mem="100M", retries=1, retry_on=[RuntimeError])'
        "\ndef process",
    ).replace(
        '    if (run_dir / f"fail-{{x}}").exists():\n',
        '    once = run_dir / f"once-{{x}}"\n'
        "    if once.exists():\n"
        "        once.unlink()\n"
        '        raise RuntimeError(f"element {{x}} fails once")\n'
        '    if (run_dir / f"fail-{{x}}").exists():\n',
    )
    assert "retries=1" in source and "once.unlink()" in source
    mod = load_template(tmp_path, "ahead_retry", source)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "once-2").touch()
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=4)
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("publish") == f"total={expected(4)}"
    assert not (tmp_path / "run" / "once-2").exists()  # it did fail once
    states = {r.state for r in store.list_task_instance_records(run.run_id)}
    assert states == {TaskState.SUCCESS}

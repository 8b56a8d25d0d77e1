"""Submitting ahead on the real Slurm test cluster: two waves, aftercorr, failures, the cap."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from reflow import RunState
from reflow.testing.ahead import AHEAD_PIPELINE as PIPELINE
from reflow.testing.ahead import ahead_total as expected
from reflow.testing.ahead import submitted_by_wave
from reflow.testing.scripts import load_template


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_fifty_elements_take_two_waves_with_aftercorr_then_come_from_the_cache(
    tmp_path: Path, store: Any, executor: Any, slurm: Any
) -> None:
    mod = load_template(tmp_path, "ahead50", PIPELINE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "slow-49").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=50)
    assert run.wait(timeout=600) is RunState.SUCCESS
    assert run.output("publish") == f"total={expected(50)}"
    waves = [w for w in submitted_by_wave(run.run_dir) if w]
    assert waves == [["find"], ["process", "clean", "summary", "publish"]]
    mine = {
        (i.job_id or "").split("[")[0]
        for i in store.list_task_instance_records(run.run_id)
        if i.task_name in ("process", "clean")
    }
    spans = ("%i", "%j", "%S", "%e")  # job id, name, start, end of every element
    rows = [
        r
        for r in slurm.squeue("ahead50.", *spans, finished=True, elements=True)
        if r[0].split("_")[0] in mine
    ]
    # aftercorr: element 0 of clean started before element 49 of process ended.
    starts = {r[0]: when(r[2]) for r in rows if r[1] == "ahead50.clean"}
    ends = {r[0]: when(r[3]) for r in rows if r[1] == "ahead50.process"}
    assert min(starts.values()) < max(ends.values())

    before = {r[0] for r in slurm.squeue("ahead50.", "%i", finished=True, elements=True)}
    again = mod.wf.submit(run_dir, store=store, executor=executor, n=50)
    assert again.wait(timeout=300) is RunState.SUCCESS
    every = slurm.squeue("ahead50.", "%i", "%j", finished=True, elements=True)
    new = {name for job, name in every if job not in before}
    assert new == {"ahead50.dispatch"}
    assert again.output("publish") == f"total={expected(50)}"


def test_a_failing_element_cancels_only_its_chain_and_retry_reruns_only_that(
    tmp_path: Path, store: Any, executor: Any
) -> None:
    mod = load_template(tmp_path, "aheadfail", PIPELINE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "fail-3").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=6)
    assert run.wait(timeout=600) is RunState.FAILED
    summary = store.task_state_summary(run.run_id)
    assert summary["process"] == {"SUCCESS": 5, "FAILED": 1}
    assert summary["clean"] == {"SUCCESS": 5, "CANCELLED": 1}  # aftercorr: element 3 only
    assert summary["summary"] == {"CANCELLED": 1}
    assert summary["publish"] == {"CANCELLED": 1}
    kept = {i: store.get_task_instance_record(run.run_id, "clean", i).job_id for i in (0, 5)}
    (run_dir / "fail-3").unlink()
    assert run.retry() == 4  # process[3], clean[3], summary, publish
    assert run.wait(timeout=600) is RunState.SUCCESS
    assert run.output("publish") == f"total={expected(6)}"
    for i, job in kept.items():
        assert store.get_task_instance_record(run.run_id, "clean", i).job_id == job


def test_max_jobs_10_never_has_more_than_10_jobs_in_squeue(
    tmp_path: Path, store: Any, executor: Any, slurm: Any
) -> None:
    mod = load_template(tmp_path, "aheadcap", PIPELINE)
    peak = 0
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, len(slurm.squeue("aheadcap.", elements=True)))
            time.sleep(0.2)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=30, max_jobs=10)
        assert run.wait(timeout=900) is RunState.SUCCESS
    finally:
        stop.set()
        watcher.join()
    assert run.output("publish") == f"total={expected(30)}"
    assert 0 < peak <= 10

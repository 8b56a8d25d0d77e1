"""Submitting ahead on the real Grid Engine test cell: two waves, -hold_jid_ad, failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reflow import RunState
from reflow.testing.ahead import AHEAD_PIPELINE as PIPELINE
from reflow.testing.ahead import ahead_total as expected
from reflow.testing.ahead import submitted_by_wave
from reflow.testing.scripts import load_template


def test_the_pipeline_takes_two_waves_and_a_failure_cancels_only_its_chain(
    tmp_path: Path, store: Any, executor: Any
) -> None:
    mod = load_template(tmp_path, "sgeahead", PIPELINE)
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=10)
    assert run.wait(timeout=600) is RunState.SUCCESS
    assert run.output("publish") == f"total={expected(10)}"
    waves = [w for w in submitted_by_wave(run.run_dir) if w]
    assert waves == [["find"], ["process", "clean", "summary", "publish"]]

    run_dir = tmp_path / "run2"
    run_dir.mkdir()
    (run_dir / "fail-3").write_text("")
    failing = mod.wf.submit(run_dir, store=store, executor=executor, n=5, force=True)
    assert failing.wait(timeout=600) is RunState.FAILED
    summary = store.task_state_summary(failing.run_id)
    assert summary["process"] == {"SUCCESS": 4, "FAILED": 1}
    assert summary["clean"] == {"SUCCESS": 4, "CANCELLED": 1}  # -hold_jid_ad: element 3 only
    assert summary["summary"] == {"CANCELLED": 1}
    (run_dir / "fail-3").unlink()
    assert failing.retry() == 4
    assert failing.wait(timeout=600) is RunState.SUCCESS
    assert failing.output("publish") == f"total={expected(5)}"

"""The user-guide pipeline (fan-out of 20, two at a time, then a gather) on the fake PBS Pro.

The run's dispatcher is itself a PBS job, as in scheduler mode on a real cluster: it
submits the array with ``-J 1-20%2`` and the gather with ``-W depend=afterok:...``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.testing.pipeline import run_guide_pipeline
from reflow_executor_pbs import PBSExecutor


@pytest.mark.parametrize("server", ["fake_pbs", "fake_pbs_no_history"])
def test_fan_out_of_20_two_at_a_time_then_gather(
    tmp_path: Path, server: str, request: pytest.FixtureRequest
) -> None:
    """With job history, and without: then finished jobs vanish and their markers decide."""
    request.getfixturevalue(server)
    # The fake's commands are first on PATH, which the jobs (the dispatcher) see through -V.
    executor = PBSExecutor(state_dir=tmp_path / "pbs-state")
    # Outputs in order, the gather's, and at most 2 elements at once: checked there.
    run_guide_pipeline(tmp_path, executor, name="guide20", timeout=300)
    scripts = list((tmp_path / "run").rglob("guide20.process.*.sh"))
    assert scripts, "no job script of the array"
    text = scripts[0].read_text()
    assert "#PBS -J 1-20%2" in text, text
    assert "#PBS -l select=1:ncpus=1:mem=200mb" in text, text


def test_a_packed_array_goes_to_pbs_as_one_subjob_per_pack(
    tmp_path: Path, fake_pbs: object
) -> None:
    """pack=5: the 20 elements are 4 subjobs (1-based on PBS), still two at a time."""
    executor = PBSExecutor(state_dir=tmp_path / "pbs-state")
    guide = run_guide_pipeline(tmp_path, executor, name="pack20", timeout=300, pack=5)
    [script] = (tmp_path / "run").rglob("pack20.process.*.sh")
    assert "#PBS -J 1-4%2" in script.read_text()
    logs = sorted(p.name for p in (guide.run.run_dir / "logs").glob("process-*.out"))
    assert len(logs) == 4, logs

"""Submitting ahead through the fake PBS Pro: two waves, whole-array ``afterok`` dependencies."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.testing.ahead import run_ahead_pipeline
from reflow_executor_pbs import PBSExecutor


@pytest.mark.usefixtures("fake_pbs")
def test_the_pipeline_takes_two_waves_with_whole_array_dependencies(tmp_path: Path) -> None:
    executor = PBSExecutor(state_dir=tmp_path / "pbs-state")
    assert not executor.supports_after_corr  # PBS pairs no array elements: the fallback
    run = run_ahead_pipeline(tmp_path, executor, name="pbsahead", n=6, timeout=300)
    scripts = {p.name.split(".")[1]: p.read_text() for p in run.run_dir.rglob("pbsahead.*.sh")}
    assert "afterok:" in scripts["clean"], scripts["clean"]  # on the whole process array
    assert "afterok:" in scripts["summary"]

"""LSF keeps a job whose dependency failed pending: nothing is submitted ahead there."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.executors import RunState
from reflow.testing.ahead import AHEAD_PIPELINE, ahead_total, submitted_by_wave
from reflow.testing.scripts import load_script
from reflow_fake_schedulers import FakeScheduler


@pytest.mark.slow
def test_every_level_is_a_wave(
    tmp_path: Path, fake_lsf: FakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the executor's state_dir
    module = load_script(tmp_path, "lsfahead", AHEAD_PIPELINE.format(name="lsfahead"))
    # A store of its own: another test's run of the same tasks would serve clean.
    monkeypatch.setenv("REFLOW_STORE_PATH", str(tmp_path / "manifest.db"))
    run = module.wf.submit(tmp_path / "run", executor="lsf", n=3)
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("publish") == f"total={ahead_total(3)}"
    waves = [w for w in submitted_by_wave(run.run_dir) if w]
    assert waves == [["find"], ["process"], ["clean"], ["summary"], ["publish"]]

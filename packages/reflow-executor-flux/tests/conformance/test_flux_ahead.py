"""Submitting ahead through the Flux fake: two waves, ``afterok`` on the upstream jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.testing.ahead import run_ahead_pipeline
from reflow_fake_schedulers import FakeScheduler


@pytest.mark.slow
def test_the_pipeline_takes_two_waves(
    tmp_path: Path, fake_flux: FakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the executor's state_dir
    run_ahead_pipeline(tmp_path, "flux", name="fluxahead", n=4, timeout=300)
    jobs = fake_flux.store.read()["jobs"].values()
    summary = [job for job in jobs if job["name"] == "fluxahead.summary"]
    assert len(summary) == 1 and summary[0]["deps"], summary  # waited for clean's jobs

"""The user guide's fan-out/gather pipeline, submitted with executor="flux", on the Flux fake."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.testing.pipeline import run_guide_pipeline
from reflow_fake_schedulers import FakeScheduler


@pytest.mark.slow
def test_fan_out_of_20_throttled_to_2_then_gather(
    tmp_path: Path, fake_flux: FakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the executor's state_dir
    # Outputs in order, the gather's, and at most 2 elements at once: checked there.
    run_guide_pipeline(tmp_path, "flux")
    # Flux has no array throttle: the 20 elements went in as 20 jobs, in slices of 2
    # whose every job waits for both jobs of the slice before.
    jobs = [
        job for job in fake_flux.store.read()["jobs"].values() if job["name"] == "guide.process"
    ]
    assert len(jobs) == 20
    waiting = sorted(len(job["deps"]) for job in jobs)
    assert waiting == [0, 0] + [2] * 18, waiting


@pytest.mark.slow
def test_a_packed_array_goes_to_flux_as_one_job_per_pack(
    tmp_path: Path, fake_flux: FakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    run_guide_pipeline(tmp_path, "flux", name="pack20", pack=5)
    jobs = [
        job for job in fake_flux.store.read()["jobs"].values() if job["name"] == "pack20.process"
    ]
    waiting = sorted(len(job["deps"]) for job in jobs)
    assert waiting == [0, 0, 2, 2], waiting  # 4 packs, in slices of 2

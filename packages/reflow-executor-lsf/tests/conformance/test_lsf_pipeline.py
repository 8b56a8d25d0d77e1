"""The user guide's fan-out/gather pipeline, submitted with executor="lsf", on the LSF fake."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.testing.pipeline import run_guide_pipeline
from reflow_fake_schedulers import FakeScheduler


@pytest.mark.slow
def test_fan_out_of_20_throttled_to_2_then_gather(
    tmp_path: Path, fake_lsf: FakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the executor's state_dir
    # Outputs in order, the gather's, and at most 2 elements at once: checked there.
    run_guide_pipeline(tmp_path, "lsf")
    # The array went to LSF as one job array with its limit after the bracket.
    jobs = fake_lsf.store.read()["jobs"].values()
    arrays = [job for job in jobs if job["extra"].get("array")]
    assert [(job["name"], job["throttle"], len(job["elements"])) for job in arrays] == [
        ("guide.process", 2, 20)
    ]


@pytest.mark.slow
def test_a_packed_array_goes_to_lsf_as_one_element_per_pack(
    tmp_path: Path, fake_lsf: FakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    run_guide_pipeline(tmp_path, "lsf", name="pack20", pack=5)
    jobs = fake_lsf.store.read()["jobs"].values()
    arrays = [job for job in jobs if job["extra"].get("array")]
    assert [(job["name"], job["throttle"], len(job["elements"])) for job in arrays] == [
        ("pack20.process", 2, 4)
    ]

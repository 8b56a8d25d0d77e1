"""The Slurm test cluster runs batch jobs, records them in sacct, and has the test settings."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the fixture's type; conftest.py is not importable as a module
    from conftest import SlurmCluster


@pytest.mark.parametrize("partition", [None, "debug"], ids=["default-partition", "debug"])
def test_batch_script_completes_and_sacct_records_it(
    slurm: SlurmCluster, tmp_path: Path, partition: str | None
) -> None:
    script = tmp_path / "hello.sh"
    script.write_text('#!/bin/sh\necho "hello from job $SLURM_JOB_ID on $SLURM_JOB_PARTITION"\n')
    options = [f"--partition={partition}"] if partition else []
    job_id = slurm.sbatch(
        "--job-name=reflow-smoke",
        f"--chdir={tmp_path}",
        f"--output={tmp_path / '%j.out'}",
        *options,
        str(script),
    )

    assert slurm.wait_final(job_id) == "COMPLETED"
    expected_partition = partition or "main"
    assert (tmp_path / f"{job_id}.out").read_text() == (
        f"hello from job {job_id} on {expected_partition}\n"
    )
    # The job's start record may reach slurmdbd after its end (see SlurmCluster.wait_final).
    expected = ["reflow-smoke", expected_partition, "0:0"]
    deadline = time.monotonic() + 20
    while (record := slurm.sacct(job_id, "JobName", "Partition", "ExitCode")) != expected:
        if time.monotonic() > deadline:
            pytest.fail(f"sacct still shows {record} for job {job_id}, not {expected}")
        time.sleep(0.5)


def test_cluster_has_the_test_settings(slurm: SlurmCluster) -> None:
    config = slurm.config()

    assert config["MaxArraySize"] == os.environ.get("REFLOW_SLURM_MAX_ARRAY", "1001")
    assert config["DependencyParameters"] == "kill_invalid_depend"
    assert "batch_sched_delay=0" in config["SchedulerParameters"]
    assert config["MailProg"] == "/bin/true"
    # Its own ports, so a cluster on Slurm's defaults (6817/6818) never gets its jobs.
    assert config["SlurmctldPort"] == os.environ.get("REFLOW_SLURM_CTLD_PORT", "7817")
    assert config["SlurmdPort"] == os.environ.get("REFLOW_SLURM_SLURMD_PORT", "7818")
    partitions = slurm.run("sinfo", "-h", "-o", "%P").split()
    assert sorted(partitions) == ["debug", "main*"]

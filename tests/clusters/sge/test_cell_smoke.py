"""The Grid Engine test cell runs job scripts, accounts for them, and has the test settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the fixture's type; conftest.py is not importable as a module
    from conftest import SGECell


def test_job_script_runs_and_qacct_records_it(sge: SGECell, tmp_path: Path) -> None:
    script = tmp_path / "hello.sh"
    script.write_text('#!/bin/bash\necho "hello from job $JOB_ID task $SGE_TASK_ID"\nexit 3\n')
    job_id = sge.qsub(
        "-N",
        "reflow-smoke",
        "-S",
        "/bin/bash",
        "-wd",
        str(tmp_path),
        "-o",
        str(tmp_path / "$JOB_ID.out"),
        "-j",
        "y",
        str(script),
    )
    (record,) = sge.wait_accounted(job_id)
    assert record["jobname"] == "reflow-smoke"
    assert record["taskid"] == "undefined"
    assert record["exit_status"].split()[0] == "3"
    assert record["failed"].split()[0] == "0"
    assert (tmp_path / f"{job_id}.out").read_text() == f"hello from job {job_id} task undefined\n"


def test_array_with_throttle_runs_every_task(sge: SGECell, tmp_path: Path) -> None:
    job_id = sge.qsub(
        "-t",
        "1-3",
        "-tc",
        "2",
        "-N",
        "reflow-smoke-array",
        "-wd",
        str(tmp_path),
        "-o",
        str(tmp_path),
        "-j",
        "y",
        "-b",
        "y",
        "true",
    )
    records = sge.wait_accounted(job_id, count=3)
    assert sorted(r["taskid"] for r in records) == ["1", "2", "3"]


def test_cell_has_the_test_settings(sge: SGECell) -> None:
    config = sge.config()
    assert config["min_uid"] == "0"  # the tests run as root
    assert "flush_time=00:00:01" in config["reporting_params"]
    assert config["max_aj_tasks"] == os.environ.get("REFLOW_SGE_MAX_AJ_TASKS", "75000")
    scheduler = dict(
        line.split(None, 1) for line in sge.run("qconf", "-ssconf").splitlines() if " " in line
    )
    assert scheduler["schedule_interval"].strip() == "0:0:1"
    assert "smp" in sge.run("qconf", "-spl").split()

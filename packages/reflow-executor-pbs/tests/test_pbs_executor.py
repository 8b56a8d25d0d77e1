"""PBSExecutor: flavour, ids, errors worth retrying or ignoring, dry runs, markers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reflow.executors import (
    ArraySpec,
    BatchExecutorError,
    JobResources,
    JobSpec,
    JobState,
    JobStatus,
    SchedulerCommandError,
)
from reflow_executor_pbs import PBSExecutor
from reflow_executor_pbs.flavor import Flavor
from reflow_executor_pbs.markers import JobRecord, refine

DATA = Path(__file__).parent / "data"


def qstat_printing(tmp_path: Path, stdout: str = "", stderr: str = "", status: int = 0) -> str:
    """A directory with a ``qstat`` that prints the given text (as ``qstat --version`` would)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "out.txt").write_text(stdout)
    (tmp_path / "err.txt").write_text(stderr)
    qstat = bin_dir / "qstat"
    qstat.write_text(
        f"#!/bin/sh\ncat {tmp_path / 'out.txt'}\ncat {tmp_path / 'err.txt'} >&2\nexit {status}\n"
    )
    qstat.chmod(0o755)
    return str(bin_dir)


@pytest.fixture(autouse=True)
def _no_site_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REFLOW_PBS_FLAVOR", raising=False)
    monkeypatch.delenv("REFLOW_PBS_BIN", raising=False)


def test_the_wrappers_flavour_must_be_configured(tmp_path: Path) -> None:
    wrappers = (DATA / "qstat_version_torque_wrappers.stderr.txt").read_text()
    bin_dir = qstat_printing(tmp_path, stderr=wrappers, status=2)
    executor = PBSExecutor(state_dir=tmp_path / "s", pbs_bin=bin_dir)
    with pytest.raises(BatchExecutorError, match="REFLOW_PBS_FLAVOR=pbspro or torque"):
        executor.flavor  # noqa: B018
    configured = PBSExecutor(state_dir=tmp_path / "s", pbs_bin=bin_dir, flavor="torque")
    assert configured.flavor is Flavor.TORQUE
    assert configured.query_argv(["5"]) == [[f"{bin_dir}/qstat", "-f", "5"]]  # no -t


def test_torque_is_detected_and_asked_for_subjobs(tmp_path: Path) -> None:
    version = (DATA / "qstat_version_torque.stderr.txt").read_text()
    bin_dir = qstat_printing(tmp_path, stderr=version)
    executor = PBSExecutor(state_dir=tmp_path / "s", pbs_bin=bin_dir)
    assert executor.flavor is Flavor.TORQUE
    assert executor.query_argv(["5.s"]) == [[f"{bin_dir}/qstat", "-f", "-t", "5.s"]]


def test_flavour_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLOW_PBS_FLAVOR", "openpbs")
    assert PBSExecutor(state_dir=tmp_path).flavor is Flavor.PBSPRO
    monkeypatch.setenv("REFLOW_PBS_FLAVOR", "lsf")
    with pytest.raises(ValueError, match="REFLOW_PBS_FLAVOR='lsf'"):
        PBSExecutor(state_dir=tmp_path)


def job(tmp_path: Path, array: ArraySpec | None = None) -> JobSpec:
    return JobSpec(
        name="process",
        command=(sys.executable, "-c", "pass"),
        workdir=tmp_path,
        log_dir=tmp_path / "logs",
        resources=JobResources(time="00:10:00", mem="1G"),
        array=array,
    )


def test_array_throttle_needs_openpbs_22_05(tmp_path: Path) -> None:
    bin_dir = qstat_printing(tmp_path, stdout="pbs_version = 20.0.1\n")
    executor = PBSExecutor(state_dir=tmp_path / "s", pbs_bin=bin_dir)
    with pytest.raises(BatchExecutorError, match=r"needs OpenPBS 22\.05.*runs 20\.0\.1"):
        executor.describe_submission(job(tmp_path, ArraySpec((0, 1, 2), parallelism=2)))
    assert "-J 1-3" in executor.describe_submission(job(tmp_path, ArraySpec((0, 1, 2))))


def test_dry_run_prints_every_chunk_and_writes_nothing(tmp_path: Path) -> None:
    executor = PBSExecutor(state_dir=tmp_path / "s", flavor="pbspro", max_array_size=4)
    text = executor.describe_submission(job(tmp_path, ArraySpec(tuple(range(9)), 2)))
    assert "3 submission(s)" in text
    assert text.count("#PBS -J 1-4%2") == 2
    assert "reflow_task=1\n" in text  # the last chunk has one task: a plain job
    assert "depend=afterany:<id of chunk 1>" in text  # chunks run one after the other
    assert not (tmp_path / "logs").exists() and not (tmp_path / "s").exists()


def test_ids(tmp_path: Path) -> None:
    executor = PBSExecutor(state_dir=tmp_path, flavor="pbspro")
    assert executor.parse_job_id((DATA / "qsub_array.txt").read_text()) == "102.vm"
    assert executor.parse_job_id("\n12.srv\n") == "12.srv"
    assert executor.native_element_id("100.vm", 3) == "100[3].vm"
    assert executor.native_element_id("100[].vm", 3) == "100[3].vm"
    assert executor.native_element_id("57", 2) == "57[2]"
    with pytest.raises(ValueError, match="printed nothing"):
        executor.parse_job_id("\n")


def error(argv: list[str], stderr: str, code: int = 153) -> SchedulerCommandError:
    return SchedulerCommandError("failed", argv=argv, returncode=code, stdout="", stderr=stderr)


def test_forgotten_ids_are_ignored_other_failures_are_not(tmp_path: Path) -> None:
    executor = PBSExecutor(state_dir=tmp_path, flavor="pbspro")
    unknown = (DATA / "qdel_unknown.stderr.txt").read_text()
    assert executor.ignorable_failure(error(["qdel", "999.nosuch"], unknown))
    assert executor.ignorable_failure(error(["/bin/qstat", "-f", "1"], "qstat: Job has finished"))
    assert executor.ignorable_failure(error(["qstat", "57"], ""))  # the wrappers say nothing
    assert not executor.ignorable_failure(error(["qstat"], "qstat: cannot connect to server"))
    assert not executor.ignorable_failure(error(["qsub"], "qsub: Unknown Job Id 1"))


def completed(argv: list[str], stderr: str) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(argv, 1, "", stderr)


def test_only_safe_qsub_failures_are_retried(tmp_path: Path) -> None:
    executor = PBSExecutor(state_dir=tmp_path, flavor="pbspro")
    down = "qsub: cannot connect to server pbs1 (errno=111)"
    assert executor.transient(completed(["qsub", "x.sh"], down))
    assert not executor.transient(completed(["qsub", "x.sh"], "qsub: Premature end of message"))
    assert executor.transient(completed(["qstat", "1"], "qstat: Premature end of message"))
    assert not executor.transient(completed(["qstat", "1"], "qstat: illegal -t option"))


def record(tmp_path: Path, array: bool = False) -> JobRecord:
    tasks = (1, 2) if array else None
    return JobRecord("9.srv", str(tmp_path / "m"), Flavor.PBSPRO, tasks, array)


def test_a_forgotten_job_is_decided_by_its_markers(tmp_path: Path) -> None:
    rec = record(tmp_path)
    assert refine(rec, None, None).state is JobState.CANCELLED  # never started
    (tmp_path / "m.start").write_text(f"{socket.gethostname()} {os.getpid()}\n")
    assert refine(rec, None, None).state is JobState.RUNNING  # its shell still runs
    (tmp_path / "m.exit").write_text("0\n")
    assert refine(rec, None, None) == JobStatus(JobState.COMPLETED, 0)
    (tmp_path / "m.exit").write_text("5\n")
    assert refine(rec, None, None) == JobStatus(JobState.FAILED, 5)


def test_a_killed_job_is_timeout_by_its_kill_line(tmp_path: Path) -> None:
    rec = record(tmp_path)
    (tmp_path / "m.start").write_text(f"{socket.gethostname()} 999999999\n")  # gone
    assert refine(rec, None, None).state is JobState.FAILED
    line = "=>> PBS: job killed: walltime 65 exceeded limit 60\n"
    (tmp_path / "m.pbs.out").write_text(line)
    assert refine(rec, None, None) == JobStatus(JobState.TIMEOUT, None, line.strip())
    # A status with an exit code stands, refined by the kill line.
    assert refine(rec, None, JobStatus(JobState.FAILED, 271)).state is JobState.TIMEOUT


def test_a_job_reflow_deleted_is_cancelled(tmp_path: Path) -> None:
    rec = record(tmp_path)
    (tmp_path / "m.exit").write_text("143\n")
    assert refine(rec, None, None).state is JobState.FAILED
    (tmp_path / "m.cancelled").touch()
    assert refine(rec, None, None) == JobStatus(
        JobState.CANCELLED, 143, "deleted by reflow (qdel)"
    )


def test_a_task_the_wrappers_do_not_list_follows_its_array(tmp_path: Path) -> None:
    rec = record(tmp_path, array=True)
    waiting = JobStatus(JobState.PENDING)
    assert refine(rec, 2, None, waiting).state is JobState.PENDING
    (tmp_path / "m.2.start").write_text(f"{socket.gethostname()} {os.getpid()}\n")
    assert refine(rec, 2, None, waiting).state is JobState.RUNNING
    (tmp_path / "m.2.exit").write_text("0\n")
    assert refine(rec, 2, None, waiting) == JobStatus(JobState.COMPLETED, 0)
    assert refine(rec, 1, None, JobStatus(JobState.COMPLETED)).state is JobState.CANCELLED


def test_a_job_qstat_lists_as_ended_is_not_alive_on_another_host(tmp_path: Path) -> None:
    # The Torque wrappers' "C" has no exit status; a shell killed on a compute node
    # leaves a .start marker and no .exit.  qstat says it ended: it must not stay RUNNING.
    rec = record(tmp_path)
    (tmp_path / "m.start").write_text("compute-node-that-is-not-this-one 4242\n")
    ended = JobStatus(JobState.COMPLETED, None, "ended; the scheduler gave no exit status")
    assert refine(rec, None, ended) == JobStatus(
        JobState.FAILED, None, "the job was killed before it could exit"
    )
    # A task of an array that has ended too.
    array = record(tmp_path, array=True)
    (tmp_path / "m.2.start").write_text("compute-node-that-is-not-this-one 4242\n")
    assert refine(array, 2, None, ended).state is JobState.FAILED
    # While the array still runs, a task on another host may be alive.
    assert refine(array, 2, None, JobStatus(JobState.RUNNING)).state is JobState.RUNNING

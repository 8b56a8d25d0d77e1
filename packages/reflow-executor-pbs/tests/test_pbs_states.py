"""qstat parsers on recorded output: the fake OpenPBS, Slurm's Torque wrappers, Torque's docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.executors import (
    BatchExecutorError,
    JobState,
    JobStatus,
)
from reflow_executor_pbs.flavor import Flavor, detect_flavor, parse_flavor
from reflow_executor_pbs.states import exit_status, kill_state, parse_pbspro_json, parse_torque

DATA = Path(__file__).parent / "data"


def data(name: str) -> str:
    return (DATA / name).read_text()


def test_pbspro_json_of_ended_jobs() -> None:
    found = parse_pbspro_json(data("qstat_json_ended.txt"))
    assert found["100.vm"] == JobStatus(JobState.COMPLETED, 0)
    assert found["101.vm"] == JobStatus(JobState.FAILED, 3)
    assert found["102[].vm"].state is JobState.COMPLETED
    assert [found[f"102[{i}].vm"].state for i in range(1, 5)] == [JobState.COMPLETED] * 4
    assert found["103.vm"].state is JobState.TIMEOUT
    assert found["103.vm"].exit_code == -29
    assert found["104.vm"].state is JobState.CANCELLED  # its afterok failed: never ran
    assert "999.nosuch" not in found


def test_pbspro_json_while_running_lists_waiting_subjobs() -> None:
    found = parse_pbspro_json(data("qstat_json_running.txt"))
    subjobs = {k: v.state for k, v in found.items() if k.startswith("102[") and k != "102[].vm"}
    assert set(subjobs) == {f"102[{i}].vm" for i in range(1, 5)}
    assert set(subjobs.values()) <= {JobState.PENDING, JobState.RUNNING, JobState.COMPLETED}
    assert found["102[].vm"].state in (JobState.RUNNING, JobState.PENDING)  # B or Q
    assert found["104.vm"].state is JobState.PENDING  # H: held by its dependency
    assert all(s.exit_code is None for k, s in found.items() if s.state is JobState.PENDING)


def test_pbspro_json_that_cannot_be_read_is_an_error_not_an_empty_queue() -> None:
    with pytest.raises(BatchExecutorError, match="Cannot read the JSON"):
        parse_pbspro_json('{"Jobs": {"1.srv": {"job_state": "R",')
    assert parse_pbspro_json("") == {}


def test_pbspro_json_with_unescaped_backslashes_of_older_releases() -> None:
    text = '{"Jobs": {"7.srv": {"job_state": "F", "Exit_status": 0, "Variable_List": "A=C:\\x"}}}'
    assert parse_pbspro_json(text)["7.srv"] == JobStatus(JobState.COMPLETED, 0)


def test_torque_wrappers_say_only_q_r_c_without_exit_status() -> None:
    running = parse_torque(data("qstat_f_torque_wrappers_running.txt"))
    ended = parse_torque(data("qstat_f_torque_wrappers_ended.txt"))
    assert {s.state for s in running.values()} <= {
        JobState.PENDING,
        JobState.RUNNING,
        JobState.COMPLETED,
    }
    assert len(ended) == 2
    assert all(s.state is JobState.COMPLETED and s.exit_code is None for s in ended.values())


def test_torque_subjobs_and_exit_status_from_the_documented_form() -> None:
    found = parse_torque(data("qstat_f_t_torque.txt"))
    assert found["4711.headnode.example.org"] == JobStatus(JobState.FAILED, 3)
    assert found["4712[1].headnode.example.org"] == JobStatus(JobState.COMPLETED, 0)
    killed = found["4712[2].headnode.example.org"]
    assert (killed.state, killed.exit_code) == (JobState.FAILED, 128 + 15)
    assert "SIGTERM" in killed.reason
    assert found["4712[3].headnode.example.org"].state is JobState.RUNNING
    assert found["4712[4].headnode.example.org"].state is JobState.PENDING
    assert found["4713.headnode.example.org"].state is JobState.TIMEOUT


@pytest.mark.parametrize(
    ("code", "state", "reported"),
    [
        (0, JobState.COMPLETED, 0),
        (2, JobState.FAILED, 2),
        (265, JobState.FAILED, 137),  # SIGKILL
        (-29, JobState.TIMEOUT, -29),
        (-27, JobState.OUT_OF_MEMORY, -27),
        (-1, JobState.NODE_FAIL, -1),
        (-26, JobState.OUT_OF_MEMORY, -26),
        (-28, JobState.TIMEOUT, -28),
        (-99, JobState.FAILED, -99),
    ],
)
def test_exit_status_codes(code: int, state: JobState, reported: int) -> None:
    status = exit_status(code)
    assert (status.state, status.exit_code) == (state, reported)


def test_kill_lines_of_pbs_and_of_slurm_under_the_wrappers() -> None:
    line = "=>> PBS: job killed: walltime 185 exceeded limit 180"
    assert kill_state(f"out\n{line}\n") == (JobState.TIMEOUT, line)
    mem = "=>> PBS: job killed: mem 2100000kb exceeded limit 2097152kb"
    assert kill_state(mem) == (JobState.OUT_OF_MEMORY, mem)
    slurm = (
        "slurmstepd: error: *** JOB 12 ON vm CANCELLED AT 2026-11-22T04:20:01 DUE TO TIME LIMIT"
    )
    slurm += " ***"
    found = kill_state(slurm)
    assert found is not None and found[0] is JobState.TIMEOUT
    assert kill_state("slurmstepd: error: *** JOB 12 ON vm CANCELLED AT 2026 ***") is None
    assert kill_state("PBS: job finished") is None


def test_flavour_from_qstat_version() -> None:
    assert detect_flavor(data("qstat_version_pbspro.txt"), "") == (Flavor.PBSPRO, "22.05.11")
    assert detect_flavor("", data("qstat_version_torque.stderr.txt")) == (Flavor.TORQUE, "6.1.3")
    assert detect_flavor("", data("qstat_version_torque_wrappers.stderr.txt")) is None


def test_flavour_names() -> None:
    assert parse_flavor("OpenPBS") is Flavor.PBSPRO
    assert parse_flavor("torque") is Flavor.TORQUE
    with pytest.raises(ValueError, match="'slurm' is not a PBS flavour"):
        parse_flavor("slurm")

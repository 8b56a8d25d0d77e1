"""Parsing squeue and sacct output recorded on a real Slurm 22.05.8 (see recorded/README.md).

``recorded/jobs.txt`` says which job id played which part (``exit3=50``);
``recorded/commands.txt`` gives the exact command and exit status behind
each file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.executors import (
    JobState,
    JobStatus,
    SchedulerCommandError,
)
from reflow_executor_slurm import SlurmExecutor
from reflow_executor_slurm.states import (
    STATE_MAP,
    expand_job_ids,
    parse_sacct,
    parse_squeue,
    slurm_state,
)

RECORDED = Path(__file__).parent / "data"
JOBS = dict(line.split("=", 1) for line in (RECORDED / "jobs.txt").read_text().split())


def _read(name: str) -> str:
    return (RECORDED / f"{name}.txt").read_text()


def squeue(name: str) -> dict[str, JobStatus]:
    return parse_squeue(_read(name))


def sacct(name: str) -> dict[str, JobStatus]:
    return parse_sacct(_read(name))


def test_the_recording_matches_the_formats_the_executor_uses() -> None:
    from reflow_executor_slurm.states import SACCT_FIELDS, SQUEUE_FIELDS

    commands = (RECORDED / "commands.txt").read_text()
    assert f"-O {SQUEUE_FIELDS}" in commands
    assert f"--format={SACCT_FIELDS}" in commands
    assert _read("sbatch_version").strip() == "slurm-wlm 22.05.8"


def test_ended_single_jobs_in_squeue() -> None:
    found = squeue("squeue_a_ended")
    assert found[JOBS["ok"]] == JobStatus(JobState.COMPLETED, 0)
    assert found[JOBS["exit3"]] == JobStatus(JobState.FAILED, 3, "NonZeroExitCode")
    killed = found[JOBS["sig9"]]
    assert (killed.state, killed.exit_code) == (JobState.FAILED, 137)
    assert "SIGKILL" in killed.reason
    assert found[JOBS["dep_kill"]] == JobStatus(
        JobState.CANCELLED, 0, "DependencyNeverSatisfied"
    )  # --kill-on-invalid-dep=yes
    assert found[JOBS["dep_never"]] == JobStatus(
        JobState.PENDING, None, "DependencyNeverSatisfied"
    )  # without it: pending for ever
    assert found[JOBS["hold"]] == JobStatus(JobState.PENDING, None, "JobHeldUser")
    assert found[JOBS["dep_ok"]] == JobStatus(JobState.COMPLETED, 0)
    # No cgroup memory limit on the recording cluster: the job over --mem=16M completed.
    assert found[JOBS["oom"]].state is JobState.COMPLETED


def test_ended_single_jobs_in_sacct() -> None:
    found = sacct("sacct_a_ended")
    assert found[JOBS["ok"]] == JobStatus(JobState.COMPLETED, 0)
    assert found[JOBS["exit3"]] == JobStatus(JobState.FAILED, 3)
    assert found[JOBS["sig9"]] == JobStatus(JobState.FAILED, 137, "killed by signal 9 (SIGKILL)")
    assert found[JOBS["dep_kill"]] == JobStatus(JobState.CANCELLED, 0, "Dependency")
    assert found[JOBS["hold"]] == JobStatus(JobState.PENDING, None, "JobHeldUser")


def test_waiting_jobs() -> None:
    found = squeue("squeue_a_submitted")
    assert {status.state for status in found.values()} == {JobState.PENDING}
    assert found[JOBS["exit3"]].reason == "Priority"
    assert found[JOBS["dep_ok"]].reason == "Dependency"
    assert found[JOBS["ok"]] == JobStatus(JobState.PENDING, None, "")  # reason "None"


def test_walltime_deadline_and_cancel() -> None:
    for found in (squeue("squeue_b_ended"), sacct("sacct_b_ended")):
        assert found[JOBS["timeout"]].state is JobState.TIMEOUT
        assert found[JOBS["deadline"]].state is JobState.TIMEOUT
        assert found[JOBS["deadline"]].exit_code == 1  # the controller's code, not SIGHUP
        assert found[JOBS["cancel_running"]].state is JobState.CANCELLED
        assert found[JOBS["requeue"]].state is JobState.CANCELLED
    assert squeue("squeue_b_ended")[JOBS["timeout"]].reason.endswith("TimeLimit")
    assert squeue("squeue_b_ended")[JOBS["deadline"]].reason == "DeadLine"
    by_user = sacct("sacct_b_ended")[JOBS["cancel_running"]]
    assert by_user == JobStatus(JobState.CANCELLED, 0, "CANCELLED by 0")


def test_a_throttled_array_while_it_runs() -> None:
    array = JOBS["array_throttle"]
    found = squeue("squeue_array_running")
    assert found[f"{array}_0"].state is JobState.RUNNING
    for task in range(1, 6):  # one line "ID_[1-5%2]"
        assert found[f"{array}_{task}"] == JobStatus(JobState.PENDING, None, "Resources")
    assert array not in found
    # The database lagged behind: task 0 still waits there ("ID_[0-5%2]").
    behind = sacct("sacct_array_running")
    assert set(behind) == {f"{array}_{task}" for task in range(6)}
    assert {status.state for status in behind.values()} == {JobState.PENDING}
    done = squeue("squeue_array_done")
    assert done == {f"{array}_{t}": JobStatus(JobState.COMPLETED, 0) for t in range(6)}
    assert sacct("sacct_array_done") == done


def test_cancelled_elements() -> None:
    array = JOBS["array_cancel"]
    found = squeue("squeue_array_elements_cancelled")
    assert found[f"{array}_0"].state is JobState.CANCELLED  # it ran
    assert found[f"{array}_1"].state is JobState.RUNNING
    assert f"{array}_2" not in found  # cancelled while pending: Slurm keeps no record
    assert found[f"{array}_3"].state is JobState.PENDING
    assert sacct("sacct_array_elements_cancelled") == {}  # the database had not caught up
    ended = sacct("sacct_b_ended")
    assert [ended[f"{array}_{t}"].state for t in (0, 1, 3)] == [JobState.CANCELLED] * 3
    assert f"{array}_2" not in ended


def test_a_long_irregular_list_of_waiting_tasks() -> None:
    array = JOBS["array_frag"]
    waiting = {f"{array}_{i}" for i in range(200) if not (i % 3 == 1 or i % 7 == 2)}
    full = squeue("squeue_array_fragmented")  # with SLURM_BITSTR_LEN=0, as the executor runs it
    assert set(full) == waiting
    assert all(
        status == JobStatus(JobState.PENDING, None, "Dependency") for status in full.values()
    )
    # Slurm's default cuts the list at 64 characters, without a closing bracket:
    cut = squeue("squeue_array_fragmented_default")
    assert _read("squeue_array_fragmented_default").split("|")[0].endswith("17-1")
    listed = set(cut) - {array}
    assert listed < waiting
    assert f"{array}_17" not in listed  # the cut item "17-1" is not trusted
    assert cut[array].state is JobState.PENDING  # the array's id stands for the rest


def test_requeued_suspended_and_node_failures() -> None:
    assert squeue("squeue_requeued")[JOBS["requeue"]].state is JobState.RUNNING  # COMPLETING
    assert sacct("sacct_requeued")[JOBS["requeue"]].state is JobState.PENDING  # REQUEUED
    for found in (squeue("squeue_suspended"), sacct("sacct_suspended")):
        assert found[JOBS["suspend"]].state is JobState.RUNNING
    assert squeue("squeue_node_fail")[JOBS["node_fail"]] == JobStatus(
        JobState.NODE_FAIL, 0, "NodeDown"
    )
    assert sacct("sacct_node_fail")[JOBS["node_fail"]] == JobStatus(JobState.NODE_FAIL, 0)


def test_the_controller_wins_over_the_database(tmp_path: Path) -> None:
    executor = SlurmExecutor(state_dir=tmp_path)
    requeued = JOBS["node_fail_requeued"]
    outputs = [_read("squeue_node_fail_requeued"), _read("sacct_node_fail_requeued")]
    assert parse_sacct(outputs[1])[requeued].state is JobState.NODE_FAIL  # the first run
    merged = executor.parse_states(outputs, [requeued])
    assert merged[requeued] == JobStatus(JobState.PENDING, None, "BeginTime")  # back in the queue
    # sacct fills in what squeue no longer lists; squeue's view wins for the rest.
    everything = executor.parse_states([_read("squeue_a_ended"), _read("sacct_all")], [])
    assert everything[JOBS["exit3"]] == JobStatus(JobState.FAILED, 3, "NonZeroExitCode")
    assert everything[JOBS["timeout"]] == JobStatus(JobState.TIMEOUT, 0)  # sacct's
    assert executor.parse_states([_read("squeue_unknown_one")], ["999999999"]) == {}


def test_forgotten_ids_and_disabled_accounting_are_ignorable(tmp_path: Path) -> None:
    executor = SlurmExecutor(state_dir=tmp_path)
    stderr = _read("squeue_unknown_one.stderr")
    assert stderr.strip() == "slurm_load_jobs error: Invalid job id specified"
    forgot = SchedulerCommandError("failed", ["/usr/bin/squeue", "-j", "1"], 1, "", stderr)
    assert executor.ignorable_failure(forgot)
    other = SchedulerCommandError("failed", ["squeue"], 1, "", stderr + "squeue: error: boom\n")
    assert not executor.ignorable_failure(other)
    assert not executor.ignorable_failure(SchedulerCommandError("x", ["squeue"], 1, "", ""))
    assert not executor.ignorable_failure(SchedulerCommandError("x", ["sbatch"], 1, "", stderr))
    # Unknown and ended ids do not make scancel fail on Slurm 22.05 (recorded: rc 0, no output).
    assert "scancel_ended_and_unknown\trc=0" in (RECORDED / "commands.txt").read_text()
    assert _read("scancel_ended_and_unknown") == ""
    off = "sacct: error: Slurm accounting storage is disabled\n"
    assert executor.ignorable_failure(SchedulerCommandError("x", ["sacct"], 1, "", off))
    assert executor.query_argv(["1"])[-1][0] == "squeue"  # sacct is not asked again


def test_states_only_documented_by_slurm() -> None:
    """Not provoked on the recording cluster (no cgroup limits, no preemption): hand-written."""
    found = parse_sacct(
        "12_3|OUT_OF_MEMORY|0:125|OutOfMemory\n"
        "13|PREEMPTED|0:15|None\n"
        "14|BOOT_FAIL|0:0|None\n"
        "15|REVOKED|0:0|None\n"
        "16|CANCELLED by 1000|0:15|None\n"
    )
    assert found["12_3"] == JobStatus(JobState.OUT_OF_MEMORY, 0, "OutOfMemory")
    assert found["13"] == JobStatus(JobState.PREEMPTED, None, "")
    assert found["14"].state is JobState.NODE_FAIL
    assert found["15"] == JobStatus(JobState.UNKNOWN, None, "Slurm state REVOKED")
    assert found["16"] == JobStatus(
        JobState.CANCELLED, 143, "CANCELLED by 1000, killed by signal 15 (SIGTERM)"
    )
    assert parse_squeue("20|OUT_OF_MEMORY|0|OutOfMemory|\n")["20"].state is JobState.OUT_OF_MEMORY


@pytest.mark.parametrize(
    ("field", "ids", "whole"),
    [
        ("5", ["5"], None),
        ("5_3", ["5_3"], None),
        ("5_[2-4%2]", ["5_2", "5_3", "5_4"], None),
        ("5_[0-6:3]", ["5_0", "5_3", "5_6"], None),
        ("5_[1,3,5-6%4]", ["5_1", "5_3", "5_5", "5_6"], None),
        ("5_[1,3,5-6", ["5_1", "5_3"], "5"),
        ("5_[1,3...]", ["5_1"], "5"),
        ("5+1", ["5+1"], None),
    ],
)
def test_job_id_fields(field: str, ids: list[str], whole: str | None) -> None:
    assert expand_job_ids(field) == (ids, whole)


def test_every_state_has_a_meaning() -> None:
    assert slurm_state("CANCELLED by 0") == (JobState.CANCELLED, "CANCELLED by 0")
    assert slurm_state("PENDING") == (JobState.PENDING, "")
    assert slurm_state("") == (JobState.UNKNOWN, "")
    reached = set(STATE_MAP.values())
    assert reached == set(JobState) - {JobState.UNKNOWN}
    for name in STATE_MAP:
        assert name == name.upper() and " " not in name

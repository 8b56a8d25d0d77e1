"""The parsers of qstat -xml, qacct and qconf -sconf, on real output of the test cell (data/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.executors import (
    JobState,
)
from reflow_executor_sge.config import parse_sconf
from reflow_executor_sge.states import (
    accounting_status,
    expand_tasks,
    parse_qacct,
    parse_qstat_xml,
    qstat_state,
    time_value,
)

DATA = Path(__file__).parent / "data"
JOBS = dict(line.split("=", 1) for line in (DATA / "jobs.txt").read_text().split())


def read(name: str) -> str:
    return (DATA / f"{name}.txt").read_text()


def test_qstat_lists_running_held_error_and_pending_tasks_one_by_one() -> None:
    found = parse_qstat_xml(read("qstat_xml_mixed"))
    array, tasks = JOBS["array"], JOBS["tasks"]
    assert found[f"{array}.3"].state is JobState.RUNNING
    assert found[f"{array}.5"].state is found[f"{array}.6"].state is JobState.PENDING
    assert {f"{tasks}.{t}" for t in range(1, 5)} <= set(found)
    assert found[f"{tasks}.1"].state is JobState.PENDING
    assert found[f"{tasks}.1"].reason == "held (hqw)"
    assert found[JOBS["long"]].state is JobState.RUNNING
    assert found[JOBS["held"]].state is JobState.PENDING
    error = found[JOBS["badwd"]]
    assert error.state is JobState.FAILED and "Eqw" in error.reason
    assert f"qstat -j {JOBS['badwd']}" in error.reason
    assert JOBS["ok"] not in found  # ended: only the accounting knows it


def test_qstat_during_deletion_and_of_nobody() -> None:
    found = parse_qstat_xml(read("qstat_xml_deleting"))
    assert found[JOBS["long"]].state is JobState.RUNNING
    assert "being deleted" in found[JOBS["long"]].reason
    assert f"{JOBS['tasks']}.2" not in found  # the deleted pending task is gone at once
    assert f"{JOBS['tasks']}.3" in found
    assert parse_qstat_xml(read("qstat_xml_empty")) == {}
    assert parse_qstat_xml("") == {}


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("qw", JobState.PENDING),
        ("hqw", JobState.PENDING),
        ("hRwq", JobState.PENDING),
        ("r", JobState.RUNNING),
        ("t", JobState.RUNNING),
        ("Rr", JobState.RUNNING),
        ("dr", JobState.RUNNING),
        ("S", JobState.RUNNING),
        ("Eqw", JobState.FAILED),
        ("Ehqw", JobState.FAILED),
        ("dEqw", JobState.FAILED),  # not in the map: read letter by letter
        ("", JobState.UNKNOWN),
    ],
)
def test_qstat_state_codes(code: str, state: JobState) -> None:
    assert qstat_state(code) is state


def test_task_lists() -> None:
    assert expand_tasks("1-4:1") == [1, 2, 3, 4]
    assert expand_tasks("5,6") == [5, 6]
    assert expand_tasks("1-9:4") == [1, 5, 9]
    assert expand_tasks("junk") == []


def status(name: str, cancelled: bool = False) -> tuple[JobState, int | None, str]:
    (record,) = parse_qacct(read(name)).values()
    found = accounting_status(record, cancelled)
    return found.state, found.exit_code, found.reason


def test_accounting_of_success_and_exit_status() -> None:
    assert status("qacct_ok")[:2] == (JobState.COMPLETED, 0)
    assert status("qacct_exit3") == (JobState.FAILED, 3, "")


def test_hard_walltime_is_timeout_from_failed_37() -> None:
    state, code, reason = status("qacct_h_rt")
    assert (state, code) == (JobState.TIMEOUT, 137)
    assert "qacct failed 37: qmaster enforced h_rt" in reason


def test_soft_walltime_signal_is_timeout() -> None:
    state, code, reason = status("qacct_s_rt")
    assert (state, code) == (JobState.TIMEOUT, 138)
    assert "soft walltime limit s_rt=5 s" in reason and "SIGUSR1" in reason


def test_qdel_and_a_self_kill_read_alike_unless_reflow_deleted_the_job() -> None:
    killed = status("qacct_sigkill")
    deleted = status("qacct_deleted")
    assert killed[:2] == deleted[:2] == (JobState.FAILED, 137)
    assert killed[2] == "qacct failed 100: assumedly after job, killed by signal 9 (SIGKILL)"
    assert status("qacct_deleted", cancelled=True)[:2] == (JobState.CANCELLED, 137)
    # a job that ended well before its deletion took effect stays COMPLETED
    assert status("qacct_ok", cancelled=True)[0] is JobState.COMPLETED


def test_accounting_of_an_array_has_a_record_per_task() -> None:
    records = parse_qacct(read("qacct_array"))
    array = JOBS["array"]
    assert sorted(records) == sorted(f"{array}.{t}" for t in range(1, 7))
    assert all(accounting_status(r).state is JobState.COMPLETED for r in records.values())


def test_accounting_since_a_time_holds_every_job_of_the_recording() -> None:
    records = parse_qacct(read("qacct_since"))
    for role in ("ok", "exit3", "long", "sigkill", "h_rt", "s_rt"):
        assert JOBS[role] in records, role
    assert parse_qacct(read("qacct_unknown")) == {}


def test_time_values() -> None:
    assert time_value("10") == 10.0
    assert time_value("00:01:30") == 90.0
    assert time_value("1:00:00") == 3600.0
    assert time_value("INFINITY") is None


def test_sconf_joins_continued_lines() -> None:
    conf = parse_sconf(read("qconf_sconf"))
    assert conf["max_aj_tasks"] == "75000"
    assert conf["reporting_params"].startswith("accounting=true reporting=false flush_time=")
    assert conf["min_uid"] == "0"

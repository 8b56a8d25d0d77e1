"""Reading bjobs: states, exit codes and termination reasons, on the documented output forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.executors import (
    JobState,
)
from reflow_executor_lsf.states import (
    parse_bjobs_delimited,
    parse_bjobs_json,
    status_of,
)

DATA = Path(__file__).parent / "data"


def test_json_records_by_job_and_element() -> None:
    found = parse_bjobs_json((DATA / "bjobs_json_mixed.json").read_text())
    assert found["1201"].state is JobState.COMPLETED
    assert found["1201"].exit_code == 0
    assert (found["1202"].state, found["1202"].exit_code) == (JobState.FAILED, 3)
    assert found["1203"].state is JobState.TIMEOUT
    assert "TERM_RUNLIMIT" in found["1203"].reason
    assert found["1204"].state is JobState.OUT_OF_MEMORY
    assert found["1205[1]"].state is JobState.RUNNING
    assert found["1205[2]"].state is JobState.PENDING
    assert found["1206"].state is JobState.CANCELLED
    assert "123" not in found  # the record bjobs answered with an ERROR


def test_delimited_form_reads_the_same() -> None:
    found = parse_bjobs_delimited((DATA / "bjobs_delimited_mixed.txt").read_text())
    assert found["1201"].state is JobState.COMPLETED
    assert found["1202"].exit_code == 3
    assert found["1203"].state is JobState.TIMEOUT
    assert found["1205[2]"].state is JobState.PENDING  # PSUSP: held before it started
    assert found["1207"].state is JobState.RUNNING  # SSUSP: suspended while running
    assert parse_bjobs_delimited("Job <77> is not found\n") == {}


@pytest.mark.parametrize(
    ("reason", "state"),
    [
        ("TERM_RUNLIMIT", JobState.TIMEOUT),
        ("job killed after reaching LSF run time limit", JobState.TIMEOUT),
        (
            "TERM_MEMLIMIT: job killed after reaching LSF memory usage limit",
            JobState.OUT_OF_MEMORY,
        ),
        ("TERM_ADMIN", JobState.CANCELLED),
        ("TERM_FORCE_OWNER: job killed by owner without time for cleanup", JobState.CANCELLED),
        ("TERM_ORPHAN_SYSTEM", JobState.CANCELLED),
        ("TERM_ZOMBIE", JobState.NODE_FAIL),
        ("TERM_CWD_NOTEXIST", JobState.FAILED),
        ("", JobState.FAILED),
    ],
)
def test_exit_reasons_say_why_a_job_ended(reason: str, state: JobState) -> None:
    assert status_of("EXIT", "1", reason).state is state


def test_active_jobs_have_no_exit_code_and_unknown_states_are_unknown() -> None:
    assert status_of("RUN", "", "").exit_code is None
    assert status_of("UNKWN", "", "").state is JobState.UNKNOWN
    # LSF still knows the job: the reason keeps the dispatcher from taking it as forgotten.
    assert "UNKWN" in status_of("UNKWN", "", "").reason
    assert status_of("WHATEVER", "", "").state is JobState.UNKNOWN
    assert status_of("ZOMBI", "", "").state is JobState.NODE_FAIL


def test_garbage_is_an_error_not_an_empty_answer() -> None:
    with pytest.raises(ValueError):
        parse_bjobs_json("bjobs: illegal option -- json\n")
    assert parse_bjobs_json("") == {}


def test_recorded_fake_output() -> None:
    """bjobs of the LSF fake (data/record_fake.py): done, exit 3, an array, a killed job."""
    found = parse_bjobs_json((DATA / "fake_bjobs.txt").read_text())
    assert (found["100"].state, found["100"].exit_code) == (JobState.COMPLETED, 0)
    assert (found["101"].state, found["101"].exit_code) == (JobState.FAILED, 3)
    assert [found[f"102[{i}]"].state for i in (1, 2, 3)] == [JobState.COMPLETED] * 3
    assert found["103"].state is JobState.CANCELLED
    assert "99999" not in found
    assert parse_bjobs_delimited((DATA / "fake_bjobs_delimited.txt").read_text()) == found
    running = parse_bjobs_json((DATA / "fake_bjobs_running.txt").read_text())
    assert running["103"].state is JobState.RUNNING

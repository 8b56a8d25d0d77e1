"""Reading flux jobs --json: states, results, exit codes, on the documented output forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.executors import (
    JobState,
)
from reflow_executor_flux.states import job_status, parse_flux_jobs

DATA = Path(__file__).parent / "data"


def test_many_jobs() -> None:
    found = parse_flux_jobs((DATA / "flux_jobs_many.json").read_text())
    assert (found["1234"].state, found["1234"].exit_code) == (JobState.COMPLETED, 0)
    assert (found["1888"].state, found["1888"].exit_code) == (JobState.FAILED, 3)
    assert found["3363"].state is JobState.TIMEOUT
    assert "timeout" in found["3363"].reason
    assert (found["3364"].state, found["3364"].exit_code) == (JobState.CANCELLED, None)
    assert found["4369"].state is JobState.PENDING
    assert found["65535"].state is JobState.RUNNING
    # afterok on a failed job: Flux raises a dependency exception, the job never runs.
    assert found["4294967295"].state is JobState.CANCELLED


def test_a_single_job_is_an_object_of_its_own() -> None:
    found = parse_flux_jobs((DATA / "flux_jobs_single.json").read_text())
    assert list(found) == ["633528662"]
    assert found["633528662"].state is JobState.PENDING


@pytest.mark.parametrize(
    ("job", "state", "code"),
    [
        ({"state": "PRIORITY"}, JobState.PENDING, None),
        ({"state": "CLEANUP"}, JobState.RUNNING, None),
        ({"state": "INACTIVE", "result": "FAILED", "returncode": -9}, JobState.FAILED, 137),
        ({"state": "INACTIVE", "result": "FAILED", "waitstatus": 9}, JobState.FAILED, 137),
        ({"state": "INACTIVE", "result": "FAILED", "waitstatus": 512}, JobState.FAILED, 2),
        (
            {
                "state": "INACTIVE",
                "result": "FAILED",
                "returncode": 137,
                "exception": {"occurred": True, "type": "oom", "note": "Out of memory"},
            },
            JobState.OUT_OF_MEMORY,
            137,
        ),
        ({"state": 64, "result": 8}, JobState.TIMEOUT, None),  # numeric codes
        ({"state": "INACTIVE"}, JobState.UNKNOWN, None),
        ({"state": "BOGUS"}, JobState.UNKNOWN, None),
    ],
)
def test_job_status(job: dict[str, object], state: JobState, code: int | None) -> None:
    status = job_status({"id": 1, **job})
    assert (status.state, status.exit_code) == (state, code)


def test_empty_output_is_no_job_and_garbage_is_an_error() -> None:
    assert parse_flux_jobs("") == {}
    assert parse_flux_jobs('{"jobs": []}') == {}
    with pytest.raises(ValueError):
        parse_flux_jobs("flux-jobs: ERROR: Unable to connect to Flux\n")


def test_recorded_fake_output() -> None:
    """flux jobs of the Flux fake (data/record_fake.py), ids as flux submit printed them."""
    from reflow_executor_flux.executor import FluxExecutor

    def ids(name: str) -> list[str]:
        return FluxExecutor.parse_job_ids((DATA / f"fake_{name}.txt").read_text())

    found = parse_flux_jobs((DATA / "fake_jobs.txt").read_text())
    (ok,), (bad,), (sleeper,), (after,) = (
        ids(n) for n in ("submit", "submit_fail", "submit_sleep", "submit_afterok")
    )
    assert (found[ok].state, found[ok].exit_code) == (JobState.COMPLETED, 0)
    assert (found[bad].state, found[bad].exit_code) == (JobState.FAILED, 3)
    assert [found[i].state for i in ids("submit_cc")] == [JobState.COMPLETED] * 3  # ASCII f
    assert found[sleeper].state is JobState.CANCELLED
    assert found[after].state is JobState.CANCELLED  # afterok on a failure: never ran
    assert len(found) == 7  # the unknown id is only on stderr
    one = parse_flux_jobs((DATA / "fake_jobs_one.txt").read_text())
    assert one[sleeper].state is JobState.RUNNING

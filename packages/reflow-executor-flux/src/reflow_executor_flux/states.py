"""Reading Flux's job states from ``flux jobs -a --json IDS``.

``flux jobs --json`` prints one object with a ``jobs`` list, or, when a
single job id was asked for, that job's object alone (flux-jobs(1),
"--json").  A job's object holds, among others, ``id`` (a decimal integer),
``state`` (``DEPEND``, ``PRIORITY``, ``SCHED``, ``RUN``, ``CLEANUP``,
``INACTIVE``), and once inactive ``result`` (``COMPLETED``, ``FAILED``,
``CANCELED``, ``TIMEOUT``), ``waitstatus``, ``returncode`` and
``exception`` (``occurred``, ``type``, ``note``).  Keys whose value is not
known yet are left out.  Ids flux jobs does not know are reported on stderr
(``JobID ƒ... unknown``) and left out here.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from reflow.executors import (
    JobState,
    JobStatus,
)

__all__ = ["RESULT_MAP", "STATE_MAP", "job_status", "parse_flux_jobs"]

logger = logging.getLogger(__name__)

STATE_MAP: dict[str, JobState] = {
    "NEW": JobState.PENDING,
    "DEPEND": JobState.PENDING,
    "PRIORITY": JobState.PENDING,
    "SCHED": JobState.PENDING,
    "RUN": JobState.RUNNING,
    "CLEANUP": JobState.RUNNING,  # its processes have ended; the result follows
}
"""Flux's active job states (RFC 21) in reflow's words; INACTIVE is read from the result."""

RESULT_MAP: dict[str, JobState] = {
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "CANCELED": JobState.CANCELLED,
    "CANCELLED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT,
}
"""An inactive job's result in reflow's words."""

_STATE_BITS = {1: "NEW", 2: "DEPEND", 4: "PRIORITY", 8: "SCHED", 16: "RUN", 32: "CLEANUP"}
_STATE_BITS[64] = "INACTIVE"
_RESULT_BITS = {1: "COMPLETED", 2: "FAILED", 4: "CANCELED", 8: "TIMEOUT"}
"""The numeric codes of the job-list service, should a state come as a number."""


def _name(value: Any, codes: Mapping[int, str]) -> str:
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return codes.get(value, str(value))
    return str(value or "").strip().upper()


def _exit_code(job: Mapping[str, Any]) -> int | None:
    code = job.get("returncode")
    if isinstance(code, int) and not isinstance(code, bool):
        if code == -128:  # canceled before it started: no process, no exit status
            return None
        return 128 - code if code < 0 else code
    status = job.get("waitstatus")
    if isinstance(status, int) and not isinstance(status, bool):
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)
        if os.WIFEXITED(status):
            return os.WEXITSTATUS(status)
    return None


def _exception(job: Mapping[str, Any]) -> tuple[str, str]:
    """The exception's type and note: from ``exception`` (flux jobs --json), or from the
    job-list service's flat ``exception_occurred``/``_type``/``_note`` keys."""
    exc = job.get("exception")
    if not isinstance(exc, Mapping):
        exc = {
            "occurred": job.get("exception_occurred"),
            "type": job.get("exception_type"),
            "note": job.get("exception_note"),
        }
    if not exc.get("occurred"):
        return "", ""
    return str(exc.get("type") or ""), str(exc.get("note") or "")


def job_status(job: Mapping[str, Any]) -> JobStatus:
    """The :class:`JobStatus` of one job object of ``flux jobs --json``.

    A FAILED job whose exception says it ran out of memory (type ``oom``) is
    OUT_OF_MEMORY; one that never ran because a dependency failed (type
    ``dependency``) is CANCELLED.

    Examples
    --------
    >>> job_status({"id": 5, "state": "INACTIVE", "result": "FAILED", "returncode": 3})
    JobStatus(state=<JobState.FAILED: 'FAILED'>, exit_code=3, reason='')
    """
    state_name = _name(job.get("state"), _STATE_BITS)
    kind, note = _exception(job)
    reason = f"exception {kind}: {note}" if note else (f"exception {kind}" if kind else "")
    if state_name != "INACTIVE":
        state = STATE_MAP.get(state_name)
        if state is None:
            logger.debug("Flux state %r is not one reflow knows; reporting UNKNOWN.", state_name)
            return JobStatus(JobState.UNKNOWN, None, f"Flux state {state_name}")
        return JobStatus(state, None, reason)
    result_name = _name(job.get("result"), _RESULT_BITS)
    state = RESULT_MAP.get(result_name, JobState.UNKNOWN)
    if state is JobState.FAILED and (kind == "oom" or "out of memory" in note.lower()):
        state = JobState.OUT_OF_MEMORY
    elif state is JobState.FAILED and kind == "dependency":
        state = JobState.CANCELLED
    if state is JobState.UNKNOWN:
        reason = reason or f"Flux result {result_name or '(none)'}"
    return JobStatus(state, _exit_code(job), reason)


def _jobs(data: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(data, Mapping) and "jobs" in data and "id" not in data:
        for job in data["jobs"] if isinstance(data["jobs"], list) else []:
            if isinstance(job, Mapping):
                yield job
    elif isinstance(data, Mapping) and "id" in data:
        yield data


def parse_flux_jobs(text: str) -> dict[str, JobStatus]:
    """Statuses from ``flux jobs -a --json`` output, by decimal job id.

    Raises
    ------
    ValueError
        If the text is not flux jobs' JSON.
    """
    found: dict[str, JobStatus] = {}
    if not text.strip():
        return found
    data = json.loads(text)
    for job in _jobs(data):
        ident = job.get("id")
        if isinstance(ident, int) and not isinstance(ident, bool):
            found[str(ident)] = job_status(job)
        else:
            logger.warning("Ignoring a flux jobs entry without an integer id: %r", job)
    return found

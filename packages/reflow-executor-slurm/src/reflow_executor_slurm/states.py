"""Reading Slurm's job states: ``squeue`` for live jobs, ``sacct`` for finished ones.

The executor asks both in one wave:

- ``squeue -h -t all -j IDS -O`` :data:`SQUEUE_FIELDS`: the controller's
  view, which also holds finished jobs for ``MinJobAge`` seconds.  Its
  ``exit_code`` is the raw wait status (``768`` is exit status 3, ``9`` is
  SIGKILL).
- ``sacct -n -P -X -j IDS --format=`` :data:`SACCT_FIELDS`: the accounting
  database, for jobs the controller has forgotten.  ``ExitCode`` reads
  ``status:signal`` (``3:0``, ``0:15``) and a cancelled job's state names
  who cancelled it (``CANCELLED by 1000``).

Array tasks appear as ``123_4``; tasks that have not started share one line
such as ``123_[5-9%2]``, ``123_[0-198:2]`` or ``123_[1,3,5-7]``, which
:func:`expand_job_ids` lists one by one.  The controller's line wins over the
database's for a job both report.
"""

from __future__ import annotations

import logging
import re
import signal
from collections.abc import Iterator

from reflow.executors import (
    JobState,
    JobStatus,
)

__all__ = [
    "SACCT_FIELDS",
    "SQUEUE_FIELDS",
    "STATE_MAP",
    "exit_code",
    "expand_job_ids",
    "parse_sacct",
    "parse_squeue",
    "slurm_state",
]

logger = logging.getLogger(__name__)

SQUEUE_FIELDS = "JobArrayID:|,State:|,exit_code:|,Reason:|"
"""``squeue -O`` fields: each value followed by ``|``, at its full width."""

SACCT_FIELDS = "JobID,State,ExitCode,Reason"
"""``sacct --format`` fields, ``|``-separated with ``-P``."""

STATE_MAP: dict[str, JobState] = {
    # waiting
    "PENDING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,  # back in the queue, it runs again
    "REQUEUE_FED": JobState.PENDING,
    "REQUEUE_HOLD": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING,
    # started (allocated), not ended
    "CONFIGURING": JobState.RUNNING,
    "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,  # its processes end; the final state follows
    "RESIZING": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "STOPPED": JobState.RUNNING,
    "SUSPENDED": JobState.RUNNING,
    # ended
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT,
    "DEADLINE": JobState.TIMEOUT,  # ended (or never started) because of its --deadline
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
    "NODE_FAIL": JobState.NODE_FAIL,
    "BOOT_FAIL": JobState.NODE_FAIL,  # its nodes failed to boot
    # preempted: requeued or suspended by a higher-priority job
    "PREEMPTED": JobState.PREEMPTED,
}
"""Slurm's job state names (``squeue -O State``, ``sacct`` State) in reflow's words.

Names not listed (``REVOKED``, a federation's) are reported as UNKNOWN.
"""

_NEVER_RAN = frozenset({"DEADLINE", "BOOT_FAIL"})
"""States whose squeue exit_code the controller set itself (``1``), not a process's wait status."""

_ARRAY = re.compile(r"^(?P<job>\d+)_\[(?P<tasks>[^\]]*)\]?$")
_TASK_RANGE = re.compile(r"^(?P<first>\d+)(?:-(?P<last>\d+)(?::(?P<step>\d+))?)?$")


def slurm_state(text: str) -> tuple[JobState, str]:
    """reflow's state for a Slurm state, and what besides the name Slurm said.

    ``"CANCELLED by 0"`` gives ``(CANCELLED, "CANCELLED by 0")``; a plain
    name gives ``""`` as the second item.  Unknown names give UNKNOWN.
    """
    words = text.strip()
    name = words.split(" ", 1)[0]
    state = STATE_MAP.get(name)
    if state is None:
        logger.debug("Slurm state %r is not one reflow knows; reporting UNKNOWN.", text)
        return JobState.UNKNOWN, f"Slurm state {words}" if words else ""
    return state, words if words != name else ""


def _tasks(spec: str, complete: bool) -> tuple[list[int], bool]:
    """Task ids of ``5-9%2``, ``0-198:2`` or ``1,3,5-7``; and whether some were left out.

    ``complete`` is false when Slurm cut the text short (no closing ``]``):
    its last item may then be cut too, so it is left out.
    """
    items = spec.split("%", 1)[0].split(",")
    truncated = not complete
    if truncated:
        items = items[:-1]
    tasks: list[int] = []
    for item in items:
        match = _TASK_RANGE.match(item.strip())
        if match is None:
            truncated = True  # "..." or something newer than this parser
            continue
        first = int(match["first"])
        last = int(match["last"] or first)
        tasks.extend(range(first, last + 1, int(match["step"] or 1)))
    return tasks, truncated


def expand_job_ids(field: str) -> tuple[list[str], str | None]:
    """The job and task ids one line of squeue or sacct stands for.

    Returns the ids (``"123"``, ``"123_4"``) and, when a list of waiting
    tasks was cut short (at ``SLURM_BITSTR_LEN`` characters, 64 unless set;
    the executor sets 0, no limit), the array's own id, which then stands
    for the tasks not listed.

    Examples
    --------
    >>> expand_job_ids("123_[5-7%2]")
    (['123_5', '123_6', '123_7'], None)
    >>> expand_job_ids("123_4")
    (['123_4'], None)
    """
    field = field.strip()
    match = _ARRAY.match(field)
    if match is None:
        return [field], None
    tasks, truncated = _tasks(match["tasks"], field.endswith("]"))
    job = match["job"]
    return [f"{job}_{task}" for task in tasks], job if truncated else None


def exit_code(state: JobState, status: int, signal_number: int) -> int | None:
    """The exit code reflow reports: the exit status, or 128 + the signal that killed the job.

    ``None`` while the job has not ended.
    """
    if state not in JobState.ended():
        return None
    if 0 < signal_number < 65:
        return 128 + signal_number
    return status


def _signal_text(number: int) -> str:
    try:
        return f"signal {number} ({signal.Signals(number).name})"
    except ValueError:
        return f"signal {number}"


def _status(state_text: str, status: int, signal_number: int, reason: str) -> JobStatus:
    state, said = slurm_state(state_text)
    parts = [said] if said else []
    ended = state in JobState.ended()
    if ended and 0 < signal_number < 65:
        parts.append(f"killed by {_signal_text(signal_number)}")
    if reason and reason != "None":
        parts.append(reason)
    return JobStatus(state, exit_code(state, status, signal_number), ", ".join(parts))


def _lines(text: str, fields: int, command: str) -> Iterator[list[str]]:
    for line in text.splitlines():
        if not line.strip():
            continue
        values = line.split("|", fields - 1)
        if len(values) != fields:
            logger.warning("Ignoring a line of %s output reflow cannot read: %r", command, line)
            continue
        yield values


def _put(found: dict[str, JobStatus], field: str, status: JobStatus) -> None:
    ids, whole = expand_job_ids(field)
    for ident in ids:
        found[ident] = status
    if whole is not None:
        found.setdefault(whole, status)


def parse_squeue(text: str) -> dict[str, JobStatus]:
    """Statuses from ``squeue -h -t all -O`` :data:`SQUEUE_FIELDS` output, by job/task id."""
    found: dict[str, JobStatus] = {}
    for ident, state, raw, last in _lines(text, 4, "squeue"):
        reason = last.removesuffix("|").strip()
        try:
            wait = int(raw)
        except ValueError:
            wait = 0
        if state.split(" ", 1)[0] in _NEVER_RAN:  # the controller's own code, not a wait status
            _put(found, ident, _status(state, wait, 0, reason))
        else:
            _put(found, ident, _status(state, (wait >> 8) & 0xFF, wait & 0x7F, reason))
    return found


def parse_sacct(text: str) -> dict[str, JobStatus]:
    """Statuses from ``sacct -n -P -X --format=`` :data:`SACCT_FIELDS` output, by job/task id."""
    found: dict[str, JobStatus] = {}
    for ident, state, code, reason in _lines(text, 4, "sacct"):
        status, _, number = code.partition(":")
        try:
            values = int(status or 0), int(number or 0)
        except ValueError:
            values = 0, 0
        _put(found, ident, _status(state, values[0], values[1], reason.strip()))
    return found

"""Reading PBS job states: ``qstat -f -F json -x -t`` (PBS Pro) and ``qstat -f [-t]`` (Torque).

PBS Pro / OpenPBS (``man qstat``, "Job States" and "-F json"): each job is a key of
``"Jobs"`` with its attributes; ``job_state`` is one letter (``Q`` queued, ``R``
running, ``F`` finished, ``X`` a finished subjob, ``B`` an array with subjobs
begun ...) and ``Exit_status`` the job's exit: ``0`` and up is the script's exit
status, ``256 + N`` a kill by signal ``N``, and a negative value one of the
server's ``JOB_EXEC_*`` codes (``-29`` walltime and ``-27`` memory on OpenPBS
22.05 and later).  Finished jobs are listed only while the server keeps job
history (``job_history_enable``).

Torque (``man qstat``, "-f"): ``Job Id: 12.srv`` starts a block of ``attr = value``
lines; ``job_state`` is ``Q``, ``R``, ``C`` (completed) ...; ``exit_status`` as in
PBS Pro.  Slurm's Torque wrappers print the same form with tabs, only ``Q``/``R``/``C``
and no ``exit_status``.

A job without an exit status that has ended is reported COMPLETED with
``exit_code=None``: the executor then asks the job's own markers
(:mod:`reflow_executor_pbs.script`).
"""

from __future__ import annotations

import json
import logging
import re
import signal

from reflow.executors import (
    BatchExecutorError,
    JobState,
    JobStatus,
)

__all__ = [
    "EXEC_CODES",
    "KILL_LINE",
    "STATE_MAP",
    "TORQUE_EXEC_CODES",
    "exit_status",
    "kill_state",
    "parse_pbspro_json",
    "parse_torque",
]

logger = logging.getLogger(__name__)

STATE_MAP: dict[str, JobState] = {
    "Q": JobState.PENDING,  # queued
    "H": JobState.PENDING,  # held (also: waiting for a dependency)
    "W": JobState.PENDING,  # waiting for its start time
    "T": JobState.PENDING,  # in transit
    "M": JobState.PENDING,  # moved to another server
    "R": JobState.RUNNING,
    "E": JobState.RUNNING,  # exiting after having run
    "B": JobState.RUNNING,  # an array with at least one subjob begun (PBS Pro)
    "S": JobState.RUNNING,  # suspended
    "U": JobState.RUNNING,  # suspended: the workstation is busy (PBS Pro)
    "F": JobState.COMPLETED,  # finished (PBS Pro, job history)
    "X": JobState.COMPLETED,  # a finished subjob (PBS Pro)
    "C": JobState.COMPLETED,  # completed (Torque)
}
"""PBS job state letters in reflow's words; ended ones are refined by the exit status."""

_START_FAILED: dict[int, tuple[JobState, str]] = {
    -1: (JobState.NODE_FAIL, "the job could not be started (JOB_EXEC_FAIL1)"),
    -2: (JobState.NODE_FAIL, "the job could not be started (JOB_EXEC_FAIL2)"),
    -3: (JobState.NODE_FAIL, "the job could not be started and is retried (JOB_EXEC_RETRY)"),
    -4: (JobState.NODE_FAIL, "the job's start was aborted (JOB_EXEC_INITABT)"),
}

EXEC_CODES: dict[int, tuple[JobState, str]] = {
    **_START_FAILED,
    -26: (JobState.OUT_OF_MEMORY, "the job went over its vmem limit (JOB_EXEC_KILL_VMEM)"),
    -27: (JobState.OUT_OF_MEMORY, "the job went over its memory limit (JOB_EXEC_KILL_MEM)"),
    -28: (JobState.TIMEOUT, "the job went over its CPU time (JOB_EXEC_KILL_CPUT)"),
    -29: (JobState.TIMEOUT, "the job ran out of walltime (JOB_EXEC_KILL_WALLTIME)"),
}
"""PBS Pro / OpenPBS ``JOB_EXEC_*`` codes (negative ``Exit_status``) reflow names.

The limit kills (-26 to -29) are reported from OpenPBS 22.05 on; older servers report
such a job as killed by SIGTERM (``271``) and write the kill line.
"""

TORQUE_EXEC_CODES: dict[int, tuple[JobState, str]] = {
    **_START_FAILED,
    -10: (JobState.OUT_OF_MEMORY, "the job went over a memory limit (Torque -10)"),
    -11: (JobState.TIMEOUT, "the job ran out of walltime (Torque -11)"),
    -12: (JobState.TIMEOUT, "the job went over its CPU time (Torque -12)"),
}
"""Torque's own negative ``exit_status`` codes (Torque 6.1: -1 to -14) reflow names."""

KILL_LINE = re.compile(
    r"=>> PBS: job killed: (?P<what>walltime|mem|vmem|cput|pmem|pvmem)\b[^\n]*"
    r"|\*\*\* JOB \S+ ON \S+ CANCELLED AT \S+ DUE TO (?P<slurm>TIME LIMIT) \*\*\*"
)
"""The line PBS writes to a job's output when it kills the job for a limit.

``=>> PBS: job killed: walltime 185 exceeded limit 180`` (PBS Pro and Torque); the Torque
wrappers run on Slurm, whose ``slurmstepd`` writes ``*** JOB 12 ON n1 CANCELLED AT ...
DUE TO TIME LIMIT ***`` instead.
"""


def _signal_text(number: int) -> str:
    try:
        return f"signal {number} ({signal.Signals(number).name})"
    except ValueError:
        return f"signal {number}"


def kill_state(text: str) -> tuple[JobState, str] | None:
    """TIMEOUT or OUT_OF_MEMORY, and the line, if ``text`` has PBS's limit-kill line.

    Examples
    --------
    >>> kill_state("x\\n=>> PBS: job killed: walltime 65 exceeded limit 60\\n")
    (<JobState.TIMEOUT: 'TIMEOUT'>, '=>> PBS: job killed: walltime 65 exceeded limit 60')
    """
    match = KILL_LINE.search(text)
    if match is None:
        return None
    if match["slurm"] or match["what"] in ("walltime", "cput"):
        return JobState.TIMEOUT, match[0].strip()
    return JobState.OUT_OF_MEMORY, match[0].strip()


def exit_status(
    code: int | None, codes: dict[int, tuple[JobState, str]] | None = None
) -> JobStatus:
    """The status of an ended job from its exit status (``None``: not known).

    ``codes`` names the negative codes: :data:`EXEC_CODES` (PBS Pro, the default)
    or :data:`TORQUE_EXEC_CODES`.
    """
    if code is None:
        return JobStatus(JobState.COMPLETED, None, "ended; the scheduler gave no exit status")
    if code == 0:
        return JobStatus(JobState.COMPLETED, 0)
    if code > 256:
        number = code - 256
        return JobStatus(JobState.FAILED, 128 + number, f"killed by {_signal_text(number)}")
    if code > 0:
        return JobStatus(JobState.FAILED, code)
    known = EXEC_CODES if codes is None else codes
    state, text = known.get(code, (JobState.FAILED, f"PBS exit code {code}"))
    return JobStatus(state, code, text)


def _status(
    state_text: str,
    code: int | None,
    comment: str,
    codes: dict[int, tuple[JobState, str]] | None = None,
) -> JobStatus:
    letter = state_text.strip()[:1]
    state = STATE_MAP.get(letter)
    if state is None:
        logger.debug("PBS job state %r is not one reflow knows; reporting UNKNOWN.", state_text)
        return JobStatus(JobState.UNKNOWN, None, f"PBS state {state_text}")
    if state is JobState.COMPLETED:
        return exit_status(code, codes)
    return JobStatus(state, None, comment)


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _loads(text: str) -> dict[str, object]:
    try:
        data = json.loads(text, strict=False)
    except json.JSONDecodeError:
        # Older PBS Pro releases print backslashes of job variables unescaped.
        repaired = re.sub(r'\\(?!["\\/bfnrtu])', r"\\\\", text)
        try:
            data = json.loads(repaired, strict=False)
        except json.JSONDecodeError as exc:
            raise BatchExecutorError(
                f"Cannot read the JSON of qstat -F json ({exc}); its output starts "
                f"{text[:200]!r}. Report it with your PBS version."
            ) from exc
    if not isinstance(data, dict):
        raise BatchExecutorError(f"qstat -F json printed {type(data).__name__}, not an object.")
    return data


def parse_pbspro_json(text: str) -> dict[str, JobStatus]:
    """Statuses from ``qstat -f -F json -x -t`` output, by the job ids qstat prints.

    Jobs (and subjobs, ``12[3].srv``) qstat does not list are left out.
    """
    if not text.strip():
        return {}
    jobs = _loads(text).get("Jobs") or {}
    if not isinstance(jobs, dict):
        raise BatchExecutorError(f"qstat -F json: 'Jobs' is {type(jobs).__name__}, not an object.")
    found: dict[str, JobStatus] = {}
    for ident, attrs in jobs.items():
        if not isinstance(attrs, dict):
            continue
        state = str(attrs.get("job_state", ""))
        code = _int(attrs["Exit_status"]) if "Exit_status" in attrs else None
        if state in ("F", "X") and code is None:
            # Deleted before it ran: PBS records no exit status.
            found[ident] = JobStatus(JobState.CANCELLED, None, "deleted before it ran")
            continue
        found[ident] = _status(state, code, str(attrs.get("comment", "")))
    return found


def parse_torque(text: str) -> dict[str, JobStatus]:
    """Statuses from Torque's ``qstat -f`` output (also the Torque wrappers of Slurm)."""
    found: dict[str, JobStatus] = {}
    blocks: list[tuple[str, dict[str, str]]] = []
    for line in text.splitlines():
        if line.startswith("Job Id:"):
            blocks.append((line.partition(":")[2].strip(), {}))
            continue
        key, sep, value = line.partition(" = ")
        if blocks and sep:
            blocks[-1][1][key.strip()] = value.strip()
    for ident, attrs in blocks:
        code = _int(attrs["exit_status"]) if "exit_status" in attrs else None
        state = attrs.get("job_state", "")
        found[ident] = _status(state, code, attrs.get("comment", ""), TORQUE_EXEC_CODES)
    return found

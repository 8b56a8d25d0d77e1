"""Reading Grid Engine's job states: ``qstat -xml`` for live jobs, ``qacct`` for ended ones.

The executor asks both in one wave:

- ``qstat -xml -u USER``: every job of the user the qmaster still holds.  A
  running array task has a ``<tasks>`` element with its number (``3``);
  tasks that have not started share one entry whose ``<tasks>`` is a range
  list such as ``1-6:1`` or ``2,4-9:1`` (:func:`expand_tasks`).  The state is
  a string of letters (``qw``, ``hqw``, ``r``, ``t``, ``dr``, ``Eqw`` ...),
  read by :func:`qstat_state`.
- ``qacct -o USER -b TIME -j '*'``: the accounting records of the user's jobs
  started since ``TIME``, one block per job or array task (``taskid``
  ``undefined`` for a job that is not an array).  ``failed`` is Grid
  Engine's own failure code (:data:`FAILED_CODES`) and ``exit_status`` the
  job's exit status, ``128 + N`` for a job killed by signal ``N``.

A job both report is read from qstat: it is still in the qmaster.  Keys are
the scheduler's ids, ``123`` for a job and ``123.4`` for task 4 of array 123.
"""

from __future__ import annotations

import itertools
import logging
import re
import signal
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from reflow.executors import (
    JobState,
    JobStatus,
)

__all__ = [
    "FAILED_CODES",
    "STATE_MAP",
    "AccountingRecord",
    "accounting_status",
    "category_limits",
    "element",
    "expand_tasks",
    "parse_qacct",
    "parse_qstat_xml",
    "qstat_state",
    "time_value",
]

logger = logging.getLogger(__name__)

STATE_MAP: dict[str, JobState] = {
    "qw": JobState.PENDING,
    "hqw": JobState.PENDING,
    "hRwq": JobState.PENDING,
    "Rq": JobState.PENDING,
    "r": JobState.RUNNING,
    "t": JobState.RUNNING,
    "Rr": JobState.RUNNING,
    "Rt": JobState.RUNNING,
    "s": JobState.RUNNING,
    "ts": JobState.RUNNING,
    "S": JobState.RUNNING,
    "tS": JobState.RUNNING,
    "T": JobState.RUNNING,
    "tT": JobState.RUNNING,
    "dr": JobState.RUNNING,
    "dt": JobState.RUNNING,
    "dRr": JobState.RUNNING,
    "ds": JobState.RUNNING,
    "dS": JobState.RUNNING,
    "dT": JobState.RUNNING,
    "Eqw": JobState.FAILED,
    "Ehqw": JobState.FAILED,
    "EhRqw": JobState.FAILED,
}
"""qstat's usual state strings in reflow's words; others are read letter by letter."""

FAILED_CODES: dict[int, str] = {
    1: "assumedly before job",
    3: "before writing config",
    4: "before writing PID",
    5: "on reading config file",
    6: "setting processor set",
    7: "before prolog",
    8: "in prolog",
    9: "before pestart",
    10: "in pestart",
    11: "before job",
    12: "before pestop",
    13: "in pestop",
    14: "before epilog",
    15: "in epilog",
    16: "releasing processor set",
    17: "through signal",
    18: "shepherd returned an error",
    19: "before writing exit_status",
    20: "found unexpected error file",
    21: "in recognizing job",
    24: "migrating (checkpointing jobs)",
    25: "rescheduling",
    26: "opening output file",
    27: "searching requested shell",
    28: "changing to working directory",
    29: "AFS setup",
    30: "application error returned",
    31: "accessing sgepasswd file",
    32: "entry is missing in password file",
    33: "wrong password",
    34: "communicating with Grid Engine Helper Service",
    35: "before job in Grid Engine Helper Service",
    36: "checking configured daemons",
    37: "qmaster enforced h_rt, h_cpu, or h_vmem limit",
    38: "adding supplementary group",
    100: "assumedly after job",
}
"""qacct's ``failed`` codes (accounting(5)); 0 is "no failure"."""

LIMIT_ENFORCED = 37
"""``failed`` code of a job the cell killed at a hard limit (h_rt, h_cpu, h_vmem)."""

AFTER_JOB = 100
"""``failed`` code of a job that died of a signal: a qdel, a kill, a limit the execd enforced."""

_TASK_ITEM = re.compile(r"^(?P<first>\d+)(?:-(?P<last>\d+)(?::(?P<step>\d+))?)?$")


def element(job_id: str, task: int) -> str:
    """Grid Engine's name of task ``task`` of array job ``job_id``: ``123.4``."""
    return f"{job_id}.{task}"


def qstat_state(code: str) -> JobState:
    """reflow's state for a qstat state string (``qw``, ``hqw``, ``r``, ``dr``, ``Eqw`` ...).

    Unlisted strings are read by their letters: ``E`` (error) is FAILED,
    ``r``/``t``/``s``/``S``/``T`` (running, transferring, suspended) RUNNING,
    ``q``/``w``/``h`` (queued, waiting, held) PENDING.

    Examples
    --------
    >>> qstat_state("hqw"), qstat_state("Eqw"), qstat_state("dr")
    (<JobState.PENDING: 'PENDING'>, <JobState.FAILED: 'FAILED'>, <JobState.RUNNING: 'RUNNING'>)
    """
    code = code.strip()
    if code in STATE_MAP:
        return STATE_MAP[code]
    if "E" in code:
        return JobState.FAILED
    if any(letter in code for letter in "rtsST"):
        return JobState.RUNNING
    if any(letter in code for letter in "qwh"):
        return JobState.PENDING
    logger.debug("qstat state %r is not one reflow knows; reporting UNKNOWN.", code)
    return JobState.UNKNOWN


def expand_tasks(text: str) -> list[int]:
    """The task ids of a qstat task list: ``"1-6:1"``, ``"2,4-9:2"`` or ``"3"``.

    Examples
    --------
    >>> expand_tasks("1-3:1"), expand_tasks("2,5-9:2"), expand_tasks("7")
    ([1, 2, 3], [2, 5, 7, 9], [7])
    """
    tasks: list[int] = []
    for item in text.split(","):
        match = _TASK_ITEM.match(item.strip())
        if match is None:
            logger.warning("Ignoring a qstat task list reflow cannot read: %r", text)
            continue
        first = int(match["first"])
        last = int(match["last"] or first)
        tasks.extend(range(first, last + 1, int(match["step"] or 1)))
    return tasks


def _reason(code: str, job_id: str) -> str:
    if "E" in code:
        return f"error state {code}: 'qstat -j {job_id}' says why; 'qmod -cj {job_id}' clears it"
    if "h" in code:
        return f"held ({code})"
    if "d" in code:
        return f"being deleted ({code})"
    if "s" in code or "S" in code or "T" in code:
        return f"suspended ({code})"
    return ""


def parse_qstat_xml(text: str) -> dict[str, JobStatus]:
    """Statuses from ``qstat -xml`` output, by job id and ``ID.TASK`` for array tasks.

    An array entry whose ``<tasks>`` cannot be read is reported under the job
    id alone, which then stands for its tasks.
    """
    found: dict[str, JobStatus] = {}
    if not text.strip():
        return found
    try:
        root = ET.fromstring(text)  # noqa: S314 - qstat's own output
    except ET.ParseError as exc:
        logger.warning("Cannot read qstat -xml output (%s): %r", exc, text[:200])
        return found
    for entry in root.iter("job_list"):
        job_id = (entry.findtext("JB_job_number") or "").strip()
        code = (entry.findtext("state") or "").strip()
        if not job_id:
            continue
        status = JobStatus(qstat_state(code), None, _reason(code, job_id))
        tasks = (entry.findtext("tasks") or "").strip()
        if not tasks:
            found[job_id] = status
            continue
        numbers = expand_tasks(tasks)
        for task in numbers:
            found[element(job_id, task)] = status
        if not numbers:
            found.setdefault(job_id, status)
    return found


@dataclass(frozen=True)
class AccountingRecord:
    """One record of ``qacct -j``: a job, or one task of an array job.

    Attributes
    ----------
    job_id : str
        ``jobnumber``.
    task : int or None
        ``taskid``; ``None`` for a job that is not an array.
    failed : int
        Grid Engine's failure code (:data:`FAILED_CODES`), 0 if none.
    failed_text : str
        What qacct says after the code (``qmaster enforced h_rt ...``).
    exit_status : int
        The job's exit status (``128 + N`` after signal ``N``).
    wallclock : float or None
        ``ru_wallclock`` in seconds.
    limits : dict[str, str]
        The ``-l`` requests of the job's ``category`` (``h_rt``, ``s_rt`` ...).
    """

    job_id: str
    task: int | None
    failed: int
    failed_text: str
    exit_status: int
    wallclock: float | None
    limits: Mapping[str, str]

    @property
    def key(self) -> str:
        """``ID`` or ``ID.TASK``: the id :func:`parse_qacct` reports it under."""
        return self.job_id if self.task is None else element(self.job_id, self.task)


def _blocks(text: str) -> Iterator[dict[str, str]]:
    block: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("====="):
            if block:
                yield block
            block = {}
            continue
        key, _, value = line.strip().partition(" ")
        if key:
            block.setdefault(key, value.strip())
    if block:
        yield block


def _int(text: str, default: int = 0) -> int:
    match = re.match(r"\s*(-?\d+)", text)
    return int(match.group(1)) if match else default


def _seconds(text: str) -> float | None:
    match = re.match(r"\s*(\d+(?:\.\d+)?)s?\s*$", text)
    return float(match.group(1)) if match else None


def category_limits(category: str) -> dict[str, str]:
    """The ``-l`` requests of a qacct ``category``: ``"-l h_rt=20,s_rt=12"`` gives both.

    Examples
    --------
    >>> category_limits("-q all.q -l h_rt=20,s_rt=12 -pe smp 2")
    {'h_rt': '20', 's_rt': '12'}
    """
    limits: dict[str, str] = {}
    words = category.split()
    for flag, value in itertools.pairwise(words):
        if flag in ("-l", "-hard"):
            for item in value.split(","):
                name, sep, setting = item.partition("=")
                if sep:
                    limits[name.strip()] = setting.strip()
    return limits


def parse_qacct(text: str) -> dict[str, AccountingRecord]:
    """The records of ``qacct -j`` output by ``ID`` / ``ID.TASK``; the last one of a key wins.

    A job that ran more than once (rescheduled) has a record per run, in the
    order they ended.
    """
    found: dict[str, AccountingRecord] = {}
    for block in _blocks(text):
        job_id = block.get("jobnumber", "")
        if not job_id.isdigit():
            continue
        task_text = block.get("taskid", "undefined")
        failed_text = block.get("failed", "0")
        _, _, said = failed_text.partition(":")
        record = AccountingRecord(
            job_id=job_id,
            task=int(task_text) if task_text.isdigit() else None,
            failed=_int(failed_text),
            failed_text=said.strip(),
            exit_status=_int(block.get("exit_status", "0")),
            wallclock=_seconds(block.get("ru_wallclock", "")),
            limits=category_limits(block.get("category", "")),
        )
        found[record.key] = record
    return found


def time_value(text: str) -> float | None:
    """A Grid Engine time (``10``, ``10.5``, ``00:00:10``, ``1:30:00``) in seconds.

    A bare number counts seconds, as Grid Engine reads it (reflow's own
    walltimes count minutes); ``None`` for ``INFINITY`` or anything else.

    Examples
    --------
    >>> time_value("10"), time_value("01:30:00"), time_value("INFINITY")
    (10.0, 5400.0, None)
    """
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(re.fullmatch(r"\d+(?:\.\d+)?", p) for p in parts):
        return None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds


def _limit(record: AccountingRecord, name: str) -> float | None:
    value = record.limits.get(name)
    return None if value is None else time_value(value)


def _signal_text(number: int) -> str:
    try:
        return f"signal {number} ({signal.Signals(number).name})"
    except ValueError:
        return f"signal {number}"


def accounting_status(record: AccountingRecord, cancelled: bool = False) -> JobStatus:
    """reflow's status of an ended job from its accounting record.

    - ``failed 0`` and exit status 0: COMPLETED.
    - ``cancelled`` (reflow deleted the job with qdel): CANCELLED.
    - ``failed 37`` (a hard limit the qmaster enforced): TIMEOUT when the job
      ran for its ``h_rt`` (or asked for an ``h_cpu``), else OUT_OF_MEMORY when
      it asked for ``h_vmem``, else TIMEOUT.
    - a non-zero exit once the job had run for its ``s_rt``: TIMEOUT (the job
      was sent SIGUSR1 at its soft walltime limit and ended because of it).
    - anything else: FAILED, with the exit status and what qacct says.
    """
    status = record.exit_status
    parts: list[str] = []
    if record.failed:
        words = record.failed_text or FAILED_CODES.get(record.failed, "")
        parts.append(f"qacct failed {record.failed}" + (f": {words}" if words else ""))
    if status > 128:
        parts.append(f"killed by {_signal_text(status - 128)}")
    reason = ", ".join(parts)
    if not record.failed and status == 0:
        return JobStatus(JobState.COMPLETED, 0)
    if cancelled:
        return JobStatus(JobState.CANCELLED, status, ", ".join(["deleted with qdel", *parts]))
    wall = record.wallclock
    h_rt, s_rt = _limit(record, "h_rt"), _limit(record, "s_rt")
    if record.failed == LIMIT_ENFORCED:
        ran_out = h_rt is not None and wall is not None and wall >= h_rt - 1
        if ran_out or "h_cpu" in record.limits or "h_vmem" not in record.limits:
            return JobStatus(JobState.TIMEOUT, status, reason)
        return JobStatus(JobState.OUT_OF_MEMORY, status, reason)
    if s_rt is not None and wall is not None and wall >= s_rt:
        soft = f"ran {wall:g} s, past its soft walltime limit s_rt={s_rt:g} s (SIGUSR1)"
        return JobStatus(JobState.TIMEOUT, status, ", ".join([soft, *parts]))
    return JobStatus(JobState.FAILED, status, reason)

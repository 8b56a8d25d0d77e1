"""Reading LSF's job states from ``bjobs -a -o "<fields>" -json`` (or ``-noheader -delimiter``).

``bjobs -o`` prints the fields :data:`BJOBS_FIELDS` names (bjobs(1), "-o");
with ``-json`` as one object holding a ``RECORDS`` list, one record per job
and per array element, keyed by the upper-case field names::

    {"COMMAND": "bjobs", "JOBS": 2, "RECORDS": [
      {"JOBID": "1201", "JOBINDEX": "0", "STAT": "DONE", "EXIT_CODE": "", "EXIT_REASON": ""},
      {"JOBID": "1202", "JOBINDEX": "3", "STAT": "EXIT", "EXIT_CODE": "3", "EXIT_REASON": ""}]}

An id bjobs does not know comes back as a record with an ``ERROR`` field
(``Job <77> is not found``) or, from older versions, as that line on stderr.
An EXIT job's termination reason (``TERM_RUNLIMIT``, ``TERM_MEMLIMIT``,
``TERM_OWNER`` ...; see "Termination reasons displayed by bacct, bhist,
and bjobs" in the LSF administrator's guide) tells reflow why it ended.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from reflow.executors import (
    JobState,
    JobStatus,
)

__all__ = [
    "BJOBS_FIELDS",
    "DELIMITER",
    "STATE_MAP",
    "TERMINATIONS",
    "element_key",
    "parse_bjobs_delimited",
    "parse_bjobs_json",
    "status_of",
]

logger = logging.getLogger(__name__)

BJOBS_FIELDS = "jobid jobindex stat exit_code exit_reason"
"""The ``bjobs -o`` fields reflow asks for."""

DELIMITER = "|"
"""The ``-delimiter`` of the plain-text form (``bjobs -o ... -noheader -delimiter '|'``)."""

STATE_MAP: dict[str, JobState] = {
    "PEND": JobState.PENDING,
    "PSUSP": JobState.PENDING,  # held by its owner or an administrator before it started
    "WAIT": JobState.PENDING,  # a chunk job member waiting to run
    "PROV": JobState.PENDING,  # its host is being provisioned
    "RUN": JobState.RUNNING,
    "USUSP": JobState.RUNNING,  # suspended while running: it resumes
    "SSUSP": JobState.RUNNING,
    "DONE": JobState.COMPLETED,
    "EXIT": JobState.FAILED,  # refined by the termination reason, see TERMINATIONS
    "ZOMBI": JobState.NODE_FAIL,  # killed while its host was unreachable
    "UNKWN": JobState.UNKNOWN,  # mbatchd lost contact with the host; it may come back
}
"""LSF's job states (bjobs(1), "JOB STATUS") in reflow's words."""

TERMINATIONS: dict[str, JobState] = {
    "TERM_RUNLIMIT": JobState.TIMEOUT,
    "TERM_DEADLINE": JobState.TIMEOUT,
    "TERM_MEMLIMIT": JobState.OUT_OF_MEMORY,
    "TERM_SWAP": JobState.OUT_OF_MEMORY,
    "TERM_OWNER": JobState.CANCELLED,
    "TERM_ADMIN": JobState.CANCELLED,
    "TERM_FORCE_OWNER": JobState.CANCELLED,
    "TERM_FORCE_ADMIN": JobState.CANCELLED,
    "TERM_BUCKET_KILL": JobState.CANCELLED,
    "TERM_ORPHAN_SYSTEM": JobState.CANCELLED,  # its dependency can never be satisfied
    "TERM_REMOVE_HUNG_JOB": JobState.CANCELLED,
    "TERM_ZOMBIE": JobState.NODE_FAIL,
    "TERM_SLURM": JobState.NODE_FAIL,
}
"""EXIT jobs' termination reasons that say more than FAILED."""

_PHRASES: tuple[tuple[str, JobState], ...] = (
    ("run time limit", JobState.TIMEOUT),
    ("deadline", JobState.TIMEOUT),
    ("memory usage limit", JobState.OUT_OF_MEMORY),
    ("swap usage limit", JobState.OUT_OF_MEMORY),
    ("killed by owner", JobState.CANCELLED),
    ("killed forcibly by owner", JobState.CANCELLED),
    ("killed by root or lsf administrator", JobState.CANCELLED),
    ("orphan job", JobState.CANCELLED),
)
"""The same reasons as LSF spells them out ("job killed after reaching LSF run time limit")."""


def element_key(job_id: str, index: str | int) -> str:
    """The executor's id of a record: ``"12"`` for a job, ``"12[3]"`` for array element 3."""
    text = str(index).strip()
    return job_id if text in ("", "0", "-") else f"{job_id}[{int(text)}]"


def _termination(reason: str) -> JobState | None:
    words = reason.strip()
    for word in words.replace(":", " ").replace(";", " ").split():
        if word.upper() in TERMINATIONS:
            return TERMINATIONS[word.upper()]
    lowered = words.lower()
    for phrase, state in _PHRASES:
        if phrase in lowered:
            return state
    return None


def status_of(stat: str, exit_code: str, reason: str) -> JobStatus:
    """A :class:`JobStatus` from one record's STAT, EXIT_CODE and EXIT_REASON.

    Examples
    --------
    >>> status_of("EXIT", "140", "TERM_RUNLIMIT: job killed after reaching LSF run time limit")
    JobStatus(state=<JobState.TIMEOUT: 'TIMEOUT'>, exit_code=140, reason='TERM_RUNLIMIT: \
job killed after reaching LSF run time limit')
    """
    name = stat.strip().upper()
    state = STATE_MAP.get(name)
    said = reason.strip()
    if said in ("-", "0"):
        said = ""
    if state is None:
        logger.debug("LSF state %r is not one reflow knows; reporting UNKNOWN.", stat)
        return JobStatus(JobState.UNKNOWN, None, f"LSF state {name}" if name else "")
    if state is JobState.UNKNOWN:  # UNKWN: LSF knows the job but lost its host for now
        return JobStatus(state, None, "LSF state UNKWN: mbatchd lost contact with the job's host")
    if state is JobState.FAILED and said:
        state = _termination(said) or state
    code: int | None = None
    if state in JobState.ended():
        try:
            code = int(exit_code.strip())
        except ValueError:
            code = 0 if name == "DONE" else None
    return JobStatus(state, code, said)


def _records(data: Any) -> Iterator[Mapping[str, Any]]:
    records = data.get("RECORDS", []) if isinstance(data, dict) else []
    for record in records if isinstance(records, list) else []:
        if isinstance(record, dict):
            yield record


def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    return "" if value is None else str(value)


def parse_bjobs_json(text: str) -> dict[str, JobStatus]:
    """Statuses from ``bjobs -a -o`` :data:`BJOBS_FIELDS` ``-json`` output, by job/element id.

    Records with an ``ERROR`` (an id bjobs does not know) are left out.

    Raises
    ------
    ValueError
        If the text is not bjobs' JSON.
    """
    if not text.strip():
        return {}
    data = json.loads(text)
    if not isinstance(data, dict) or "RECORDS" not in data:
        raise ValueError(f"bjobs -json printed no RECORDS: {text[:200]!r}")
    found: dict[str, JobStatus] = {}
    for record in _records(data):
        job_id = _text(record, "JOBID").strip()
        if not job_id or record.get("ERROR"):
            continue
        key = element_key(job_id, _text(record, "JOBINDEX"))
        found[key] = status_of(
            _text(record, "STAT"), _text(record, "EXIT_CODE"), _text(record, "EXIT_REASON")
        )
    return found


def parse_bjobs_delimited(text: str) -> dict[str, JobStatus]:
    """Statuses from ``bjobs -a -o "<fields> delimiter='|'" -noheader`` output.

    Lines that are not five ``|``-separated fields (``Job <77> is not
    found``) are left out.
    """
    found: dict[str, JobStatus] = {}
    for line in text.splitlines():
        values = line.split(DELIMITER, 4)
        if len(values) != 5 or not values[0].strip().isdigit():
            continue
        job_id, index, stat, code, reason = (v.strip() for v in values)
        found[element_key(job_id, index)] = status_of(stat, code, reason)
    return found

"""What is recorded of every attempt of an instance: :class:`Attempt`, :class:`AttemptLog`.

An instance that failed and was retried (or requeued after preemption) has
one :class:`Attempt` per ended try, kept in the run's ``attempts.json``
(:attr:`reflow.runs.layout.RunLayout.attempts_file`).  Only the process that
advances the run writes it (a dispatcher wave under the run's lock, or
``run_local``), so a read-modify-write of one small JSON file is safe; it is
written atomically.  The last entry's ``next`` holds the resources the next
attempt asks for: the dispatcher submits with them, and a manual ``retry``
starts from them.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow.errors import ReflowError
from reflow.runs.files import read_json, write_json_atomic
from reflow.runs.layout import RunLayout

if TYPE_CHECKING:
    from reflow.stores import RunRecord

__all__ = [
    "NODE_NAME_ENV",
    "RETRIED_BY_USER",
    "Attempt",
    "AttemptLog",
    "instance_key",
    "recorded_attempts",
    "restart_retries",
    "start_record",
]

NODE_NAME_ENV = ("SLURMD_NODENAME",)
"""Where a job learns its node's name in the scheduler's own words (what ``--exclude`` takes).

Several nodes may share one host name (``slurmd -N``), and a site's node names
need not be host names; without one of these, the host name stands for the node.
"""


RETRIED_BY_USER = "RETRIED"
"""The reason of the entry a manual ``retry`` adds: the instance's retries start again."""


def instance_key(task: str, index: int | None) -> str:
    """``task`` or ``task[3]``: how an instance is named in the log."""
    return task if index is None else f"{task}[{index}]"


@dataclass(frozen=True)
class Attempt:
    """One ended attempt of one instance.

    Attributes
    ----------
    number : int
        1 for the first attempt; a preempted try keeps its number.
    reason : str
        ``OUT_OF_MEMORY``, ``TIMEOUT``, ``NODE_FAIL``, ``PREEMPTED``,
        ``FAILED``, ``CANCELLED`` or the exception's class name; or
        :data:`RETRIED_BY_USER` for the mark a manual ``retry`` leaves (not an
        attempt: the attempts after it have the task's retries again).
    counted : bool
        Whether it used up one of the task's retries (``PREEMPTED`` does not).
    resources : dict
        What the attempt asked for: ``cpus``, ``mem``, ``time``, ``exclude``.
    job_id : str
        The scheduler's job id (``""`` for ``run_local``).
    host : str
        Where it ran, when known.
    detail : str
        The scheduler's or the task's own words.
    at : float
        When reflow saw it end (epoch seconds).
    next : dict or None
        The resources of the attempt that follows; ``None`` when none does.
    """

    number: int
    reason: str
    counted: bool
    resources: dict[str, Any]
    job_id: str = ""
    host: str = ""
    detail: str = ""
    at: float = field(default_factory=time.time)
    next: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attempt:
        """Read one entry written by :meth:`AttemptLog.save` (unknown keys ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})

    def summary(self) -> str:
        """One line: ``#1 OUT_OF_MEMORY mem=100M time=00:01:00 job 123 on node1``."""
        if self.reason == RETRIED_BY_USER:
            return "retried by the user (retries start again)"
        res = self.resources
        parts = [f"#{self.number}", self.reason]
        parts += [f"{k}={res[k]}" for k in ("mem", "time") if res.get(k)]
        if res.get("exclude"):
            parts.append("exclude=" + ",".join(res["exclude"]))
        if self.job_id:
            parts.append(f"job {self.job_id}")
        if self.host:
            parts.append(f"on {self.host}")
        if not self.counted:
            parts.append("(requeued, not counted)")
        return " ".join(parts)


class AttemptLog:
    """The attempts of one run's instances, read from and saved to its run directory.

    Parameters
    ----------
    layout : RunLayout
        The run's layout.
    """

    def __init__(self, layout: RunLayout) -> None:
        self.path = layout.attempts_file
        try:
            raw: dict[str, list[dict[str, Any]]] = read_json(self.path)
        except (OSError, ValueError):
            # Absent (no attempt ended), or unreadable to another user whom the run
            # directory does not admit: ``reflow status`` then shows no attempts.
            raw = {}
        self.entries: dict[str, list[Attempt]] = {
            key: [Attempt.from_json(a) for a in items] for key, items in raw.items()
        }

    def of(self, task: str, index: int | None) -> list[Attempt]:
        """The instance's ended attempts, oldest first."""
        return list(self.entries.get(instance_key(task, index), []))

    def counted(self, task: str, index: int | None) -> int:
        """How many of the instance's retries are used up (since the last manual ``retry``)."""
        items = self.entries.get(instance_key(task, index), [])
        marks = [n for n, a in enumerate(items) if a.reason == RETRIED_BY_USER]
        return sum(a.counted for a in items[marks[-1] + 1 if marks else 0 :])

    def requeues(self, task: str, index: int | None) -> int:
        """How many times the instance was preempted and submitted again (never reset).

        The cap on these guards against a job preempted forever, whatever the user
        did: a manual ``retry``'s mark is not one of them.
        """
        items = self.entries.get(instance_key(task, index), [])
        return sum(1 for a in items if not a.counted and a.reason != RETRIED_BY_USER)

    def number(self, task: str, index: int | None) -> int:
        """The number of the instance's current attempt (1 before any failed).

        A manual ``retry`` starts the numbers again, as it gives the retries back.
        """
        return self.counted(task, index) + 1

    def next_resources(self, task: str, index: int | None) -> dict[str, Any] | None:
        """What the instance's next attempt asks for; ``None`` when it has not failed."""
        items = self.entries.get(instance_key(task, index))
        return items[-1].next if items else None

    def add(self, task: str, index: int | None, attempt: Attempt) -> None:
        """Record an ended attempt (saved by :meth:`save`)."""
        self.entries.setdefault(instance_key(task, index), []).append(attempt)

    def note_requeues(
        self, task: str, index: int | None, started: Mapping[str, Any], resources: dict[str, Any]
    ) -> None:
        """Record the starts of the job the scheduler requeued (not counted), once each."""
        seen = {a.at for a in self.entries.get(instance_key(task, index), [])}
        for start in started.get("earlier", []):
            at = float(start.get("start", 0))
            if at in seen:
                continue
            attempt = Attempt(
                self.number(task, index),
                "REQUEUED",
                False,
                resources,
                str(start.get("job_id", "")),
                str(start.get("node") or start.get("host", "")),
                "the scheduler requeued the job (preempted); it ran again as it was",
                at,
                resources,
            )
            self.add(task, index, attempt)

    def save(self) -> None:
        """Write the log atomically (nothing when it is empty and absent)."""
        if not self.entries and not self.path.exists():
            return
        write_json_atomic(
            self.path, {k: [asdict(a) for a in items] for k, items in self.entries.items()}
        )


def restart_retries(layout: RunLayout, instances: Iterable[tuple[str, int | None]]) -> int:
    """Give the instances that used up retries their task's retries again (a manual ``retry``).

    The user retries after fixing what failed, so the automatic retries by
    reason are due again: each instance with a counted attempt gets a
    :data:`RETRIED_BY_USER` entry, after which :meth:`AttemptLog.counted`
    starts from zero.  The entry carries the last attempt's resources on
    (``next``), so the retry still asks for what the last attempt chose.  The
    log is rewritten under the run's dispatch lock, as a wave writes it.

    Parameters
    ----------
    layout : RunLayout
        The run's layout.
    instances : iterable of (str, int or None)
        The ``(task, index)`` of each instance being retried.

    Returns
    -------
    int
        How many instances got their retries back.
    """
    lock = layout.dispatch_lock
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            log = AttemptLog(layout)
            restarted = 0
            for task, index in instances:
                if not log.counted(task, index):
                    continue  # no retry used: nothing to give back
                last = log.of(task, index)[-1]
                chosen = last.next if last.next is not None else last.resources
                carried = {k: v for k, v in chosen.items() if k != "not_before"}
                detail = "retried by the user: the task's retries start again"
                log.add(
                    task,
                    index,
                    Attempt(0, RETRIED_BY_USER, False, carried, detail=detail, next=carried),
                )
                restarted += 1
            if restarted:
                log.save()
            return restarted
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start_record(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    """A worker's "started" ``record``, with its node and the earlier starts of the same job.

    A scheduler that requeues a job (preemption) starts it again under the same
    job id: the start found at ``path`` with that job id is kept in
    ``earlier``, so the dispatcher can record the requeue without counting it
    (:meth:`AttemptLog.note_requeues`).
    """
    record = dict(record)
    node = next((os.environ[v] for v in NODE_NAME_ENV if os.environ.get(v)), "")
    record["node"] = node or str(record.get("host", ""))
    try:
        before: dict[str, Any] = read_json(path)
    except (OSError, ValueError):
        return record
    if before.get("job_id") and before.get("job_id") == record.get("job_id"):
        earlier = list(before.pop("earlier", []))
        record["earlier"] = [*earlier, before]
    return record


def recorded_attempts(record: RunRecord) -> AttemptLog | None:
    """The attempts of a run, from the run directory its record names; ``None`` if unreadable."""
    # lazy: only the commands that show attempts read the run's context
    from reflow.runs.context import recorded_context

    try:
        context = recorded_context(record)
    except (ReflowError, ValueError, KeyError, TypeError):
        return None
    return AttemptLog(RunLayout(context.run_dir, record.run_id))

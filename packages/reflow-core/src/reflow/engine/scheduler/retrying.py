"""The dispatcher's automatic retries: failed elements resubmitted with their own resources.

:meth:`Retrying.review` runs in the reconcile step, on the instances whose job
ended without a result: it names the reason (:func:`failure_reason`, which
also reads an ``OverMemoryKill`` as ``OUT_OF_MEMORY``), records the attempt
(:mod:`reflow.runs.attempts`) and, when the task's policy
(:mod:`reflow.define.retrypolicy`) allows, puts the instance back to
``RETRYING`` with the next attempt's resources instead of failing it.
:meth:`Retrying.batches` then splits each task's waiting instances by the
resources they ask for, so only the failed elements of an array are
resubmitted, each group as one job with its own request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reflow._types import TaskState
from reflow.define.retrypolicy import Attempted, Retry, escalate
from reflow.executors.arrays import ArrayRegistry
from reflow.executors.jobs import JobResources, JobState, JobStatus, split_element_id
from reflow.runs.attempts import Attempt, AttemptLog
from reflow.runs.files import read_json
from reflow.stores import StateUpdate

if TYPE_CHECKING:
    from reflow.executors.base import Executor
    from reflow.runs.layout import RunLayout
    from reflow.stores import TaskInstanceRecord
    from reflow.workflow import Workflow

__all__ = ["MEMORY_KILL_LINE", "Retrying", "failure_reason"]

logger = logging.getLogger(__name__)

MEMORY_KILL_LINE = "Exceeded job memory limit"
"""What Slurm's ``JobAcctGatherParams=OverMemoryKill`` writes to a job's stderr as it kills it."""

_SIGKILL_EXIT = 128 + 9
_OVER = JobState.ended() | {JobState.PREEMPTED}
MAX_REQUEUES = 20
"""Preempted attempts submitted again (not counted) before the instance fails: no endless loop."""


def failure_reason(status: JobStatus, stderr: str) -> str:
    """The reason a job ended without a result, in :data:`~reflow.define.retrypolicy.REASONS`.

    A job killed with SIGKILL whose stderr has the scheduler's memory line is
    ``OUT_OF_MEMORY``, as a cgroup kill would say: without cgroups, Slurm's
    ``OverMemoryKill`` reports such a job ``FAILED`` (signal 9, batch step
    ``CANCELLED by 0``).
    """
    killed = status.exit_code in (None, _SIGKILL_EXIT) or "SIGKILL" in status.reason
    if status.state is JobState.FAILED and killed and MEMORY_KILL_LINE in stderr:
        return JobState.OUT_OF_MEMORY.value
    return status.state.value


class Retrying:
    """The retry decisions of one dispatcher wave.

    Parameters
    ----------
    wf : Workflow
        The run's workflow (task policies, the site's ``[retries]``).
    layout : RunLayout
        The run's layout (attempts, started records, logs).
    executor : Executor
        The run's executor (array maps for log names, partition limits).
    """

    def __init__(self, wf: Workflow, layout: RunLayout, executor: Executor) -> None:
        self.wf = wf
        self.layout = layout
        self.executor = executor
        self.log = AttemptLog(layout)
        self.held: dict[int, float] = {}
        """Instances waiting out their backoff: id -> when they may be submitted."""

    def policy(self, task: str) -> Retry | None:
        """The task's policy, else the site's ``[retries]``, else ``None``."""
        own: Retry | None = self.wf.tasks[task].config.retry
        return own if own is not None else self.wf.config.retry_default

    def resources(self, task: str, index: int | None) -> dict[str, Any]:
        """What the instance's current attempt asks for.

        The task's own request before any attempt ended; then what the last
        attempt chose for the next one; after a final failure (a manual
        ``retry``), what the last attempt asked for.
        """
        items = self.log.of(task, index)
        if items:
            last = items[-1]
            chosen = last.next if last.next is not None else last.resources
            return {k: v for k, v in chosen.items() if k != "not_before"}
        cfg = self.wf.tasks[task].config
        return {"cpus": cfg.cpus, "mem": cfg.mem, "time": cfg.time, "exclude": []}

    def _limits(self, task: str) -> dict[str, int | None]:
        limits = dict(self.wf.config.retry_limits)
        partition_limits = getattr(self.executor, "resource_limits", None)
        if callable(partition_limits):
            options = self.wf.config.task_submit_options(self.wf.tasks[task].config.submit_options)
            for key, value in partition_limits(options).items():
                if value is not None:
                    mine = limits.get(key)
                    limits[key] = value if mine is None else min(mine, value)
        return limits

    def _stderr(self, inst: TaskInstanceRecord) -> str:
        base, index = split_element_id(inst.job_id or "")
        number: int | None = None
        if index is not None:
            arrays = getattr(self.executor, "arrays", None)
            array = arrays.load(base) if isinstance(arrays, ArrayRegistry) else None
            located = array.locate(index) if array is not None else None
            base, number = located if located is not None else (base, index)
        try:
            path = self.layout.task_log(inst.task_name, base, number, "err")
            with path.open("rb") as handle:  # the tail: the scheduler writes it last
                handle.seek(0, 2)
                handle.seek(max(0, handle.tell() - 65536))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _started(self, inst: TaskInstanceRecord) -> dict[str, Any]:
        try:
            data = read_json(self.layout.started_file(inst.task_name, inst.array_index))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _exception(self, inst: TaskInstanceRecord) -> str | None:
        """The class name of the exception the task raised, when its policy lists it."""
        policy = self.policy(inst.task_name)
        if policy is None or not policy.exceptions:
            return None
        try:
            result = read_json(self.layout.result_file(inst.task_name, inst.array_index))
            names = [str(n) for n in result.get("error_types", [])]
        except (OSError, ValueError, AttributeError):
            return None
        return names[0] if names and policy.counts_exception_name(names) else None

    def review(
        self,
        active: Sequence[TaskInstanceRecord],
        updates: Sequence[StateUpdate],
        statuses: Mapping[str, JobStatus],
    ) -> list[StateUpdate]:
        """``updates`` with each retryable failure turned into ``RETRYING``; attempts saved.

        A failure counts when its job ended in a state the task's policy lists
        (``statuses``: the scheduler's word), or when the task raised an
        exception of a type it lists (the worker's result names it).  Requeues
        of a job that ended are recorded as well, not counted.
        """
        by_id = {i.id: i for i in active}
        out: list[StateUpdate] = []
        for update in updates:
            inst = by_id.get(update.instance_id)
            if inst is None:
                out.append(update)
                continue
            if update.state in (TaskState.SUCCESS, TaskState.FAILED):
                started = self._started(inst)
                if started.get("earlier"):
                    resources = self.resources(inst.task_name, inst.array_index)
                    self.log.note_requeues(inst.task_name, inst.array_index, started, resources)
            if update.state is not TaskState.FAILED:
                out.append(update)
                continue
            status = statuses.get(inst.job_id or "")
            if status is not None and status.state in _OVER:
                reason = failure_reason(status, self._stderr(inst))
                out.extend(self._failed(inst, reason, status.reason, update))
                continue
            exception = self._exception(inst)
            if exception is None:
                out.append(update)
                continue
            out.extend(self._failed(inst, exception, "the task raised it", update, listed=True))
        self.log.save()
        return out

    def _failed(
        self,
        inst: TaskInstanceRecord,
        reason: str,
        detail: str,
        update: StateUpdate,
        *,
        listed: bool = False,
    ) -> list[StateUpdate]:
        """The updates of one failed attempt: FAILED, then RETRYING when it is retried."""
        task, index = inst.task_name, inst.array_index
        resources = self.resources(task, index)
        number = self.log.number(task, index)
        started = self._started(inst)
        host = str(started.get("node") or started.get("host") or "")
        failed = Attempted(number, reason, resources["mem"], resources["time"], host)
        policy = self.policy(task)
        nxt: dict[str, Any] | None = None
        why = ""
        if reason == JobState.PREEMPTED.value:  # not requeued by the scheduler: reflow does
            return self._requeue(inst, resources, host, detail, update)
        if policy is not None and (listed or policy.counts(reason)):
            if number <= policy.retries:
                nxt, why = escalate(policy, failed, resources, self._limits(task))
            else:
                why = f"no retries left (retries={policy.retries})"
        if nxt is not None and policy is not None:
            nxt["not_before"] = time.time() + policy.delay(number)
        job = inst.job_id or ""
        self.log.add(
            task, index, Attempt(number, reason, True, resources, job, host, detail, next=nxt)
        )
        if nxt is not None:
            logger.info("%s[%s]: attempt %d %s; retry asks %s", task, index, number, reason, nxt)
            # The next attempt must not read this one's records as its own.
            self.layout.started_file(task, index).unlink(missing_ok=True)
            self.layout.result_file(task, index).unlink(missing_ok=True)
            # The store moves only a FAILED instance to RETRYING.
            return [update, StateUpdate(inst.id, TaskState.RETRYING)]
        text = update.error_text or reason
        if number > 1 or why:
            listed_text = "; ".join(a.summary() for a in self.log.of(task, index))
            text = f"{text} Attempts: {listed_text}." + (f" Not retried: {why}." if why else "")
        return [StateUpdate(inst.id, TaskState.FAILED, error_text=text)]

    def _requeue(
        self,
        inst: TaskInstanceRecord,
        resources: dict[str, Any],
        host: str,
        detail: str,
        update: StateUpdate,
    ) -> list[StateUpdate]:
        """A preempted attempt the scheduler did not requeue: submitted again, not counted."""
        task, index = inst.task_name, inst.array_index
        again = self.log.requeues(task, index) < MAX_REQUEUES
        attempt = Attempt(
            self.log.number(task, index),
            JobState.PREEMPTED.value,
            False,
            resources,
            inst.job_id or "",
            host,
            detail,
            next=resources if again else None,
        )
        self.log.add(task, index, attempt)
        if not again:
            text = f"{update.error_text} Preempted {MAX_REQUEUES} times: not submitted again."
            return [StateUpdate(inst.id, TaskState.FAILED, error_text=text)]
        self.layout.started_file(task, index).unlink(missing_ok=True)
        self.layout.result_file(task, index).unlink(missing_ok=True)
        return [update, StateUpdate(inst.id, TaskState.RETRYING)]

    def batches(
        self, by_task: Mapping[str, list[TaskInstanceRecord]]
    ) -> Iterator[tuple[str, list[TaskInstanceRecord], dict[str, Any] | None]]:
        """Each task's waiting instances, grouped by the resources they ask for.

        ``None`` stands for the task's own resources (no attempt failed yet).
        An instance still in its backoff is held back (:attr:`held`).
        """
        now = time.time()
        for name, insts in by_task.items():
            groups: dict[str, tuple[list[TaskInstanceRecord], dict[str, Any] | None]] = {}
            for inst in insts:
                nxt = self.log.next_resources(name, inst.array_index)
                if nxt is not None and inst.state is TaskState.RETRYING:
                    due = float(nxt.get("not_before", 0))
                    if due > now:
                        self.held[inst.id] = due
                        continue
                res: dict[str, Any] | None = None
                key = ""
                if self.log.of(name, inst.array_index):
                    res = self.resources(name, inst.array_index)
                    key = repr(sorted(res.items()))
                groups.setdefault(key, ([], res))[0].append(inst)
            for group, res in groups.values():
                yield name, group, res

    def job_resources(self, res: Mapping[str, Any], options: dict[str, Any]) -> JobResources:
        """The resources of a job asking for ``res``, with the task's ``options``.

        The failed nodes go to the scheduler's ``exclude`` option where it has
        one (Slurm's ``--exclude``); elsewhere a NODE_FAIL retry may land on
        the same node (documented in "When jobs fail").
        """
        options = dict(options)
        exclude = [h for h in res.get("exclude", ()) if h]
        known = getattr(self.executor, "known_options", None) or frozenset()
        if exclude and "exclude" in known:
            mine = [h for h in str(options.get("exclude", "")).split(",") if h]
            options["exclude"] = ",".join(dict.fromkeys([*mine, *exclude]))
        return JobResources(
            cpus=int(res["cpus"]), time=str(res["time"]), mem=str(res["mem"]), options=options
        )

    def wait_for_backoff(self, stop: Callable[[], bool]) -> bool:
        """Sleep until the first held instance is due; ``False`` when none is held.

        Called only when no job of the run is left to wait for, so the wave
        itself must wait (at most 10 minutes, well inside its own walltime).
        ``stop`` is asked every second: when it answers yes (the user cancels
        the run), the wave stops waiting and submits nothing (``False``).
        """
        if not self.held:
            return False
        until = time.monotonic() + max(0.0, min(min(self.held.values()) - time.time(), 600.0))
        while (left := until - time.monotonic()) > 0:
            if stop():
                return False
            time.sleep(min(1.0, left))
        self.held.clear()
        return not stop()

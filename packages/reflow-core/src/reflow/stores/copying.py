"""Copying the whole content of one store into another, through the Store interface only.

``reflow store copy`` moves a user from one store to another (an SQLite file
to a PostgreSQL database) without losing the history or the cache: every
run with its context, owner, status and parameters, every task
specification, every task instance with its state, job id, input, output,
hashes, identity and ``cache_info``, and the whole-array identities that let
a later run copy a cached array in one step.

Because only the :class:`~reflow.stores.Store` interface is used, any store
can be the source or the destination.  What the interface cannot set is the
destination's own: instance ids, and the times (``created_at``,
``updated_at``, the owner's heartbeat) are those of the copy.  Runs are
copied oldest first, so among equal cached results the most recent one in
the source is the most recent one in the destination too.

Each run is copied in one destination transaction: it is there completely
or not at all.  A run already in the destination is skipped, so copying
again adds nothing and an interrupted copy is finished by running it again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from reflow._types import RunState, TaskState
from reflow.stores.base import Store
from reflow.stores.records import NewTaskInstance, RunRecord, StateUpdate, TaskInstanceRecord

__all__ = ["CopySummary", "copy_run", "copy_store", "state_path"]

BATCH = 5000
"""Instances inserted per destination call: bounds the memory of one call on huge runs."""


@dataclass
class CopySummary:
    """What :func:`copy_store` did.

    Attributes
    ----------
    runs : int
        Runs copied.
    skipped : int
        Runs left out because the destination already holds a run of that id.
    specs : int
        Task specifications copied.
    instances : int
        Task instances copied.
    arrays : int
        Whole-array identities copied.
    """

    runs: int = 0
    skipped: int = 0
    specs: int = 0
    instances: int = 0
    arrays: int = 0


Progress = Callable[[int, int, RunRecord, bool], None]
"""Called after each run: runs done, runs in all, the run, whether it was skipped."""


def copy_store(source: Store, target: Store, *, progress: Progress | None = None) -> CopySummary:
    """Copy every run of ``source`` that ``target`` lacks into ``target``.

    Parameters
    ----------
    source, target : Store
        Opened stores (``init`` called).
    progress : callable or None
        Called after each run (see :data:`Progress`).

    Returns
    -------
    CopySummary
        The counts of what was copied and skipped.
    """
    summary = CopySummary()
    records = source.list_run_records()[::-1]  # listed newest first; copied oldest first
    for done, record in enumerate(records, start=1):
        skipped = target.get_run_record(record.run_id) is not None
        if skipped:
            summary.skipped += 1
        else:
            # Counted from the attempt that committed: a unit run again counts once.
            copied = target.retrying(partial(_copied_run, source, target, record))
            summary.specs += copied.specs
            summary.instances += copied.instances
            summary.arrays += copied.arrays
            summary.runs += 1
        if progress is not None:
            progress(done, len(records), record, skipped)
    return summary


def _copied_run(source: Store, target: Store, record: RunRecord) -> CopySummary:
    """Copy one run (see :func:`copy_run`); return what it copied."""
    copied = CopySummary()
    copy_run(source, target, record, copied)
    return copied


def copy_run(source: Store, target: Store, record: RunRecord, summary: CopySummary) -> None:
    """Copy one run, its specifications, instances and array identities; count them in ``summary``.

    The run's context names the destination's URL, so that its jobs (a
    ``resume``) open the store the run is now in.
    """
    context = record.context
    if context is not None:
        with suppress(NotImplementedError):  # a store without a URL: keep what was recorded
            context = replace(context, store_url=target.url)
    run_id = record.run_id
    target.insert_run(
        run_id,
        record.graph_name,
        record.user_id,
        record.parameters,
        executor=record.executor,
        executor_options=record.executor_options,
        context=context,
    )
    if record.status is not RunState.RUNNING:  # insert_run starts every run RUNNING
        target.update_run_status(run_id, record.status)
    if record.owner is not None:
        target.set_run_owner(run_id, record.owner)
    for spec in source.list_task_spec_records(run_id):
        target.insert_task_spec(
            run_id, spec.task_name, spec.is_array, spec.config, spec.dependencies
        )
        summary.specs += 1
    instances = source.list_task_instance_records(run_id)
    times: dict[int, tuple[datetime, datetime]] = {}
    for start in range(0, len(instances), BATCH):
        chunk = instances[start : start + BATCH]
        ids = target.insert_task_instances(run_id, [_new(i) for i in chunk])
        updates = [u for i, new_id in zip(chunk, ids, strict=True) for u in state_path(i, new_id)]
        target.apply_state_updates(updates)
        times.update(
            (new, (i.created_at, i.updated_at)) for i, new in zip(chunk, ids, strict=True)
        )
        summary.instances += len(chunk)
    for task_name, identity, count in source.list_array_identities(run_id):
        target.record_array_identity(run_id, task_name, identity, count)
        summary.arrays += 1
    # Last: the writes above stamped the copy with the time of copying.
    with suppress(NotImplementedError):  # a store that cannot: the copy keeps its own times
        target.restore_times(run_id, record.created_at, record.heartbeat_at, times)


def _new(instance: TaskInstanceRecord) -> NewTaskInstance:
    return NewTaskInstance(
        task_name=instance.task_name,
        array_index=instance.array_index,
        state=TaskState.PENDING,
        input=instance.input,
        identity=instance.identity,
        input_hash=instance.input_hash,
        cache_info=instance.cache_info,
    )


def state_path(instance: TaskInstanceRecord, new_id: int) -> Sequence[StateUpdate]:
    """The transitions that take a new ``PENDING`` copy to ``instance``'s state and fields.

    Only allowed transitions (:data:`~reflow.stores.TRANSITIONS`) are used:
    the job id is set on the way through ``RUNNING`` (``SUBMITTED`` for a
    submitted one), then the final state brings its output or error text.
    """
    state, job = instance.state, instance.job_id
    if state is TaskState.PENDING:
        return []
    if state is TaskState.RETRYING:  # RETRYING clears the job id, output and error text
        return [StateUpdate(new_id, TaskState.FAILED), StateUpdate(new_id, TaskState.RETRYING)]
    if state in (TaskState.SUBMITTED, TaskState.RUNNING):
        return [StateUpdate(new_id, state, job_id=job, error_text=instance.error_text)]
    steps = []
    if job is not None and state is not TaskState.SKIPPED:  # SKIPPED never ran: no job
        steps.append(StateUpdate(new_id, TaskState.RUNNING, job_id=job))
    if state is TaskState.SUCCESS:
        steps.append(
            StateUpdate(new_id, state, output=instance.output, output_hash=instance.output_hash)
        )
    else:
        steps.append(StateUpdate(new_id, state, error_text=instance.error_text))
    return steps

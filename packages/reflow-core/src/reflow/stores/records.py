"""Typed records that stores return, and the inputs of the batch operations.

A store decodes its rows into these frozen dataclasses, so code above the
store never handles backend rows.  ``to_public_dict`` gives the plain
dictionary shape (ISO-8601 timestamps, state names as strings) that the
dictionary-returning :class:`~reflow.stores.Store` methods and the command
line show.

Timestamps are timezone-aware :class:`~datetime.datetime` objects in UTC.
Hashes are lowercase hexadecimal strings, ``""`` when unset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reflow._types import RunState, TaskState
from reflow.runs.context import RunContext

__all__ = [
    "NewTaskInstance",
    "NewTaskSpec",
    "RunContext",
    "RunOwner",
    "RunRecord",
    "StateUpdate",
    "TaskInstanceRecord",
    "TaskSpecRecord",
]


@dataclass(frozen=True)
class RunOwner:
    """Who advances a run: a local process, or a scheduler's dispatcher job.

    A ``run_local`` run is owned by the driver process (``host``, ``pid``,
    ``started``); a submitted run by its pending dispatcher job (``job_id``,
    ``executor``).  See :mod:`reflow.runs.liveness` for how a gone owner is found.

    Attributes
    ----------
    host : str
        Host name of the owning process (``""`` for a dispatcher job).
    pid : int or None
        Its process id.
    started : int or None
        Its start time in clock ticks since boot (Linux ``/proc/PID/stat``
        field 22), so that a reused pid is not taken for the owner;
        ``None`` where the platform does not say.
    job_id : str
        The pending dispatcher job's id (``""`` for a local process).
    executor : str
        The executor that job was submitted with.
    """

    host: str = ""
    pid: int | None = None
    started: int | None = None
    job_id: str = ""
    executor: str = ""

    def to_public_dict(self) -> dict[str, Any]:
        """Return the owner as a plain dictionary (the stored form).

        Returns
        -------
        dict[str, Any]
            The non-empty fields.
        """
        fields = {
            "host": self.host,
            "pid": self.pid,
            "started": self.started,
            "job_id": self.job_id,
            "executor": self.executor,
        }
        return {k: v for k, v in fields.items() if v not in (None, "")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunOwner:
        """Rebuild an owner from :meth:`to_public_dict`'s form."""
        return cls(
            host=str(data.get("host", "")),
            pid=None if data.get("pid") is None else int(data["pid"]),
            started=None if data.get("started") is None else int(data["started"]),
            job_id=str(data.get("job_id", "")),
            executor=str(data.get("executor", "")),
        )


@dataclass(frozen=True)
class RunRecord:
    """One workflow run.

    Attributes
    ----------
    run_id : str
        Unique run identifier.
    graph_name : str
        Name of the workflow the run belongs to.
    user_id : str
        User who submitted the run.
    created_at : datetime
        When the run was inserted (UTC).
    status : RunState
        Current state of the run.
    parameters : dict[str, Any]
        Run parameters, decoded with the manifest codec.
    executor : str
        Name of the executor chosen at submit time (``""`` if not recorded).
    executor_options : dict[str, Any]
        Options the executor was created with.
    owner : RunOwner or None
        Who advances the run, once recorded (``None`` for runs made before
        reflow recorded owners).
    heartbeat_at : datetime or None
        When the owner last said it was alive (UTC).
    context : RunContext or None
        The run's facts (run directory, script, argv, store URL, cache
        flags), from the store's typed columns; ``None`` where the store
        keeps none, or for a run recorded without a run directory.
    """

    run_id: str
    graph_name: str
    user_id: str
    created_at: datetime
    status: RunState
    parameters: dict[str, Any]
    executor: str = ""
    executor_options: dict[str, Any] = field(default_factory=dict)
    owner: RunOwner | None = None
    heartbeat_at: datetime | None = None
    context: RunContext | None = None

    def to_public_dict(self) -> dict[str, Any]:
        """Return the run as a plain dictionary.

        Returns
        -------
        dict[str, Any]
            The record's fields; ``created_at`` as an ISO-8601 UTC string and
            ``status`` as the state's name; ``owner`` as a dictionary and
            ``heartbeat_at`` as an ISO-8601 string, or ``None``.  The context
            is left out (this shape predates it): read :attr:`context`.
        """
        return {
            "run_id": self.run_id,
            "graph_name": self.graph_name,
            "user_id": self.user_id,
            "created_at": self.created_at.isoformat(),
            "status": self.status.value,
            "parameters": self.parameters,
            "executor": self.executor,
            "executor_options": self.executor_options,
            "owner": None if self.owner is None else self.owner.to_public_dict(),
            "heartbeat_at": None if self.heartbeat_at is None else self.heartbeat_at.isoformat(),
        }


@dataclass(frozen=True)
class TaskSpecRecord:
    """The persisted specification of one task of a run.

    Attributes
    ----------
    run_id : str
        Run the task belongs to.
    task_name : str
        Task name.
    is_array : bool
        Whether the task runs as an array job.
    config : dict[str, Any]
        The task's job configuration, decoded with the manifest codec.
    dependencies : list[str]
        Names of the tasks this one waits for, sorted.
    """

    run_id: str
    task_name: str
    is_array: bool
    config: dict[str, Any]
    dependencies: list[str]

    def to_public_dict(self) -> dict[str, Any]:
        """Return the specification as a plain dictionary.

        Returns
        -------
        dict[str, Any]
            The record's fields.
        """
        return {
            "run_id": self.run_id,
            "task_name": self.task_name,
            "is_array": self.is_array,
            "config": self.config,
            "dependencies": list(self.dependencies),
        }


@dataclass(frozen=True)
class TaskInstanceRecord:
    """One task instance: a singleton task, or one element of an array task.

    Attributes
    ----------
    id : int
        Store-wide unique instance id.
    run_id : str
        Run the instance belongs to.
    task_name : str
        Task name.
    array_index : int or None
        Index in the array, ``None`` for a singleton task.
    state : TaskState
        Current lifecycle state.
    job_id : str or None
        Scheduler job id, once submitted.
    input : dict[str, Any]
        Resolved input payload.
    output : Any
        Output value once successful, else ``None``.
    error_text : str or None
        Why the instance failed, if it did.
    identity : str
        Full Merkle identity hash (hex), ``""`` if not computed.
    input_hash : str
        Hash of the direct inputs only (hex), ``""`` if not computed.
    output_hash : str
        Hash of the output (hex), ``""`` unless successful.
    created_at : datetime
        When the instance was inserted (UTC).
    updated_at : datetime
        When its state last changed (UTC).
    cache_info : dict[str, Any]
        Why the instance was or was not taken from the cache, as written by
        the cache layer; ``{}`` when nothing was recorded.
    """

    id: int
    run_id: str
    task_name: str
    array_index: int | None
    state: TaskState
    job_id: str | None
    input: dict[str, Any]
    output: Any
    error_text: str | None
    identity: str
    input_hash: str
    output_hash: str
    created_at: datetime
    updated_at: datetime
    cache_info: dict[str, Any] = field(default_factory=dict)

    def to_public_dict(self) -> dict[str, Any]:
        """Return the instance as a plain dictionary.

        Returns
        -------
        dict[str, Any]
            The record's fields; timestamps as ISO-8601 UTC strings and
            ``state`` as the state's name.
        """
        return {
            "id": self.id,
            "run_id": self.run_id,
            "task_name": self.task_name,
            "array_index": self.array_index,
            "state": self.state.value,
            "job_id": self.job_id,
            "input": self.input,
            "output": self.output,
            "error_text": self.error_text,
            "identity": self.identity,
            "input_hash": self.input_hash,
            "output_hash": self.output_hash,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "cache_info": self.cache_info,
        }


@dataclass(frozen=True)
class NewTaskSpec:
    """One task specification to insert with :meth:`~reflow.stores.Store.insert_task_specs`.

    Attributes
    ----------
    task_name : str
        Task name.
    is_array : bool
        Whether the task is an array job.
    config : dict[str, Any]
        The task's job configuration.
    dependencies : Sequence[str]
        Names of the tasks it waits for.
    """

    task_name: str
    is_array: bool
    config: dict[str, Any]
    dependencies: Sequence[str] = ()


@dataclass(frozen=True)
class NewTaskInstance:
    """One instance to insert with :meth:`~reflow.stores.Store.insert_task_instances`.

    Attributes
    ----------
    task_name : str
        Task name.
    array_index : int or None
        Index in the array (``>= 0``), ``None`` for a singleton task.
    state : TaskState
        Initial state, usually ``PENDING``.
    input : dict[str, Any]
        Resolved input payload.
    identity : str
        Full Merkle identity hash (hex), ``""`` if not computed yet.
    input_hash : str
        Hash of the direct inputs only (hex), ``""`` if not computed yet.
    cache_info : dict[str, Any]
        Why the instance was or was not a cache hit (as ``set_cache_info``).
    cache_info_text : str or None
        The manifest codec's text of ``cache_info``, when the caller made it
        already (:func:`reflow.cache.infotext.info_encoder`): a store may write it
        instead of encoding ``cache_info`` again.  It must be
        ``ManifestCodec.dumps(cache_info)``; ``None`` leaves it to the store.
    created_at : datetime or None
        When the instance was planned, if it is inserted later (``run_local``
        writes an instance's row when it ended): its ``created_at``.  ``None``
        (the default): when it is inserted.
    """

    task_name: str
    array_index: int | None = None
    state: TaskState = TaskState.PENDING
    input: dict[str, Any] = field(default_factory=dict)
    identity: str = ""
    input_hash: str = ""
    cache_info: dict[str, Any] = field(default_factory=dict)
    cache_info_text: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class CacheCandidate:
    """An instance for :meth:`~reflow.stores.Store.insert_cache_hits`: inserted if it is a hit.

    Attributes
    ----------
    array_index : int or None
        Index in the array (``>= 0``), ``None`` for a singleton task.
    identity : str
        Its Merkle identity hash (hex), looked up among earlier successes.
    cache_info : dict[str, Any]
        Its ``cache_info`` without ``status`` and ``source`` (which the store
        adds for a hit), e.g. ``{"inputs": {...}}``.
    cache_info_text : str or None
        The manifest codec's text of ``cache_info``, when the caller made it
        (:func:`reflow.cache.infotext.info_encoder`): a store may complete it
        instead of encoding ``cache_info`` again.  It must be
        ``ManifestCodec.dumps(cache_info)``; ``None`` (the default) leaves
        the encoding to the store.
    """

    array_index: int | None
    identity: str
    cache_info: dict[str, Any] = field(default_factory=dict)
    cache_info_text: str | None = None


@dataclass(frozen=True)
class ReusedHit:
    """A cache hit :meth:`~reflow.stores.Store.insert_cache_hits` inserted SUCCESS.

    Attributes
    ----------
    instance_id : int
        The new instance's id.
    output_hash : str
        Its output hash (its source's); its output stays in the store, and
        its ``cache_info`` names the source.
    """

    instance_id: int
    output_hash: str


@dataclass(frozen=True)
class StateUpdate:
    """One state transition for :meth:`~reflow.stores.Store.apply_state_updates`.

    Which fields are used depends on the target state:

    - ``SUBMITTED`` and ``RUNNING``: ``job_id`` replaces the stored job id when
      it is not ``None``.
    - ``SUCCESS``: ``output`` and ``output_hash`` are stored and the error
      text is cleared.
    - ``FAILED``, ``CANCELLED`` and ``SKIPPED``: ``error_text`` replaces the
      stored text when it is not ``None``.
    - ``RETRYING``: output, output hash, job id and error text are cleared.

    Attributes
    ----------
    instance_id : int
        Id of the instance to change.
    state : TaskState
        The state to move to.
    job_id : str or None
        Scheduler job id.
    output : Any
        Output value (``SUCCESS`` only).
    output_hash : str
        Hash of the output, hex (``SUCCESS`` only).
    error_text : str or None
        Failure reason.
    output_text : str or None
        The manifest codec's text of ``output``, when the caller has it
        already (it hashed it): a store may write it instead of encoding the
        output again.  It must be ``ManifestCodec.dumps(output)``; ``None``
        (the default) leaves the encoding to the store.
    """

    instance_id: int
    state: TaskState
    job_id: str | None = None
    output: Any = None
    output_hash: str = ""
    error_text: str | None = None
    output_text: str | None = None


# The engine makes a NewTaskInstance and a StateUpdate per array element.  A frozen
# dataclass's __init__ sets each field through object.__setattr__ (~1 µs for nine);
# these fill the instance's __dict__ at once: the same object, equal to the one the
# constructor makes (test_records_fast.py).
_new = object.__new__


def planned_instance(
    task_name: str,
    array_index: int | None,
    identity: str,
    cache_info: dict[str, Any],
    cache_info_text: str | None,
    created_at: datetime | None,
) -> NewTaskInstance:
    """``NewTaskInstance(task_name, array_index, PENDING, {}, identity, "", cache_info, ...)``.

    Made without the frozen dataclass's per-field ``__setattr__``: the
    planner makes one for each array element.
    """
    item: NewTaskInstance = _new(NewTaskInstance)
    item.__dict__.update(
        task_name=task_name,
        array_index=array_index,
        state=TaskState.PENDING,
        input={},
        identity=identity,
        input_hash="",
        cache_info=cache_info,
        cache_info_text=cache_info_text,
        created_at=created_at,
    )
    return item


def cache_candidate(
    array_index: int | None,
    identity: str,
    cache_info: dict[str, Any],
    cache_info_text: str | None,
) -> CacheCandidate:
    """``CacheCandidate(array_index, identity, cache_info, cache_info_text)``, made fast."""
    candidate: CacheCandidate = _new(CacheCandidate)
    candidate.__dict__.update(
        array_index=array_index,
        identity=identity,
        cache_info=cache_info,
        cache_info_text=cache_info_text,
    )
    return candidate


def reused_hit(instance_id: int, output_hash: str) -> ReusedHit:
    """``ReusedHit(instance_id, output_hash)``, made fast (a store makes one per hit)."""
    hit: ReusedHit = _new(ReusedHit)
    hit.__dict__.update(instance_id=instance_id, output_hash=output_hash)
    return hit


def success_update(output: Any, output_hash: str, output_text: str | None) -> StateUpdate:
    """``StateUpdate(0, SUCCESS, output=..., output_hash=..., output_text=...)``, made fast.

    The instance id is 0: the engine fills it in (``dataclasses.replace``)
    when the row already exists.
    """
    update: StateUpdate = _new(StateUpdate)
    update.__dict__.update(
        instance_id=0,
        state=TaskState.SUCCESS,
        job_id=None,
        output=output,
        output_hash=output_hash,
        error_text=None,
        output_text=output_text,
    )
    return update

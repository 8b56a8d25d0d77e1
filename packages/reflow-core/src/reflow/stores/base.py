"""The :class:`Store` interface every manifest store implements.

Implementations provide the abstract methods; the dictionary-returning methods
and the single-instance transitions are built on them here.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from reflow._types import RunState, TaskState
from reflow.stores.errors import StoreError, UnknownRunError
from reflow.stores.records import (
    CacheCandidate,
    NewTaskInstance,
    NewTaskSpec,
    ReusedHit,
    RunContext,
    RunOwner,
    RunRecord,
    StateUpdate,
    TaskInstanceRecord,
    TaskSpecRecord,
)
from reflow.stores.runfilter import RunFilter

if TYPE_CHECKING:
    from reflow.config import Config

__all__ = ["ENDED_STATES", "Store", "ended_states"]

ENDED_STATES = frozenset(
    {TaskState.SUCCESS, TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED}
)
"""The states :meth:`Store.insert_ended_instances` inserts instances in."""


def ended_states(
    instances: Sequence[NewTaskInstance], ends: Sequence[StateUpdate]
) -> list[TaskState]:
    """The states :meth:`Store.insert_ended_instances` inserts ``instances`` in, checked.

    Raises
    ------
    ValueError
        If the lengths differ or an update's state is not one of
        :data:`ENDED_STATES`.
    """
    if len(instances) != len(ends):
        raise ValueError(f"{len(instances)} instances but {len(ends)} updates")
    states = [
        update.state if type(update.state) is TaskState else TaskState(update.state)
        for update in ends
    ]
    for state in states:
        if state not in ENDED_STATES:
            raise ValueError(
                "insert_ended_instances takes SUCCESS, FAILED, CANCELLED or SKIPPED "
                f"updates, not {state.value}"
            )
    return states


_T = TypeVar("_T")


class Store(abc.ABC):
    """Abstract manifest store.

    A store keeps runs, task specifications with their dependencies, and task
    instances with their state, outputs and hashes, and finds successful
    instances by Merkle identity across runs.

    Implementations provide the abstract methods; the dictionary-returning
    methods and the single-instance transitions are built on them here.
    Every state change goes through :meth:`apply_state_updates`, which must
    enforce :data:`TRANSITIONS` and stamp ``updated_at``.

    A store is also a context manager: ``with store:`` initialises it and
    closes it on exit.
    """

    # -- lifecycle ---------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL that opens this store again from any process: ``scheme://...``, no password.

        Dispatcher jobs open the run's store from this URL (see :func:`open_store`);
        the scheme is the store's name in the ``reflow.stores`` entry-point group.
        """
        raise NotImplementedError(f"{type(self).__name__} does not say its URL")

    @classmethod
    def from_url(cls, url: str, config: Config | None = None, *, create: bool = True) -> Store:
        """Open the store a URL of this store's scheme names (see :func:`open_store`).

        Parameters
        ----------
        url : str
            ``scheme://...``, the scheme being this store's entry-point name.
        config : Config or None
            The configuration, for any default the URL leaves open.
        create : bool
            ``False`` for commands that only read (see :func:`open_store`).
        """
        raise NotImplementedError(f"{cls.__name__} cannot be opened from a URL")

    @abc.abstractmethod
    def init(self) -> None:
        """Open the store, creating or migrating its schema when needed.

        Safe to call more than once.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store's resources.  The store may be used again afterwards."""

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """Group writes into one atomic transaction.

        Use as ``with store.transaction(): ...``.  Everything written inside
        the block is committed together when it ends, or not at all if it
        raises.  Blocks nest; a store method that raises inside the block
        leaves the block's earlier writes in place.

        Returns
        -------
        contextlib.AbstractContextManager[None]
            The transaction context.
        """

    def retrying(self, work: Callable[[], _T]) -> _T:
        """Run ``work``, a unit of reads and writes, in one transaction, again if it lost.

        The unit commits whole or not at all, as a :meth:`transaction` block.  A
        store whose transactions can fail on a conflict with another writer (a
        deadlock, a serialization failure) or on a connection lost midway runs
        ``work`` again, whole, from the start, a bounded number of times: ``work``
        must read what it decides on inside itself and do nothing outside the store
        that cannot be repeated (no job submitted, no file written for good).
        Inside an enclosing transaction the unit is part of it and is not retried
        alone: the outermost unit is the one to run again.

        The default runs ``work`` once in :meth:`transaction`: right for a store
        whose writers wait for each other (SQLite) instead of failing.

        Parameters
        ----------
        work : callable
            The unit of work; called with no arguments.

        Returns
        -------
        _T
            What ``work`` returned (on the attempt that committed).
        """
        with self.transaction():
            return work()

    def __enter__(self) -> Store:
        self.init()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- runs --------------------------------------------------------------------

    @abc.abstractmethod
    def insert_run(
        self,
        run_id: str,
        graph_name: str,
        user_id: str,
        parameters: dict[str, Any],
        *,
        executor: str = "",
        executor_options: dict[str, Any] | None = None,
        context: RunContext | None = None,
    ) -> None:
        """Insert a new run with status ``RUNNING``.

        Parameters
        ----------
        run_id : str
            Unique run identifier.
        graph_name : str
            Name of the workflow.
        user_id : str
            User who submitted the run.
        parameters : dict[str, Any]
            Run parameters (encoded with the manifest codec).
        executor : str
            Name of the executor the run uses.
        executor_options : dict[str, Any] or None
            Options the executor was created with.
        context : RunContext or None
            The run's facts (:class:`reflow.runs.context.RunContext`): a store
            keeps them as typed columns and gives them back as
            :attr:`RunRecord.context`.  ``run_id``, ``graph_name``,
            ``executor`` and ``executor_options`` are given as the arguments
            above (and equal the context's).

        Raises
        ------
        DuplicateError
            If a run with this id exists.
        """

    @abc.abstractmethod
    def get_run_record(self, run_id: str) -> RunRecord | None:
        """Return one run, or ``None`` if there is no run with this id."""

    @abc.abstractmethod
    def list_run_records(
        self, graph_name: str | None = None, user_id: str | None = None
    ) -> list[RunRecord]:
        """Return runs, newest first, optionally filtered by workflow and user."""

    def list_active_run_records(self, graph_name: str, user_id: str) -> list[RunRecord]:
        """The runs of ``graph_name`` by ``user_id`` that are still active, newest first.

        "Active" is :meth:`RunState.active` (``PENDING``, ``RUNNING``).
        ``run_local`` asks it on every start, to take over lost runs: a store
        overrides it to select them in its query, so that the start does not
        decode the parameters of every earlier run of the workflow (~1 ms each
        for a 200-task workflow).  The default filters :meth:`list_run_records`.
        """
        active = RunState.active()
        return [r for r in self.list_run_records(graph_name, user_id) if r.status in active]

    @abc.abstractmethod
    def update_run_status(self, run_id: str, status: RunState) -> None:
        """Set the status of a run.

        Raises
        ------
        UnknownRunError
            If there is no run with this id.
        """

    @abc.abstractmethod
    def set_run_owner(self, run_id: str, owner: RunOwner) -> None:
        """Record who advances a run, and stamp its heartbeat now.

        Called by ``run_local`` when it starts (or takes a run over), and by
        scheduler mode each time it submits the run's next dispatcher job.

        Raises
        ------
        UnknownRunError
            If there is no run with this id.
        """

    @abc.abstractmethod
    def heartbeat_run(self, run_id: str) -> None:
        """Stamp a run's heartbeat now: its owner is alive and advancing it.

        ``run_local`` calls it every few seconds; a run on another host whose
        heartbeat is older than the lease (:func:`reflow.runs.liveness.lease_seconds`)
        is shown as LOST.

        Raises
        ------
        UnknownRunError
            If there is no run with this id.
        """

    def delete_run(self, run_id: str) -> int:
        """Delete a run with its task specifications and task instances.

        The check that the run has ended and the deletion happen in one
        transaction, so a run that becomes active again meanwhile (a retry)
        is never deleted.  Instances of later runs that were cache hits of
        this run keep their own copies of its outputs.  Files in the run
        directory are the caller's business (``reflow gc`` removes them).

        Stores that cannot delete runs keep this default, which refuses.

        Returns
        -------
        int
            How many task instances were deleted.

        Raises
        ------
        UnknownRunError
            If there is no run with this id.
        ActiveRunError
            If the run is ``PENDING`` or ``RUNNING``; nothing is deleted.
        """
        raise StoreError(
            f"The manifest store {type(self).__name__} cannot delete runs; "
            "upgrade the store package, or use a store that can."
        )

    def describe(self) -> dict[str, Any]:
        """What the store can tell about itself, for ``reflow store info``.

        Known keys: ``schema_version`` (int), ``runs`` and ``instances`` (int,
        how many it holds: counted in one query, where the caller would
        otherwise ask once per run), ``size_bytes`` (int, the space the store
        takes), ``location`` (str, where it keeps its data, no password).
        The default tells nothing; a store gives what it knows.
        """
        return {}

    def compact(self) -> None:
        """Give the space of deleted rows back to the filesystem.

        The default does nothing (for stores that reclaim space on their own).
        """
        return None

    def idle(self) -> None:
        """Do now the upkeep a later write would otherwise pay for: the caller is waiting.

        ``run_local`` calls this while it waits for its workers (at most once a
        second), so housekeeping a store defers (the SQLite store: copying its
        write-ahead log into the database file) is done in time the run spends
        waiting anyway, not inside a commit on the run's path.  Must return
        quickly when there is nothing to do, never wait for other processes,
        and never fail the caller: upkeep that cannot be done now is left for
        later.  The default does nothing.
        """
        return None

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """Return one run as a dictionary, or ``None`` if unknown."""
        record = self.get_run_record(run_id)
        return None if record is None else record.to_public_dict()

    def list_runs(
        self,
        graph_name: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        status: RunState | str | Iterable[RunState | str] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> list[dict[str, Any]]:
        """Return runs as dictionaries, newest first, optionally filtered.

        Parameters
        ----------
        graph_name, user_id : str or None
            Only runs of this workflow, of this user.
        limit : int or None
            At most this many (the newest).
        status : RunState, str, an iterable of them, or None
            Only runs in this state (or these states): ``"FAILED"``,
            ``RunState.RUNNING``, ``["PENDING", "RUNNING"]``.
        since, until : datetime, str or None
            Only runs created at or after ``since``, before ``until``: a
            datetime (naive means UTC), an ISO date or date-time, or a
            duration ago (``"12h"``, ``"2d"``) as ``reflow runs --since`` reads.

        Raises
        ------
        ReflowError
            If a state, time or limit is not valid; the message names it.
        """
        wanted = RunFilter.build(limit=limit, status=status, since=since, until=until)
        records = wanted.apply(self.list_run_records(graph_name, user_id))
        return [r.to_public_dict() for r in records]

    def get_run_parameters(self, run_id: str) -> dict[str, Any]:
        """Return the parameters of a run.

        Raises
        ------
        UnknownRunError
            If there is no run with this id.
        """
        record = self.get_run_record(run_id)
        if record is None:
            raise UnknownRunError(f"No run {run_id!r} in the manifest store.")
        return record.parameters

    # -- task specifications -----------------------------------------------------

    @abc.abstractmethod
    def insert_task_spec(
        self,
        run_id: str,
        task_name: str,
        is_array: bool,
        config_json: dict[str, Any],
        dependencies: Sequence[str],
    ) -> None:
        """Persist one task specification and its dependencies.

        Inserting the same task of the same run again replaces both.

        Parameters
        ----------
        run_id : str
            Run the task belongs to.
        task_name : str
            Task name.
        is_array : bool
            Whether the task is an array job.
        config_json : dict[str, Any]
            The task's job configuration.
        dependencies : Sequence[str]
            Names of the tasks it waits for.

        Raises
        ------
        UnknownRunError
            If there is no run with this id.
        """

    def insert_task_specs(self, run_id: str, specs: Sequence[NewTaskSpec]) -> None:
        """Persist many task specifications of one run, as :meth:`insert_task_spec` each.

        A run's creation writes all of its tasks at once: a store overrides
        this to do it in a few statements instead of several per task.  The
        default calls :meth:`insert_task_spec` for each, in order (inside the
        caller's :meth:`retrying` unit, as run creation does).

        Parameters
        ----------
        run_id : str
            Run the tasks belong to.
        specs : Sequence[NewTaskSpec]
            The specifications; a task given twice keeps the last one.

        Raises
        ------
        UnknownRunError
            If there is no run with this id.
        """
        for spec in specs:
            self.insert_task_spec(
                run_id, spec.task_name, spec.is_array, spec.config, spec.dependencies
            )

    @abc.abstractmethod
    def get_task_spec_record(self, run_id: str, task_name: str) -> TaskSpecRecord | None:
        """Return one task specification, or ``None`` if not stored."""

    @abc.abstractmethod
    def list_task_spec_records(self, run_id: str) -> list[TaskSpecRecord]:
        """Return the task specifications of a run, sorted by task name."""

    @abc.abstractmethod
    def list_task_dependencies(self, run_id: str, task_name: str) -> list[str]:
        """Return the names of the tasks ``task_name`` depends on, sorted."""

    # -- task instances ----------------------------------------------------------

    @abc.abstractmethod
    def insert_task_instances(
        self, run_id: str, instances: Iterable[NewTaskInstance]
    ) -> list[int]:
        """Insert many task instances of one run in one transaction.

        Parameters
        ----------
        run_id : str
            Run the instances belong to.
        instances : Iterable[NewTaskInstance]
            The instances.

        Returns
        -------
        list[int]
            Their ids, in the order given.

        Raises
        ------
        UnknownRunError
            If there is no run with this id.
        DuplicateError
            If an instance with the same task and array index exists in the
            run (or appears twice in ``instances``); nothing is inserted.
        ValueError
            If an array index is negative.
        """

    def insert_reused_instances(
        self, run_id: str, instances: Sequence[NewTaskInstance], sources: Sequence[int]
    ) -> list[int | None]:
        """Insert instances that reuse earlier results, SUCCESS at once, in one transaction.

        Instance ``k`` is inserted in state ``SUCCESS`` with the output and output
        hash of the instance whose id is ``sources[k]`` (a cache hit of another
        run): the output is copied inside the store, never decoded and encoded
        again, and there is no second statement for the transition.  The
        instances' own ``state`` is ignored.  A source that is no longer
        ``SUCCESS`` (its run was deleted since it was looked up) inserts nothing.

        The default builds this from :meth:`insert_task_instances` and
        :meth:`apply_state_updates`; SQLite and PostgreSQL do it in one
        ``INSERT ... SELECT``.

        Parameters
        ----------
        run_id : str
            Run the instances belong to.
        instances : Sequence[NewTaskInstance]
            The instances (identity, input hash, input and cache_info as for
            :meth:`insert_task_instances`).
        sources : Sequence[int]
            For each instance, the id of the successful instance it reuses.

        Returns
        -------
        list[int or None]
            The new ids, in the order given; ``None`` where the source was gone.

        Raises
        ------
        UnknownRunError, DuplicateError, ValueError
            As :meth:`insert_task_instances`; nothing is inserted.
        """
        if len(instances) != len(sources):
            raise ValueError(f"{len(instances)} instances but {len(sources)} sources")
        with self.transaction():
            found = [self.get_task_instance_record_by_id(source) for source in sources]
            kept = [
                (new, record)
                for new, record in zip(instances, found, strict=True)
                if record is not None and record.state is TaskState.SUCCESS
            ]
            ids = self.insert_task_instances(run_id, [new for new, _ in kept])
            self.apply_state_updates(
                StateUpdate(iid, TaskState.SUCCESS, output=r.output, output_hash=r.output_hash)
                for iid, (_, r) in zip(ids, kept, strict=True)
            )
        given = iter(ids)
        return [
            next(given) if r is not None and r.state is TaskState.SUCCESS else None for r in found
        ]

    def insert_ended_instances(
        self, run_id: str, instances: Sequence[NewTaskInstance], ends: Sequence[StateUpdate]
    ) -> list[int]:
        """Insert instances that ended before they were recorded, in one transaction.

        Instance ``k`` is inserted in the state ``ends[k]`` moves it to, with
        that update's output, output hash (``SUCCESS``) or error text
        (``FAILED``, ``CANCELLED``, ``SKIPPED``); the update's
        ``instance_id`` is ignored and the instance's own ``state`` too.
        ``run_local`` records this way the instances that finished between two
        of its writes: each row is written once, not inserted and then
        updated.

        The default is :meth:`insert_task_instances` then
        :meth:`apply_state_updates` in one transaction; SQLite and PostgreSQL
        write each row once.

        Parameters
        ----------
        run_id : str
            Run the instances belong to.
        instances : Sequence[NewTaskInstance]
            The instances (identity, input hash, input and cache_info as for
            :meth:`insert_task_instances`).
        ends : Sequence[StateUpdate]
            For each instance, the update that ended it.

        Returns
        -------
        list[int]
            The new ids, in the order given.

        Raises
        ------
        UnknownRunError, DuplicateError
            As :meth:`insert_task_instances`; nothing is inserted.
        ValueError
            If the lengths differ or an update's state is not one of the four.
        """
        ended_states(instances, ends)
        with self.transaction():
            ids = self.insert_task_instances(
                run_id, [replace(new, state=TaskState.PENDING) for new in instances]
            )
            self.apply_state_updates(
                replace(update, instance_id=iid) for iid, update in zip(ids, ends, strict=True)
            )
        return ids

    def insert_task_instance(
        self,
        run_id: str,
        task_name: str,
        array_index: int | None,
        state: TaskState,
        input_payload: dict[str, Any],
        identity: str = "",
        input_hash: str = "",
    ) -> int:
        """Insert one task instance and return its id.

        Parameters
        ----------
        run_id : str
            Run the instance belongs to.
        task_name : str
            Task name.
        array_index : int or None
            Index in the array, ``None`` for a singleton task.
        state : TaskState
            Initial state.
        input_payload : dict[str, Any]
            Resolved input payload.
        identity : str
            Full Merkle identity hash.
        input_hash : str
            Hash of the direct inputs only (without upstream hashes).

        Returns
        -------
        int
            The new instance's id.
        """
        new = NewTaskInstance(task_name, array_index, state, input_payload, identity, input_hash)
        return self.insert_task_instances(run_id, [new])[0]

    @abc.abstractmethod
    def get_task_instance_record(
        self, run_id: str, task_name: str, array_index: int | None
    ) -> TaskInstanceRecord | None:
        """Return one instance by run, task and array index, or ``None``."""

    @abc.abstractmethod
    def get_task_instance_record_by_id(self, instance_id: int) -> TaskInstanceRecord | None:
        """Return one instance by id, or ``None``."""

    @abc.abstractmethod
    def list_task_instance_records(
        self,
        run_id: str,
        task_name: str | None = None,
        states: Iterable[TaskState] | None = None,
    ) -> list[TaskInstanceRecord]:
        """Return the instances of a run, sorted by task name and array index.

        Parameters
        ----------
        run_id : str
            The run.
        task_name : str or None
            Only this task's instances.
        states : Iterable[TaskState] or None
            Only instances in one of these states.
        """

    def first_task_instance_records(
        self,
        run_id: str,
        task_name: str | None = None,
        states: Iterable[TaskState] | None = None,
        *,
        limit: int,
    ) -> list[TaskInstanceRecord]:
        """Return at most ``limit`` instances of a run, sorted by task name and array index.

        The filters are those of :meth:`list_task_instance_records`.  For
        views that show only the first few of many (the failed instances of a
        run with 100,000 elements).  Stores should override this with a query
        that stops early; this default slices the full list.
        """
        return self.list_task_instance_records(run_id, task_name, states)[: max(limit, 0)]

    @abc.abstractmethod
    def count_task_instances(self, run_id: str, task_name: str) -> int:
        """Return how many instances a task has in a run."""

    @abc.abstractmethod
    def task_state_summary(self, run_id: str) -> dict[str, dict[str, int]]:
        """Count the instances of a run per task and state.

        Returns
        -------
        dict[str, dict[str, int]]
            ``{task_name: {state_name: count}}``, only non-zero counts.
        """

    def get_task_instance(
        self, run_id: str, task_name: str, array_index: int | None
    ) -> dict[str, Any] | None:
        """Return one instance as a dictionary, or ``None``."""
        record = self.get_task_instance_record(run_id, task_name, array_index)
        return None if record is None else record.to_public_dict()

    def list_task_instances(
        self,
        run_id: str,
        task_name: str | None = None,
        states: Iterable[TaskState] | None = None,
    ) -> list[dict[str, Any]]:
        """List task instances as dictionaries, with optional filters."""
        return [
            r.to_public_dict() for r in self.list_task_instance_records(run_id, task_name, states)
        ]

    # -- outputs -----------------------------------------------------------------

    def _successful(self, run_id: str, task_name: str) -> list[TaskInstanceRecord]:
        return self.list_task_instance_records(run_id, task_name, [TaskState.SUCCESS])

    def get_singleton_output(self, run_id: str, task_name: str) -> Any:
        """Return the output of a successful singleton task, or ``None``."""
        record = self.get_task_instance_record(run_id, task_name, None)
        if record is None or record.state is not TaskState.SUCCESS:
            return None
        return record.output

    def get_array_outputs(self, run_id: str, task_name: str) -> list[Any]:
        """Return the outputs of the successful elements of an array task, by index."""
        return [r.output for r in self._successful(run_id, task_name) if r.array_index is not None]

    def get_output_hash(self, run_id: str, task_name: str, array_index: int | None = None) -> str:
        """Return the output hash of one successful instance, ``""`` if there is none."""
        record = self.get_task_instance_record(run_id, task_name, array_index)
        if record is None or record.state is not TaskState.SUCCESS:
            return ""
        return record.output_hash

    def get_all_output_hashes(self, run_id: str, task_name: str) -> list[str]:
        """Return the output hashes of all successful instances of a task, by index."""
        return [r.output_hash for r in self._successful(run_id, task_name)]

    def dependency_is_satisfied(self, run_id: str, task_name: str) -> bool:
        """Return whether a task has instances and all of them succeeded."""
        counts = self.task_state_summary(run_id).get(task_name, {})
        total = sum(counts.values())
        return total > 0 and counts.get(TaskState.SUCCESS.value, 0) == total

    # -- state transitions -------------------------------------------------------

    @abc.abstractmethod
    def apply_state_updates(self, updates: Iterable[StateUpdate]) -> None:
        """Apply many state transitions, in order, in one transaction.

        Every update is checked against :data:`TRANSITIONS` and stamps the
        instance's ``updated_at``.  If any update is not allowed, none is
        applied.

        Parameters
        ----------
        updates : Iterable[StateUpdate]
            The transitions.

        Raises
        ------
        InvalidTransitionError
            If an instance's current state does not allow the update.
        UnknownInstanceError
            If an instance id does not exist.
        """

    @abc.abstractmethod
    def update_task_submitted(self, run_id: str, task_name: str, job_id: str) -> int:
        """Mark the ``PENDING`` and ``RETRYING`` instances of a task as submitted.

        Returns
        -------
        int
            How many instances were marked.
        """

    def update_task_running(self, instance_id: int) -> None:
        """Mark one instance as running."""
        self.apply_state_updates([StateUpdate(instance_id, TaskState.RUNNING)])

    def update_task_success(self, instance_id: int, output: Any, output_hash: str = "") -> None:
        """Mark one instance as successful.

        Parameters
        ----------
        instance_id : int
            Instance id.
        output : Any
            The task's return value.
        output_hash : str
            Hash of the output value, for downstream Merkle propagation.
        """
        self.apply_state_updates(
            [StateUpdate(instance_id, TaskState.SUCCESS, output=output, output_hash=output_hash)]
        )

    def update_task_failed(self, instance_id: int, error_text: str) -> None:
        """Mark one instance as failed, with the reason."""
        self.apply_state_updates(
            [StateUpdate(instance_id, TaskState.FAILED, error_text=error_text)]
        )

    def update_task_cancelled(self, instance_id: int) -> None:
        """Mark one instance as cancelled."""
        self.apply_state_updates([StateUpdate(instance_id, TaskState.CANCELLED)])

    def mark_for_retry(self, instance_id: int) -> None:
        """Move a ``FAILED`` or ``CANCELLED`` instance to ``RETRYING``.

        Raises
        ------
        InvalidTransitionError
            If the instance is in any other state.
        """
        self.apply_state_updates([StateUpdate(instance_id, TaskState.RETRYING)])

    # -- cache -------------------------------------------------------------------

    @abc.abstractmethod
    def set_cache_info_many(self, infos: Mapping[int, dict[str, Any]]) -> None:
        """Record, for many instances in one transaction, why each was or was not a cache hit.

        Parameters
        ----------
        infos : Mapping[int, dict[str, Any]]
            Instance id to the cache layer's explanation.

        Raises
        ------
        UnknownInstanceError
            If an instance id does not exist; nothing is written.
        """

    def set_cache_info(self, instance_id: int, info: dict[str, Any]) -> None:
        """Record why one instance was or was not a cache hit."""
        self.set_cache_info_many({instance_id: info})

    @abc.abstractmethod
    def set_identity_many(self, items: Mapping[int, tuple[str, dict[str, Any]]]) -> None:
        """Move instances to another Merkle identity, with the cache_info saying why.

        An instance's identity names the code that produced its output: when a
        worker ran other code than the run planned, or ``retry`` planned an
        instance again with edited code, its identity changes before its result
        is recorded, so the cache never serves the output under the identity
        of code that did not produce it.

        Parameters
        ----------
        items : Mapping[int, tuple[str, dict[str, Any]]]
            Instance id to its new identity (hex; ``""`` for none) and its new
            cache_info.

        Raises
        ------
        UnknownInstanceError
            If an instance id does not exist; nothing is written.
        """

    @abc.abstractmethod
    def find_cached_record(
        self, task_name: str, identity: str, *, user_id: str | None = None
    ) -> TaskInstanceRecord | None:
        """Find the most recent successful instance with this Merkle identity.

        Searches all runs (of one user's when ``user_id`` is given).  "Most
        recent" is the latest ``updated_at``, then the highest id.  A store may
        skip instances that are cache hits inserted by it
        (:meth:`insert_cache_hits`, :meth:`insert_reused_instances`,
        :meth:`copy_cached_array`) in favour of the instance they reuse, which
        holds the same output: the SQLite and PostgreSQL stores keep hits out
        of their cache index, so reruns do not make it grow, and make a
        deleted run's reused results count as results of the runs that reused
        them.

        Parameters
        ----------
        task_name : str
            Task name.
        identity : str
            Full Merkle identity hash; ``""`` never matches.
        user_id : str or None
            Only instances of runs this user submitted; ``None`` for any user's.
            The cache passes the run's user unless the cache is shared
            (``[store] share_cache``).

        Returns
        -------
        TaskInstanceRecord or None
            The match, or ``None``.
        """

    def find_cached_many(
        self, task_name: str, identities: Iterable[str], *, user_id: str | None = None
    ) -> dict[str, TaskInstanceRecord]:
        """Find, for many identities at once, the most recent successful instance of each.

        Stores should override this with one query per batch; this default
        asks :meth:`find_cached_record` once per identity.  ``user_id`` is
        that of :meth:`find_cached_record`.

        Returns
        -------
        dict[str, TaskInstanceRecord]
            Identity to instance, for the identities that were found.
        """
        found: dict[str, TaskInstanceRecord] = {}
        for identity in set(identities):
            record = self.find_cached_record(task_name, identity, user_id=user_id)
            if record is not None:
                found[identity] = record
        return found

    def restore_times(
        self,
        run_id: str,
        created_at: datetime,
        heartbeat_at: datetime | None,
        instances: Mapping[int, tuple[datetime, datetime]],
    ) -> None:
        """Give a copied run and its instances the times their original store recorded.

        ``reflow store copy`` calls it after it wrote the copy, so that the copy is
        the same history: when the run was created and last heard of, when each
        instance was created and last changed (which also orders the cache's
        "most recent" result).

        Parameters
        ----------
        run_id : str
            The copied run.
        created_at, heartbeat_at : datetime, datetime or None
            The run's recorded creation and heartbeat times.
        instances : mapping of int to (datetime, datetime)
            By instance id in *this* store: ``(created_at, updated_at)``.

        Raises
        ------
        NotImplementedError
            By default: a store without it keeps the copy's own times.
        UnknownRunError
            If ``run_id`` is not in the store.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot restore recorded times")

    def find_cached_outputs(
        self, task_name: str, identities: Iterable[str], *, user_id: str | None = None
    ) -> dict[str, TaskInstanceRecord]:
        """:meth:`find_cached_many` for reusing outputs: ``input`` and ``cache_info`` may be empty.

        The planner reads only the id, run, index, output and output hash of
        a hit; a store saves decoding the rest of each record (a rerun of a
        10,000-element array reads 10,000 of them) by overriding this.  This
        default returns :meth:`find_cached_many`'s full records; reflow calls
        it only on stores that override it.

        Returns
        -------
        dict[str, TaskInstanceRecord]
            Identity to instance, for the identities that were found.
        """
        return self.find_cached_many(task_name, identities, user_id=user_id)

    def newest_outputs(
        self, task_name: str, *, user_id: str | None = None
    ) -> dict[str, TaskInstanceRecord]:
        """For every identity of ``task_name``, what :meth:`find_cached_outputs` finds for it.

        The newest successful instance of each identity the task ever had, in
        any run of any workflow (of ``user_id``'s runs only, if given): the
        index of earlier outputs an instance submitted ahead of its inputs
        looks its identity up in, since its identity is known only when its
        job starts (:mod:`reflow.engine.scheduler.forward`).  ``input`` and
        ``cache_info`` may be empty.

        This default reads every run's successful instances of the task; the
        SQL stores answer from their cache index in one query.

        Returns
        -------
        dict[str, TaskInstanceRecord]
            Identity to instance.
        """
        newest: dict[str, TaskInstanceRecord] = {}
        for run in self.list_run_records(user_id=user_id):
            for inst in self.list_task_instance_records(
                run.run_id, task_name=task_name, states=[TaskState.SUCCESS]
            ):
                old = newest.get(inst.identity)
                if inst.identity and (
                    old is None or (inst.updated_at, inst.id) > (old.updated_at, old.id)
                ):
                    newest[inst.identity] = inst
        return newest

    def record_array_identity(
        self, run_id: str, task_name: str, identity: str, count: int
    ) -> None:
        """Remember that every element of an array task succeeded in ``run_id``.

        ``identity`` stands for the whole array (task, version, code,
        parameters and every upstream hash); ``count`` is its number of
        elements.  A store may ignore this (the default does): it only makes
        :meth:`copy_cached_array` possible.
        """
        return None

    def list_array_identities(self, run_id: str) -> list[tuple[str, str, int]]:
        """The whole-array identities :meth:`record_array_identity` recorded for a run.

        For ``reflow store copy``, which carries them to another store.  The
        default (for stores that ignore :meth:`record_array_identity`) is none.

        Returns
        -------
        list[tuple[str, str, int]]
            ``(task_name, identity, count)``, sorted by task name.
        """
        return []

    def insert_cache_hits(
        self,
        run_id: str,
        task_name: str,
        candidates: Sequence[CacheCandidate],
        *,
        user_id: str | None = None,
    ) -> tuple[dict[int | None, ReusedHit], dict[str, TaskInstanceRecord]]:
        """Look candidates up in the cache and insert the hits SUCCESS, in one transaction.

        For each candidate whose identity has a successful instance of
        ``task_name`` (the newest, of ``user_id``'s runs when given, as
        :meth:`find_cached_outputs`), the store may insert the candidate into
        ``run_id`` at once: state ``SUCCESS``, its source's output and output
        hash copied inside the store (never decoded), and a ``cache_info`` of
        the candidate's plus ``"status": "hit"`` and ``"source"`` (run id,
        instance id and array index of the source).  A hit the store does not
        insert is returned instead, decoded, for the caller to decide: the
        store must hand back every hit whose output holds a ``Path`` (its
        files are checked before reuse) and may hand back any other.  A
        candidate without a hit is in neither result (the caller inserts it).

        The default inserts nothing and hands back what
        :meth:`find_cached_outputs` finds; reflow calls this only on stores
        that override it.  SQLite and PostgreSQL do it in one ``INSERT ...
        SELECT``: a rerun with one changed element of 10,000 neither decodes
        nor encodes the 9,999 reused outputs.

        Parameters
        ----------
        run_id : str
            The run the hits are inserted into.
        task_name : str
            The task of every candidate.
        candidates : Sequence[CacheCandidate]
            The instances to look up (distinct array indices).
        user_id : str or None
            Reuse only this user's runs' results.

        Returns
        -------
        tuple[dict, dict]
            The hits inserted, by array index; and the hits handed back, by
            identity.

        Raises
        ------
        UnknownRunError, DuplicateError
            As :meth:`insert_task_instances`; nothing is inserted.
        """
        found = self.find_cached_outputs(
            task_name, [c.identity for c in candidates], user_id=user_id
        )
        return {}, found

    def may_have_cached_results(self, task_name: str) -> bool:
        """Whether ``task_name`` may have a result to reuse: ``False`` only if surely none.

        A task no run ever computed (a first run of a workflow, or a task just
        renamed or added) has no cache hit, whatever its instances' identities:
        the planner then looks none of them up.  It asks once per task and
        run, before planning the task's instances; a result another process
        computes meanwhile is not reused by this run.  The default answers
        ``True`` (every identity is looked up); SQLite and PostgreSQL answer
        with one probe of the cache index.
        """
        return True

    def copy_cached_array(
        self, task_name: str, identity: str, run_id: str, *, user_id: str | None = None
    ) -> tuple[str, int] | None:
        """Copy every element of a cached array into ``run_id`` in one step.

        Looks for the most recent run (of ``user_id``, when given, as
        :meth:`find_cached_record`) recorded by :meth:`record_array_identity`
        with this identity whose elements are all still there, and inserts
        copies of them (state ``SUCCESS``, with outputs and hashes, and a
        ``cache_info`` of ``{"status": "hit", "source": {"run_id": ...}}``:
        each copy comes from the source element of the same index, whose
        ``cache_info`` holds the inputs) into ``run_id``.

        Returns
        -------
        tuple[str, int] or None
            The source run and the number of elements copied, or ``None`` when
            there is no such array (the default: callers then look up each
            element).
        """
        return None

    def take_cached_array(
        self, task_name: str, identity: str, run_id: str, *, user_id: str | None = None
    ) -> tuple[str, list[str]] | None:
        """:meth:`copy_cached_array`, returning the copies' output hashes, and record the copy.

        The copied array is recorded for ``run_id`` as :meth:`record_array_identity`
        would, in the same transaction: a fully cached rerun is one unit of
        work that reads no row back.  This default is built from
        :meth:`copy_cached_array`, :meth:`get_all_output_hashes` and
        :meth:`record_array_identity`; reflow calls it only on a store that
        overrides it (both shipped stores do).

        Returns
        -------
        tuple[str, list[str]] or None
            The source run and the output hash of each element, by index; or
            ``None`` as :meth:`copy_cached_array`.
        """
        with self.transaction():
            copied = self.copy_cached_array(task_name, identity, run_id, user_id=user_id)
            if copied is None:
                return None
            hashes = self.get_all_output_hashes(run_id, task_name)
            self.record_array_identity(run_id, task_name, identity, len(hashes))
        return copied[0], hashes

    def find_cached_array(
        self, task_name: str, identity: str, *, user_id: str | None = None
    ) -> tuple[str, int] | None:
        """The newest run that recorded this whole-array identity, with all its elements.

        As :meth:`copy_cached_array` chooses its source (of ``user_id``'s runs
        when given; a run whose elements were pruned is passed over), without
        copying anything.  reflow looks an array's *element key* up this way
        (see :mod:`reflow.cache.elements`), then copies the unchanged elements
        with :meth:`copy_array_elements`.  The default finds none.

        Returns
        -------
        tuple[str, int] or None
            The run and its number of elements.
        """
        return None

    def copy_array_elements(
        self,
        task_name: str,
        source_run_id: str,
        run_id: str,
        spans: Sequence[tuple[int, int]],
    ) -> dict[int, str] | None:
        """Copy the elements of an array at the given indices from another run, in one step.

        Every successful element of ``task_name`` in ``source_run_id`` whose
        index lies in one of ``spans`` (inclusive ``(first, last)`` pairs,
        sorted, not overlapping) is inserted into ``run_id`` at the same
        index, as :meth:`copy_cached_array` copies a whole array: state
        ``SUCCESS``, its identity, inputs, output and hashes, and a
        ``cache_info`` of ``{"status": "hit", "source": {"run_id": ...}}``.
        All or nothing: if one of those indices has no successful element in
        the source (its run was deleted meanwhile), nothing is copied.

        The default copies nothing (reflow then looks each element up).

        Returns
        -------
        dict[int, str] or None
            The output hash of each element copied, by index; ``None`` when
            nothing was copied.

        Raises
        ------
        DuplicateError
            If ``run_id`` already has an instance at one of the indices.
        """
        return None

    def find_cached(self, task_name: str, identity: str) -> dict[str, Any] | None:
        """Find a successful instance with this Merkle identity, as a dictionary.

        See :meth:`find_cached_record`.
        """
        record = self.find_cached_record(task_name, identity)
        return None if record is None else record.to_public_dict()

"""``Workflow.run_local``: run a whole workflow on this machine, recorded like any run.

Tasks run in topological order as soon as their upstream tasks succeed;
with ``max_workers > 1`` independent tasks and array elements run at the
same time in worker processes.  Every instance goes through the same Merkle
cache as scheduler runs, and everything is written to the manifest store in
batches (one transaction per step, never one per row).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow._types import RunState, TaskState
from reflow.cache.expand import Expansion, ExpansionError, UpstreamOutput, expand
from reflow.cache.filestate import task_policies
from reflow.cache.planning import CachePolicy, Planner
from reflow.cache.seenfiles import check_files
from reflow.cache.sharing import cache_user
from reflow.define.given import Resources
from reflow.define.graph import did_you_mean
from reflow.define.labels import instance_label
from reflow.engine.local.backends import Batch, BatchUsage, Finished, ProcessBackend
from reflow.engine.local.collector import rare_collections
from reflow.engine.local.outcome import Outcome
from reflow.engine.local.progress import Progress
from reflow.engine.local.retrying import LocalRetries
from reflow.engine.local.usage import append_lines
from reflow.errors import ParameterError, ReflowError
from reflow.notify.due import notify_due
from reflow.runs.creation import create_run, recorded_parts
from reflow.runs.fanout import log_empty_fanout
from reflow.runs.layout import RunLayout
from reflow.runs.liveness import HEARTBEAT_SECONDS, take_over_lost_runs, this_process
from reflow.runs.place import RunPlace
from reflow.signals import TaskInterrupted, graceful_shutdown
from reflow.stores import NewTaskInstance, StateUpdate, open_store
from reflow.stores.records import success_update

if TYPE_CHECKING:
    from reflow.cache.identity import IdentityParts
    from reflow.define.analysis import Analysis
    from reflow.define.wiring import ParamWiring
    from reflow.stores import Store
    from reflow.workflow import Workflow

__all__ = ["TaskFailedError", "run_local"]

logger = logging.getLogger(__name__)

_FLUSH_EVERY = 2000
_CHUNK = 5000
_SUCCESS = TaskState.SUCCESS
_FIRST_CHUNK = 500
"""Instances planned before a task's first batch goes to a worker: the worker
runs them while the driver plans the rest, a chunk per turn of the loop."""
_BATCH_MAX = 256
"""Most elements sent to one of several workers at once: several batches per worker."""
_BATCH_SECONDS = 0.5
"""What one batch should take at most, from the task's elements so far: finished
instances come back (and are recorded) often enough, however long the array."""
_FIRST_BATCH = 4
"""Elements in a task's first batches, before their time is known."""
_EARLY_FLUSH = 64
"""Finished instances worth a write while every worker is busy, before ``_RECORD_SECONDS``."""
_IDLE_SECONDS = 1.0
"""Least time between two calls of ``Store.idle`` while the loop waits for workers."""
_RECORD_SECONDS = 2.0
"""Finished instances are written to the store at least this often, so that
``reflow status`` in another shell sees the run advance."""


def _success(outcome: Outcome) -> StateUpdate:
    """The update that ends a successful instance (its id filled in by ``LocalRun._end``)."""
    return success_update(outcome.output, outcome.output_hash, outcome.output_text)


class TaskFailedError(ReflowError):
    """A task instance failed in ``run_local(on_error="stop")``.

    Attributes
    ----------
    task : str
        The task.
    index : int or None
        The array index of the failed element.
    run_id : str
        The run, whose record holds the full traceback.
    """

    def __init__(self, message: str, task: str, index: int | None, run_id: str) -> None:
        super().__init__(message)
        self.task = task
        self.index = index
        self.run_id = run_id


@dataclass
class _TaskState:
    """What the engine knows of one task during the run."""

    name: str
    is_array: bool = False
    status: str = "waiting"  # waiting, queued, running, done, failed, skipped
    exp: Expansion | None = None
    queue: deque[int | None] = field(default_factory=deque)
    ids: dict[int | None, int] = field(default_factory=dict)
    # Rows of instances to run, not written yet: inserted once they ended, or
    # as they are at the next periodic write (see LocalRun._flush).
    unwritten: dict[int | None, NewTaskInstance] = field(default_factory=dict)
    values: list[Any] | None = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    remaining: int = 0
    todo: list[int | None] = field(default_factory=list)  # the indices to plan
    planned: int = 0  # how many of them are planned (instances looked up, rows made)
    inputs_checked: bool = False
    in_flight: int = 0
    failed: bool = False
    array_identity: str = ""
    element_key: str = ""  # an array's key for copying its unchanged elements (cache.elements)
    seconds: float | None = None  # mean wall time of one element so far
    stored: bool = False  # some values are only in the store (hits it inserted itself)


def check_options(
    workflow: Workflow, max_workers: int, on_error: str, force_tasks: list[str] | None
) -> None:
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ParameterError(f"max_workers={max_workers!r} is not valid; give 1 or more.")
    if on_error not in ("stop", "continue"):
        raise ParameterError(f"on_error={on_error!r} is not valid; use 'stop' or 'continue'.")

    for name in force_tasks or []:
        if name not in workflow.tasks:
            raise ParameterError(
                f"force_tasks names unknown task {name!r}.{did_you_mean(name, workflow.tasks)}"
            )


class LocalRun:
    """One execution of ``run_local``; see :func:`run_local`."""

    def __init__(
        self,
        workflow: Workflow,
        analysis: Analysis,
        run_dir: str | Path,
        *,
        max_workers: int,
        force: bool,
        force_tasks: list[str] | None,
        verify: bool,
        on_error: str,
        store: Store | None,
        parameters: Mapping[str, Any],
    ) -> None:
        self.wf = workflow
        order = list(analysis.order)
        check_options(workflow, max_workers, on_error, force_tasks)
        self.values = workflow.check_parameters(parameters, analysis)
        self.order = order
        self.wiring: Mapping[str, Mapping[str, ParamWiring]] = analysis.wiring
        self.max_workers = max_workers
        self.force = force
        self.force_tasks = set(force_tasks or [])
        self.verify = verify
        self.on_error = on_error
        self.run_dir = Path(run_dir).expanduser().resolve()
        if store is None:
            store = open_store(config=workflow.config)
        self.store = store
        self.dests = analysis.param_dests
        self.file_policies = task_policies(workflow)
        self.tasks = {name: _TaskState(name, workflow.tasks[name].config.array) for name in order}
        self.deps = {name: tuple(workflow.tasks[name].dependencies) for name in order}
        # The ready queue: a task is ready when its count of unfinished upstream
        # tasks drops to zero, so the whole run costs O(edges), not a rescan of
        # every task on every turn of the loop (O(tasks²) for a chain).
        self.dependants: dict[str, list[str]] = {name: [] for name in order}
        for name in order:
            for dep in dict.fromkeys(self.deps[name]):
                self.dependants[dep].append(name)
        self.unfinished = {name: len(set(self.deps[name])) for name in order}
        self.ready: deque[str] = deque(n for n in order if not self.unfinished[n])
        # Tasks with instances still to send to workers, in the order they became so.
        self.active: dict[str, None] = {}
        # Tasks with instances still to plan (_plan_next), in the order they became so.
        self.planning: dict[str, None] = {}
        self.ended: set[str] = set()
        self.prefixes: dict[str, Any] = {}
        self.fixed_kwargs: dict[str, dict[str, Any]] = {}
        self.parts: dict[str, IdentityParts] = {}
        self.pending_updates: list[Any] = []
        # Instances that ended before their row was written: (row, final update).
        self.pending_ended: list[tuple[NewTaskInstance, StateUpdate]] = []
        self.unwritten_tasks: dict[str, None] = {}
        self.unwritten_since = 0.0  # time.monotonic() when the oldest of those was planned
        self.pending_usage: list[str] = []  # lines for the run's usage file
        self.first_failure: tuple[str, int | None, Outcome] | None = None
        self.suspects: list[tuple[str, int | None]] = []
        self.stopping = False
        self.progress = Progress(order)
        self.run_id = ""
        self.host = os.uname().nodename  # socket.gethostname(), without importing socket
        self.beat = 0.0  # time.monotonic() of the last heartbeat
        self.recorded = time.monotonic()  # of the last write of finished instances
        self.idled = -_IDLE_SECONDS  # time.monotonic() of the last Store.idle (_collect)

    # -- set-up ---------------------------------------------------------------

    def _create_run(self) -> None:
        policy = CachePolicy(self.force, frozenset(self.force_tasks), self.verify)
        created = create_run(
            self.wf,
            self.store,
            self.run_dir,
            self.values,
            self.dests,
            self.order,
            policy=policy,
            executor="run_local",
            executor_options={"max_workers": self.max_workers},
            wiring=self.wiring,
            # The driver runs on this machine: a crash of it ends the run (LOST),
            # and the run's record holds the context too.
            durable_context=False,
        )
        self.run_id, self.prefixes = created.run_id, created.prefixes
        # Who advances the run, so that a killed driver shows as LOST (reflow.runs.liveness),
        # and lost runs of the same parameters are taken over: their finished
        # instances are in the cache.
        self.store.set_run_owner(self.run_id, this_process())
        self.beat = time.monotonic()
        take_over_lost_runs(self.store, self.run_id, self.wf.name, created.user)
        self.usage_path = RunLayout(self.run_dir, self.run_id).usage_file
        self.retries = LocalRetries(self.wf, self.run_dir, self.run_id, self.host)
        # Tasks whose identity holds files named by parameters: taken now, read
        # maybe hours later by a task that runs late in the run.
        # Read back as recorded (JSON) only when some task has such files: the
        # other tasks' parts are not needed after creation.
        if any(p.files for p in created.parts.values()):
            recorded = recorded_parts(self.store, self.run_id)
            self.parts = {n: p for n, p in recorded.items() if p.files}
        self.planner = Planner(
            self.store,
            self.run_id,
            self.wf.tasks,
            self.wiring,
            self.prefixes,
            CachePolicy(self.force, frozenset(self.force_tasks), self.verify),
            file_policies=self.file_policies,
            cache_user=cache_user(self.store, self.run_id, self.wf.config),
        )

    # -- preparing a task -----------------------------------------------------

    def _kwargs(self, name: str, index: int | None) -> dict[str, Any]:
        return self._kwargs_many(name, [index])[0]

    def _kwargs_many(self, name: str, indices: Sequence[int | None]) -> list[dict[str, Any]]:
        """The keyword arguments of each instance at ``indices`` (one loop per batch)."""
        exp = self.tasks[name].exp
        assert exp is not None
        fixed = self._fixed_kwargs(name)
        values = exp.values_many([index or 0 for index in indices])
        if not fixed:
            return values
        return [{**fixed, **v} for v in values]

    def _fixed_kwargs(self, name: str) -> dict[str, Any]:
        """What every element of the task gets besides its ``Result`` inputs: built once."""
        fixed = self.fixed_kwargs.get(name)
        if fixed is None:  # what every element of the task gets: built once per task
            spec = self.wf.tasks[name]
            fixed = {p: self.values[d] for p, d in self.dests.get(name, {}).items()}
            for p in spec.run_dir_params:
                fixed[p] = self.run_dir
            for p in spec.resources_params:
                fixed[p] = Resources.of(spec.config)
            self.fixed_kwargs[name] = fixed
        return fixed

    def _upstream(self, name: str) -> UpstreamOutput:
        """What a finished task gives its dependants; values may stay in the store."""
        state = self.tasks[name]

        def load() -> list[Any]:
            if state.is_array:
                values = self.store.get_array_outputs(self.run_id, name)
            else:
                values = [self.store.get_singleton_output(self.run_id, name)]
            state.values, state.stored = values, False
            return values

        values = None if state.stored else state.values
        return UpstreamOutput(
            name, state.is_array, values, state.hashes, load, self.file_policies[name]
        )

    def _take_cached_array(self, name: str) -> bool:
        """Copy a whole cached array into this run in one step, if there is one."""
        state = self.tasks[name]
        hashes = self.planner.take_cached_array(name, state.array_identity)
        if hashes is None:
            return False
        if not hashes:
            log_empty_fanout(logger, name)
        state.values = None  # left in the store until a dependant needs them
        state.hashes = hashes
        state.status = "done"
        self.progress.add(name, total=len(hashes), cached=len(hashes))
        return True

    def _prepare(self, name: str) -> None:
        """Expand a ready task into instances, take cache hits, queue the rest."""
        spec = self.wf.tasks[name]
        state = self.tasks[name]
        steps = {s for w in self.wiring[name].values() for s in w.steps} | set(spec.config.after)
        upstream = {dep: self._upstream(dep) for dep in steps}
        if spec.config.array:
            state.array_identity = self.planner.array_identity(name, upstream)
            if self._take_cached_array(name):
                return
        try:
            exp = expand(name, spec.config.array, self.wiring[name], upstream, spec.config.after)
        except ExpansionError as exc:
            self._fail_task_without_instances(name, str(exc))
            return
        if spec.config.array and exp.count == 0:
            log_empty_fanout(logger, name)
        state.exp = exp
        state.values = [None] * exp.count
        state.hashes = [""] * exp.count
        state.remaining = 0
        state.todo = list(range(exp.count)) if spec.config.array else [None]
        state.planned = 0
        if spec.config.array and exp.count and self._copy_unchanged(name, upstream):
            return
        state.status = "planning"
        self._plan_next(name)

    def _copy_unchanged(self, name: str, upstream: Mapping[str, UpstreamOutput]) -> bool:
        """Copy the elements unchanged since the last such array; whether none is left to plan.

        See :mod:`reflow.cache.elements`.  Not for a task whose identity holds
        files: its instances are written at once, and their files checked.
        """
        state = self.tasks[name]
        assert state.exp is not None
        if name in self.parts:
            return False
        state.element_key = self.planner.element_key(name, state.exp)
        copied = self.planner.reuse_elements(name, state.element_key, state.exp, upstream)
        if not copied:
            return False
        for index, digest in copied.items():
            state.hashes[index] = digest
        state.stored = True  # their values stay in the store until a dependant needs them
        self.progress.add(name, total=len(copied), cached=len(copied))
        state.todo = [index for index in state.todo if index not in copied]
        if state.todo:
            return False
        state.status = "done"
        self._remember_array(name)
        return True

    def _plan_next(self, name: str) -> None:
        """Plan the next chunk of a task's instances; after the last, the task may end.

        The first chunk is small: its misses go to a worker at once, and the
        rest is planned while the worker runs them.
        """
        state = self.tasks[name]
        assert state.exp is not None
        size = _FIRST_CHUNK if state.planned == 0 else _CHUNK
        self._prepare_chunk(name, state.todo[state.planned : state.planned + size])
        state.planned = min(len(state.todo), state.planned + size)
        if state.queue and not state.inputs_checked:
            state.inputs_checked = True
            try:  # whole (gathered) inputs are built once: fail here, not in a worker
                state.exp.values(state.queue[0] or 0)
            except ExpansionError as exc:
                self._plan_rest(name)  # every instance recorded, then failed
                self._fail_queued(name, exc)
                return
        if state.planned < len(state.todo):
            self.planning[name] = None
            return
        self.planning.pop(name, None)
        state.todo = []
        if state.queue or state.in_flight:
            if state.status == "planning":
                state.status = "queued"
            return
        self._finish_if_done(name)

    def _plan_more(self) -> bool:
        """Whether to plan another chunk now: a task has some, and few of its instances wait.

        Planned instances hold their rows until they end: planning at most a
        chunk ahead of the workers keeps that memory small on a long array.
        """
        if self.stopping or not self.planning:
            return False
        return len(self.tasks[next(iter(self.planning))].queue) < _CHUNK

    def _plan_rest(self, name: str) -> None:
        """Plan every instance of a task still to plan, with no turn of the loop between."""
        state = self.tasks[name]
        while state.planned < len(state.todo):
            self._prepare_chunk(name, state.todo[state.planned : state.planned + _CHUNK])
            state.planned = min(len(state.todo), state.planned + _CHUNK)
        self.planning.pop(name, None)

    def _finish_if_done(self, name: str) -> None:
        """End a task whose instances are all planned and finished (or taken from the cache)."""
        state = self.tasks[name]
        if state.remaining or state.queue or state.in_flight or name in self.planning:
            return
        if state.is_array or state.failed:
            # An array is remembered whole below (a later run copies its rows,
            # which must be SUCCESS by then) and a failure may be notified now;
            # a singleton's result waits for the next write (at most
            # _RECORD_SECONDS): a chain pays no transaction per task for it.
            self._flush(pending_too=False)
        state.status = "failed" if state.failed else "done"
        self._remember_array(name)
        self._ended(name)

    def _remember_array(self, name: str) -> None:
        """Record a fully successful array task so a later run can copy it whole."""
        state = self.tasks[name]
        if state.status == "done" and state.is_array and state.values is not None:
            self.planner.remember_array(
                name, state.array_identity, state.values, state.element_key
            )

    def _prepare_chunk(self, name: str, indices: list[int | None]) -> None:
        """Insert one chunk of a task's instances; record hits, queue misses."""
        state = self.tasks[name]
        assert state.exp is not None and state.values is not None
        # Rows of instances that will run are written when they end (one INSERT
        # each, no UPDATE), or as they are at the next periodic write.  A task
        # whose identity holds files reads its rows back (_check_files): written now.
        defer = name not in self.parts
        chunk = self.planner.insert_chunk(name, state.exp, indices, defer=defer)
        state.ids.update(chunk.ids)
        if chunk.unwritten:
            state.unwritten.update(chunk.unwritten)
            if not self.unwritten_tasks:
                self.unwritten_since = time.monotonic()
            self.unwritten_tasks[name] = None
        for index, hit in chunk.hits.items():
            state.values[index or 0] = hit.output
            state.hashes[index or 0] = hit.output_hash
        for index, digest in chunk.reused.items():  # the value stays in the store
            state.hashes[index or 0] = digest
        state.stored = state.stored or bool(chunk.reused)
        state.queue.extend(chunk.queued)
        if chunk.queued:
            self.active[name] = None
        state.remaining += len(chunk.queued)
        self.progress.add(name, total=len(indices), cached=len(chunk.hits) + len(chunk.reused))

    # -- failures -------------------------------------------------------------

    def _fail_task_without_instances(self, name: str, text: str) -> None:
        state = self.tasks[name]

        iid = self._insert_ended(name, StateUpdate(0, TaskState.FAILED, error_text=text))
        state.ids[None] = iid
        state.status = "failed"
        state.failed = True
        self.progress.add(name, total=1, failed=1)
        outcome = Outcome(None, False, error=text, exception=ExpansionError(text))
        self._on_failure(name, None, outcome)

    def _fail_queued(self, name: str, exc: ExpansionError) -> None:
        """Every queued instance of a task fails with the same wiring error."""
        state = self.tasks[name]
        text = str(exc)
        for i in state.queue:
            self._end(name, i, StateUpdate(0, TaskState.FAILED, error_text=text))
        self._flush(pending_too=False)
        self.progress.add(name, failed=len(state.queue))
        first = state.queue[0]
        state.queue.clear()
        state.remaining = 0
        state.status = "failed"
        state.failed = True
        self._on_failure(name, first, Outcome(first, False, error=text, exception=exc))

    def _on_failure(self, name: str, index: int | None, outcome: Outcome) -> None:
        if self.first_failure is None:
            self.first_failure = (name, index, outcome)
        if self.on_error == "stop":
            self.stopping = True

    def _ended(self, name: str) -> None:
        """Tell the dependants of a task that just ended: make ready, or skip them."""
        status = self.tasks[name].status
        if name in self.ended:  # a dead worker's last element ends its task twice
            return
        self.ended.add(name)
        if status == "done":
            for dependant in self.dependants[name]:
                self.unfinished[dependant] -= 1
                if not self.unfinished[dependant] and self.tasks[dependant].status == "waiting":
                    self.ready.append(dependant)
        elif status in ("failed", "skipped") and self.on_error == "continue":
            self._skip_dependants(name)

    def _skip_dependants(self, name: str) -> None:
        """With on_error="continue", mark every task downstream of a failure SKIPPED."""
        todo = deque(self.dependants[name])
        while todo:
            dependant = todo.popleft()
            state = self.tasks[dependant]
            if state.status != "waiting":
                continue
            bad = [
                d for d in self.deps[dependant] if self.tasks[d].status in ("failed", "skipped")
            ]
            why = f"skipped: upstream task {bad[0]!r} {self.tasks[bad[0]].status}"
            state.ids[None] = self._insert_ended(
                dependant, StateUpdate(0, TaskState.SKIPPED, error_text=why)
            )
            state.status = "skipped"
            self.progress.add(dependant, total=1, skipped=1)
            todo.extend(self.dependants[dependant])

    def _insert_ended(self, name: str, end: StateUpdate) -> int:
        """Record the one instance of ``name`` already ended by ``end``; return its id."""
        [iid] = self.store.retrying(
            partial(
                self.store.insert_ended_instances,
                self.run_id,
                [NewTaskInstance(name, None, TaskState.PENDING, {})],
                [end],
            )
        )
        return iid

    # -- the loop -------------------------------------------------------------

    def _submit(self, backend: ProcessBackend) -> None:
        """Send work from the queues, honouring worker slots, cpus and array_parallelism.

        A task's ``cpus`` counts against the ``max_workers`` slots: a batch of a
        ``cpus=2`` task takes two; one asking more than there are runs alone.
        """
        if self.suspects:
            # After a worker died: run the elements that were in flight one at a
            # time, alone, until the one that kills its worker is found.
            if backend.running() == 0:
                name, index = self.suspects[0]
                self.tasks[name].queue.remove(index)
                self.tasks[name].in_flight += 1
                batch = (name, [(index, self._kwargs(name, index))])
                backend.submit(batch, self.wf.tasks[name].config.cpus)
            return
        for name in list(self.active):
            state = self.tasks[name]
            if not state.queue:
                del self.active[name]
                continue
            spec = self.wf.tasks[name]
            # Batches of this task in flight.  Without array_parallelism each worker
            # also holds the next batch, so it starts it without waiting for the
            # driver to record the last one (a round trip per batch otherwise).
            cap = spec.config.array_parallelism or backend.capacity
            slots = spec.config.cpus
            while state.queue and state.in_flight < cap and backend.can_take(slots):
                # Several elements per batch: fewer round trips to workers.  One
                # worker needs no balancing, only the fewest hand-overs.
                size = (
                    min(len(state.queue), _FLUSH_EVERY)
                    if backend.slots == 1
                    else max(1, min(_BATCH_MAX, len(state.queue) // (backend.slots * 4) or 1))
                )
                size = min(size, self._timed_size(state))
                indices = [state.queue.popleft() for _ in range(min(size, len(state.queue)))]
                items = list(zip(indices, self._kwargs_many(name, indices), strict=True))
                backend.submit((name, items), slots)
                state.in_flight += 1
            if state.queue or state.in_flight:
                state.status = "running"

    @staticmethod
    def _timed_size(state: _TaskState) -> int:
        """Most elements of a batch that should end within ``_BATCH_SECONDS``."""
        if state.seconds is None:
            return _FIRST_BATCH
        return max(1, int(_BATCH_SECONDS / max(state.seconds, 1e-6)))

    def _record(
        self, batch: Batch, outcomes: list[Outcome], usage: BatchUsage, death: str = ""
    ) -> None:
        name, items = batch
        state = self.tasks[name]
        state.in_flight -= 1
        if death:
            self._worker_died(name, items, death)
        # Written with the store's updates (_flush), not one file open per batch.
        line, mean = usage
        if line:
            self.pending_usage.append(line)
        if mean is not None:
            state.seconds = mean if state.seconds is None else (state.seconds + mean) / 2
        succeeded = 0
        values, hashes = state.values, state.hashes
        assert values is not None
        checked = name in self.parts
        for outcome in outcomes:
            index = outcome.index
            if self.suspects and (name, index) in self.suspects:
                self.suspects.remove((name, index))
            state.remaining -= 1
            if outcome.ok:
                if checked:
                    self._check_files(name, outcome, state.ids[index])
                values[index or 0] = outcome.output
                hashes[index or 0] = outcome.output_hash
                self._end(name, index, _success(outcome))
                succeeded += 1
            elif outcome.interrupted:
                self._end(
                    name, index, StateUpdate(0, TaskState.CANCELLED, error_text=outcome.error)
                )
                self.progress.add(name, done=succeeded)
                raise TaskInterrupted(signal.SIGINT)
            elif self.retries.again(name, outcome):  # retry_on lists it (retrying.py)
                state.remaining += 1
                state.queue.append(outcome.index)
            else:
                state.failed = True
                self._end(name, index, StateUpdate(0, TaskState.FAILED, error_text=outcome.error))
                self.progress.add(name, failed=1)
                self._on_failure(name, outcome.index, outcome)
        self.progress.add(name, done=succeeded)  # once per batch, not per element
        if len(self.pending_updates) + len(self.pending_ended) >= _FLUSH_EVERY:
            self._flush(pending_too=False)
        self._finish_if_done(name)

    def _check_files(self, name: str, outcome: Outcome, iid: int) -> None:
        """Move a result whose parameters' files changed since the run began to their identity.

        The same rule as for a queued job of scheduler mode
        (:mod:`reflow.engine.scheduler.results`): the output belongs to the files the
        function read, never to the ones the run started with.
        """
        parts = self.parts[name]
        values = {p: self.values[d] for p, d in self.dests.get(name, {}).items()}
        policy = self.file_policies[name]
        seen = outcome.files or {}
        drift = check_files(dict(parts.files), seen, parts.params, values, policy)
        if drift is None:
            return
        record = self.store.get_task_instance_record(self.run_id, name, outcome.index)
        if record is None:  # pragma: no cover - the engine inserted it
            return
        info = dict(record.cache_info)
        drift.note(info)
        identity = ""
        if drift.params is not None:
            # lazy: the scheduler's result path (~7 ms of imports); only when files drifted
            from reflow.engine.scheduler.results import identity_with_code

            identity = identity_with_code(parts, record, parts.code, drift.params)
        logger.warning("%s", drift.warning(instance_label(name, outcome.index), bool(identity)))
        self.store.set_identity_many({iid: (identity, info)})

    def _worker_died(
        self, name: str, items: list[tuple[int | None, dict[str, Any]]], death: str
    ) -> None:
        """A worker process died while running ``items``: find the element that kills it.

        The elements go on a suspects list, and run again one at a time with
        nothing else in flight; an element whose worker dies then is the one.
        """
        state = self.tasks[name]
        alone = [(name, index) for index, _ in items] == self.suspects[:1]
        if not alone:
            for index, _ in items:
                if (name, index) not in self.suspects:
                    self.suspects.append((name, index))
                state.queue.appendleft(index)
            self.active[name] = None
            return
        index = items[0][0]
        self.suspects.pop(0)
        text = (
            f"the worker process {death} before returning a result "
            f"(while running {instance_label(name, index)})"
        )
        outcome = Outcome(index, False, error=text, exception=ChildProcessError(text))
        self._record((name, []), [outcome], ("", None))
        state.in_flight += 1  # _record counted this batch once already

    def _keep_alive(self) -> None:
        """Record the instances finished so far and refresh the run's heartbeat.

        So a killed run loses a few seconds of finished work at most, and a
        reader on another host sees the driver is alive.
        """
        self._flush()
        self.store.heartbeat_run(self.run_id)
        notify_due(self.store, self.run_id, self.wf.config)  # a first failure, once recorded
        self.beat = time.monotonic()

    def _end(self, name: str, index: int | None, update: StateUpdate) -> None:
        """Record that an instance ended (``update``'s instance id is filled in here).

        An instance whose row is not written yet is inserted ended at the next
        write: one INSERT, no UPDATE.
        """
        state = self.tasks[name]
        row = state.unwritten.pop(index, None)
        if row is not None:
            self.pending_ended.append((row, update))
        else:
            self.pending_updates.append(replace(update, instance_id=state.ids[index]))

    def _write_unwritten(self) -> None:
        """Insert the rows of the instances planned but not ended, as they are.

        Done once they waited ``_RECORD_SECONDS`` (see :meth:`_loop`), so
        ``reflow status`` in another shell sees a long task's instances; an
        array that ends sooner has each row written once, ended.
        """
        if not self.unwritten_tasks:
            return
        names, self.unwritten_tasks = list(self.unwritten_tasks), {}
        waiting = [(n, i) for n in names for i in self.tasks[n].unwritten]
        rows = [self.tasks[n].unwritten.pop(i) for n, i in waiting]
        ids = self.store.retrying(partial(self.store.insert_task_instances, self.run_id, rows))
        for (n, i), iid in zip(waiting, ids, strict=True):
            self.tasks[n].ids[i] = iid

    def _flush(self, *, pending_too: bool = True) -> None:
        """Write what ended since the last write; with ``pending_too``, every row not written."""
        self.recorded = time.monotonic()
        if self.pending_usage:
            lines, self.pending_usage = self.pending_usage, []
            append_lines(self.usage_path, lines)
        if self.pending_ended:
            ended, self.pending_ended = self.pending_ended, []
            rows = [row for row, _ in ended]
            ids = self.store.retrying(
                partial(
                    self.store.insert_ended_instances, self.run_id, rows, [u for _, u in ended]
                )
            )
            for row, iid in zip(rows, ids, strict=True):
                self.tasks[row.task_name].ids[row.array_index] = iid
        if pending_too:
            self._write_unwritten()
        if self.pending_updates:
            updates, self.pending_updates = self.pending_updates, []
            self.store.apply_state_updates(updates)

    def _cancel_rest(self, why: str) -> None:
        """Mark every instance that has not finished CANCELLED (planned first, if not yet)."""
        for name in list(self.planning):
            self._plan_rest(name)
        self._flush()
        active = self.store.list_task_instance_records(
            self.run_id, states=[TaskState.PENDING, TaskState.SUBMITTED, TaskState.RUNNING]
        )
        if active:
            self.store.apply_state_updates(
                [StateUpdate(r.id, TaskState.CANCELLED, error_text=why) for r in active]
            )

    def _salvage(self, backend: ProcessBackend) -> None:
        """Keep the results that finished before an interruption."""
        for (name, _), outcomes, _, _ in backend.collect(timeout=0):
            for outcome in outcomes:
                if outcome.ok:
                    self._end(name, outcome.index, _success(outcome))
        self._flush()

    def execute(self) -> RunPlace:
        with rare_collections():
            return self._execute()

    def _execute(self) -> RunPlace:
        self._create_run()
        functions: dict[str, Callable[..., Any]] = {n: self.wf.tasks[n].func for n in self.order}
        backend = ProcessBackend(
            functions,
            self.max_workers,
            stop_on_failure=self.on_error == "stop",
            policies=self.file_policies,
            watched={name: list(parts.files) for name, parts in self.parts.items()},
            retryable=self.retries.retryable(self.order),
            host=self.host,
        )
        logger.info("run %s of %s in %s", self.run_id, self.wf.name, self.run_dir)
        status = RunState.FAILED
        try:
            with graceful_shutdown(), self.progress:
                self._loop(backend)
            status = RunState.FAILED if self.first_failure else RunState.SUCCESS
        except (TaskInterrupted, KeyboardInterrupt) as exc:
            self._salvage(backend)
            backend.shutdown(kill=True)
            self._cancel_rest(f"cancelled: {exc or 'interrupted'}")
            self.store.update_run_status(self.run_id, RunState.CANCELLED)
            notify_due(self.store, self.run_id, self.wf.config)
            raise
        except BaseException:
            backend.shutdown(kill=True)
            self._cancel_rest("cancelled: reflow stopped on an internal error")
            self.store.update_run_status(self.run_id, RunState.FAILED)
            notify_due(self.store, self.run_id, self.wf.config)
            raise
        backend.shutdown()
        if self.stopping:
            self._cancel_rest("cancelled: the run stopped at the first failure")
        self._flush()
        self.store.update_run_status(self.run_id, status)
        notify_due(self.store, self.run_id, self.wf.config)  # this process finished the run
        run = RunPlace(self.store, self.run_id, self.run_dir)
        if self.first_failure and self.on_error == "stop":
            name, index, outcome = self.first_failure
            label = instance_label(name, index)
            first_line = outcome.error.strip().splitlines()[-1] if outcome.error else "failed"
            first_line = first_line.rstrip(".") + "."
            raise TaskFailedError(
                f"Task {label} failed in run {self.run_id}: {first_line} The run stopped; "
                "the other unfinished instances are CANCELLED and the traceback is stored "
                f"with the instance (wf.run_status({self.run_id!r}, store)).",
                name,
                index,
                self.run_id,
            ) from outcome.exception
        return run

    def _wait_time(self) -> float:
        """How long the loop may wait for workers: until the next write is due, 0.5 s at most.

        Finished instances are written ``_RECORD_SECONDS`` after the last write,
        not up to half a second later: with batches queued ahead in the workers,
        no batch's end need wake the loop on time.
        """
        due = []
        if self.pending_updates or self.pending_usage or self.pending_ended:
            due.append(self.recorded + _RECORD_SECONDS)
        if self.unwritten_tasks:  # rows of instances still running (_write_unwritten)
            due.append(self.unwritten_since + _RECORD_SECONDS)
        if not due:
            return 0.5
        return min(0.5, max(0.0, min(due) - time.monotonic()))

    def _collect(self, backend: ProcessBackend, timeout: float | None) -> list[Finished]:
        """What the workers finished within ``timeout``; the store's upkeep while they work.

        Before the loop waits, and at most every ``_IDLE_SECONDS``, the store
        does what it would otherwise do inside a later write (``Store.idle``):
        while the workers run, that time is free.
        """
        if timeout != 0 and backend.running():
            now = time.monotonic()
            if now - self.idled >= _IDLE_SECONDS:
                finished = backend.collect(timeout=0)
                if finished:
                    return finished
                self.idled = now
                self.store.idle()
        return backend.collect(timeout=timeout)

    def _loop(self, backend: ProcessBackend) -> None:
        while True:
            if not self.stopping:
                # The tasks ready now are all prepared, even after a failure among
                # them; those they make ready wait for the next turn.
                ready, self.ready = self.ready, deque()
                for name in ready:
                    self._prepare(name)
                    if self.tasks[name].status not in ("queued", "planning"):
                        self._ended(name)
                self._submit(backend)
                if self._plan_more():  # one chunk per turn, while the workers run the last
                    self._plan_next(next(iter(self.planning)))
            pending = len(self.pending_updates) + len(self.pending_ended)
            if pending >= _EARLY_FLUSH and backend.running() >= backend.capacity:
                # Every worker holds its next batch: the driver has nothing else to
                # do until one ends, so it writes now what it would write at the end.
                self._flush(pending_too=False)
            wait = self._wait_time() if backend.running() else None
            finished = self._collect(backend, 0 if self._plan_more() else wait)
            for batch, outcomes, usage, death in finished:
                self._record(batch, outcomes, usage, death)
            self.progress.busy(backend.busy())
            self.progress.show()
            now = time.monotonic()
            if now - self.beat >= HEARTBEAT_SECONDS:
                self._keep_alive()  # writes everything
            else:
                # What finished is written within _RECORD_SECONDS; so are the rows of
                # instances planned that long ago and still running (_write_unwritten).
                if (self.pending_updates or self.pending_usage or self.pending_ended) and (
                    now - self.recorded >= _RECORD_SECONDS
                ):
                    self._flush(pending_too=False)
                if self.unwritten_tasks and now - self.unwritten_since >= _RECORD_SECONDS:
                    self._write_unwritten()
            busy = backend.running() or (
                not self.stopping
                and (bool(self.planning) or any(self.tasks[n].queue for n in self.active))
            )
            if not busy and (self.stopping or not self.ready):
                break


def run_local(
    workflow: Workflow,
    analysis: Analysis,
    run_dir: str | Path,
    *,
    max_workers: int = 1,
    force: bool = False,
    force_tasks: list[str] | None = None,
    verify: bool = False,
    on_error: str = "stop",
    store: Store | None = None,
    **parameters: Any,
) -> RunPlace:
    """Run ``workflow`` on this machine; see :meth:`reflow.Workflow.run_local`.

    ``analysis`` is the workflow's :class:`~reflow.define.analysis.Analysis`;
    the caller (``Workflow.run_local``) makes the run's handle from the place
    returned.
    """
    started = time.perf_counter()
    run = LocalRun(
        workflow,
        analysis,
        run_dir,
        max_workers=max_workers,
        force=force,
        force_tasks=force_tasks,
        verify=verify,
        on_error=on_error,
        store=store,
        parameters=parameters,
    ).execute()
    logger.info("run %s finished in %.2f s", run.run_id, time.perf_counter() - started)
    return run

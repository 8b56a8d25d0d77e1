"""One dispatcher wave: ingest, reconcile, plan, submit, chain (design §5).

Run as a short scheduler job (``python -m reflow.job dispatch <run.json>``, see
:mod:`reflow.job`), started by ``submit`` and then by the previous wave with an
after-any dependency on that wave's jobs.  A wave can be killed at any point
and run again: every step reads the state it needs from the store and the run
directory, and instances are marked before their job is submitted, so nothing
is submitted twice.
"""

from __future__ import annotations

import fcntl
import json
import logging
import secrets
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow._types import RunState, TaskState
from reflow.cache.expand import ExpansionError, UpstreamOutput, expand
from reflow.cache.filestate import task_policies
from reflow.cache.planning import CachePolicy, Planner
from reflow.cache.seenfiles import seen_files
from reflow.cache.sharing import cache_user
from reflow.define.analysis import Analysis, analyse
from reflow.engine.scheduler.autopack import auto_pack
from reflow.engine.scheduler.code import code_record, job_script
from reflow.engine.scheduler.forward import AheadJobs, is_ahead
from reflow.engine.scheduler.loader import load_workflow
from reflow.engine.scheduler.packing import (
    AUTO,
    PackPlan,
    array_tasks,
    pack_size,
    pack_walltime,
    plan_packs,
    read_pack_plan,
)
from reflow.engine.scheduler.results import ResultReader
from reflow.engine.scheduler.retrying import Retrying
from reflow.engine.scheduler.stderrtail import stderr_tail
from reflow.env import REFLOW_TASK_RESOURCES
from reflow.errors import ReflowError
from reflow.executors.environment import job_variables
from reflow.executors.jobs import (
    ArraySpec,
    JobResources,
    JobSpec,
    JobState,
    JobStatus,
    element_id,
    split_element_id,
)
from reflow.executors.resolve import executor_from_record
from reflow.manifest import CODEC
from reflow.notify.due import notify_due
from reflow.runs.context import context_file, read_context, recorded_context
from reflow.runs.creation import stored_prefixes
from reflow.runs.fanout import log_empty_fanout
from reflow.runs.files import read_json, write_json_atomic
from reflow.runs.layout import RunLayout
from reflow.runs.liveness import forget_after, record_dispatcher
from reflow.stores import NewTaskInstance, StateUpdate, open_store

if TYPE_CHECKING:
    from reflow.cache.expand import Expansion
    from reflow.define.wiring import ParamWiring
    from reflow.executors.base import Executor
    from reflow.stores import Store, TaskInstanceRecord
    from reflow.workflow import Workflow

__all__ = [
    "Dispatcher",
    "dispatch_once",
    "dispatcher_command",
    "run_lock",
    "run_wave",
    "worker_command",
]

logger = logging.getLogger(__name__)

_ACTIVE = (TaskState.SUBMITTED, TaskState.RUNNING)
_WAITING = (TaskState.PENDING, TaskState.RETRYING)
_PENDING_PREFIX = "pending:"

_REASONS = {
    JobState.TIMEOUT: "TIMEOUT: the job ran out of walltime",
    JobState.OUT_OF_MEMORY: "OUT_OF_MEMORY: the job was killed for using too much memory",
    JobState.NODE_FAIL: "NODE_FAIL: the node running the job failed",
    JobState.CANCELLED: "CANCELLED: the job was cancelled outside reflow",
    JobState.PREEMPTED: "PREEMPTED: a higher-priority job took the job's place",
    JobState.FAILED: "the job failed without writing a result",
    JobState.COMPLETED: "the job ended without writing a result",
}


_OVER = JobState.ended() | {JobState.PREEMPTED}
"""States after which a job will not run again by itself: a preempted job the scheduler
requeued shows as waiting again (Slurm: PENDING), so PREEMPTED means it was not requeued
(retrying.py submits it again, not counted)."""

_SPECIFIC = frozenset(
    {JobState.TIMEOUT, JobState.OUT_OF_MEMORY, JobState.NODE_FAIL, JobState.CANCELLED}
)


def worker_command(run_json: Path, task: str) -> tuple[str, ...]:
    """The command a worker job of ``task`` runs (:mod:`reflow.job`), given the ``run.json``."""
    return (sys.executable, "-m", "reflow.job", "work", str(run_json), task)


def dispatcher_command(run_json: Path) -> tuple[str, ...]:
    """The command a dispatcher job runs (:mod:`reflow.job`), given the run's ``run.json``."""
    return (sys.executable, "-m", "reflow.job", "dispatch", str(run_json))


@contextmanager
def run_lock(layout: RunLayout) -> Iterator[None]:
    """Hold the run's dispatch lock: one wave at a time, and no ``cancel`` inside a wave."""
    path = layout.dispatch_lock
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _failure_text(status: JobStatus) -> str:
    text = _REASONS.get(status.state, f"{status.state.value}: the job ended without a result")
    if status.exit_code not in (None, 0) and status.state is JobState.FAILED:
        text = f"the job failed with exit status {status.exit_code} without writing a result"
    if status.reason:
        text += f" ({status.reason})"
    return text + "; see the job's log files."


def _recorded_cap(run_json: Path) -> int | None:
    """``max_jobs`` as ``run.json`` records it: the stores keep no column for it."""
    try:
        return read_context(run_json).max_jobs
    except ReflowError:
        return None


def _new_token() -> str:
    """A pending job id: instances are marked with it before their job is submitted."""
    return _PENDING_PREFIX + secrets.token_hex(6)


class Dispatcher:
    """One wave of one run.

    Parameters
    ----------
    store : Store
        The run's manifest store.
    run_id : str
        The run.
    executor : Executor or None
        The executor; rebuilt from the run's record when ``None``.
    workflow : Workflow or None
        The workflow; loaded from the run's script when ``None``.
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        executor: Executor | None = None,
        workflow: Workflow | None = None,
    ) -> None:
        store.init()
        record = store.get_run_record(run_id)
        if record is None:
            raise ReflowError(f"Run {run_id!r} is not in the manifest store.")
        self.store = store
        self.run_id = run_id
        self.record = record
        self.context = recorded_context(record)
        self.run_dir = self.context.run_dir
        self.layout = RunLayout(self.run_dir, run_id)
        self.frozen = code_record(self.run_dir, run_id)
        self.script = job_script(self.context, self.frozen)
        self.argv = list(self.context.argv)
        self.context_file = context_file(self.context)
        self.wf = workflow or load_workflow(self.script, record.graph_name, self.argv)
        self.results = ResultReader(store, run_id, self.run_dir, task_policies(self.wf))
        self.executor = executor or executor_from_record(record.executor, record.executor_options)
        self.calls = {"submit": 0, "query": 0, "cancel": 0}
        self._analysis: Analysis | None = None
        self._planner_made: Planner | None = None
        self.interrupted: dict[int, StateUpdate] = {}
        self.unknown_jobs: set[str] = set()
        """Job ids of active instances their scheduler did not report this wave."""
        self.forget_after = forget_after()
        self.retrying = Retrying(self.wf, self.layout, self.executor)
        self._pack_sizes: dict[str, int] = {}
        self.max_jobs = _recorded_cap(self.context_file)
        """The run's cap on queued jobs (:attr:`~reflow.runs.context.RunContext.max_jobs`)."""

    def _analyse(self) -> Analysis:
        """The workflow's :class:`~reflow.define.analysis.Analysis`, computed once per wave."""
        if self._analysis is None:
            self._analysis = analyse(self.wf)
        return self._analysis

    # -- 1. ingest result files ----------------------------------------------------

    def _result_update(self, inst: TaskInstanceRecord) -> tuple[StateUpdate | None, bool]:
        return self.results.update(inst)

    def ingest(self) -> list[TaskInstanceRecord]:
        """Record finished and started workers; return the instances still active.

        A worker stopped by a signal wrote an "interrupted" result: that is
        kept for :meth:`reconcile`, where the scheduler can say why (walltime,
        cancelled outside reflow) before it is recorded.
        """
        self.interrupted = {}
        self._adopt_sent()
        active = self.store.list_task_instance_records(self.run_id, states=_ACTIVE)
        ahead: dict[str, list[TaskInstanceRecord]] = {}
        for inst in active:
            if is_ahead(inst):
                ahead.setdefault(inst.task_name, []).append(inst)
        still = self._ingest([i for i in active if not is_ahead(i)])
        # Upstream first: an instance submitted ahead takes its identity from its
        # upstream outputs, recorded just before.
        jobs = AheadJobs(self)
        for name in self._analyse().order:
            if name in ahead:
                still += self._ingest(jobs.settle(name, ahead[name]))
        return still

    def _ingest(self, insts: Sequence[TaskInstanceRecord]) -> list[TaskInstanceRecord]:
        updates: list[StateUpdate] = []
        still: list[TaskInstanceRecord] = []
        for inst in insts:
            update, interrupted = self._result_update(inst)
            if update is not None and not interrupted:
                updates.append(update)
                continue
            if update is not None:
                self.interrupted[inst.id] = update
            started = self.layout.started_file(inst.task_name, inst.array_index)
            if inst.state is TaskState.SUBMITTED and started.exists():
                updates.append(StateUpdate(inst.id, TaskState.RUNNING))
            still.append(inst)
        self.results.apply(self.retrying.review(insts, updates, {}))  # listed exceptions
        return still

    def _adopt_sent(self) -> None:
        """Give each instance of a sent submission its job id, from one element's start record.

        A dispatcher killed between submitting a job and recording its id
        leaves the job's instances with their pending token
        (:meth:`_submit_job`).  The first of them to start names the job in
        its start record: that submission was sent (:meth:`_unsent`), and
        every instance holding its token is in that job, in its pack's array
        task (the pack plan is named after the token) or at its own index.
        """
        by_token: dict[str, list[TaskInstanceRecord]] = {}
        for inst in self._marked():
            by_token.setdefault(inst.job_id or "", []).append(inst)
        updates: list[StateUpdate] = []
        for token, insts in by_token.items():
            job = next(filter(None, (self._started_job(i) for i in insts)), None)
            if job is None:
                continue
            task = insts[0].task_name
            plan = read_pack_plan(self.layout, task, token.removeprefix(_PENDING_PREFIX))
            tasks = array_tasks(plan, [i.array_index for i in insts])
            updates += [
                StateUpdate(
                    i.id,
                    TaskState.SUBMITTED,
                    job_id=job
                    if i.array_index is None
                    else element_id(job, tasks.get(i.array_index, i.array_index)),
                )
                for i in insts
            ]
        if updates:
            logger.info("recording %d job id(s) a lost wave submitted", len(updates))
            self.store.apply_state_updates(updates)

    def _started_job(self, inst: TaskInstanceRecord) -> str | None:
        """The job id an instance's start record names (``None``: not started, or unnamed)."""
        try:
            mark = read_json(self.layout.started_file(inst.task_name, inst.array_index))
        except (FileNotFoundError, ValueError):
            return None
        job = mark.get("job_id") if isinstance(mark, dict) else None
        return str(job) if job else None

    # -- 2. reconcile with the scheduler --------------------------------------------

    def reconcile(self, active: Sequence[TaskInstanceRecord]) -> list[TaskInstanceRecord]:
        """One batched query; instances whose job ended without a result fail.

        A job the scheduler does not report (it forgot the job, or never had
        it) is waited for across waves, up to :func:`forget_after` seconds from
        the first wave that missed it; then, still without a result, its
        instance fails.  Such jobs are left out of the next dispatcher's
        dependencies (a scheduler refuses a dependency on a job it does not
        know): :attr:`unknown_jobs` holds them.
        """
        known = [i for i in active if i.job_id and not i.job_id.startswith(_PENDING_PREFIX)]
        bases = sorted({split_element_id(i.job_id or "")[0] for i in known})
        statuses: dict[str, JobStatus] = {}
        if bases:
            statuses = self.executor.query(bases)
            self.calls["query"] += 1
        # instance id -> when its job was first seen unknown
        unknown_path = self.layout.unknown_file
        try:
            first_unknown: dict[str, float] = read_json(unknown_path)
        except (FileNotFoundError, ValueError):
            first_unknown = {}
        still_unknown: dict[str, float] = {}
        ended_ahead: list[tuple[TaskInstanceRecord, JobStatus]] = []
        now = time.time()
        updates: list[StateUpdate] = []
        still: list[TaskInstanceRecord] = []
        for inst in active:
            status = statuses.get(inst.job_id or "")
            deferred = self.interrupted.get(inst.id)
            if status is None or status.state not in _OVER:
                # Interrupted, and the scheduler says no more; a job it shows again
                # waiting or running was requeued (preempted): that run is waited for.
                if deferred is not None and (status is None or status.state is JobState.UNKNOWN):
                    updates.append(deferred)
                    continue
                # Not reported at all (no reason given): forgotten, or not yet shown.  A
                # state the scheduler reports but reflow cannot map keeps its reason and
                # is waited for, as a running job.
                unknown = (
                    status is not None and status.state is JobState.UNKNOWN and not status.reason
                )
                if unknown and inst.job_id and not inst.job_id.startswith(_PENDING_PREFIX):
                    late, _ = self._result_update(inst)
                    if late is not None:
                        updates.append(late)
                        continue
                    since = first_unknown.get(str(inst.id), now)
                    if now - since >= self.forget_after:
                        updates.append(
                            StateUpdate(
                                inst.id,
                                TaskState.FAILED,
                                error_text=(
                                    f"the scheduler no longer knows job {inst.job_id} (for "
                                    f"{now - since:.0f} s; it may have purged the job from its "
                                    "history) and the job left no result. Retry the run."
                                ),
                            )
                        )
                        continue
                    still_unknown[str(inst.id)] = since
                    self.unknown_jobs.add(inst.job_id)
                still.append(inst)
                continue
            if deferred is not None:
                text = _failure_text(status) if status.state in _SPECIFIC else ""
                updates.append(
                    StateUpdate(
                        inst.id,
                        TaskState.FAILED,
                        error_text=f"{text} The worker was stopped by a signal."
                        if text
                        else deferred.error_text,
                    )
                )
                continue
            late, _ = self._result_update(inst)  # the worker may have just finished
            if late is None and is_ahead(inst):  # after its upstream: it may never have run
                ended_ahead.append((inst, status))
                continue
            if late is None:
                text = _failure_text(status)
                tail = stderr_tail(self.layout, self.executor, inst.task_name, inst.job_id or "")
                if tail:  # why a job died before its worker could say: its own stderr
                    text += f"\n--- last lines of its stderr ---\n{tail}"
                late = StateUpdate(inst.id, TaskState.FAILED, error_text=text)
            updates.append(late)
        self.results.apply(self.retrying.review(active, updates, statuses))
        self._never_ran(ended_ahead)
        if still_unknown or first_unknown:
            write_json_atomic(unknown_path, still_unknown)
        return still

    def _never_ran(self, ended: Sequence[tuple[TaskInstanceRecord, JobStatus]]) -> None:
        """Jobs submitted ahead that ended without a result: cancelled if an upstream failed.

        Upstream tasks first, each recorded before the next is judged: a
        gather after a chain whose elements were cancelled is cancelled too.
        """
        by_task: dict[str, list[tuple[TaskInstanceRecord, JobStatus]]] = {}
        for inst, status in ended:
            by_task.setdefault(inst.task_name, []).append((inst, status))
        jobs = AheadJobs(self)
        for name in self._analyse().order:
            if name not in by_task:
                continue
            summary = self._summary()  # with the upstream tasks just recorded
            updates = []
            again: list[int] = []
            for inst, status in by_task[name]:
                retried = jobs.upstream_retrying(inst, summary)
                if retried is not None:  # submitted again, after the retry of its upstream
                    text = f"not run: {retried} is being retried; submitted again after it"
                    updates.append(StateUpdate(inst.id, TaskState.CANCELLED, error_text=text))
                    again.append(inst.id)
                    continue
                never = jobs.cancelled_upstream(inst, summary)
                if never is not None:  # its scheduler ended it: an upstream job failed
                    updates.append(StateUpdate(inst.id, TaskState.CANCELLED, error_text=never))
                else:
                    updates.append(
                        StateUpdate(inst.id, TaskState.FAILED, error_text=_failure_text(status))
                    )
            if updates:
                self.store.apply_state_updates(updates)
            if again:
                self.store.apply_state_updates(
                    [StateUpdate(iid, TaskState.RETRYING) for iid in again]
                )

    # -- 3. plan ready tasks ------------------------------------------------------------

    def _summary(self) -> dict[str, dict[str, int]]:
        return self.store.task_state_summary(self.run_id)

    def _planned(self) -> dict[str, Any]:
        path = self.layout.planned_file
        try:
            data: dict[str, Any] = read_json(path)
            return data
        except (FileNotFoundError, ValueError):
            return {}

    def _mark_planned(self, planned: dict[str, Any]) -> None:
        write_json_atomic(self.layout.planned_file, planned)

    def _complete(
        self, task: str, planned: dict[str, Any], summary: dict[str, dict[str, int]]
    ) -> bool:
        if task not in planned:
            return False
        counts = summary.get(task, {})
        return sum(counts.values()) == planned[task]["count"] and set(counts) <= {"SUCCESS"}

    def plan(self) -> None:
        """Create the instances of every task whose upstream tasks all succeeded."""
        analysis = self._analyse()
        order, wiring = analysis.order, analysis.wiring
        planned = self._planned()
        summary = self._summary()
        planner = self._planner()
        for name in order:
            if name in planned:
                continue
            spec = self.wf.tasks[name]
            if not all(self._complete(d, planned, summary) for d in spec.dependencies):
                continue
            upstream = self._upstream(name, wiring)
            entry: dict[str, Any] = {}
            if spec.config.array:
                entry["array_identity"] = planner.array_identity(name, upstream)
                copied = planner.take_cached_array(name, entry["array_identity"])
                if copied is not None:
                    if not copied:
                        log_empty_fanout(logger, name)
                    planned[name] = {**entry, "count": len(copied)}
                    self._mark_planned(planned)
                    summary = self._summary()
                    continue
            try:
                exp = expand(name, spec.config.array, wiring[name], upstream, spec.config.after)
            except ExpansionError as exc:
                self._fail_unexpandable(name, str(exc))
                planned[name] = {**entry, "count": 1}
                self._mark_planned(planned)
                continue
            if spec.config.array and exp.count == 0:
                log_empty_fanout(logger, name)
            existing = {
                r.array_index
                for r in self.store.list_task_instance_records(self.run_id, task_name=name)
            }
            indices: list[int | None] = list(range(exp.count)) if spec.config.array else [None]
            todo = [i for i in indices if i not in existing]  # a wave killed mid-plan
            for start in range(0, len(todo), 5000):
                chunk = planner.insert_chunk(name, exp, todo[start : start + 5000])
                self._write_inputs(name, exp, chunk.queued)
            planned[name] = {**entry, "count": exp.count}
            self._mark_planned(planned)
            summary = self._summary()

    def _planner(self) -> Planner:
        """The run's :class:`~reflow.cache.planning.Planner`, made once per wave."""
        if self._planner_made is None:
            context = self.context
            self._planner_made = Planner(
                self.store,
                self.run_id,
                self.wf.tasks,
                self._analyse().wiring,
                stored_prefixes(self.store, self.run_id, self._code()),
                CachePolicy(context.force, context.force_tasks, context.verify),
                code=self._code(),
                file_policies=task_policies(self.wf),
                cache_user=cache_user(self.store, self.run_id, getattr(self.wf, "config", None)),
            )
        return self._planner_made

    def _code(self) -> dict[str, str]:
        """Code fingerprints of tasks whose code the run re-froze at ``retry``."""
        return dict(self.frozen.fingerprints) if self.frozen is not None else {}

    def _upstream(
        self, name: str, wiring: Mapping[str, Mapping[str, ParamWiring]]
    ) -> dict[str, UpstreamOutput]:
        """The finished upstream tasks of ``name``: hashes now, values when needed."""
        spec = self.wf.tasks[name]
        policies = task_policies(self.wf)
        upstream = {}
        for dep in {s for w in wiring[name].values() for s in w.steps} | set(spec.config.after):
            hashes = self.store.get_all_output_hashes(self.run_id, dep)
            upstream[dep] = UpstreamOutput(
                dep,
                self.wf.tasks[dep].config.array,
                None,
                hashes,
                self._loader(dep),
                policies[dep],
            )
        return upstream

    def _expansion(self, name: str) -> Expansion:
        """The inputs of ``name``'s instances, computed again from the store."""
        wiring = self._analyse().wiring
        spec = self.wf.tasks[name]
        return expand(
            name, spec.config.array, wiring[name], self._upstream(name, wiring), spec.config.after
        )

    def _loader(self, task: str) -> Callable[[], list[Any]]:
        def load() -> list[Any]:
            if self.wf.tasks[task].config.array:
                return self.store.get_array_outputs(self.run_id, task)
            return [self.store.get_singleton_output(self.run_id, task)]

        return load

    def _fail_unexpandable(self, name: str, text: str) -> None:
        def write() -> None:
            [iid] = self.store.insert_task_instances(
                self.run_id, [NewTaskInstance(name, None, TaskState.PENDING, {})]
            )
            self.store.apply_state_updates([StateUpdate(iid, TaskState.FAILED, error_text=text)])

        self.store.retrying(write)

    def _write_inputs(
        self,
        name: str,
        exp: Expansion,
        indices: Sequence[int | None],
        seen: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the inputs file of each of ``indices``.

        ``seen`` gives the states of the inputs' files for an instance
        submitted ahead, as its worker read them (it checked them against
        the upstream hashes itself); otherwise they are taken now.
        """
        spec = self.wf.tasks[name]
        values = self.record.parameters
        dests = self._analyse().param_dests.get(name, {})
        fixed = {p: values[d] for p, d in dests.items() if d in values}
        policy = task_policies(self.wf)[name]
        for index in indices:
            inputs = exp.values(index or 0)
            payload: dict[str, Any] = {
                "argv": self.argv,
                "run_id": self.run_id,
                "kwargs": CODEC.dumps({**fixed, **inputs}),
                "run_dir_params": list(spec.run_dir_params),
                "policy": policy,  # so the worker need not read the configuration
            }
            # The states of the files the Result inputs name, as planned: the
            # worker's own look is compared with them (reflow.engine.scheduler.results).
            # Parameters' states are in the run's identity parts already.
            if seen is None:
                planned = seen_files(inputs, policy)
            else:  # the worker's states of its inputs (parameters are checked as planned)
                planned = {k: v for k, v in seen.items() if k in inputs}
            if planned:
                payload["files"] = planned
            # Not fsync'ed: retry writes them again (runs/files.py says why).
            write_json_atomic(self.layout.input_file(name, index), payload, durable=False)

    # -- 4. submit ------------------------------------------------------------------------

    def _job_spec(
        self,
        name: str,
        indices: list[int | None],
        pack: PackPlan | None = None,
        retried: dict[str, Any] | None = None,
    ) -> JobSpec:
        spec = self.wf.tasks[name]
        options = self.wf.config.task_submit_options(spec.config.submit_options)
        cpus, walltime, mem = spec.config.cpus, spec.config.time, spec.config.mem
        if retried is not None:  # a retry asks for its own (retrying.py)
            asked = self.retrying.job_resources(retried, options)
            cpus, walltime, mem = asked.cpus, asked.time, asked.mem
            options = dict(asked.options)
        # What one element is given, for a task that asks (Resources): a retry's request.
        given = json.dumps({"cpus": cpus, "mem": mem, "time": walltime})
        array = None
        command = worker_command(self.context_file, name)
        if pack is not None:  # one array task per pack, running its elements in turn
            array = ArraySpec(pack.array_tasks, spec.config.array_parallelism)
            command = (*command, pack.name)
            walltime = pack_walltime(walltime, max(len(g) for g in pack.groups))
        elif spec.config.array:
            array = ArraySpec(
                tuple(i for i in indices if i is not None), spec.config.array_parallelism
            )
        return JobSpec(
            name=f"{self.wf.name}.{name}",
            command=command,
            workdir=self.run_dir,
            log_dir=self.layout.logs_dir,
            resources=JobResources(
                cpus=cpus,
                time=walltime,
                mem=mem,
                options=options,
                gpus=spec.config.gpus,
                gpu_type=spec.config.gpu_type,
                environment=spec.config.environment,
            ),
            array=array,
            env={**job_variables(self.run_id), REFLOW_TASK_RESOURCES: given},
            log_name=name,
            # What a containerised worker reads besides the run directory: the
            # script (as run, and where it was written, for its sibling modules)
            # and the Python environment.
            binds=(
                *(str(Path(p).resolve().parent) for p in (self.script, self.context.script) if p),
                sys.prefix,
            ),
        )

    def _packed_job(
        self,
        name: str,
        insts: Sequence[TaskInstanceRecord],
        retried: dict[str, Any] | None = None,
    ) -> tuple[JobSpec, PackPlan | None, str]:
        """The job of one submission of ``insts`` (ascending), packed as the task asks.

        Returns the job, its pack plan (written; ``None`` when not packed) and
        the pending token to mark the instances with (the plan's name).
        """
        token = _new_token()
        indices = [i.array_index for i in insts]
        pack = plan_packs(self.layout, name, self._pack_size(name), indices, token)
        return self._job_spec(name, indices, pack, retried), pack, token

    def _pack_size(self, name: str) -> int:
        """Elements per array task of ``name`` this wave (``pack="auto"`` measured once)."""
        if name not in self._pack_sizes:
            config = self.wf.tasks[name].config
            size = pack_size(config.pack, self.wf.config.pack, array=config.array)
            if size == AUTO:  # a pack never holds more than the elements submitted
                size = auto_pack(
                    self.store, self.record.graph_name, name, None, user_id=self.record.user_id
                ).size
            self._pack_sizes[name] = int(size)
        return self._pack_sizes[name]

    def _array_task(self, inst: TaskInstanceRecord) -> str:
        """The id of the array task (or job) ``inst`` runs in, pending token or not."""
        job = inst.job_id or ""
        if not job.startswith(_PENDING_PREFIX) or inst.array_index is None:
            return job
        # Sent, its id not known yet: its pack's number is in the plan named by the token.
        plan = read_pack_plan(self.layout, inst.task_name, job.removeprefix(_PENDING_PREFIX))
        number = array_tasks(plan, [inst.array_index])[inst.array_index] if plan else None
        return element_id(job, inst.array_index if number is None else number)

    def _jobs(self, name: str, count: int) -> int:
        """How many array tasks (jobs, for the cap) ``count`` elements of ``name`` make."""
        return -(-count // self._pack_size(name))

    def _marked(self) -> list[TaskInstanceRecord]:
        """SUBMITTED instances still holding the pending token they were marked with."""
        return [
            inst
            for inst in self.store.list_task_instance_records(
                self.run_id, states=[TaskState.SUBMITTED]
            )
            if (inst.job_id or "").startswith(_PENDING_PREFIX)
        ]

    def _unsent(self) -> list[TaskInstanceRecord]:
        """Marked instances whose submission no wave can tell was sent: submit them again.

        The one rule for "was this marked submission really submitted", for
        ready tasks (:meth:`submit_ready`), tasks submitted ahead
        (:class:`~reflow.engine.scheduler.forward.AheadJobs`) and the cap
        (:meth:`_room`).  A submission is one job and one pending token
        (:meth:`_submit_job`); it was sent when one of its elements started
        (a pack starts its elements one after another, so an element that has
        not started says nothing about its pack; :meth:`_adopt_sent` then gives
        all of it its job id) or when its ledger recorded its job ids
        (:meth:`_record_ledgered`); either replaces the token.  Otherwise
        none of it was: every instance of the token goes again.
        """
        marked = self._marked()
        sent = {
            inst.job_id
            for inst in marked
            if self.layout.started_file(inst.task_name, inst.array_index).exists()
        }
        return [inst for inst in marked if inst.job_id not in sent]

    def submit_ready(self) -> list[str]:
        """Submit every planned instance not yet submitted; return the new job ids.

        Instances submitted ahead of their inputs are left to :class:`AheadJobs`:
        they need their dependencies again.
        """
        self._record_ledgered()
        waiting = self.store.list_task_instance_records(self.run_id, states=_WAITING)
        by_task: dict[str, list[TaskInstanceRecord]] = {}
        for inst in waiting:
            by_task.setdefault(inst.task_name, []).append(inst)
        # Instances marked by a dispatcher that died between marking and submitting.
        for inst in self._unsent():
            by_task.setdefault(inst.task_name, []).append(inst)
        for name in list(by_task):
            by_task[name] = [i for i in by_task[name] if not is_ahead(i)]
            if not by_task[name]:
                del by_task[name]
        job_ids: list[str] = []
        room = self._room(sum(self._jobs(name, len(insts)) for name, insts in by_task.items()))
        for name, insts, retried in self.retrying.batches(by_task):
            insts.sort(key=lambda r: -1 if r.array_index is None else r.array_index)
            if room is not None:  # a slice within the cap; the rest waits for a later wave
                del insts[room * self._pack_size(name) :]
                room -= self._jobs(name, len(insts))
                if not insts:
                    break
            missing = [
                inst.array_index
                for inst in insts
                if not self.layout.input_file(name, inst.array_index).exists()
            ]
            if missing:  # a wave killed between planning and writing inputs
                self._write_inputs(name, self._expansion(name), missing)
            job, pack, token = self._packed_job(name, insts, retried)
            job_id = self._submit_job(name, insts, job, pack=pack, token=token)
            if job_id is not None:
                job_ids.append(job_id)
        return job_ids

    def _submit_job(
        self,
        name: str,
        insts: Sequence[TaskInstanceRecord],
        job: JobSpec,
        fallback: JobSpec | None = None,
        *,
        pack: PackPlan | None = None,
        token: str | None = None,
    ) -> str | None:
        """Mark ``insts``, submit ``job`` for them, record its id; ``None`` if refused.

        Marked first: a dispatcher killed between the two leaves instances a
        later wave recognises (:meth:`_unsent`, :meth:`_adopt_sent`), never a job
        submitted twice.  ``fallback`` is tried when the executor refuses ``job``.
        ``pack`` is the plan of a packed ``job`` (its array tasks run several
        elements each), named after ``token``, the pending token to mark with.
        """
        token = token or _new_token()
        self.store.apply_state_updates(
            [StateUpdate(i.id, TaskState.SUBMITTED, job_id=token) for i in insts]
        )
        try:
            try:
                job_id = self.executor.submit(job)
            except ReflowError:
                if fallback is None:
                    raise
                job, job_id = fallback, self.executor.submit(fallback)
            self.calls["submit"] += 1
        except ReflowError as exc:
            text = f"task {name!r} could not be submitted: {exc}"
            logger.error("%s", text)
            self.store.apply_state_updates(
                [StateUpdate(i.id, TaskState.FAILED, error_text=text) for i in insts]
            )
            return None
        # A fallback is the same packed job with whole-array dependencies.
        packed = {} if pack is None else pack.job_ids(job_id)
        ids = {
            i.id: job_id
            if i.array_index is None or job.array is None
            else packed.get(i.array_index) or element_id(job_id, i.array_index)
            for i in insts
        }
        # The job exists now: if the store is lost before it records the ids, the
        # ledger tells the next wave (_record_ledgered), which must not submit again.
        ledger = self.layout.submitted_file(token)
        write_json_atomic(ledger, {str(iid): jid for iid, jid in ids.items()})
        self.store.apply_state_updates(
            [StateUpdate(iid, TaskState.SUBMITTED, job_id=jid) for iid, jid in ids.items()]
        )
        ledger.unlink(missing_ok=True)
        return job_id

    def _record_ledgered(self) -> None:
        """Record the job ids of submissions whose dispatcher lost the store right after.

        Their instances still hold the pending token; the ledger
        (:meth:`~reflow.runs.layout.RunLayout.submitted_file`) has the ids.
        """
        folder = self.layout.submitted_file("x").parent
        if not folder.is_dir():
            return
        marked = self._marked()
        updates = []
        for token in {inst.job_id or "" for inst in marked}:
            try:
                ids: dict[str, str] = read_json(self.layout.submitted_file(token))
            except (OSError, ValueError):
                continue  # not submitted (or cut before it was whole: the job has no ids yet)
            updates += [
                StateUpdate(i.id, TaskState.SUBMITTED, job_id=ids[str(i.id)])
                for i in marked
                if i.job_id == token and str(i.id) in ids
            ]
        if updates:
            logger.info("recording %d job id(s) a lost wave submitted", len(updates))
            self.store.apply_state_updates(updates)
        for stale in folder.glob("*.json"):  # recorded now, or by the wave that wrote it
            stale.unlink(missing_ok=True)

    def _room(self, waiting: int) -> int | None:
        """How many more task jobs fit under the run's ``max_jobs`` (``None``: no cap).

        Each array task counts as one job, as schedulers count them toward
        ``MaxSubmitJobs``: an unpacked element, or a whole pack (its elements
        share the job id ``ID[k]``); so do this dispatcher and the next one.
        ``waiting`` jobs are about to be submitted, some perhaps again (marked
        by a dispatcher that died before submitting them): they are not in
        flight.
        """
        cap = self.max_jobs
        if cap is None:
            return None
        active = self.store.list_task_instance_records(self.run_id, states=_ACTIVE)
        unsent = {i.id for i in self._unsent()}
        in_flight = len({self._array_task(i) for i in active if i.id not in unsent})
        room = max(0, cap - 2 - in_flight)
        if room < waiting:
            logger.info(
                "max_jobs %d: %d job(s) in flight, submitting %d of %d now",
                cap,
                in_flight,
                room,
                waiting,
            )
        return room

    # -- 5. chain or finish -----------------------------------------------------------

    def chain(self, after: Sequence[str]) -> str:
        """Submit the next dispatcher after ``after`` (every active job of the run)."""
        options = self.wf.config.dispatch_submit_options
        job = JobSpec(
            name=f"{self.wf.name}.dispatch",
            command=dispatcher_command(self.context_file),
            workdir=self.run_dir,
            log_dir=self.layout.logs_dir,
            resources=JobResources(cpus=1, time="00:20:00", mem="2G", options=options),
            after_any=tuple(after),
            env=job_variables(self.run_id),
            log_name=self.layout.dispatcher_log_name,
        )
        job_id = self.executor.submit(job)
        self.calls["submit"] += 1
        record_dispatcher(self.store, self.run_dir, self.run_id, job_id, self.executor.name)
        return job_id

    def _unfinished(self) -> bool:
        waiting = (*_ACTIVE, *_WAITING)
        return bool(self.store.list_task_instance_records(self.run_id, states=waiting))

    def _give_up_on(self, lost: Sequence[TaskInstanceRecord]) -> None:
        """Instances whose job id was never recorded and whose job never said it ran.

        Only a dispatcher killed between submitting and recording can leave
        them; with nothing else to wait for, the next wave would start at once,
        again and again.  They fail with a reason; ``retry`` runs them again.
        """
        text = (
            "reflow lost track of this instance's job: its dispatcher died while "
            "submitting it, and the job never reported. Retry the run."
        )
        self.store.apply_state_updates(
            [StateUpdate(i.id, TaskState.FAILED, error_text=text) for i in lost]
        )

    def finish(self) -> RunState:
        """Set the run's final state from its instances."""
        summary = self._summary()
        planned = self._planned()
        states = {s for counts in summary.values() for s in counts}
        if states & {"FAILED", "SKIPPED"}:
            status = RunState.FAILED
        elif "CANCELLED" in states:
            status = RunState.CANCELLED
        elif all(self._complete(t, planned, summary) for t in self.wf.tasks):
            status = RunState.SUCCESS
        else:
            status = RunState.FAILED
        self.store.update_run_status(self.run_id, status)
        self.layout.dispatcher_file.unlink(missing_ok=True)
        return status

    def wave(self, *, resume: bool = False) -> RunState:
        """Run one wave; return the run's state afterwards.

        With ``resume``, a run marked FAILED by a dispatcher that crashed is
        taken up again when it still has unfinished instances.
        """
        with run_lock(self.layout):
            record = self.store.get_run_record(self.run_id)
            assert record is not None
            if resume and record.status is RunState.FAILED and self._unfinished():
                self.store.update_run_status(self.run_id, RunState.RUNNING)
            elif record.status in RunState.terminal():
                return record.status
            active = self.reconcile(self.ingest())
            self.plan()
            self.submit_ready()
            AheadJobs(self).submit()
            active = self.store.list_task_instance_records(self.run_id, states=_ACTIVE)
            cancelling = self.layout.cancel_file.exists
            if not active and self.retrying.wait_for_backoff(cancelling):  # retries in backoff
                self.submit_ready()
                active = self.store.list_task_instance_records(self.run_id, states=_ACTIVE)
            elif not active and cancelling():
                return RunState.RUNNING  # the waiting `cancel` records the run's end
            lost = [i for i in active if (i.job_id or "").startswith(_PENDING_PREFIX)]
            if lost and len(lost) == len(active):
                self._give_up_on(lost)
                active = []
            if active:
                # The next wave waits for every job the scheduler knows of; a job it
                # does not report cannot be depended on (it is waited for by waves).
                waited = [
                    i.job_id
                    for i in active
                    if i.job_id
                    and not i.job_id.startswith(_PENDING_PREFIX)
                    and i.job_id not in self.unknown_jobs
                ]
                if not waited:
                    # Only unknown jobs are left: pause, or the waves would follow
                    # each other at once until they are forgotten.
                    time.sleep(min(30.0, self.forget_after / 10))
                self.chain(sorted({split_element_id(j)[0] for j in waited}))
                return RunState.RUNNING
            return self.finish()


def dispatch_once(
    store: Store, run_id: str, executor: Executor | None = None, *, resume: bool = False
) -> RunState:
    """Run one dispatcher wave of ``run_id`` in this process (see :meth:`Dispatcher.wave`)."""
    state = Dispatcher(store, run_id, executor).wave(resume=resume)
    notify_due(store, run_id)  # `reflow resume` may be what finishes the run
    return state


def run_wave(store: Store, run_id: str) -> int:
    """A dispatcher job's work: one wave, logged; return the job's exit status.

    A wave that fails marks the run FAILED (nothing would advance it again)
    and returns 1.  The last log line is ``run <id>: <STATE>`` (``reflow gc``
    reads it only in dispatcher logs named before 0.4, which carry no run id).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        dispatcher = Dispatcher(store, run_id)
        state = dispatcher.wave()
        calls = dispatcher.calls
        logger.info(
            "executor calls this wave: %d (submit=%d query=%d)",
            sum(calls.values()),
            calls["submit"],
            calls["query"],
        )
    except Exception:
        # Nothing would ever advance the run again: say so in the store.
        logger.exception("dispatcher of run %s failed", run_id)
        try:
            store.update_run_status(run_id, RunState.FAILED)
            logger.error("run %s marked FAILED ('reflow resume %s' takes it up)", run_id, run_id)
        except ReflowError as exc:
            # The store itself is away (a server past its connect timeout): the run,
            # whose dispatcher this job was, shows LOST once it ends; resume takes it up.
            logger.error(
                "could not mark run %s FAILED either: %s Once the store answers again, "
                "'reflow resume %s' carries the run on.",
                run_id,
                exc,
                run_id,
            )
        else:
            notify_due(store, run_id)
        return 1
    logger.info("run %s: %s", run_id, state.value)
    notify_due(store, run_id)  # the wave that finishes the run, or sees a first failure
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m reflow.engine.scheduler.dispatcher RUN_ID STORE``: jobs queued before 0.4.

    New jobs run ``python -m reflow.job dispatch <run.json>``; this command line
    stays one release for dispatcher jobs already queued (through the shim
    :mod:`reflow.dispatch.dispatcher`).  ``STORE`` is the SQLite file (or a store URL).
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(
            "usage: python -m reflow.engine.scheduler.dispatcher RUN_ID STORE_PATH",
            file=sys.stderr,
        )
        return 2
    return run_wave(open_store(args[1]), args[0])


if __name__ == "__main__":
    raise SystemExit(main())

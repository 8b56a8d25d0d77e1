"""Submitting a run, and the scheduler-side actions on it: cancel and retry."""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow import env
from reflow._types import RunState, TaskState
from reflow.cache.fingerprint import code_fingerprint
from reflow.cache.planning import CachePolicy
from reflow.config import MIN_MAX_JOBS
from reflow.engine.local.engine import check_options
from reflow.engine.scheduler.code import freeze_code
from reflow.engine.scheduler.dispatcher import dispatcher_command, run_lock
from reflow.engine.scheduler.loader import script_of
from reflow.engine.scheduler.results import ResultReader, identity_with_code, planned_code
from reflow.errors import ConfigError, ReflowError
from reflow.executors.environment import job_variables
from reflow.executors.jobs import JobResources, JobSpec, JobState, split_element_id
from reflow.executors.resolve import executor_from_record, resolve_executor
from reflow.notify.due import run_notify_events
from reflow.runs.attempts import restart_retries
from reflow.runs.context import context_file, recorded_context
from reflow.runs.creation import create_run, recorded_parts, recorded_policies, store_url
from reflow.runs.files import read_json, write_json_atomic
from reflow.runs.layout import RunLayout
from reflow.runs.liveness import record_dispatcher
from reflow.runs.place import RunPlace
from reflow.stores import StateUpdate, open_store

if TYPE_CHECKING:
    from reflow.define.analysis import Analysis
    from reflow.executors.base import Executor
    from reflow.run import Run
    from reflow.stores import Store, TaskInstanceRecord
    from reflow.workflow import Workflow

__all__ = [
    "cancel_run",
    "check_submit_options",
    "retry_run",
    "start_dispatcher",
    "submit_run",
    "submitted_dry",
]

logger = logging.getLogger(__name__)


def _check_store_url(store: Store) -> None:
    """Refuse, before a run is recorded, a store its jobs could not open again."""
    if not store_url(store):
        raise ReflowError(
            f"{type(store).__name__} says no URL; scheduler jobs reopen the store from "
            "its URL, so submit needs a store that has one, such as SqliteStore."
        )


def start_dispatcher(
    workflow: Workflow, store: Store, run_id: str, run_dir: Path, executor: Executor
) -> str:
    """Submit a dispatcher job for the run now (no dependency)."""
    layout = RunLayout(run_dir, run_id)
    record = store.get_run_record(run_id)
    if record is None:
        raise ReflowError(f"Run {run_id!r} is not in the manifest store.")
    job = JobSpec(
        name=f"{workflow.name}.dispatch",
        command=dispatcher_command(context_file(recorded_context(record))),
        workdir=run_dir,
        log_dir=layout.logs_dir,
        resources=JobResources(
            cpus=1, time="00:20:00", mem="2G", options=workflow.config.dispatch_submit_options
        ),
        env=job_variables(run_id),
        log_name=layout.dispatcher_log_name,
    )
    live = _live_dispatcher(run_dir, run_id, executor)
    if live is not None:  # it will take up the new work: one chain per run
        return live
    job_id = executor.submit(job)
    record_dispatcher(store, run_dir, run_id, job_id, executor.name)
    return job_id


def _dispatcher_job(run_dir: Path, run_id: str) -> str | None:
    """The id of the run's last dispatcher job, or ``None`` if none was recorded."""
    try:
        return str(read_json(RunLayout(run_dir, run_id).dispatcher_file)["job_id"])
    except (FileNotFoundError, ValueError, KeyError):
        return None


def submitted_dry(run_dir: Path, run_id: str) -> bool:
    """Whether the run's dispatcher was only printed (``REFLOW_MODE=dry-run``), not submitted."""
    return _dispatcher_job(run_dir, run_id) == "DRYRUN"


def _live_dispatcher(run_dir: Path, run_id: str, executor: Executor) -> str | None:
    """The run's dispatcher job if it has not started yet (``None`` otherwise)."""
    job = _dispatcher_job(run_dir, run_id)
    if job is None or job == "DRYRUN":
        return None
    status = executor.query([job]).get(job)
    return job if status is not None and status.state is JobState.PENDING else None


def check_submit_options(workflow: Workflow, executor: Executor) -> None:
    """Refuse a misspelled submit option before a run is recorded.

    Otherwise it would reach the job script and fail only when the dispatcher
    submits the task, after the run exists.

    Raises
    ------
    ConfigError
        For the first option the executor does not have (see
        :meth:`Executor.check_options`).
    """
    config = workflow.config
    site = config.site_options
    for name, spec in workflow.tasks.items():
        options = config.task_submit_options(spec.config.submit_options)
        executor.check_options(options, f"task {name!r}", site)
    executor.check_options(config.dispatch_submit_options, "[dispatch.submit_options]", site)


def submit_run(
    workflow: Workflow,
    analysis: Analysis,
    run_dir: str | Path,
    *,
    store: Store | None = None,
    executor: Executor | str | None = None,
    force: bool = False,
    force_tasks: list[str] | None = None,
    verify: bool = False,
    max_jobs: int | None = None,
    parameters: Mapping[str, Any],
    notify: Sequence[str] | None = None,
) -> RunPlace:
    """Create a run and submit its first dispatcher; see ``Workflow.submit``.

    ``analysis`` is the workflow's :class:`~reflow.define.analysis.Analysis`;
    the caller (``Workflow.submit``) makes the run's handle from the place
    returned.
    """
    env.check()  # a REFLOW_MODE typo must not submit for real, nor record a run
    rd = Path(run_dir).expanduser().resolve()
    check_options(workflow, 1, "stop", force_tasks)
    values = workflow.check_parameters(parameters, analysis)
    cap = _job_cap(max_jobs, workflow)
    script = script_of(workflow)
    exc = resolve_executor(executor, workflow.config)
    check_submit_options(workflow, exc)
    events = None if notify is None else run_notify_events(workflow.config, notify)
    if store is None:
        store = open_store(config=workflow.config)
    _check_store_url(store)
    run_id = create_run(
        workflow,
        store,
        rd,
        values,
        analysis.param_dests,
        list(analysis.order),
        policy=CachePolicy(force, frozenset(force_tasks or []), verify),
        executor=exc.name,
        executor_options=exc.recorded_options(),
        script=script,
        argv=sys.argv,
        max_jobs=cap,
        wiring=analysis.wiring,
    ).run_id
    try:
        _freeze(script, rd, run_id)
        if events is not None:  # before any dispatcher can end the run
            write_json_atomic(RunLayout(rd, run_id).notify_file, {"on": list(events)})
        job = start_dispatcher(workflow, store, run_id, rd, exc)
    except ReflowError:
        store.update_run_status(run_id, RunState.FAILED)
        raise
    if job == "DRYRUN":  # REFLOW_MODE=dry-run: nothing will ever advance this run
        store.update_run_status(run_id, RunState.CANCELLED)
    logger.info("submitted run %s of %s in %s", run_id, workflow.name, rd)
    return RunPlace(store, run_id, rd)


def _job_cap(max_jobs: int | None, workflow: Workflow) -> int | None:
    """The run's cap on queued jobs: ``max_jobs``, else ``[submit] max_jobs``, else none."""
    if max_jobs is None:
        return workflow.config.max_jobs
    if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < MIN_MAX_JOBS:
        raise ConfigError(
            f"max_jobs must be a whole number of at least {MIN_MAX_JOBS} (the running "
            f"dispatcher, the next one and one task job), got {max_jobs!r}."
        )
    return max_jobs


def _freeze(
    script: Path, run_dir: Path, run_id: str, code: Mapping[str, str] | None = None
) -> None:
    """Freeze the run's code (:mod:`reflow.engine.scheduler.code`), or say in one line why not."""
    try:
        freeze_code(script, run_dir, run_id, code)
    except OSError as exc:
        raise ReflowError(
            f"Cannot copy the workflow's code into the run directory {run_dir}: {exc}. "
            "Jobs run a frozen copy of it; free space there or choose another run directory."
        ) from exc


def _executor_of(store: Store, run_id: str, executor: Executor | None) -> Executor:
    if executor is not None:
        return executor
    record = store.get_run_record(run_id)
    if record is None:
        raise ReflowError(f"Run {run_id!r} is not in the manifest store.")
    return executor_from_record(record.executor, record.executor_options)


def cancel_run(
    run: Run | RunPlace, task: str | None = None, executor: Executor | None = None
) -> int:
    """Cancel the run's active jobs (and its pending dispatcher); return instances cancelled.

    A wave running now is waited for (the run's dispatch lock): between marking
    instances and recording their job ids, a job it submits has no id to cancel.
    A wave that sleeps through a retry's backoff is told to stop first
    (:attr:`RunLayout.cancel_file`), so ``cancel`` does not wait out the backoff.
    """
    layout = RunLayout(run.run_dir, run.run_id)
    with contextlib.ExitStack() as stack:
        if layout.state_dir.is_dir():  # else no wave ran, or its files are gone
            with contextlib.suppress(PermissionError):  # another user's run: as before
                if task is None:
                    # A wave sleeping through a retry's backoff stops at this mark.
                    layout.cancel_file.touch()
                    stack.callback(layout.cancel_file.unlink, missing_ok=True)
                stack.enter_context(run_lock(layout))
        return _cancel_run(run, task, executor)


def _cancel_run(run: Run | RunPlace, task: str | None, executor: Executor | None) -> int:
    store = run.store
    record = store.get_run_record(run.run_id)
    if record is not None and record.status in RunState.terminal() and task is None:
        return 0  # an ended run stays as it ended
    active = store.list_task_instance_records(
        run.run_id, task_name=task, states=[*list(TaskState.cancellable()), TaskState.RETRYING]
    )
    # Results already written are kept, not thrown away with the jobs.
    finished = []
    results = ResultReader(store, run.run_id, run.run_dir, recorded_policies(store, run.run_id))
    for inst in active:
        update, interrupted = results.update(inst)
        if update is not None and not interrupted:
            finished.append(update)
    if finished:
        results.apply(finished)
        done = {u.instance_id for u in finished}
        active = [i for i in active if i.id not in done]
    exc = _executor_of(store, run.run_id, executor)
    jobs: set[str] = set()
    for inst in active:
        job = inst.job_id or ""
        if not job or job.startswith("pending:"):
            continue
        jobs.add(job if task is not None else split_element_id(job)[0])
    if task is None:
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
            jobs.add(str(read_json(RunLayout(run.run_dir, run.run_id).dispatcher_file)["job_id"]))
    if jobs:
        exc.cancel(sorted(jobs))
    if active:
        store.apply_state_updates(
            [
                StateUpdate(i.id, TaskState.CANCELLED, error_text="cancelled by the user")
                for i in active
            ]
        )
    if task is None:
        store.update_run_status(run.run_id, RunState.CANCELLED)
        RunLayout(run.run_dir, run.run_id).dispatcher_file.unlink(missing_ok=True)
    return len(active)


def _refreeze(run: Run, todo: list[TaskInstanceRecord]) -> dict[int, tuple[str, dict[str, Any]]]:
    """Freeze the workflow's code as it is now; return the retried instances' new identities.

    Users edit the code to fix what failed, then retry: the fix must run, and
    its results must be recorded under the identity of the fixed code.  Tasks
    planned later in the run use the new code's identities too (the
    fingerprints that changed are kept with the frozen generation).
    """
    try:
        script = script_of(run.workflow)
    except ReflowError:
        logger.info("retry: the workflow is not defined in a file; the run keeps its code")
        return {}
    recorded = recorded_parts(run.store, run.run_id)
    changed: dict[str, str] = {}
    for name, spec in run.workflow.tasks.items():
        if name in recorded and (code := code_fingerprint(spec.func)) != recorded[name].code:
            changed[name] = code
    _freeze(script, run.run_dir, run.run_id, changed)
    moves: dict[int, tuple[str, dict[str, Any]]] = {}
    for inst in todo:
        parts = recorded.get(inst.task_name)
        if parts is None:
            continue
        code = changed.get(inst.task_name, parts.code)
        if code == planned_code(parts, inst):
            continue  # the same code as planned: the same identity
        info = {k: v for k, v in inst.cache_info.items() if k not in ("code", "planned_code")}
        if code != parts.code:
            info["code"] = code
        moves[inst.id] = (identity_with_code(parts, inst, code), info)
    return moves


def retry_run(
    run: Run, task: str | None = None, executor: Executor | None = None, verify: bool = True
) -> int:
    """Freeze the code as it is now, mark failed and cancelled instances for retry, dispatch."""
    store = run.store
    todo = store.list_task_instance_records(
        run.run_id, task_name=task, states=list(TaskState.retriable())
    )
    if not todo:
        return 0
    moves = _refreeze(run, todo)
    layout = RunLayout(run.run_dir, run.run_id)
    for inst in todo:  # an earlier attempt's files must not speak for the new one
        layout.result_file(inst.task_name, inst.array_index).unlink(missing_ok=True)
        layout.started_file(inst.task_name, inst.array_index).unlink(missing_ok=True)
        # Written again from the store by the dispatcher: a crash may have cut them.
        layout.input_file(inst.task_name, inst.array_index).unlink(missing_ok=True)
    # The user fixed the cause: the automatic retries by reason are due again.
    restart_retries(layout, [(inst.task_name, inst.array_index) for inst in todo])
    # The retried run ends (or fails first) again, and says so again.
    shutil.rmtree(layout.notified_dir, ignore_errors=True)

    def write() -> None:
        if moves:
            store.set_identity_many(moves)
        for inst in todo:
            store.mark_for_retry(inst.id)
        store.update_run_status(run.run_id, RunState.RUNNING)

    store.retrying(write)
    exc = _executor_of(store, run.run_id, executor)
    start_dispatcher(run.workflow, store, run.run_id, run.run_dir, exc)
    return len(todo)

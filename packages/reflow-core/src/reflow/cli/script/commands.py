"""The actions behind the workflow script's subcommands."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow import env
from reflow._types import RunState
from reflow.config import DEFAULT_EXECUTOR
from reflow.define.graph import did_you_mean
from reflow.errors import ReflowError
from reflow.runs.context import recorded_context
from reflow.signals import TaskInterrupted

if TYPE_CHECKING:
    from reflow.executors.base import Executor
    from reflow.run import Run
    from reflow.stores import RunRecord, Store
    from reflow.workflow import Workflow

__all__ = [
    "cancel_command",
    "retry_command",
    "run_local_command",
    "runs_command",
    "script_command",
    "status_command",
    "submit_command",
]


def _store(workflow: Workflow, args: argparse.Namespace, *, create: bool = True) -> Store:
    """The store to use, opened; ``create=False`` for subcommands that only read it."""
    # lazy: the script's --help loads the parser only; a command loads what it runs
    from reflow.stores import open_store

    store = open_store(getattr(args, "store_path", None), workflow.config, create=create)
    if not create:  # report a missing or unreadable store before any output
        # lazy: the script's --help loads the parser only; a command loads what it runs
        from reflow.cli.runref import init_for_reading

        init_for_reading(store, getattr(args, "run_ids", None) or [getattr(args, "run_id", None)])
    # A store to create is created with the run, after its run directory: a run
    # directory that cannot be made leaves no empty store behind.
    return store


def _params(workflow: Workflow, args: argparse.Namespace) -> dict[str, Any]:
    # lazy: the script's --help loads the parser only; a command loads what it runs
    from reflow.cli.script.parser import parameters_from_namespace

    return parameters_from_namespace(args, workflow.cli_params())


def script_command() -> str:
    """The command that runs this workflow script again, as the user can type it.

    The interpreter's name and the script path as it was given
    (``python3 pipeline.py``, ``python ../flows/rna.py``): the script need
    not be executable, and a relative path still works from where the user is.
    """
    interpreter = Path(sys.executable).name or "python"
    script = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c") else "pipeline.py"
    return f"{interpreter} {shlex.quote(script)}"


def _run(workflow: Workflow, store: Store, ref: str) -> Run:
    """The run ``ref`` names (an id, a unique part of one, or ``latest``) of this workflow."""
    # lazy: the script's --help loads the parser only; a command loads what it runs
    from reflow.cli.runref import resolve_run
    from reflow.run import Run

    record = resolve_run(store, ref, workflow.name, f"{script_command()} runs")
    if record.graph_name != workflow.name:
        raise ReflowError(
            f"Run {record.run_id!r} belongs to workflow {record.graph_name!r}, "
            f"not {workflow.name!r}; show it with: reflow status {record.run_id}"
        )
    run_id = record.run_id
    return Run(workflow, run_id, recorded_context(record).run_dir, store)


def _check_task(workflow: Workflow, task: str | None) -> None:
    if task is not None and task not in workflow.tasks:
        raise ReflowError(
            f"Workflow {workflow.name!r} has no task {task!r}.{did_you_mean(task, workflow.tasks)}"
        )


def _show_outputs(workflow: Workflow, run: Run) -> None:
    sinks = [
        name
        for name in workflow.tasks
        if not any(name in other.dependencies for other in workflow.tasks.values())
    ]
    outputs = run.outputs()
    print()
    for name in sinks:
        if name in outputs:
            print(f"{name}: {outputs[name]!r}")


def run_local_command(workflow: Workflow, args: argparse.Namespace) -> int:
    """``run``: the whole workflow on this machine."""
    # lazy: the script's --help loads the parser only; a command loads what it runs
    from reflow.engine.local import TaskFailedError

    store = _store(workflow, args) if getattr(args, "store_path", None) else None
    try:
        run = workflow.run_local(
            args.run_dir,
            max_workers=args.max_workers,
            force=args.force,
            force_tasks=args.force_tasks,
            verify=args.verify,
            on_error=args.on_error,
            store=store,
            **_params(workflow, args),
        )
    except TaskFailedError as exc:
        print(f"{workflow.name}: {exc}", file=sys.stderr)
        if store is None:
            # lazy: the script's --help loads the parser only; a command loads what it runs
            from reflow.stores import open_store

            store = open_store(config=workflow.config)
        failed = store.get_run_record(exc.run_id)
        if failed is not None:
            _summary(workflow, store, failed)
        return 1
    except (TaskInterrupted, KeyboardInterrupt):
        print(f"{workflow.name}: interrupted; the run is CANCELLED.", file=sys.stderr)
        return 130
    record = run.store.get_run_record(run.run_id)
    if record is not None:
        _summary(workflow, run.store, record)
    _show_outputs(workflow, run)
    return 0 if record is not None and record.status is RunState.SUCCESS else 1


def _dry_run(workflow: Workflow, args: argparse.Namespace, executor: Executor) -> int:
    """Submit into a throw-away store and run directory with REFLOW_MODE=dry-run."""
    # lazy: the script's --help loads the parser only; a command loads what it runs
    from reflow.engine.scheduler.ahead import describe_plan, wave_plan
    from reflow.engine.scheduler.dispatcher import Dispatcher
    from reflow.engine.scheduler.forward import NEVER_END
    from reflow.stores import open_store

    with tempfile.TemporaryDirectory(prefix="reflow-dry-run-") as tmp:
        store = open_store(Path(tmp) / "manifest.db")
        saved = os.environ.get(env.REFLOW_MODE)
        os.environ[env.REFLOW_MODE] = "dry-run"
        try:
            run = workflow.submit(
                Path(tmp) / "run",
                store=store,
                executor=executor,
                force=args.force,
                force_tasks=args.force_tasks,
                verify=args.verify,
                max_jobs=args.max_jobs,
                **_params(workflow, args),
            )
            # submit() marks a dry-run run CANCELLED; in this throw-away store the
            # first wave runs anyway, to show its jobs.
            store.update_run_status(run.run_id, RunState.RUNNING)
            Dispatcher(store, run.run_id).wave()
        finally:
            if saved is None:
                os.environ.pop(env.REFLOW_MODE, None)
            else:
                os.environ[env.REFLOW_MODE] = saved
    analysis = workflow.analyse()
    plan = wave_plan(
        workflow.tasks,
        analysis.order,
        analysis.wiring,
        element_wise=executor.supports_after_corr,
        ahead=executor.name not in NEVER_END,
    )
    print("Every job of the run, wave by wave (as far as its shape is known now):")
    for line in describe_plan(plan, workflow.name, _pack_notes(workflow)):
        print(line)
    if args.max_jobs:
        print(f"At most {args.max_jobs} of the run's jobs queued at once (--max-jobs).")
    name = executor.name
    print(f"Dry run with executor {name!r}: nothing was submitted and no run was recorded.")
    _announce_executor(name)
    return 0


def _pack_notes(workflow: Workflow) -> dict[str, str]:
    """Packed tasks' notes for the dry run, ``pack="auto"`` measured in the real store."""
    # lazy: the script's --help loads the parser only; a command loads what it runs
    from reflow.engine.scheduler.autopack import pack_notes
    from reflow.runs.creation import user_name
    from reflow.stores import StoreMissingError, open_store

    if not any(note.startswith("pack auto") for note in pack_notes(workflow, None, "").values()):
        return pack_notes(workflow, None, "")  # no store to open for fixed packs
    try:
        store = open_store(config=workflow.config, create=False)
        store.init()
    except StoreMissingError:  # no run recorded yet: nothing measured
        return pack_notes(workflow, None, user_name())
    try:
        return pack_notes(workflow, store, user_name())
    finally:
        store.close()


def _announce_executor(name: str) -> None:
    """Say which executor a submit uses; ``local`` silently keeps a cluster idle."""
    if name == DEFAULT_EXECUTOR:
        print(
            f"Warning: executor {name!r} runs the jobs on this machine; pass --executor "
            "slurm (or pbs, lsf, sge, flux), or set [executor] name in config.toml, "
            "to use a cluster.",
            file=sys.stderr,
        )


def submit_command(workflow: Workflow, args: argparse.Namespace) -> int:
    """``submit``: create a run and send its first dispatcher to the scheduler."""
    # lazy: the script's --help loads the parser only; a command loads what it runs
    from reflow.engine.scheduler.submit import check_submit_options
    from reflow.executors.resolve import resolve_executor

    # Before the store is opened: a misspelled --executor or option leaves nothing behind.
    executor = resolve_executor(args.executor, workflow.config)
    check_submit_options(workflow, executor)
    if args.dry_run:
        return _dry_run(workflow, args, executor)
    store = _store(workflow, args)
    run = workflow.submit(
        args.run_dir,
        store=store,
        executor=executor,
        force=args.force,
        force_tasks=args.force_tasks,
        verify=args.verify,
        notify=None if args.notify is None else [args.notify],
        max_jobs=args.max_jobs,
        **_params(workflow, args),
    )
    print(f"Submitted run {run.run_id} in {run.run_dir} with executor {executor.name!r}")
    _announce_executor(executor.name)
    print(f"Follow it with: {script_command()} status {run.run_id}")
    if not args.wait:
        return 0
    try:
        state = _follow(workflow, run)
    except KeyboardInterrupt:
        print(f"Stopped waiting; run {run.run_id} goes on.", file=sys.stderr)
        return 130
    record = run.store.get_run_record(run.run_id)
    if record is not None:
        _summary(workflow, run.store, record)
    if state is RunState.SUCCESS:
        _show_outputs(workflow, run)
    return 0 if state is RunState.SUCCESS else 1


def _follow(workflow: Workflow, run: Run) -> RunState:
    """Wait for ``run`` to end, showing its progress on standard error; return its state."""
    # lazy: the script's --help loads the parser only; a command loads what it runs
    from reflow.cli.live import LiveDisplay
    from reflow.cli.live.follow import StoreCounts

    counts = StoreCounts(run.store, list(workflow.analyse().order))
    with LiveDisplay(title=f"run {run.run_id}") as display:
        state = run.wait(poll=1.0, on_poll=lambda record: display.update(counts.update(record)))
        display.close(counts.counts)
    return state


def _summary(workflow: Workflow, store: Store, record: RunRecord) -> None:
    """Print what ran, came from the cache, failed and was skipped, per task."""
    # lazy: the script's --help loads the parser only; a command loads what it runs
    from reflow.cli.live.summary import summary_data, summary_document
    from reflow.cli.output import Printer

    data = summary_data(store, record, list(workflow.analyse().order))
    Printer().show(summary_document(data))


def status_command(workflow: Workflow, args: argparse.Namespace) -> int:
    """``status``: the run's state, per task, and optionally its errors."""
    _check_task(workflow, args.task)
    run = _run(workflow, _store(workflow, args, create=False), args.run_id)
    if args.json:
        print(json.dumps(run.status_dict(), indent=2, sort_keys=True, default=str))
    else:
        run.status(task=args.task)
    if args.errors:
        run.print_errors(args.task)
    return 0


def cancel_command(workflow: Workflow, args: argparse.Namespace) -> int:
    """``cancel``: cancel runs (or one task of them), after confirmation."""
    _check_task(workflow, args.task)
    store = _store(workflow, args, create=False)
    runs = [_run(workflow, store, run_id) for run_id in args.run_ids]
    if not args.yes:
        what = f"task {args.task!r} of " if args.task else ""
        if not sys.stdin.isatty():
            raise ReflowError(
                f"Cancelling {what}{len(runs)} run(s) needs confirmation: add --yes."
            )
        answer = input(f"Cancel {what}{', '.join(r.run_id for r in runs)}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing cancelled.")
            return 1
    for run in runs:
        run.cancel(task=args.task)
    return 0


def retry_command(workflow: Workflow, args: argparse.Namespace) -> int:
    """``retry``: run the failed and cancelled instances again."""
    _check_task(workflow, args.task)
    run = _run(workflow, _store(workflow, args, create=False), args.run_id)
    run.retry(task=args.task)
    return 0


def runs_command(workflow: Workflow, args: argparse.Namespace) -> int:
    """``runs``: this workflow's runs, newest first, as ``reflow runs --workflow`` shows them.

    The same selection and table, LOST runs included (``--status lost``).
    """
    # lazy: the script's --help loads the parser only; a command loads what it runs
    from reflow.cli.commands.runs import show_runs
    from reflow.stores import StoreMissingError

    try:
        store = _store(workflow, args, create=False)
    except StoreMissingError:
        if getattr(args, "store_path", None) is not None:
            raise  # a path given on the command line that names nothing is a typo
        print(f"No runs of {workflow.name!r} in this store.")
        return 0
    args.workflow = workflow.name
    return show_runs(store, args)

"""The actions behind the workflow script's subcommands."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow._types import RunState
from reflow.errors import ReflowError

if TYPE_CHECKING:
    from reflow.run import Run
    from reflow.stores import RunRecord, Store
    from reflow.workflow import Workflow

__all__ = [
    "cancel_command",
    "retry_command",
    "run_local_command",
    "runs_command",
    "status_command",
    "submit_command",
]


def _store(workflow: Workflow, args: argparse.Namespace) -> Store:
    from reflow.stores import open_store

    store = open_store(getattr(args, "store_path", None), workflow.config)
    store.init()
    return store


def _params(workflow: Workflow, args: argparse.Namespace) -> dict[str, Any]:
    from reflow.cli.parser import parameters_from_namespace

    return parameters_from_namespace(args, workflow.cli_params())


def _run(workflow: Workflow, store: Store, run_id: str) -> Run:
    from reflow.run import Run

    record = store.get_run_record(run_id)
    if record is None:
        raise ReflowError(
            f"No run {run_id!r} in the manifest store {getattr(store, 'path', '')}; "
            f"list this workflow's runs with: {Path(sys.argv[0]).name} runs"
        )
    if record.graph_name != workflow.name:
        raise ReflowError(
            f"Run {run_id!r} belongs to workflow {record.graph_name!r}, not {workflow.name!r}."
        )
    return Run(workflow, run_id, Path(record.parameters.get("run_dir", ".")), store)


def _check_task(workflow: Workflow, task: str | None) -> None:
    if task is not None and task not in workflow.tasks:
        from reflow.graph import did_you_mean

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
    from reflow.local import TaskFailedError
    from reflow.signals import TaskInterrupted

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
        return 1
    except (TaskInterrupted, KeyboardInterrupt):
        print(f"{workflow.name}: interrupted; the run is CANCELLED.", file=sys.stderr)
        return 130
    run.status()
    _show_outputs(workflow, run)
    record = run.store.get_run_record(run.run_id)
    return 0 if record is not None and record.status is RunState.SUCCESS else 1


def _dry_run(workflow: Workflow, args: argparse.Namespace) -> int:
    """Submit into a throw-away store and run directory with REFLOW_MODE=dry-run."""
    from reflow import env
    from reflow.dispatch.dispatcher import Dispatcher
    from reflow.stores.sqlite import SqliteStore

    with tempfile.TemporaryDirectory(prefix="reflow-dry-run-") as tmp:
        store = SqliteStore(Path(tmp) / "manifest.db")
        saved = os.environ.get(env.REFLOW_MODE)
        os.environ[env.REFLOW_MODE] = "dry-run"
        try:
            run = workflow.submit(
                Path(tmp) / "run",
                store=store,
                executor=args.executor,
                force=args.force,
                force_tasks=args.force_tasks,
                verify=args.verify,
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
    print("Dry run: nothing was submitted and no run was recorded.")
    return 0


def submit_command(workflow: Workflow, args: argparse.Namespace) -> int:
    """``submit``: create a run and send its first dispatcher to the scheduler."""
    if args.dry_run:
        return _dry_run(workflow, args)
    store = _store(workflow, args)
    run = workflow.submit(
        args.run_dir,
        store=store,
        executor=args.executor,
        force=args.force,
        force_tasks=args.force_tasks,
        verify=args.verify,
        **_params(workflow, args),
    )
    prog = Path(sys.argv[0]).name
    print(f"Submitted run {run.run_id} in {run.run_dir}")
    print(f"Follow it with: {prog} status {run.run_id}")
    if not args.wait:
        return 0
    try:
        state = run.wait()
    except KeyboardInterrupt:
        print(f"Stopped waiting; run {run.run_id} goes on.", file=sys.stderr)
        return 130
    run.status()
    if state is RunState.SUCCESS:
        _show_outputs(workflow, run)
    return 0 if state is RunState.SUCCESS else 1


def status_command(workflow: Workflow, args: argparse.Namespace) -> int:
    """``status``: the run's state, per task, and optionally its errors."""
    _check_task(workflow, args.task)
    run = _run(workflow, _store(workflow, args), args.run_id)
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
    store = _store(workflow, args)
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
    run = _run(workflow, _store(workflow, args), args.run_id)
    run.retry(task=args.task)
    return 0


def runs_command(workflow: Workflow, args: argparse.Namespace) -> int:
    """``runs``: this workflow's runs, newest first (LOST for those nothing advances)."""
    from reflow.liveness import LOST, shown_status

    store = _store(workflow, args)
    wanted = args.status.upper() if args.status else None
    states = [*(s.value for s in RunState), LOST]
    if wanted is not None and wanted not in states:
        raise ReflowError(
            f"--status {args.status!r} is not a run state; use one of {', '.join(states)}."
        )
    rows: list[tuple[RunRecord, str]] = []
    for record in store.list_run_records(graph_name=workflow.name):
        if len(rows) >= max(args.last, 0):
            break
        state = shown_status(store, record)[0]
        if wanted is None or state == wanted:
            rows.append((record, state))
    if not rows:
        print(f"No runs of {workflow.name!r} in this store.")
        return 0
    print(f"{'RUN':44s} {'STATUS':10s} {'PROGRESS':>9s}  {'EXECUTOR':10s} CREATED")
    for record, state in rows:
        summary = store.task_state_summary(record.run_id)
        total = sum(sum(c.values()) for c in summary.values())
        done = sum(c.get("SUCCESS", 0) for c in summary.values())
        print(
            f"{record.run_id:44s} {state:10s} {done:>4d}/{total:<4d}  "
            f"{record.executor or '-':10s} {record.created_at:%Y-%m-%d %H:%M:%S}"
        )
    return 0

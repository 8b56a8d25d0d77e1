"""``reflow status RUN``: a run's state per task, and why its failed instances failed.

Array tasks are collapsed to counts per state; ``--task T`` lists the
instances of one task.  Failed instances are shown with the last lines of
their error.  ``--watch`` redraws the view until the run ends; Ctrl-C stops
watching and leaves the run alone.

The view reads only per-task counts and the first few failures, so it stays
fast on a run with 100,000 instances.  For a submitted run it also reads the
start markers and result files of the instances the store holds as
SUBMITTED or RUNNING (:mod:`reflow.runs.live`), so an array shows RUNNING and
SUCCESS counts as they happen; those the store does not hold yet are marked
*not yet recorded* (``unrecorded`` in ``--json``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from reflow._types import RunState, TaskState
from reflow.define.labels import instance_label
from reflow.errors import ReflowError
from reflow.timetext import format_age

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from reflow.cli.output import Document, Printer
    from reflow.stores import RunRecord, Store

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run", "status_data"]

NAME = "status"
HELP = "show a run's state per task, with the errors of failed instances"
DESCRIPTION = (
    "Show RUN's state (LOST when nothing advances it any more): per task the number of "
    "instances in each state (array tasks collapsed to counts), and the failed instances "
    "with the last lines of their error. RUN is a run id, a unique prefix or suffix of one, "
    "or 'latest'."
)

STATE_ORDER = (
    "PENDING",
    "RETRYING",
    "SUBMITTED",
    "RUNNING",
    "SUCCESS",
    "FAILED",
    "CANCELLED",
    "SKIPPED",
)
"""The order of the state columns."""

_EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``RUN`` and the view's options."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import add_store_option

    parser.add_argument("run_ref", metavar="RUN", help="run id, unique prefix/suffix, or latest")
    parser.add_argument("--task", metavar="T", help="list the instances of task T")
    parser.add_argument(
        "--state",
        metavar="S",
        help="with --task: only instances in state S (for example FAILED)",
    )
    parser.add_argument(
        "--failures",
        type=int,
        default=10,
        metavar="N",
        help="show at most N failed instances (10)",
    )
    parser.add_argument(
        "--lines",
        type=int,
        default=5,
        metavar="N",
        help="last N lines of each error (5)",
    )
    parser.add_argument(
        "--watch", action="store_true", help="redraw until the run ends (Ctrl-C stops watching)"
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, metavar="SECONDS", help="--watch period (2)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON (with --watch: one line per change)"
    )
    add_store_option(parser)


def _task_order(
    store: Store, run_id: str, summary: dict[str, dict[str, int]]
) -> list[tuple[str, bool]]:
    """``(task, is_array)`` in run order, then tasks with instances but no specification."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.rungraph import ordered_specs

    tasks = [(spec.task_name, spec.is_array) for spec in ordered_specs(store, run_id)]
    known = {name for name, _ in tasks}
    return tasks + [(name, False) for name in sorted(summary) if name not in known]


def _tail(text: str | None, lines: int) -> list[str]:
    body = (text or "no error recorded").rstrip().splitlines() or ["no error recorded"]
    return body[-max(lines, 1) :]


def status_data(
    store: Store,
    record: RunRecord,
    args: argparse.Namespace,
    seen: dict[Path, tuple[int, str]] | None = None,
) -> dict[str, Any]:
    """Everything the view shows, as JSON-ready data.

    ``seen`` keeps the result files read, across the polls of ``--watch``
    (see :func:`reflow.runs.live.live_summary`).

    Returns
    -------
    dict
        ``run`` (the run's record; ``status`` LOST with the reason and what to
        do in ``lost`` when nothing advances the run), ``tasks`` (per task: ``is_array``,
        ``total``, ``counts`` as they are now, and ``unrecorded``: how many of
        those counts the store does not hold yet, by state), ``unrecorded_total``,
        ``failed_total``, ``failed`` (the first
        ``--failures`` failed instances with ``error_tail``), ``attempts``
        (instance -> its ended attempts, for the first ``--failures``
        instances that had any) and, with ``--task``, ``instances``.
    """
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.runs.fanout import empty_fanouts
    from reflow.runs.live import live_summary
    from reflow.runs.liveness import lost_advice, shown_status

    run_id = record.run_id
    live = live_summary(store, record, seen=seen)
    summary = live.counts
    empty = empty_fanouts(store, record)
    tasks = []
    for name, is_array in _task_order(store, run_id, summary):
        counts = summary.get(name, {})
        tasks.append(
            {
                "task": name,
                "is_array": is_array,
                "total": sum(counts.values()),
                "counts": dict(sorted(counts.items(), key=lambda kv: STATE_ORDER.index(kv[0]))),
                "empty_fanout": name in empty,
                "unrecorded": live.unrecorded.get(name, {}),
            }
        )
    # The failures listed are the recorded ones (with their errors), and so is their total.
    failed_total = sum(
        counts.get("FAILED", 0) - live.unrecorded.get(name, {}).get("FAILED", 0)
        for name, counts in summary.items()
        if args.task is None or name == args.task
    )
    failed = store.first_task_instance_records(
        run_id, args.task, [TaskState.FAILED], limit=max(args.failures, 0)
    )
    shown, lost = shown_status(store, record)
    data: dict[str, Any] = {
        "unrecorded_total": live.unrecorded_total,
        "run": {
            **record.to_public_dict(),
            "status": shown,
            "lost": lost and f"{lost}. {lost_advice(record)}",
        },
        "tasks": tasks,
        "failed_total": failed_total,
        "failed": [
            {
                "instance": instance_label(inst.task_name, inst.array_index),
                "task": inst.task_name,
                "array_index": inst.array_index,
                "job_id": inst.job_id,
                "error_tail": _tail(inst.error_text, args.lines),
            }
            for inst in failed
        ],
    }
    data["attempts"] = _attempts(record, args)
    if args.task is not None:
        states = None if args.state is None else [TaskState(args.state.strip().upper())]
        data["instances"] = [
            {
                "instance": instance_label(inst.task_name, inst.array_index),
                "array_index": inst.array_index,
                "state": live.states.get(inst.id, inst.state.value),
                "recorded": inst.id not in live.states,
                "job_id": inst.job_id,
                "updated_at": inst.updated_at.isoformat(),
                "cache": inst.cache_info.get("status"),
                "error": _tail(inst.error_text, 1)[0] if inst.error_text else None,
            }
            for inst in store.list_task_instance_records(run_id, args.task, states)
        ]
    return data


def _attempts(record: RunRecord, args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Instance -> its ended attempts (reflow.runs.attempts), at most ``--failures`` instances."""
    from dataclasses import asdict

    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.runs.attempts import recorded_attempts

    log = recorded_attempts(record)
    if log is None:
        return {}
    shown = {
        key: [asdict(a) for a in items]
        for key, items in log.entries.items()
        if args.task is None or key.split("[", 1)[0] == args.task
    }
    return dict(list(shown.items())[: max(args.failures, 0)])


def status_document(data: dict[str, Any]) -> Document:
    """The view of :func:`status_data` as lines and tables."""
    from datetime import datetime

    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.output import STATE_STYLES, Cell, Line, Table, state_cell
    from reflow.runs.fanout import EMPTY_FANOUT
    from reflow.runs.live import UNRECORDED_NOTE

    run = data["run"]
    created = datetime.fromisoformat(run["created_at"])
    doc: Document = [
        Line(f"Run       {run['run_id']}", "bold"),
        Line(f"Workflow  {run['graph_name']}"),
        Line(f"Status    {run['status']}", STATE_STYLES.get(run["status"], "")),
        *([Line(f"          {run['lost']}", "red")] if run.get("lost") else []),
        Line(f"Executor  {run['executor'] or '-'}"),
        Line(f"Created   {created:%Y-%m-%d %H:%M:%S} UTC ({format_age(created)} ago)"),
        Line(f"Run dir   {run['parameters'].get('run_dir', '-')}"),
        Line(),
    ]
    present = {state for task in data["tasks"] for state in task["counts"]}
    states = [s for s in STATE_ORDER if s in present]
    table = Table(("TASK", "KIND", "INSTANCES", *states), frozenset(range(2, 3 + len(states))))
    for task in data["tasks"]:
        counts = task["counts"]
        table.add(
            Cell(task["task"], "bold"),
            "array" if task["is_array"] else "job",
            str(task["total"]) if task["total"] or task.get("empty_fanout") else "-",
            *(
                Cell(f"{counts[s]}{'*' if task['unrecorded'].get(s) else ''}", STATE_STYLES[s])
                if counts.get(s)
                else Cell("")
                for s in states
            ),
        )
    doc.append(table)
    if data["unrecorded_total"]:
        doc.append(Line(f"* {UNRECORDED_NOTE.format(n=data['unrecorded_total'])}", "dim"))
    doc += [
        Line(f"{t['task']}: {EMPTY_FANOUT}", "yellow")
        for t in data["tasks"]
        if t.get("empty_fanout")
    ]
    if "instances" in data:
        listing = Table(("INSTANCE", "STATE", "JOB", "CACHE", "UPDATED", "ERROR"))
        for inst in data["instances"]:
            updated = datetime.fromisoformat(inst["updated_at"])
            listing.add(
                inst["instance"],
                state_cell(inst["state"]) if inst["recorded"] else Cell(f"{inst['state']}*"),
                inst["job_id"] or "-",
                inst["cache"] or "-",
                f"{format_age(updated)} ago",
                Cell(inst["error"] or "", "red"),
            )
        doc += [Line(), listing if listing.rows else Line("No instance matches.")]
    if data.get("attempts"):
        # lazy: `reflow --help` imports every command; what it runs loads when it runs
        from reflow.runs.attempts import Attempt

        doc += [Line(), Line("Attempts (see 'When jobs fail' in the docs):", "bold")]
        for key, items in data["attempts"].items():
            doc.append(Line(f"  {key}", "bold"))
            doc += [Line(f"      {Attempt.from_json(a).summary()}") for a in items]
    if data["failed"]:
        shown = len(data["failed"])
        of = f"{shown} of {data['failed_total']}" if data["failed_total"] > shown else str(shown)
        doc += [Line(), Line(f"Failed instances ({of}):", "bold red")]
        for failure in data["failed"]:
            doc.append(Line(f"  {failure['instance']}  (job {failure['job_id'] or '-'})", "bold"))
            doc += [Line(f"      {line}", "red") for line in failure["error_tail"]]
        if data["failed_total"] > shown:
            doc.append(
                Line(f"  ... and {data['failed_total'] - shown} more: --task T --state FAILED")
            )
    return doc


def _check(store: Store, record: RunRecord, args: argparse.Namespace) -> None:
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import task_spec

    if args.task is not None:
        task_spec(store, record.run_id, args.task)
    if args.state is not None:
        if args.task is None:
            raise ReflowError("--state filters the instances of --task T; add --task.")
        if args.state.strip().upper() not in {s.value for s in TaskState}:
            raise ReflowError(
                f"--state {args.state!r} is not a task state; use one of "
                f"{', '.join(s.value for s in TaskState)}."
            )
    if args.interval <= 0:
        raise ReflowError(f"--interval {args.interval} must be a positive number of seconds.")


def run(args: argparse.Namespace) -> int:
    """Show the status once, or until the run ends with ``--watch``."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.output import Printer
    from reflow.cli.runref import open_cli_store, resolve_run

    store = open_cli_store(args)
    record = resolve_run(store, args.run_ref)
    _check(store, record, args)
    printer = Printer()
    if args.watch:
        return _watch(store, record.run_id, args, printer)
    data = status_data(store, record, args)
    if args.json:
        printer.json(data)
    else:
        printer.show(status_document(data))
    return 0


def _current(store: Store, run_id: str) -> RunRecord:
    record = store.get_run_record(run_id)
    if record is None:
        raise ReflowError(f"Run {run_id} was deleted from the store while being watched.")
    return record


def _watch(store: Store, run_id: str, args: argparse.Namespace, printer: Printer) -> int:
    """Redraw until the run is in a terminal state; Ctrl-C only stops the watching."""
    import json
    import sys

    try:
        if printer.rich and not args.json:
            from rich.console import Group
            from rich.live import Live

            # lazy: `reflow --help` imports every command; what it runs loads when it runs
            from reflow.cli.live.display import table
            from reflow.cli.live.follow import StoreCounts

            counts = StoreCounts(store, [name for name, _ in _task_order(store, run_id, {})])
            seen = counts.seen
            with Live(console=printer.console(), auto_refresh=False) as live:
                while True:
                    record = _current(store, run_id)
                    data = status_data(store, record, args, seen)
                    view = Group(
                        printer.renderable(status_document(data)),
                        "",
                        table(counts.update(record)),
                    )
                    live.update(view, refresh=True)
                    if record.status in RunState.terminal() or data["run"]["lost"]:
                        return 0
                    time.sleep(args.interval)
        last = ""
        files: dict[Path, tuple[int, str]] = {}
        while True:
            record = _current(store, run_id)
            data = status_data(store, record, args, files)
            text = json.dumps(data, sort_keys=True, default=str)
            if text != last:  # the data, not the ages in the text, decides
                if args.json:
                    printer.stream.write(text + "\n")
                else:
                    printer.stream.write(
                        ("\n" if last else "") + printer.plain(status_document(data))
                    )
                printer.stream.flush()
                last = text
            if record.status in RunState.terminal() or data["run"]["lost"]:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        sys.stderr.write(f"reflow: stopped watching; run {run_id} goes on.\n")
        return _EXIT_INTERRUPTED

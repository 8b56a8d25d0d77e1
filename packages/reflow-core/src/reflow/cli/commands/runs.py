"""``reflow runs``: one line per run in the store, newest first.

Each line: the run id, workflow, status (LOST for a run nothing advances
any more, see :mod:`reflow.runs.liveness`), progress (successful instances of
all instances planned so far), age and executor (``run_local`` for runs made
by ``wf.run_local()``).  ``--json`` prints the same as a JSON list.

A store may hold the runs of many users (a lab's database): only the current
user's runs are listed, unless ``--all-users`` is given (then with a USER
column).  A run of another user named by its id still works everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow._types import RunState
from reflow.errors import ReflowError
from reflow.runs.context import recorded_run_dir
from reflow.timetext import format_age, parse_since

if TYPE_CHECKING:
    import argparse

    from reflow.stores import RunRecord, Store

__all__ = [
    "DESCRIPTION",
    "HELP",
    "NAME",
    "add_arguments",
    "add_selection_arguments",
    "run",
    "run_progress",
    "show_runs",
]

NAME = "runs"
HELP = "list the runs in the store: status, progress, age, executor"
DESCRIPTION = (
    "List the runs recorded in the manifest store, newest first: run id, workflow, status, "
    "progress (successful instances / instances planned so far), age and executor."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the filters, ``--json`` and ``--store-path``."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import add_store_option

    parser.add_argument("--workflow", metavar="W", help="only runs of workflow W")
    add_selection_arguments(parser)
    add_store_option(parser)


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--status``, ``--since``, ``--last`` and ``--json``: what :func:`show_runs` reads.

    ``reflow runs`` and a workflow script's ``runs`` both take them.
    """
    parser.add_argument(
        "--status",
        metavar="S",
        help="only runs in state S (PENDING, RUNNING, SUCCESS, FAILED, CANCELLED, LOST)",
    )
    parser.add_argument(
        "--since",
        metavar="DATE",
        help="only runs created since DATE: 2026-11-01, 2026-11-01T08:00 or an age (12h, 2d)",
    )
    parser.add_argument(
        "--last", type=int, default=20, metavar="N", help="at most the N newest runs (20)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument(
        "--all-users",
        action="store_true",
        help="runs of every user of the store (default: only yours)",
    )


def run_progress(store: Store, run_id: str) -> tuple[int, int]:
    """``(successful instances, instances)`` of a run, from the per-task state counts."""
    summary = store.task_state_summary(run_id)
    total = sum(sum(counts.values()) for counts in summary.values())
    done = sum(counts.get("SUCCESS", 0) for counts in summary.values())
    return done, total


def _select(store: Store, args: argparse.Namespace) -> tuple[list[RunRecord], int, int]:
    """The runs to show, how many match in all, and how many other users' runs were left out."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.runs.creation import user_name
    from reflow.runs.liveness import LOST, shown_status

    records = store.list_run_records(graph_name=args.workflow)
    others = 0
    if not getattr(args, "all_users", False):
        me = user_name()
        mine = [r for r in records if r.user_id == me]
        others, records = len(records) - len(mine), mine
    if args.status:
        wanted = args.status.strip().upper()
        states = [*(s.value for s in RunState), LOST]
        if wanted not in states:
            raise ReflowError(
                f"--status {args.status!r} is not a run state; use one of {', '.join(states)}."
            )
        records = [r for r in records if shown_status(store, r)[0] == wanted]
    if args.since:
        since = parse_since(args.since, "--since")
        records = [r for r in records if r.created_at >= since]
    if args.last < 0:
        raise ReflowError(f"--last {args.last} is negative; give how many runs to show.")
    return records[: args.last], len(records), others


def run(args: argparse.Namespace) -> int:
    """Print the runs; 0 even when there are none."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import open_cli_store
    from reflow.stores import StoreMissingError

    try:
        store = open_cli_store(args)
    except StoreMissingError:
        if args.store_path is not None:
            raise  # a path given on the command line that names nothing is a typo
        print("No runs yet: the manifest store has not been created (submit a run first).")
        return 0
    return show_runs(store, args)


def show_runs(store: Store, args: argparse.Namespace) -> int:
    """Print the runs of ``store`` that ``args`` selects: ``reflow runs``, ``pipeline.py runs``.

    ``args`` holds ``workflow``, ``status``, ``since``, ``last``, ``json`` and
    ``all_users``.
    """
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.output import Cell, Line, Printer, Table, state_cell
    from reflow.runs.liveness import shown_status

    records, matching, others = _select(store, args)
    all_users = bool(getattr(args, "all_users", False))
    rows: list[dict[str, Any]] = []
    for record in records:
        done, total = run_progress(store, record.run_id)
        shown, lost = shown_status(store, record)
        rows.append(
            {
                "run_id": record.run_id,
                "workflow": record.graph_name,
                "status": shown,
                "lost": lost,
                "done": done,
                "total": total,
                "created_at": record.created_at.isoformat(),
                "executor": record.executor,
                "user": record.user_id,
                "run_dir": None if (run_dir := recorded_run_dir(record)) is None else str(run_dir),
            }
        )
    printer = Printer()
    if args.json:
        printer.json(rows)
        return 0
    hidden = (
        Line(f"{others} run(s) of other users not shown; --all-users shows them.")
        if others
        else None
    )
    if not rows:
        printer.line("No runs in the store match.")
        if hidden is not None:  # never hide runs without saying so
            printer.line(hidden.text)
        return 0
    columns = ("RUN", "WORKFLOW", "STATUS", "PROGRESS", "AGE", "EXECUTOR")
    table = Table((*columns, "USER") if all_users else columns, frozenset({3, 4}))
    for record, row in zip(records, rows, strict=True):
        cells = [
            Cell(row["run_id"], "bold"),
            row["workflow"],
            state_cell(row["status"]),
            f"{row['done']}/{row['total']}",
            format_age(record.created_at),
            row["executor"] or "-",
        ]
        table.add(*cells, *([row["user"]] if all_users else []))
    doc: list[Line | Table] = [table]
    if matching > len(records):  # never hide runs without saying so
        doc.append(
            Line(f"The {len(records)} newest of {matching} runs; --last {matching} shows all.")
        )
    if hidden is not None:
        doc.append(hidden)
    printer.show(doc)
    return 0

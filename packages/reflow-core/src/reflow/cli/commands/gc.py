"""``reflow gc``: delete old runs from the store with their files, then compact the database.

A run older than ``--older-than`` (30 days) is deleted with its task
instances and, in its run directory, its result files, its bookkeeping
folder and its task jobs' log files (see :mod:`reflow.cli.runfiles`).  A run
still ``PENDING`` or ``RUNNING`` is never deleted, however old: the store
checks that in the same transaction that deletes.  A LOST run (nothing
advances it any more, see :mod:`reflow.runs.liveness`) is cancelled, then deleted
like an ended one.  A log file another run
that stays also names (job ids counted by two executors) stays too.
``--dry-run`` shows what would go and changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from reflow._types import RunState
from reflow.runs.context import recorded_run_dir
from reflow.timetext import format_age, parse_duration

if TYPE_CHECKING:
    import argparse

    from reflow.stores import Store

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]

NAME = "gc"
HELP = "delete old runs with their result and log files, then compact the store"
DESCRIPTION = (
    "Delete runs older than --older-than (30d) from the manifest store, together with their "
    "result files, bookkeeping and job log files in the run directory, then compact the "
    "database. Runs still PENDING or RUNNING are never deleted, unless LOST. --dry-run only lists."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--older-than``, ``--workflow``, ``--dry-run``, ``--json``."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.runref import add_store_option

    parser.add_argument(
        "--older-than",
        default="30d",
        metavar="AGE",
        help="delete runs created more than AGE ago: 12h, 30d, 8w ... (30d)",
    )
    parser.add_argument("--workflow", metavar="W", help="only runs of workflow W")
    parser.add_argument(
        "-n", "--dry-run", action="store_true", help="list what would be deleted, delete nothing"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON report")
    add_store_option(parser)


def _database_size(store: Store) -> int | None:
    path = getattr(store, "path", None)
    if path is None:
        return None
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += (path.parent / (path.name + suffix)).stat().st_size
        except OSError:
            continue
    return total


def run(args: argparse.Namespace) -> int:
    """Delete (or list) the old runs and print what was done."""
    # lazy: `reflow --help` imports every command; what it runs loads when it runs
    from reflow.cli.output import Cell, Line, Printer, Table, format_size, state_cell
    from reflow.cli.runfiles import claimed_logs, run_files
    from reflow.cli.runref import open_cli_store
    from reflow.runs.liveness import LOST, close_run, lost_reason
    from reflow.stores import ActiveRunError, UnknownRunError

    age = parse_duration(args.older_than, "--older-than")
    store = open_cli_store(args)
    cutoff = datetime.now(timezone.utc) - age
    old = [r for r in store.list_run_records(graph_name=args.workflow) if r.created_at < cutoff]
    lost = {  # nothing advances these: they go like ended runs
        r.run_id: reason
        for r in old
        if r.status in RunState.active() and (reason := lost_reason(store, r)) is not None
    }
    going = {r.run_id for r in old if r.status not in RunState.active() or r.run_id in lost}
    dirs = {recorded_run_dir(r) for r in old if r.run_id in going}
    keep = claimed_logs(  # log files the runs that stay name too
        store,
        (
            r
            for r in store.list_run_records()
            if r.run_id not in going and recorded_run_dir(r) in dirs
        ),
    )
    size_before = _database_size(store)
    deleted: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    unreadable: list[dict[str, Any]] = []
    for record in old:
        entry: dict[str, Any] = {
            "run_id": record.run_id,
            "workflow": record.graph_name,
            "status": LOST if record.run_id in lost else record.status.value,
            "created_at": record.created_at.isoformat(),
        }
        if record.run_id not in going:
            kept.append(entry)
            continue
        try:
            files = run_files(store, record, keep)
        except OSError as exc:  # another user's run directory: its files could not go
            entry["error"] = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
            unreadable.append(entry)
            continue
        instances = sum(sum(c.values()) for c in store.task_state_summary(record.run_id).values())
        if not args.dry_run:
            try:
                if record.run_id in lost:
                    close_run(store, record.run_id, f"lost ({lost[record.run_id]}); reflow gc")
                instances = store.delete_run(record.run_id)
            except ActiveRunError:  # retried since we listed it
                kept.append(entry)
                continue
            except UnknownRunError:  # another gc got there first
                continue
            files.remove()
        entry.update(instances=instances, files=files.files, bytes=files.size)
        deleted.append(entry)
    if deleted and not args.dry_run:
        store.compact()
    report = {
        "dry_run": bool(args.dry_run),
        "older_than": args.older_than,
        "deleted": deleted,
        "kept_active": kept,
        "kept_unreadable": unreadable,
        "database": {
            "path": str(getattr(store, "path", "")),
            "bytes_before": size_before,
            "bytes_after": _database_size(store),
        },
    }
    printer = Printer()
    if args.json:
        printer.json(report)
        return 0
    verb = "Would delete" if args.dry_run else "Deleted"
    doc: list[Line | Table] = []
    if deleted:
        table = Table(
            ("RUN", "WORKFLOW", "STATUS", "AGE", "INSTANCES", "FILES", "SIZE"),
            frozenset({3, 4, 5, 6}),
        )
        for entry in deleted:
            created = datetime.fromisoformat(entry["created_at"])
            table.add(
                Cell(entry["run_id"], "bold"),
                entry["workflow"],
                state_cell(entry["status"]),
                format_age(created),
                str(entry["instances"]),
                str(entry["files"]),
                format_size(entry["bytes"]),
            )
        doc.append(table)
    files = sum(e["files"] for e in deleted)
    size = sum(e["bytes"] for e in deleted)
    if not deleted:
        doc.append(Line(f"No ended run is older than {args.older_than}: nothing to delete."))
    else:
        doc.append(
            Line(
                f"{verb} {len(deleted)} run(s) older than {args.older_than}, with "
                f"{sum(e['instances'] for e in deleted)} task instance(s) and {files} file(s) "
                f"({format_size(size)})."
            )
        )
    if kept:
        doc.append(
            Line(
                f"Kept {len(kept)} old run(s) still active: "
                + ", ".join(f"{e['run_id']} ({e['status']})" for e in kept),
                "yellow",
            )
        )
    if unreadable:
        doc.append(
            Line(
                f"Kept {len(unreadable)} old run(s) whose files cannot be read: "
                + ", ".join(f"{e['run_id']} ({e['error']})" for e in unreadable),
                "yellow",
            )
        )
    before, after = report["database"]["bytes_before"], report["database"]["bytes_after"]
    if deleted and not args.dry_run and before is not None and after is not None:
        doc.append(
            Line(
                f"Compacted {report['database']['path']}: {format_size(before)} -> "
                f"{format_size(after)}."
            )
        )
    printer.show(doc)
    return 0

"""The end-of-run summary: per task what ran, came from the cache, failed or was skipped."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from reflow._types import TaskState
from reflow.define.labels import instance_label

if TYPE_CHECKING:
    from reflow.cli.output import Document
    from reflow.stores import RunRecord, Store

__all__ = ["COLUMNS", "summary_data", "summary_document"]

COLUMNS = ("ran", "cached", "failed", "skipped", "cancelled")
"""What the summary counts per task, in its column order."""

_FAILURES_SHOWN = 3
"""Failed instances named with their error and commands; the rest are counted."""


def summary_data(store: Store, record: RunRecord, order: list[str]) -> dict[str, Any]:
    """Per task (``order`` first) the counts of :data:`COLUMNS`, and the first failures.

    ``ran`` counts the instances that ran and succeeded, ``cached`` those
    taken from the cache (whose ``cache_info`` says ``hit``).
    """
    tasks: dict[str, dict[str, int]] = {name: dict.fromkeys(COLUMNS, 0) for name in order}
    for inst in store.list_task_instance_records(record.run_id):
        counts = tasks.setdefault(inst.task_name, dict.fromkeys(COLUMNS, 0))
        if inst.state is TaskState.SUCCESS:
            counts["cached" if inst.cache_info.get("status") == "hit" else "ran"] += 1
        elif inst.state.value.lower() in counts:
            counts[inst.state.value.lower()] += 1
    failed = store.first_task_instance_records(
        record.run_id, None, [TaskState.FAILED], limit=_FAILURES_SHOWN
    )
    created = record.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return {
        "run_id": record.run_id,
        "state": record.status.value,
        "seconds": (datetime.now(timezone.utc) - created).total_seconds(),
        "tasks": tasks,
        "failed_total": sum(c["failed"] for c in tasks.values()),
        "failed": [
            (
                instance_label(inst.task_name, inst.array_index),
                ((inst.error_text or "").strip().splitlines() or ["no error recorded"])[-1],
            )
            for inst in failed
        ],
    }


def summary_document(data: dict[str, Any]) -> Document:
    """The summary as lines and a table; a failure ends with the commands that show more."""
    # lazy: the printer (and rich) load only when a summary is shown
    from reflow.cli.live.counts import format_seconds
    from reflow.cli.output import STATE_STYLES, Cell, Line, Table

    run_id = data["run_id"]
    doc: Document = [
        Line(),
        Line(
            f"Run {run_id} {data['state']} after {format_seconds(data['seconds'])}",
            STATE_STYLES.get(data["state"], "bold"),
        ),
    ]
    shown = [c for c in COLUMNS if c != "cancelled" or any(t[c] for t in data["tasks"].values())]
    table = Table(("TASK", *(c.upper() for c in shown)), frozenset(range(1, 1 + len(shown))))
    for name, counts in data["tasks"].items():
        table.add(
            Cell(name, "bold"),
            *(Cell(str(counts[c]), "red" if c == "failed" and counts[c] else "") for c in shown),
        )
    doc.append(table)
    if data["failed"]:
        doc.append(Line())
        for label, error in data["failed"]:
            doc.append(Line(f"{label} failed: {error}", "red"))
        more = data["failed_total"] - len(data["failed"])
        if more > 0:
            doc.append(Line(f"... and {more} more failed instance(s)."))
        doc += [
            Line("See the errors and the logs with:"),
            Line(f"  reflow status {run_id}"),
            Line(f"  reflow logs {run_id} {data['failed'][0][0]}"),
        ]
    return doc

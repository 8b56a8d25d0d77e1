"""What a notification says: a small JSON-ready dict, and its text for an email."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from reflow._types import TaskState
from reflow.define.labels import instance_label

if TYPE_CHECKING:
    from reflow.stores import RunRecord, Store

__all__ = ["message", "message_text", "subject"]


def message(store: Store, record: RunRecord, event: str) -> dict[str, Any]:
    """The notification of ``event`` for ``record``'s run.

    Returns
    -------
    dict
        ``event``, ``run_id``, ``workflow``, ``state``, ``counts`` (instances
        per state), ``tasks`` (the same per task), ``duration_seconds`` (since
        the run was created), ``first_failure`` (``instance``, ``job_id`` and
        the error's last line, or ``None``), and the commands that show more:
        ``status_command``, ``logs_command`` and ``report_command``.
    """
    summary = store.task_state_summary(record.run_id)
    counts: dict[str, int] = {}
    for by_state in summary.values():
        for state, n in by_state.items():
            counts[state] = counts.get(state, 0) + n
    failed = store.first_task_instance_records(record.run_id, None, [TaskState.FAILED], limit=1)
    first = None
    logs = None
    if failed:
        inst = failed[0]
        label = instance_label(inst.task_name, inst.array_index)
        lines = (inst.error_text or "").strip().splitlines()
        first = {
            "instance": label,
            "job_id": inst.job_id,
            "error": lines[-1] if lines else "no error recorded",
        }
        logs = f"reflow logs {record.run_id} {label}"
    created = record.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return {
        "event": event,
        "run_id": record.run_id,
        "workflow": record.graph_name,
        "state": record.status.value,
        "counts": counts,
        "tasks": summary,
        "duration_seconds": round((datetime.now(timezone.utc) - created).total_seconds(), 1),
        "first_failure": first,
        "status_command": f"reflow status {record.run_id}",
        "logs_command": logs,
        "report_command": f"reflow report {record.run_id}",
    }


def subject(data: dict[str, Any]) -> str:
    """The email subject: ``reflow: run RUN SUCCESS`` or ``reflow: run RUN has a failure``."""
    if data["event"] == "first_failure":
        return f"reflow: run {data['run_id']} has a failure ({data['first_failure']['instance']})"
    return f"reflow: run {data['run_id']} {data['state']}"


def message_text(data: dict[str, Any]) -> str:
    """The email body: the state, the counts, the first failure and what to run next."""
    counts = ", ".join(f"{state} {n}" for state, n in sorted(data["counts"].items()))
    lines = [
        f"Run       {data['run_id']}",
        f"Workflow  {data['workflow']}",
        f"State     {data['state']}",
        f"Instances {counts or 'none'}",
        f"Duration  {data['duration_seconds']:.0f} s",
    ]
    if data["first_failure"]:
        failure = data["first_failure"]
        lines += ["", f"First failure: {failure['instance']}: {failure['error']}"]
    lines += ["", "More:", f"  {data['status_command']}"]
    lines += [f"  {data['logs_command']}"] if data["logs_command"] else []
    lines.append(f"  {data['report_command']}")
    return "\n".join(lines) + "\n"

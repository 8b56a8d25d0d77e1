"""The advice section: per task, what to ask for next time (:mod:`reflow.report.advice`)."""

from __future__ import annotations

from html import escape

from reflow.report.advice import MIN_MEASURABLE, advise_all
from reflow.report.data import ReportData

__all__ = ["advice_html"]


def advice_html(data: ReportData) -> str:
    """One row per task: the suggested decorator edits, or why there are none."""
    rows = []
    for advice in advise_all(data.tasks, data.instances):
        name = escape(advice.task.name)
        if advice.changes:
            edits = "<br>".join(
                f"<code>{escape(c.option)}={escape(c.current)}</code> &rarr; "
                f"<code>{escape(c.edit)}</code> <span class='note'>{escape(c.reason)}</span>"
                for c in advice.changes
            )
            rows.append(
                f"<tr class='advice' data-task='{name}'><td>{name}</td><td>{edits}</td></tr>"
            )
        else:
            rows.append(
                f"<tr data-task='{name}'><td>{name}</td>"
                f"<td class='note'>{escape(advice.note)}</td></tr>"
            )
    note = (
        "<p class='note'>From the instances that ran: memory is the highest peak plus 25%, "
        "rounded up; walltime twice the longest instance, rounded up; CPUs the cores busy on "
        f"average. Tasks whose instances ran under {MIN_MEASURABLE:g} s get no advice. "
        f"<code>reflow suggest {escape(data.run.run_id)}</code> prints the same as edits of "
        "the decorators, with the line of each.</p>"
    )
    return (
        "<table class='advice'><thead><tr><th>task</th><th>next time</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{note}"
    )

"""The resources section: per task, what it asked for against what it used."""

from __future__ import annotations

from html import escape

from reflow.report.advice import MIN_MEASURABLE
from reflow.report.data import InstanceInfo, ReportData
from reflow.report.efficiency import TaskEfficiency, task_efficiency
from reflow.report.units import duration, kib, percent

__all__ = ["resources_html"]


def _gauge(fraction: float | None, *, low_is_bad: bool, measurable: bool = True) -> str:
    """A percentage with a small bar; ``warn`` when it is worth a look.

    Nothing is highlighted for a task too short to measure (``measurable``
    false): its CPU time is mostly the start-up of the process.
    """
    if fraction is None:
        return "<td class='num'>-</td>"
    warn = measurable and (fraction < 0.5 if low_is_bad else fraction > 0.9)
    width = max(0.0, min(fraction, 1.0)) * 100
    return (
        f"<td class='num{' warn' if warn else ''}'>{percent(fraction)}"
        f"<span class='gauge'><span style='width:{width:.0f}%'></span></span></td>"
    )


def _row(eff: TaskEfficiency) -> str:
    req = eff.task.requested
    measurable = eff.elapsed_max >= MIN_MEASURABLE
    if not eff.measured:
        return (
            f"<tr><td>{escape(eff.task.name)}</td><td class='num'>0 of {eff.task.total}</td>"
            f"<td class='num'>{req.cpus}</td><td class='num'>{escape(req.time)}</td>"
            f"<td colspan='2' class='num'>-</td><td class='num'>{escape(req.mem)}</td>"
            "<td colspan='2' class='num'>-</td><td colspan='3' class='num'>-</td></tr>"
        )
    return (
        f"<tr><td>{escape(eff.task.name)}</td>"
        f"<td class='num'>{eff.measured} of {eff.task.total}</td>"
        f"<td class='num'>{req.cpus}</td>"
        f"<td class='num'>{escape(req.time)}</td>"
        f"<td class='num'>{duration(eff.elapsed_max)} <small>(mean {duration(eff.elapsed_mean)})"
        f"</small></td>"
        f"{_gauge(eff.time_efficiency, low_is_bad=False)}"
        f"<td class='num'>{escape(req.mem)}</td>"
        f"<td class='num'>{kib(eff.peak_rss_kb_max)}</td>"
        f"{_gauge(eff.memory_efficiency, low_is_bad=False)}"
        f"<td class='num'>{duration(eff.cpu_total)}</td>"
        f"<td class='num'>{duration(eff.core_seconds)}</td>"
        f"{_gauge(eff.cpu_efficiency, low_is_bad=True, measurable=measurable)}</tr>"
    )


def resources_html(data: ReportData) -> str:
    """The table of every task's request and use, with a note on how to read it."""
    by_task: dict[str, list[InstanceInfo]] = {}
    for info in data.instances:
        by_task.setdefault(info.task, []).append(info)
    rows = [_row(task_efficiency(task, by_task.get(task.name, []))) for task in data.tasks]
    head = (
        "<tr><th rowspan='2'>task</th><th rowspan='2'>measured</th><th rowspan='2'>cpus</th>"
        "<th colspan='3'>walltime</th><th colspan='3'>memory</th><th colspan='3'>CPU</th></tr>"
        "<tr><th>asked</th><th>longest</th><th>used</th><th>asked</th><th>peak</th><th>used</th>"
        "<th>time</th><th>cpus &times; elapsed</th><th>efficiency</th></tr>"
    )
    note = (
        "<p class='note'>Walltime used: the longest instance over <code>time</code>. Memory "
        "used: the highest peak resident memory of an instance over <code>mem</code>. CPU "
        "efficiency: CPU time of all instances over <code>cpus</code> &times; their elapsed "
        "time, as Slurm's <code>seff</code> reports it. Only instances that ran and reported "
        "their figures count; cache hits do not. A low CPU efficiency is highlighted only "
        f"for tasks whose longest instance ran {MIN_MEASURABLE:g} s or more.</p>"
    )
    if data.run.executor == "run_local":
        note += (
            "<p class='note'>This run ran with <code>run_local</code>, which enforces none of "
            "these requests; a scheduler would have reserved them. Its peak memory is that of "
            "the process that ran the instance, which may have run others before it: an upper "
            "bound.</p>"
        )
    body = "".join(rows)
    return f"<table class='resources'><thead>{head}</thead><tbody>{body}</tbody></table>{note}"

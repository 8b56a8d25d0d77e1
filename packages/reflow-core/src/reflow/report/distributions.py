"""Per task, the distribution of run time, peak memory and CPU efficiency over its instances.

Each figure is a small inline SVG: a box (quartiles, median) with whiskers to
the extremes, over a strip of the instances themselves (at most
:data:`STRIP_CAP` points, evenly taken from the sorted values, so a
10,000-element task stays a few kilobytes).  Only instances that ran and
reported their figures count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from reflow.report.data import InstanceInfo, ReportData
from reflow.report.units import duration, kib, percent

__all__ = ["STRIP_CAP", "distributions_html", "quantile", "strip_svg"]

STRIP_CAP = 300
"""Most points drawn on one strip."""

_W, _H, _PAD = 220.0, 30.0, 6.0


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted ``values``, linearly interpolated."""
    if not values:
        raise ValueError("no values")
    pos = (len(values) - 1) * q
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)


def strip_svg(values: Sequence[float], fmt: Callable[[float], str], what: str) -> str:
    """A box-and-strip plot of ``values`` (any order), labelled with ``fmt``.

    Returns
    -------
    str
        An ``<svg class="dist">`` element with a ``<title>`` giving min, median and max.
    """
    data = sorted(values)
    lo, hi = 0.0, max(data[-1], 1e-12)  # from zero: a share of the range reads as a share
    span = hi - lo

    def x(v: float) -> float:
        return _PAD + (v - lo) / span * (_W - 2 * _PAD)

    q1, med, q3 = (quantile(data, q) for q in (0.25, 0.5, 0.75))
    step = -(-len(data) // STRIP_CAP)  # rounded up: at most STRIP_CAP points
    shown = data[::step]
    mid = _H / 2
    points = "".join(
        # A fixed jitter pattern: the same run gives the same picture.
        f'<circle cx="{x(v):.1f}" cy="{mid + ((n * 7) % 11 - 5) * 1.1:.1f}" r="1.6"/>'
        for n, v in enumerate(shown)
    )
    title = (
        f"{what}: min {fmt(data[0])}, median {fmt(med)}, max {fmt(data[-1])} "
        f"over {len(data)} instance{'s' if len(data) != 1 else ''}"
    )
    return (
        f'<svg class="dist" width="{_W:.0f}" height="{_H:.0f}" viewBox="0 0 {_W:.0f} {_H:.0f}"'
        f' role="img"><title>{escape(title)}</title>'
        f'<line class="axis" x1="{_PAD}" x2="{_W - _PAD}" y1="{_H - 3}" y2="{_H - 3}"/>'
        f'<line class="whisker" x1="{x(data[0]):.1f}" x2="{x(data[-1]):.1f}" y1="{mid}"'
        f' y2="{mid}"/>'
        f'<rect class="box" x="{x(q1):.1f}" y="{mid - 8}" width="{max(x(q3) - x(q1), 1):.1f}"'
        f' height="16"/>'
        f'<g class="pts">{points}</g>'
        f'<line class="median" x1="{x(med):.1f}" x2="{x(med):.1f}" y1="{mid - 9}"'
        f' y2="{mid + 9}"/></svg>'
    )


def _cell(values: list[float], fmt: Callable[[float], str], what: str) -> str:
    if not values:
        return "<td class='num'>-</td>"
    med = quantile(sorted(values), 0.5)
    return (
        f"<td>{strip_svg(values, fmt, what)}<div class='note'>median {escape(fmt(med))}, "
        f"max {escape(fmt(max(values)))}</div></td>"
    )


def distributions_html(data: ReportData) -> str:
    """The table of per-task distributions."""
    by_task: dict[str, list[InstanceInfo]] = {}
    for info in data.instances:
        if not info.cached and info.elapsed is not None:
            by_task.setdefault(info.task, []).append(info)
    rows = []
    for task in data.tasks:
        ran = by_task.get(task.name, [])
        if not ran:
            continue
        times = [i.elapsed or 0.0 for i in ran]
        mems = [float(i.peak_rss_kb) for i in ran if i.peak_rss_kb is not None]
        cpus = task.requested.cpus
        effs = [
            (i.cpu_time or 0.0) / (cpus * (i.elapsed or 0.0))
            for i in ran
            if i.cpu_time is not None and (i.elapsed or 0.0) > 0
        ]
        rows.append(
            f"<tr data-task='{escape(task.name)}'><td>{escape(task.name)}</td>"
            f"<td class='num'>{len(ran)}</td>"
            + _cell(times, duration, "run time")
            + _cell(mems, kib, "peak memory")
            + _cell(effs, percent, "CPU efficiency")
            + "</tr>"
        )
    if not rows:
        return "<p class='note'>No instance ran here and reported its figures.</p>"
    head = (
        "<tr><th>task</th><th class='num'>measured</th><th>run time</th>"
        "<th>peak memory</th><th>CPU efficiency</th></tr>"
    )
    note = (
        "<p class='note'>Each strip shows every instance that ran (up to "
        f"{STRIP_CAP} points, evenly taken), the box its quartiles and the dark line "
        "its median; the axis starts at zero. CPU efficiency is CPU time over "
        "<code>cpus</code> &times; run time. Hover a plot for its figures.</p>"
    )
    return (
        f"<table class='distributions'><thead>{head}</thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{note}"
    )

"""The timeline of a run: one row per task instance, its queue wait and its run time.

Times are relative to the creation of the run.  A row's light bar runs from
when the instance was created, ready to go (queued), to when its function
started; its coloured bar from the start to the end, in the colour of its
state.  Cache hits are a diamond where they were taken.

Beyond :data:`TASK_CAP` instances of one task, or :data:`TOTAL_CAP` rows in
all, a task is drawn as one taller, aggregated row: its wait from the first
queued instance to the first start, then, from the first start to the last
end, a profile of how many of its instances ran at each moment (scaled to the
busiest moment).  Its tooltip gives the count, the median figures and the
peak concurrency, and the report says which tasks were aggregated.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from reflow.report.data import InstanceInfo, ReportData
from reflow.report.states import CACHED, WAIT, state_colour
from reflow.report.units import duration, kib, timestamp

__all__ = ["TASK_CAP", "TOTAL_CAP", "Row", "timeline_rows", "timeline_svg"]

TASK_CAP = 500
"""A task with more instances than this is drawn as one aggregated row."""

TOTAL_CAP = 2000
"""If the rows would still be more than this, every task is aggregated."""

PROFILE_BINS = 160
"""Slices of an aggregated row's concurrency profile."""

_LABEL_W = 190.0
_CHART_W = 860.0
_ROW_H = 16.0
_AGG_H = 34.0
_AXIS_H = 26.0
_TICKS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


@dataclass(frozen=True)
class Row:
    """One row of the timeline (an instance, or a whole task when aggregated).

    Attributes
    ----------
    label : str
        ``task[i]``, or ``task (N instances)`` when aggregated.
    state : str
        The state the bar is coloured by.
    queued : float
        When the wait began.
    start, end : float or None
        Run time bounds; ``end`` is ``None`` while running.
    cached : bool
        A cache hit (drawn as a marker).
    detail : str
        The tooltip text.
    count : int
        Instances in the row.
    open_end : bool
        The end is not known: still running (drawn to now), or the job ended
        without writing a result (drawn to when reflow noticed).
    profile : tuple[float, ...]
        Aggregated rows: the share of the busiest moment's running instances
        in each of :data:`PROFILE_BINS` slices from ``start`` to ``end``.
    """

    label: str
    state: str
    queued: float
    start: float | None
    end: float | None
    cached: bool
    detail: str
    count: int = 1
    open_end: bool = False
    profile: tuple[float, ...] = ()


def _detail(info: InstanceInfo) -> str:
    if info.cached:
        return f"{info.label}: taken from the cache (run {info.cached_from})"
    lines = [
        f"{info.label}: {info.state}" + (f", job {info.job_id}" if info.job_id else ""),
        f"queued {timestamp(info.queued)}",
        f"started {timestamp(info.start)}" + (f" on {info.host}" if info.host else ""),
        f"ended {timestamp(info.end)}",
        f"wait {duration(info.wait)}, run {duration(info.elapsed)}, "
        f"CPU {duration(info.cpu_time)}, peak memory {kib(info.peak_rss_kb)}",
    ]
    return "\n".join(lines)


_FINISHED = frozenset({"SUCCESS", "FAILED", "CANCELLED", "SKIPPED"})


def _instance_row(info: InstanceInfo) -> Row:
    detail, end, open_end = _detail(info), info.end, False
    if info.start is not None and end is None:
        open_end = True
        if info.state in _FINISHED:  # the job died before writing its result
            end = max(info.updated, info.start)
            detail += "\nthe job wrote no end time: drawn to when reflow recorded its end"
    return Row(
        info.label, info.state, info.queued, info.start, end, info.cached, detail, 1, open_end
    )


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _profile(
    ran: Sequence[InstanceInfo], start: float, end: float
) -> tuple[tuple[float, ...], int]:
    """How many instances ran at once: per slice of ``[start, end]``, the time-averaged
    count over the peak; and the peak itself.  One sweep over the sorted starts and ends.
    """
    span = max(end - start, 1e-9)
    width = span / PROFILE_BINS

    def clamp(t: float) -> float:  # relative to start: small numbers, exact enough
        return min(max(t - start, 0.0), span)

    events = sorted(
        [(clamp(i.start if i.start is not None else start), 1) for i in ran]
        + [(clamp(end if i.end is None else i.end), -1) for i in ran]
    )  # at equal times an end (-1) sorts before a start: back-to-back is not overlap
    area = [0.0] * PROFILE_BINS
    level = peak = slot = 0
    now = 0.0
    for when, change in events:
        # Spread the current level up to this event; each pass ends at the event or
        # moves to the next slice, so the sweep takes events + slices passes at most.
        while now < when:
            while slot < PROFILE_BINS - 1 and (slot + 1) * width <= now:
                slot += 1
            edge = (slot + 1) * width if slot < PROFILE_BINS - 1 else when
            upto = min(when, edge)
            area[slot] += level * (upto - now)
            now = upto
            if upto < when:
                slot += 1
        level += change
        peak = max(peak, level)
    if not peak:
        return (), 0
    return tuple(min(1.0, a / width / peak) for a in area), peak


def _aggregate(task: str, infos: Sequence[InstanceInfo], now: float) -> Row:
    counts: dict[str, int] = {}
    for info in infos:
        counts[info.state] = counts.get(info.state, 0) + 1
    starts = [i.start for i in infos if i.start is not None]
    ran = [i for i in infos if i.start is not None]
    ends = [i.end for i in ran if i.end is not None]
    cached = sum(1 for i in infos if i.cached)
    waits = [w for w in (i.wait for i in ran) if w is not None]
    runs = [e for e in (i.elapsed for i in ran) if e is not None]
    summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    start = min(starts) if starts else None
    end = max(ends) if ends and len(ends) == len(ran) else None
    profile, peak = _profile(ran, start, end or now) if start is not None else ((), 0)
    detail = "\n".join(
        [
            f"{task}: {len(infos)} instances, aggregated ({summary}; {cached} from the cache)",
            f"first queued {timestamp(min(i.queued for i in infos))}",
            f"first started {timestamp(min(starts) if starts else None)}",
            f"last ended {timestamp(max(ends) if ends else None)}",
            f"median wait {duration(_median(waits))}, median run {duration(_median(runs))}, "
            f"longest run {duration(max(runs) if runs else None)}, "
            f"at most {peak} running at once",
        ]
    )
    return Row(
        label=f"{task} ({len(infos)}"
        + (f", {counts['FAILED']} failed)" if counts.get("FAILED") else ")"),
        # The bulk's colour: a few failures among thousands must not paint the whole profile.
        state=max(sorted(counts), key=lambda name: counts[name]),
        queued=min(i.queued for i in infos),
        start=start,
        end=end,
        cached=cached == len(infos),
        detail=detail,
        count=len(infos),
        profile=profile,
    )


def timeline_rows(data: ReportData) -> tuple[list[Row], list[str]]:
    """The rows to draw, and the names of the tasks that were aggregated."""
    by_task: dict[str, list[InstanceInfo]] = {}
    for info in data.instances:
        by_task.setdefault(info.task, []).append(info)
    aggregate_all = (
        len(data.instances) > TOTAL_CAP
        and sum(1 if len(v) > TASK_CAP else len(v) for v in by_task.values()) > TOTAL_CAP
    )
    rows: list[Row] = []
    aggregated: list[str] = []
    for task, infos in by_task.items():
        if aggregate_all or len(infos) > TASK_CAP:
            rows.append(_aggregate(task, infos, data.generated))
            aggregated.append(task)
        else:
            rows.extend(_instance_row(info) for info in infos)
    return rows, aggregated


def _step(span: float) -> float:
    for step in _TICKS:
        if span / step <= 10:
            return float(step)
    return 3600.0 * max(1, round(span / 36000))


def _bounds(data: ReportData, rows: list[Row]) -> tuple[float, float]:
    starts = [r.start for r in rows if r.start is not None]  # clocks may disagree
    t0 = min([data.run.created_at.timestamp(), *(r.queued for r in rows), *starts])
    ends = [r.end or r.start or r.queued for r in rows]
    if any(r.start is not None and r.end is None for r in rows):
        ends.append(data.generated)
    t1 = max([t0 + 0.001, *ends])
    return t0, t1


def _profile_path(row: Row, left: float, right: float, bottom: float, height: float) -> str:
    """The concurrency profile of an aggregated row as a closed SVG path."""
    step = (right - left) / len(row.profile)
    points = [f"M{left:.1f},{bottom:.1f}"]
    for n, share in enumerate(row.profile):
        top = bottom - share * height
        points.append(f"L{left + n * step:.1f},{top:.1f} L{left + (n + 1) * step:.1f},{top:.1f}")
    points.append(f"L{right:.1f},{bottom:.1f} z")
    return " ".join(points)


def _row_svg(row: Row, y: float, h: float, x: Callable[[float], float], now: float) -> str:
    """One row: label, then a cache-hit diamond, or its wait and run bars."""
    label = row.label if len(row.label) <= 28 else row.label[:27] + "\u2026"
    colour = state_colour(row.state)
    out = [
        f'<g class="row" data-state="{row.state}"><title>{escape(row.detail)}</title>'
        f'<text x="{_LABEL_W - 8:.1f}" y="{y + h / 2 + 3.5:.1f}" class="row-label">'
        f"{escape(label)}</text>"
    ]
    if row.cached:
        cx, cy = x(row.queued), y + h / 2
        out.append(
            f'<path class="bar cached" d="M{cx:.1f},{cy - 5:.1f} L{cx + 5:.1f},{cy:.1f}'
            f' L{cx:.1f},{cy + 5:.1f} L{cx - 5:.1f},{cy:.1f} z" fill="{CACHED}"/></g>'
        )
        return "".join(out)
    wait_end = row.start if row.start is not None else (row.end or now)
    if row.start is None and row.state in _FINISHED:
        wait_end = row.queued
    wx, ww = x(row.queued), max(0.0, x(wait_end) - x(row.queued))
    out.append(
        f'<rect class="bar wait" x="{wx:.1f}" y="{y + 4:.1f}" width="{ww:.1f}"'
        f' height="{h - 8:.1f}" fill="{WAIT}"/>'
    )
    if row.start is None:
        out.append(
            f'<rect class="bar mark" x="{wx - 1:.1f}" y="{y + 2:.1f}" width="3"'
            f' height="{h - 4:.1f}" fill="{colour}"/></g>'
        )
        return "".join(out)
    end = row.end if row.end is not None else now
    rx, rw = x(row.start), max(1.5, x(end) - x(row.start))
    open_end = " open" if row.end is None or row.open_end else ""
    if row.profile:
        out.append(
            f'<rect class="bar span" x="{rx:.1f}" y="{y + 2:.1f}" width="{rw:.1f}"'
            f' height="{h - 4:.1f}" fill="{colour}" fill-opacity="0.18"/>'
            f'<path class="bar run profile{open_end}" fill="{colour}"'
            f' d="{_profile_path(row, rx, rx + rw, y + h - 2, h - 4)}"/>'
        )
    else:
        out.append(
            f'<rect class="bar run{open_end}" x="{rx:.1f}" y="{y + 2:.1f}" width="{rw:.1f}"'
            f' height="{h - 4:.1f}" rx="2" fill="{colour}"/>'
        )
    out.append("</g>")
    return "".join(out)


def timeline_svg(data: ReportData, rows: list[Row]) -> str:
    """Draw the rows.

    Returns
    -------
    str
        An ``<svg id="timeline">`` element (every label and tooltip escaped).
    """
    t0, t1 = _bounds(data, rows) if rows else (0.0, 1.0)
    scale = _CHART_W / (t1 - t0)
    heights = [_AGG_H if row.count > 1 else _ROW_H for row in rows] or [_ROW_H]
    height = _AXIS_H + sum(heights) + 6
    width = _LABEL_W + _CHART_W + 20

    def x(t: float) -> float:
        return _LABEL_W + (t - t0) * scale

    parts = [
        f'<svg id="timeline" width="{width:.0f}" height="{height:.0f}"'
        f' viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="timeline">'
    ]
    step = _step(t1 - t0)
    tick = 0.0
    while tick <= (t1 - t0) + 1e-9:
        tx = x(t0 + tick)
        parts.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{_AXIS_H - 6:.1f}" y2="{height:.1f}"'
            ' class="grid"/>'
            f'<text x="{tx:.1f}" y="{_AXIS_H - 10:.1f}" class="tick">+{duration(tick)}</text>'
        )
        tick += step
    y = _AXIS_H
    for row, h in zip(rows, heights, strict=False):
        parts.append(_row_svg(row, y, h, x, data.generated))
        y += h
    parts.append("</svg>")
    return "".join(parts)

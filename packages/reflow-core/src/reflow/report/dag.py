"""The task graph as an inline SVG: nodes coloured by state, edges labelled with wire modes.

The layout (:func:`reflow.report.layout.graph_layout`) reserves a box for
every label and a lane for every edge where it crosses a layer, so labels
never overlap and edges never pass under a node.
"""

from __future__ import annotations

from html import escape

from reflow.report.data import Edge, TaskInfo
from reflow.report.layout import Box, Route, graph_layout
from reflow.report.states import dominant_state, state_colour

__all__ = ["dag_svg"]

_HEIGHT = 54.0
_GAP_X = 36.0
_GAP_Y = 56.0
_CHAR = 7.4  # average width of a 13px sans-serif character
_LABEL_CHAR = 6.6  # average width of an 11px sans-serif character, with room to spare
_LABEL_HEIGHT = 16.0
_MAX_CHARS = 32


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _count_line(task: TaskInfo) -> str:
    parts = [f"{n} {state.lower()}" for state, n in sorted(task.counts.items()) if n]
    return ", ".join(parts) if parts else "no instances"


def _node(task: TaskInfo, box: Box) -> str:
    state = dominant_state(task.counts)
    colour = state_colour(state)
    name = _short(task.name, _MAX_CHARS) + ("[]" if task.is_array else "")
    title = f"{task.name}{' (array)' if task.is_array else ''}: {_count_line(task)}"
    out = [
        f'<g class="node" data-task="{escape(task.name)}" data-state="{state}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}"'
        f' rx="6" fill="#ffffff" stroke="{colour}" stroke-width="2.5"/>',
        f'<text x="{box.x + box.width / 2:.1f}" y="{box.y + 20:.1f}" class="node-name">'
        f"{escape(name)}</text>",
        f'<text x="{box.x + box.width / 2:.1f}" y="{box.y + 36:.1f}" class="node-counts">'
        f"{escape(_short(_count_line(task), _MAX_CHARS + 6))}</text>",
    ]
    total = task.total
    left = box.x + 3
    inner = box.width - 6
    for state_name, n in sorted(task.counts.items()):
        if not n or not total:
            continue
        width = inner * n / total
        out.append(
            f'<rect x="{left:.1f}" y="{box.y + box.height - 9:.1f}" width="{width:.1f}"'
            f' height="5" fill="{state_colour(state_name)}"/>'
        )
        left += width
    out.append("</g>")
    return "".join(out)


def _label_size(label: str) -> tuple[float, float]:
    return (len(label) * _LABEL_CHAR + 10, _LABEL_HEIGHT)


def _path(points: list[tuple[float, float]]) -> str:
    """Curves between layers (control points at mid-gap, so they stay in it), lines within."""
    (x, y), out = points[0], [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
    for n, (nx, ny) in enumerate(points[1:]):
        if n % 2 == 0:
            mid = (y + ny) / 2
            out.append(f"C{x:.1f},{mid:.1f} {nx:.1f},{mid:.1f} {nx:.1f},{ny:.1f}")
        else:
            out.append(f"L{nx:.1f},{ny:.1f}")
        x, y = nx, ny
    return " ".join(out)


def _edge(route: Route) -> str:
    kind = "after" if route.label == "after" else "data"
    out = [
        f'<g class="edge {kind}" data-source="{escape(route.source)}"'
        f' data-target="{escape(route.target)}">'
        f"<title>{escape(f'{route.source} -> {route.target}')}"
        f"{escape(f' ({route.label})' if route.label else '')}</title>",
        f'<path d="{_path(route.points)}" marker-end="url(#arrow)"/>',
    ]
    box = route.label_box
    if route.label and box is not None:
        out.append(
            f'<text x="{box.x + box.width / 2:.1f}" y="{box.y + box.height - 4:.1f}"'
            f' class="edge-label">{escape(route.label)}</text>'
        )
    out.append("</g>")
    return "".join(out)


def dag_svg(tasks: list[TaskInfo], edges: list[Edge]) -> str:
    """Draw the task graph.

    Parameters
    ----------
    tasks : list[TaskInfo]
        The tasks, in topological order.
    edges : list[Edge]
        The edges.

    Returns
    -------
    str
        An ``<svg id="dag">`` element (every name escaped).
    """
    longest = max((len(t.name) + (2 if t.is_array else 0) for t in tasks), default=8)
    width = min(max(longest, 22), _MAX_CHARS + 2) * _CHAR + 24
    placed = graph_layout(
        [t.name for t in tasks],
        {t.name: t.dependencies for t in tasks},
        [(e.source, e.target, e.label) for e in edges],
        width=width,
        height=_HEIGHT,
        gap_x=_GAP_X,
        gap_y=_GAP_Y,
        label_size=_label_size,
    )
    boxes, total_w, total_h = placed.boxes, placed.width, placed.height
    parts = [
        f'<svg id="dag" width="{total_w:.0f}"'
        f' height="{total_h:.0f}" viewBox="0 0 {total_w:.0f} {total_h:.0f}" role="img"'
        ' aria-label="task graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"'
        ' fill="#667"/></marker></defs>',
    ]
    parts.extend(_edge(route) for route in placed.routes)
    parts.extend(_node(task, boxes[task.name]) for task in tasks)
    parts.append("</svg>")
    return "".join(parts)

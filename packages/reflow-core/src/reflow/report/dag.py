"""The task graph as an inline SVG: nodes coloured by state, edges labelled with wire modes."""

from __future__ import annotations

from html import escape

from reflow.report.data import Edge, TaskInfo
from reflow.report.layout import Box, layered_layout
from reflow.report.states import dominant_state, state_colour

__all__ = ["dag_svg"]

_HEIGHT = 54.0
_GAP_X = 36.0
_GAP_Y = 64.0
_CHAR = 7.4  # average width of a 13px sans-serif character
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


def _edge(edge: Edge, boxes: dict[str, Box]) -> str:
    if edge.source not in boxes or edge.target not in boxes:
        return ""
    (x1, y1), (x2, y2) = boxes[edge.source].bottom, boxes[edge.target].top
    bend = max(24.0, (y2 - y1) / 2)
    path = (
        f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} {x2:.1f},{y2 - bend:.1f} {x2:.1f},{y2:.1f}"
    )
    kind = "after" if edge.label == "after" else "data"
    out = [
        f'<g class="edge {kind}"><title>{escape(f"{edge.source} -> {edge.target}")}'
        f"{escape(f' ({edge.label})' if edge.label else '')}</title>",
        f'<path d="{path}" marker-end="url(#arrow)"/>',
    ]
    if edge.label:
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2 + 4
        out.append(
            f'<text x="{mx:.1f}" y="{my:.1f}" class="edge-label">{escape(edge.label)}</text>'
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
    boxes, total_w, total_h = layered_layout(
        [t.name for t in tasks],
        {t.name: t.dependencies for t in tasks},
        width=width,
        height=_HEIGHT,
        gap_x=_GAP_X,
        gap_y=_GAP_Y,
    )
    parts = [
        f'<svg id="dag" width="{total_w:.0f}"'
        f' height="{total_h:.0f}" viewBox="0 0 {total_w:.0f} {total_h:.0f}" role="img"'
        ' aria-label="task graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"'
        ' fill="#667"/></marker></defs>',
    ]
    parts.extend(_edge(edge, boxes) for edge in edges)
    parts.extend(_node(task, boxes[task.name]) for task in tasks)
    parts.append("</svg>")
    return "".join(parts)

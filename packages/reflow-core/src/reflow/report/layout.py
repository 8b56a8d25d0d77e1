"""Placing the task graph on a page: layers top to bottom, edges routed around nodes.

A small layered (Sugiyama-style) layout, enough for workflow graphs of tens
to a few hundred tasks:

1. each task goes one rank below its deepest dependency;
2. between two ranks there is a *channel* layer; an edge is cut into one
   virtual node per layer it crosses (the classic dummy nodes), and the
   virtual node in the first channel below its source carries the edge's label,
   as wide as the label;
3. nodes, real and virtual, are ordered within each layer by the mean
   position of their neighbours (a few sweeps down and up);
4. each layer is placed left to right at the mean position of its neighbours,
   never closer than ``gap_x``.

Since every label and every edge's passage through a layer is a box of that
layer, and boxes of a layer never overlap, no two labels overlap, no label
sits on a node, and an edge crosses a layer of tasks only through its own
slot: it never passes under a node.  Between two adjacent layers an edge is a
curve that stays in the gap between them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

__all__ = ["Box", "GraphLayout", "Route", "graph_layout", "layered_layout"]

_SWEEPS = 4
_PLACE_ROUNDS = 6
_LANE = 6.0
"""Width of the slot a label-less edge takes where it crosses a layer."""


@dataclass(frozen=True)
class Box:
    """Where one node (or label) is drawn: its top-left corner and size, in pixels."""

    x: float
    y: float
    width: float
    height: float

    @property
    def top(self) -> tuple[float, float]:
        """The middle of the top edge (where incoming edges end)."""
        return (self.x + self.width / 2, self.y)

    @property
    def bottom(self) -> tuple[float, float]:
        """The middle of the bottom edge (where outgoing edges start)."""
        return (self.x + self.width / 2, self.y + self.height)


@dataclass(frozen=True)
class Route:
    """The way one edge goes.

    Attributes
    ----------
    source, target : str
        The tasks it joins.
    label : str
        Its label (``""`` for none).
    points : list[tuple[float, float]]
        The source's bottom, then for each layer crossed the point where the
        edge enters it and the point where it leaves it (straight down), then
        the target's top.  Between two consecutive points of a pair the edge is
        vertical; between pairs, a curve inside the gap between two layers.
    label_box : Box or None
        Where the label is drawn.
    """

    source: str
    target: str
    label: str
    points: list[tuple[float, float]]
    label_box: Box | None = None


@dataclass
class GraphLayout:
    """A placed graph: node boxes, edge routes and the drawing's size."""

    boxes: dict[str, Box]
    routes: list[Route] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0


def _ranks(order: Sequence[str], dependencies: Mapping[str, Sequence[str]]) -> dict[str, int]:
    rank: dict[str, int] = {}
    for name in order:
        deps = [d for d in dependencies.get(name, ()) if d in rank]
        rank[name] = 1 + max((rank[d] for d in deps), default=-1)
    return rank


def _sweep(
    layers: list[list[str]], neighbours: Mapping[str, Sequence[str]], indices: range
) -> None:
    for i in indices:
        fixed = layers[i - 1] if indices.step > 0 else layers[i + 1]
        where = {name: pos for pos, name in enumerate(fixed)}
        current = {name: pos for pos, name in enumerate(layers[i])}

        def key(
            name: str, where: dict[str, int] = where, current: dict[str, int] = current
        ) -> float:
            places = [where[n] for n in neighbours.get(name, ()) if n in where]
            return sum(places) / len(places) if places else float(current[name])

        layers[i].sort(key=key)


def _place_layer(
    layer: list[str], width: Mapping[str, float], centre: dict[str, float], gap: float
) -> None:
    """Move a layer's centres as close to ``centre`` as their order and ``gap`` allow."""
    if not layer:
        return
    wanted = [centre[n] for n in layer]
    placed = list(wanted)
    for i in range(1, len(layer)):
        least = placed[i - 1] + (width[layer[i - 1]] + width[layer[i]]) / 2 + gap
        placed[i] = max(placed[i], least)
    # Pushing right only drifts the layer; shift it back by the mean drift, then
    # keep the spacing from the right end too.
    drift = sum(p - w for p, w in zip(placed, wanted, strict=True)) / len(layer)
    placed = [p - drift for p in placed]
    for i in range(len(layer) - 2, -1, -1):
        most = placed[i + 1] - (width[layer[i]] + width[layer[i + 1]]) / 2 - gap
        placed[i] = min(placed[i], most)
    for i in range(1, len(layer)):
        least = placed[i - 1] + (width[layer[i - 1]] + width[layer[i]]) / 2 + gap
        placed[i] = max(placed[i], least)
    for name, x in zip(layer, placed, strict=True):
        centre[name] = x


def graph_layout(
    order: Sequence[str],
    dependencies: Mapping[str, Sequence[str]],
    edges: Sequence[tuple[str, str, str]],
    *,
    width: float,
    height: float,
    gap_x: float,
    gap_y: float,
    label_size: Callable[[str], tuple[float, float]] = lambda _: (0.0, 0.0),
) -> GraphLayout:
    """Place every task of ``order`` and route every edge (see the module docstring).

    Parameters
    ----------
    order : Sequence[str]
        The tasks, each after its dependencies.
    dependencies : Mapping[str, Sequence[str]]
        Each task's upstream tasks (they set the ranks).
    edges : Sequence[tuple[str, str, str]]
        ``(source, target, label)`` of each edge to route; an edge whose
        source is not above its target is left out.
    width, height : float
        The size of a task's node.
    gap_x : float
        Least space between two boxes of a layer.
    gap_y : float
        Space between two ranks of tasks, shared by the channel between them.
    label_size : Callable[[str], tuple[float, float]]
        Width and height of a label as it will be drawn.

    Returns
    -------
    GraphLayout
        Boxes, routes and the drawing's size.
    """
    rank = _ranks(order, dependencies)
    count = 2 * (max(rank.values(), default=-1) + 1) - 1
    layers: list[list[str]] = [[] for _ in range(max(count, 0))]
    size: dict[str, tuple[float, float]] = {}
    for name in order:
        layers[2 * rank[name]].append(name)
        size[name] = (width, height)
    up: dict[str, list[str]] = {name: [] for name in order}
    down: dict[str, list[str]] = {name: [] for name in order}
    chains: list[tuple[str, str, str, list[str]]] = []
    for n, (source, target, label) in enumerate(edges):
        if source not in rank or target not in rank or rank[source] >= rank[target]:
            continue
        chain: list[str] = []
        for level in range(2 * rank[source] + 1, 2 * rank[target]):
            virtual = f"\0{n}:{level}"
            first = level == 2 * rank[source] + 1
            w, h = label_size(label) if (first and label) else (_LANE, 0.0)
            size[virtual] = (max(w, _LANE), h)
            layers[level].append(virtual)
            chain.append(virtual)
        path = [source, *chain, target]
        for a, b in pairwise(path):
            down.setdefault(a, []).append(b)
            up.setdefault(b, []).append(a)
        chains.append((source, target, label, chain))
    for _ in range(_SWEEPS):
        _sweep(layers, up, range(1, len(layers)))
        _sweep(layers, down, range(len(layers) - 2, -1, -1))
    widths = {name: w for name, (w, _) in size.items()}
    centre: dict[str, float] = {}
    for layer in layers:
        left = 0.0
        for name in layer:
            centre[name] = left + widths[name] / 2
            left += widths[name] + gap_x
    for layer in layers:
        _place_layer(layer, widths, centre, gap_x)
    for _ in range(_PLACE_ROUNDS):
        for neighbours, indices in (
            (up, range(1, len(layers))),
            (down, range(len(layers) - 2, -1, -1)),
        ):
            for i in indices:
                for name in layers[i]:
                    near = [centre[n] for n in neighbours.get(name, ()) if n in centre]
                    if near:
                        centre[name] = sum(near) / len(near)
                _place_layer(layers[i], widths, centre, gap_x)
    lefts = [centre[n] - widths[n] / 2 for n in centre]
    shift = gap_x - min(lefts, default=0.0)
    total_width = max(
        (centre[n] + widths[n] / 2 + shift + gap_x for n in centre), default=width + 2 * gap_x
    )
    heights = [
        height if i % 2 == 0 else max((size[n][1] for n in layer), default=0.0)
        for i, layer in enumerate(layers)
    ]
    tops: list[float] = []
    y = gap_y / 2
    for i, h in enumerate(heights):
        tops.append(y)
        y += h + (gap_y / 2 if i + 1 < len(heights) else 0)
    total_height = y + gap_y / 2
    where = {name: i for i, layer in enumerate(layers) for name in layer}
    boxes = {
        name: Box(centre[name] - width / 2 + shift, tops[where[name]], width, height)
        for name in order
    }
    routes: list[Route] = []
    for source, target, label, chain in chains:
        points = [boxes[source].bottom]
        label_box: Box | None = None
        for virtual in chain:
            i = where[virtual]
            x = centre[virtual] + shift
            points += [(x, tops[i]), (x, tops[i] + heights[i])]
            if label and label_box is None:
                w, h = size[virtual]
                label_box = Box(x - w / 2, tops[i] + (heights[i] - h) / 2, w, h)
        points.append(boxes[target].top)
        routes.append(Route(source, target, label, points, label_box))
    return GraphLayout(boxes, routes, total_width, total_height)


def layered_layout(
    order: Sequence[str],
    dependencies: Mapping[str, Sequence[str]],
    *,
    width: float,
    height: float,
    gap_x: float,
    gap_y: float,
) -> tuple[dict[str, Box], float, float]:
    """Place every task of ``order`` (a topological order), its dependencies as edges.

    Returns
    -------
    tuple[dict[str, Box], float, float]
        Each task's box, and the total width and height of the drawing
        (see :func:`graph_layout`).
    """
    edges = [(dep, name, "") for name in order for dep in dependencies.get(name, ())]
    done = graph_layout(
        order, dependencies, edges, width=width, height=height, gap_x=gap_x, gap_y=gap_y
    )
    return done.boxes, done.width, done.height

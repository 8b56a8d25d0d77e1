"""Placing the task graph on a page: layers top to bottom, few crossings.

A small layered (Sugiyama-style) layout, enough for workflow graphs of tens
to a few hundred tasks: each task goes one layer below its deepest
dependency, tasks within a layer are ordered by the mean position of their
neighbours (a few sweeps down and up), and each layer is centred.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Box", "layered_layout"]

_SWEEPS = 4


@dataclass(frozen=True)
class Box:
    """Where one task's node is drawn: its top-left corner and size, in pixels."""

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


def _layers(order: Sequence[str], dependencies: Mapping[str, Sequence[str]]) -> list[list[str]]:
    depth: dict[str, int] = {}
    for name in order:
        deps = [d for d in dependencies.get(name, ()) if d in depth]
        depth[name] = 1 + max((depth[d] for d in deps), default=-1)
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in order:
        layers[depth[name]].append(name)
    return layers


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


def layered_layout(
    order: Sequence[str],
    dependencies: Mapping[str, Sequence[str]],
    *,
    width: float,
    height: float,
    gap_x: float,
    gap_y: float,
) -> tuple[dict[str, Box], float, float]:
    """Place every task of ``order`` (a topological order).

    Parameters
    ----------
    order : Sequence[str]
        The tasks, each after its dependencies.
    dependencies : Mapping[str, Sequence[str]]
        Each task's upstream tasks.
    width, height : float
        The size of a node.
    gap_x, gap_y : float
        Space between nodes of a layer, and between layers.

    Returns
    -------
    tuple[dict[str, Box], float, float]
        Each task's box, and the total width and height of the drawing.
    """
    layers = _layers(order, dependencies)
    up: dict[str, list[str]] = {name: list(dependencies.get(name, ())) for name in order}
    down: dict[str, list[str]] = {name: [] for name in order}
    for name, deps in up.items():
        for dep in deps:
            if dep in down:
                down[dep].append(name)
    for _ in range(_SWEEPS):
        _sweep(layers, up, range(1, len(layers)))
        _sweep(layers, down, range(len(layers) - 2, -1, -1))
    widest = max((len(layer) for layer in layers), default=0)
    total_width = max(widest * width + (widest - 1) * gap_x, width) + 2 * gap_x
    boxes: dict[str, Box] = {}
    for row, layer in enumerate(layers):
        span = len(layer) * width + (len(layer) - 1) * gap_x
        left = (total_width - span) / 2
        for col, name in enumerate(layer):
            boxes[name] = Box(
                left + col * (width + gap_x), gap_y / 2 + row * (height + gap_y), width, height
            )
    total_height = len(layers) * (height + gap_y)
    return boxes, total_width, total_height

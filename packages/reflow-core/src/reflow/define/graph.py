"""Topological ordering and cycle detection of the task graph."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence

from reflow.errors import CycleError

__all__ = ["did_you_mean", "find_cycle", "topological_order"]


def topological_order(dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """Order tasks so that every task comes after its dependencies.

    Ties keep the order of ``dependencies`` (registration order), so the
    result is deterministic.

    Raises
    ------
    CycleError
        If the graph has a cycle; the message names the tasks on it.
    """
    remaining = {
        name: {d for d in deps if d in dependencies} for name, deps in dependencies.items()
    }
    dependants: dict[str, list[str]] = {name: [] for name in dependencies}
    for name, deps in remaining.items():
        for dep in deps:
            dependants[dep].append(name)
    position = {name: i for i, name in enumerate(dependencies)}
    ready = [name for name, deps in remaining.items() if not deps]
    order: list[str] = []

    heap = [(position[n], n) for n in ready]
    heapq.heapify(heap)
    while heap:
        _, name = heapq.heappop(heap)
        order.append(name)
        for child in dependants[name]:
            remaining[child].discard(name)
            if not remaining[child]:
                heapq.heappush(heap, (position[child], child))
    if len(order) != len(dependencies):
        cycle = find_cycle(dependencies) or sorted(set(dependencies) - set(order))
        raise CycleError(
            "The task graph has a cycle: "
            + " -> ".join(cycle)
            + ". Remove one of these Result/after= dependencies.",
            cycle,
        )
    return order


def find_cycle(dependencies: Mapping[str, Sequence[str]]) -> list[str] | None:
    """Return one cycle as ``[a, b, ..., a]``, or ``None`` if there is none."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(dependencies, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for dep in dependencies[node]:
            if dep not in colour:
                continue
            if colour[dep] == grey:
                start = stack.index(dep)
                # Dependencies point backwards in time: print in run order.
                loop = [*stack[start:], dep]
                return list(reversed(loop))
            if colour[dep] == white:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        colour[node] = black
        return None

    for node in dependencies:
        if colour[node] == white:
            found = visit(node)
            if found:
                return found
    return None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return `` Did you mean 'x'?`` for the closest candidate, or ``""``."""
    import difflib  # lazy: only a misspelled name needs it; `from reflow import Workflow` does not

    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""

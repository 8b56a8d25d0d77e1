"""Upstream outputs read one element at a time, for instances submitted ahead of them.

An instance submitted with a scheduler dependency instead of another wave
(:mod:`reflow.engine.scheduler.forward`) learns its inputs only when it
starts: its worker reads the upstream results, and the next dispatcher reads
the same outputs from the store to record its identity.  Both build the
:class:`~reflow.cache.expand.UpstreamOutput` objects :func:`~reflow.cache.expand.expand`
takes from a ``fetch`` function here, so the two compute the same inputs and
hashes the way planning does; an element is fetched only when its value or
hash is needed (element ``i`` of a 1:1 chain reads element ``i`` upstream only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

from reflow.cache.expand import UpstreamOutput
from reflow.define.wiring import ParamWiring, WireMode

__all__ = ["Fetch", "upstream_outputs", "wiring_from_json", "wiring_to_json"]

Fetch = Callable[[str, "int | None"], tuple[Any, str]]
"""``fetch(task, index)`` -> that instance's output value and output hash."""


class _Column(Sequence[Any]):
    """Values (``part`` 0) or hashes (``part`` 1) of one upstream task, fetched on use."""

    def __init__(self, cache: _Elements, part: int) -> None:
        self._cache, self._part = cache, part

    def __len__(self) -> int:
        return self._cache.count

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -self._cache.count <= index < self._cache.count:
            raise IndexError(index)
        return self._cache.get(index % self._cache.count)[self._part]

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))


class _Elements:
    def __init__(self, task: str, is_array: bool, count: int, fetch: Fetch) -> None:
        self.task, self.is_array, self.count, self._fetch = task, is_array, count, fetch
        self._got: dict[int, tuple[Any, str]] = {}

    def get(self, index: int) -> tuple[Any, str]:
        if index not in self._got:
            self._got[index] = self._fetch(self.task, index if self.is_array else None)
        return self._got[index]


def upstream_outputs(
    shapes: Mapping[str, tuple[bool, int]], policies: Mapping[str, str], fetch: Fetch
) -> dict[str, UpstreamOutput]:
    """The upstream tasks of one task, each element fetched when first needed.

    Parameters
    ----------
    shapes : mapping
        Upstream task -> (is an array, number of instances).
    policies : mapping
        Upstream task -> its file policy (hashes of fanned-out elements use it).
    fetch : Fetch
        Reads one upstream instance's output and output hash.
    """
    out = {}
    for task, (is_array, count) in shapes.items():
        elements = _Elements(task, is_array, count, fetch)
        values = _Column(elements, 0)
        out[task] = UpstreamOutput(
            task,
            is_array,
            values,
            _Column(elements, 1),
            policy=policies.get(task, "stat"),
        )
    return out


def wiring_to_json(wiring: Mapping[str, ParamWiring]) -> dict[str, Any]:
    """One task's ``Result`` wiring as JSON values (for the ahead file)."""
    return {
        p: {"steps": list(w.steps), "modes": [m.value for m in w.modes], "broadcast": w.broadcast}
        for p, w in wiring.items()
    }


def wiring_from_json(data: Mapping[str, Any]) -> dict[str, ParamWiring]:
    """Inverse of :func:`wiring_to_json`."""
    return {
        p: ParamWiring(
            p,
            tuple(w["steps"]),
            tuple(WireMode(m) for m in w["modes"]),
            bool(w.get("broadcast", False)),
        )
        for p, w in data.items()
    }

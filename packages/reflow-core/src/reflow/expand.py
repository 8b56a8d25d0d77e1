"""Turning upstream outputs into the inputs of each task instance.

Given the outputs of a task's upstream instances and the wiring of its
``Result`` parameters (see :mod:`reflow.wiring`), :func:`expand_inputs`
returns one input mapping per instance: one for a singleton, one per element
for an array task.  Each input carries the hash that enters the instance's
Merkle identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reflow.errors import ReflowError
from reflow.identity import combine_hashes, value_hash
from reflow.wiring import ParamWiring, WireMode

__all__ = ["Expansion", "ExpansionError", "Input", "UpstreamOutput", "expand", "expand_inputs"]


class ExpansionError(ReflowError, ValueError):
    """Upstream outputs cannot be wired as declared (not a list, lengths differ)."""


@dataclass(frozen=True)
class UpstreamOutput:
    """The successful output(s) of one upstream task.

    For a singleton, ``values`` and ``hashes`` hold one item each; for an
    array task, one per element in index order.
    """

    task: str
    is_array: bool
    values: Sequence[Any]
    hashes: Sequence[str]

    @property
    def whole(self) -> tuple[Any, str]:
        """The singleton's value and output hash."""
        return self.values[0], self.hashes[0]


@dataclass(frozen=True)
class Input:
    """One parameter's value for one instance, with the hash that identifies it."""

    value: Any
    hash: str


def _as_list(task: str, param: str, up: UpstreamOutput, value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ExpansionError(
        f"Task {task!r} parameter {param!r} fans out over the output of {up.task!r}, "
        f"but {up.task!r} returned {type(value).__name__} {value!r:.80}, not a list."
    )


def _whole_input(task: str, wiring: ParamWiring, ups: list[UpstreamOutput]) -> Input:
    """The value of a parameter that receives a whole value (not per element)."""
    parts: list[tuple[Any, str]] = []
    for up, mode in zip(ups, wiring.modes, strict=True):
        if mode in (WireMode.DIRECT, WireMode.BROADCAST):
            parts.append(up.whole)
        elif mode is WireMode.GATHER:
            parts.append((list(up.values), combine_hashes(up.hashes)))
        elif mode is WireMode.GATHER_FLATTEN:
            flat: list[Any] = []
            for value in up.values:
                flat.extend(_as_list(task, wiring.param, up, value))
            parts.append((flat, combine_hashes(up.hashes)))
        else:  # pragma: no cover - drive modes are handled by the caller
            raise AssertionError(mode)
    if len(parts) == 1:
        value, digest = parts[0]
        return Input(value, digest)
    joined: list[Any] = []
    for up, (value, _) in zip(ups, parts, strict=True):
        joined.extend(_as_list(task, wiring.param, up, value))
    return Input(joined, combine_hashes(h for _, h in parts))


class _Drive:
    """The per-element values of one parameter that drives an array task."""

    def __init__(self, task: str, wiring: ParamWiring, ups: list[UpstreamOutput]) -> None:
        # (value, hash or None); a None hash is computed from the value on demand.
        values: list[Any] = []
        hashes: list[str | None] = []
        for up, mode in zip(ups, wiring.modes, strict=True):
            if mode is WireMode.FAN_OUT:
                items = _as_list(task, wiring.param, up, up.whole[0])
                values.extend(items)
                hashes.extend([None] * len(items))
            elif mode is WireMode.CHAIN:
                values.extend(up.values)
                hashes.extend(up.hashes)
            elif mode is WireMode.CHAIN_FLATTEN:
                for value in up.values:
                    items = _as_list(task, wiring.param, up, value)
                    values.extend(items)
                    hashes.extend([None] * len(items))
            else:  # pragma: no cover - guarded by validation
                raise AssertionError(mode)
        self.values = values
        self.hashes = hashes

    def hash(self, index: int) -> str:
        known = self.hashes[index]
        return known if known is not None else value_hash(self.values[index])


class Expansion:
    """The inputs of every instance of one task, computed one element at a time.

    Attributes
    ----------
    count : int
        Number of instances (1 for a singleton).
    """

    def __init__(self, whole: dict[str, Input], drives: dict[str, _Drive], count: int) -> None:
        self._whole = whole
        self._drives = drives
        self.count = count

    def values(self, index: int) -> dict[str, Any]:
        """The ``Result`` parameter values of instance ``index``."""
        out = {p: i.value for p, i in self._whole.items()}
        for p, drive in self._drives.items():
            out[p] = drive.values[index]
        return out

    def hashes(self, index: int) -> dict[str, str]:
        """The input hashes of instance ``index`` (what enters its identity)."""
        out = {p: i.hash for p, i in self._whole.items()}
        for p, drive in self._drives.items():
            out[p] = drive.hash(index)
        return out

    def inputs(self, index: int) -> dict[str, Input]:
        """Values and hashes together."""
        values, hashes = self.values(index), self.hashes(index)
        return {p: Input(values[p], hashes[p]) for p in values}


def expand(
    task: str,
    is_array: bool,
    wiring: Mapping[str, ParamWiring],
    upstream: Mapping[str, UpstreamOutput],
) -> Expansion:
    """Return the :class:`Expansion` of ``task``'s ``Result`` inputs.

    Raises
    ------
    ExpansionError
        If a fanned-out output is not a list, or two parameters driving the
        same array give different numbers of elements.
    """
    whole: dict[str, Input] = {}
    drives: dict[str, _Drive] = {}
    for param, w in wiring.items():
        ups = [upstream[s] for s in w.steps]
        if is_array and w.drives_array:
            drives[param] = _Drive(task, w, ups)
        else:
            whole[param] = _whole_input(task, w, ups)
    if not is_array:
        return Expansion(whole, {}, 1)
    sizes = {p: len(d.values) for p, d in drives.items()}
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{p!r} has {n}" for p, n in sizes.items())
        raise ExpansionError(
            f"Array task {task!r} gets a different number of elements from each of its "
            f"inputs ({detail}); inputs that drive one array must have the same length."
        )
    return Expansion(whole, drives, next(iter(sizes.values()), 0))


def expand_inputs(
    task: str,
    is_array: bool,
    wiring: Mapping[str, ParamWiring],
    upstream: Mapping[str, UpstreamOutput],
) -> list[dict[str, Input]]:
    """Return the ``Result`` inputs of every instance of ``task``, all at once.

    See :func:`expand`, which computes them one element at a time.
    """
    exp = expand(task, is_array, wiring, upstream)
    return [exp.inputs(i) for i in range(exp.count)]

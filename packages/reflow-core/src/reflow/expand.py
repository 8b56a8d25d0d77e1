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

__all__ = ["ExpansionError", "Input", "UpstreamOutput", "expand_inputs"]


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


def _element_inputs(task: str, wiring: ParamWiring, ups: list[UpstreamOutput]) -> list[Input]:
    """The per-element values of a parameter that drives an array task."""
    out: list[Input] = []
    for up, mode in zip(ups, wiring.modes, strict=True):
        if mode is WireMode.FAN_OUT:
            items = _as_list(task, wiring.param, up, up.whole[0])
            out.extend(Input(item, value_hash(item)) for item in items)
        elif mode is WireMode.CHAIN:
            out.extend(Input(v, h) for v, h in zip(up.values, up.hashes, strict=True))
        elif mode is WireMode.CHAIN_FLATTEN:
            for value in up.values:
                items = _as_list(task, wiring.param, up, value)
                out.extend(Input(item, value_hash(item)) for item in items)
        else:  # pragma: no cover - guarded by validation
            raise AssertionError(mode)
    return out


def expand_inputs(
    task: str,
    is_array: bool,
    wiring: Mapping[str, ParamWiring],
    upstream: Mapping[str, UpstreamOutput],
) -> list[dict[str, Input]]:
    """Return the ``Result`` inputs of every instance of ``task``.

    Parameters
    ----------
    task : str
        The task.
    is_array : bool
        Whether it is an array task.
    wiring : mapping
        Its ``Result`` parameters' wiring.
    upstream : mapping
        Outputs of every upstream task it reads.

    Returns
    -------
    list of dict
        One mapping per instance (a single one for a singleton; possibly none
        for an array fanned out over an empty list).

    Raises
    ------
    ExpansionError
        If a fanned-out output is not a list, or two parameters driving the
        same array give different numbers of elements.
    """
    whole: dict[str, Input] = {}
    per_element: dict[str, list[Input]] = {}
    for param, w in wiring.items():
        ups = [upstream[s] for s in w.steps]
        if is_array and w.drives_array:
            per_element[param] = _element_inputs(task, w, ups)
        else:
            whole[param] = _whole_input(task, w, ups)
    if not is_array:
        return [whole]
    sizes = {p: len(v) for p, v in per_element.items()}
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{p!r} has {n}" for p, n in sizes.items())
        raise ExpansionError(
            f"Array task {task!r} gets a different number of elements from each of its "
            f"inputs ({detail}); inputs that drive one array must have the same length."
        )
    count = next(iter(sizes.values()), 0)
    return [{**whole, **{p: values[i] for p, values in per_element.items()}} for i in range(count)]

"""Turning upstream outputs into the inputs of each task instance.

Given the outputs of a task's upstream instances and the wiring of its
``Result`` parameters (see :mod:`reflow.define.wiring`), :func:`expand` returns an
:class:`Expansion`: how many instances the task has (one for a singleton, one
per element for an array task), and for each the input values and the input
hashes that enter its Merkle identity.

Hashes come from upstream output hashes alone, so a task whose instances are
all cache hits never needs its upstream *values*: an array task's outputs
may be left in the store (``UpstreamOutput`` loads them on first use).  The
one exception is an element fanned out of a list: it is hashed on its own,
files included, under the policy of the task that returned the list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reflow.cache.filestate import DEFAULT_POLICY
from reflow.cache.identity import combine_hashes, value_hash, values_hashes
from reflow.define.wiring import ParamWiring, WireMode
from reflow.errors import ReflowError

__all__ = [
    "Expansion",
    "ExpansionError",
    "UpstreamOutput",
    "expand",
]


class ExpansionError(ReflowError, ValueError):
    """Upstream outputs cannot be wired as declared (not a list, lengths differ)."""


class UpstreamOutput:
    """The successful output(s) of one upstream task.

    For a singleton, ``values`` and ``hashes`` hold one item each; for an
    array task, one per element in index order.  ``values`` may be given as a
    ``loader`` called on first use.  ``policy`` is the upstream task's file
    policy (:mod:`reflow.cache.filestate`), used to hash the elements fanned out
    of its output as its output hash was.
    """

    def __init__(
        self,
        task: str,
        is_array: bool,
        values: Sequence[Any] | None,
        hashes: Sequence[str],
        loader: Callable[[], Sequence[Any]] | None = None,
        policy: str = DEFAULT_POLICY,
    ) -> None:
        if values is None and loader is None:
            raise ValueError("UpstreamOutput needs values or a loader")
        self.task = task
        self.is_array = is_array
        self.hashes = hashes
        self.policy = policy
        self._values = values
        self._loader = loader

    @property
    def values(self) -> Sequence[Any]:
        """The output values (loaded on first use when given a loader)."""
        if self._values is None:
            assert self._loader is not None
            self._values = self._loader()
        return self._values

    @property
    def whole(self) -> tuple[Any, str]:
        """The singleton's value and output hash."""
        return self.values[0], self.hashes[0]


def _as_list(task: str, param: str, up: UpstreamOutput, value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ExpansionError(
        f"Task {task!r} parameter {param!r} fans out over the output of {up.task!r}, "
        f"but {up.task!r} returned {type(value).__name__} {value!r:.80}, not a list."
    )


class _Whole:
    """A parameter that receives one whole value: direct, broadcast or gathered."""

    def __init__(self, task: str, wiring: ParamWiring, ups: list[UpstreamOutput]) -> None:
        self._task, self._wiring, self._ups = task, wiring, ups
        # The mode is part of each step's hash: a gather and a gather-flatten of
        # the same outputs deliver different values, and so does one array
        # against several steps concatenated.
        self.hash = combine_hashes(
            f"{mode.value}:"
            + (
                up.hashes[0]
                if mode in (WireMode.DIRECT, WireMode.BROADCAST)
                else combine_hashes(up.hashes)
            )
            for up, mode in zip(ups, wiring.modes, strict=True)
        )
        self._value: Any = None
        self._known = False

    @property
    def value(self) -> Any:
        if not self._known:
            self._value = self._build()
            self._known = True
        return self._value

    def _build(self) -> Any:
        param = self._wiring.param
        parts: list[Any] = []
        for up, mode in zip(self._ups, self._wiring.modes, strict=True):
            if mode in (WireMode.DIRECT, WireMode.BROADCAST):
                parts.append(up.whole[0])
            elif mode is WireMode.GATHER:
                parts.append(list(up.values))
            elif mode is WireMode.GATHER_FLATTEN:
                flat: list[Any] = []
                for value in up.values:
                    flat.extend(_as_list(self._task, param, up, value))
                parts.append(flat)
            else:  # pragma: no cover - drive modes are handled by _Drive
                raise AssertionError(mode)
        if len(parts) == 1:
            return parts[0]
        joined: list[Any] = []
        for up, value in zip(self._ups, parts, strict=True):
            joined.extend(_as_list(self._task, param, up, value))
        return joined


def _chain_value(up: UpstreamOutput) -> Callable[[int], Any]:
    # Reads the upstream values only when an element's value is needed.
    def value(index: int) -> Any:
        return up.values[index]

    return value


def _item_hash(items: list[Any], policy: str) -> Callable[[int], str]:
    def digest(index: int) -> str:
        return value_hash(items[index], policy=policy)

    return digest


class _Drive:
    """The per-element values of one parameter that drives an array task."""

    def __init__(self, task: str, wiring: ParamWiring, ups: list[UpstreamOutput]) -> None:
        # Segments, one per step: (length, value of element i, hash of element i).
        self._segments: list[tuple[int, Callable[[int], Any], Callable[[int], str]]] = []
        # The list and file policy of a fanned-out segment (the last one):
        # with one segment, every element's hash is computed in one loop.
        self._items: tuple[list[Any], str] | None = None
        for up, mode in zip(ups, wiring.modes, strict=True):
            if mode is WireMode.CHAIN:
                self._segments.append((len(up.hashes), _chain_value(up), up.hashes.__getitem__))
                continue
            items: list[Any]
            if mode is WireMode.FAN_OUT:
                items = _as_list(task, wiring.param, up, up.whole[0])
            elif mode is WireMode.CHAIN_FLATTEN:
                items = []
                for value in up.values:
                    items.extend(_as_list(task, wiring.param, up, value))
            else:  # pragma: no cover - guarded by validation
                raise AssertionError(mode)
            self._segments.append((len(items), items.__getitem__, _item_hash(items, up.policy)))
            self._items = (items, up.policy)
        self.count = sum(length for length, _, _ in self._segments)

    def _locate(self, index: int) -> tuple[int, int]:
        for number, (length, _, _) in enumerate(self._segments):
            if index < length:
                return number, index
            index -= length
        raise IndexError(index)

    def value(self, index: int) -> Any:
        number, local = self._locate(index)
        return self._segments[number][1](local)

    def hash(self, index: int) -> str:
        number, local = self._locate(index)
        return self._segments[number][2](local)

    def hashes(self, indices: Sequence[int]) -> list[str]:
        """:meth:`hash` of each index; a fanned-out list's elements hashed in one loop."""
        if len(self._segments) == 1 and self._items is not None:
            items, policy = self._items
            return values_hashes([items[i] for i in indices], policy)
        return [self.hash(i) for i in indices]

    def values(self, indices: Sequence[int]) -> list[Any]:
        """:meth:`value` of each index; a fanned-out list's elements read in one loop."""
        if len(self._segments) == 1 and self._items is not None:
            items = self._items[0]
            return [items[i] for i in indices]
        return [self.value(i) for i in indices]


class Expansion:
    """The inputs of every instance of one task, computed one element at a time.

    Attributes
    ----------
    count : int
        Number of instances (1 for a singleton).
    """

    def __init__(
        self,
        whole: dict[str, _Whole],
        drives: dict[str, _Drive],
        count: int,
        extra_hashes: Mapping[str, str] | None = None,
    ) -> None:
        self._whole = whole
        self._drives = drives
        self.count = count
        self._extra = dict(extra_hashes or {})

    def values(self, index: int) -> dict[str, Any]:
        """The ``Result`` parameter values of instance ``index``.

        Raises
        ------
        ExpansionError
            If a gathered output that should be flattened is not a list.
        """
        out = {p: w.value for p, w in self._whole.items()}
        for p, drive in self._drives.items():
            out[p] = drive.value(index)
        return out

    def hashes(self, index: int) -> dict[str, str]:
        """The input hashes of instance ``index`` (what enters its identity)."""
        out = {p: w.hash for p, w in self._whole.items()}
        for p, drive in self._drives.items():
            out[p] = drive.hash(index)
        out.update(self._extra)
        return out

    def fixed_hashes(self) -> dict[str, str]:
        """The input hashes every instance shares: whole parameters and ``after:`` tasks."""
        out = {p: w.hash for p, w in self._whole.items()}
        out.update(self._extra)
        return out

    def values_many(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """:meth:`values` of each index, the driving parameters' read in one loop each."""
        whole = {p: w.value for p, w in self._whole.items()}
        columns = [(p, drive.values(indices)) for p, drive in self._drives.items()]
        return _per_index(len(indices), whole, columns, {})

    def hashes_many(self, indices: Sequence[int]) -> list[dict[str, str]]:
        """:meth:`hashes` of each index, the driving parameters' hashed in one loop each."""
        fixed = {p: w.hash for p, w in self._whole.items()}
        columns = [(p, drive.hashes(indices)) for p, drive in self._drives.items()]
        return _per_index(len(indices), fixed, columns, self._extra)


def _per_index(
    count: int, fixed: dict[str, Any], columns: list[tuple[str, list[Any]]], extra: dict[str, Any]
) -> list[dict[str, Any]]:
    """One dictionary per index: ``fixed``, then each column's item, then ``extra``."""
    if not fixed and not extra and len(columns) == 1:  # one parameter drives, nothing else
        p, column = columns[0]
        return [{p: item} for item in column]
    out: list[dict[str, Any]] = []
    for k in range(count):
        row = dict(fixed)
        for p, column in columns:
            row[p] = column[k]
        row.update(extra)
        out.append(row)
    return out


def expand(
    task: str,
    is_array: bool,
    wiring: Mapping[str, ParamWiring],
    upstream: Mapping[str, UpstreamOutput],
    after: Sequence[str] = (),
) -> Expansion:
    """Return the :class:`Expansion` of ``task``'s ``Result`` inputs.

    ``after`` names the ``after=`` dependencies: no value reaches the task
    from them, but their output hashes (taken from ``upstream``) enter every
    instance's identity, since a task ordered after another usually reads
    what it left behind.

    Raises
    ------
    ExpansionError
        If a fanned-out output is not a list, or two parameters driving the
        same array give different numbers of elements.
    """
    whole: dict[str, _Whole] = {}
    drives: dict[str, _Drive] = {}
    for param, w in wiring.items():
        ups = [upstream[s] for s in w.steps]
        if is_array and w.drives_array:
            drives[param] = _Drive(task, w, ups)
        else:
            whole[param] = _Whole(task, w, ups)
    extra = {f"after:{dep}": combine_hashes(upstream[dep].hashes) for dep in after}
    if not is_array:
        return Expansion(whole, {}, 1, extra)
    sizes = {p: d.count for p, d in drives.items()}
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{p!r} has {n}" for p, n in sizes.items())
        raise ExpansionError(
            f"Array task {task!r} gets a different number of elements from each of its "
            f"inputs ({detail}); inputs that drive one array must have the same length."
        )
    return Expansion(whole, drives, next(iter(sizes.values()), 0), extra)

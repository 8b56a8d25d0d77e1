"""Parameter markers and the type inspection the wiring and the CLI share.

``Param`` adds CLI metadata to a plain parameter, ``Result`` declares that a
parameter receives an upstream task's output, and ``RunDir`` marks the
parameter that receives the run's working directory.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

__all__ = [
    "Param",
    "Result",
    "RunDir",
    "extract_base_type",
    "list_element_type",
    "split_annotated",
    "strip_optional",
    "type_repr",
]

_NoneType = type(None)


@dataclass(frozen=True)
class Param:
    """CLI metadata for a task parameter, used inside ``Annotated``.

    Parameters
    ----------
    help : str
        Help text shown by ``--help``.
    short : str or None
        A short flag such as ``"-s"``.
    namespace : {"global", "local"}
        ``"global"`` (the default) gives one flag shared by every task that
        has a parameter of this name.  ``"local"`` prefixes the flag with the
        task name, so ``chunk`` of task ``step_a`` becomes ``--step-a-chunk``.
    """

    help: str = ""
    short: str | None = None
    namespace: Literal["global", "local"] = "global"

    def __post_init__(self) -> None:
        if self.namespace not in ("global", "local"):
            raise ValueError(
                f"Param(namespace={self.namespace!r}) is not valid: use 'global' or 'local'"
            )
        if self.short is not None and not (
            len(self.short) == 2 and self.short[0] == "-" and self.short[1].isalpha()
        ):
            raise ValueError(
                f"Param(short={self.short!r}) is not valid: use a dash and one letter, like '-s'"
            )


class Result:
    """Declare that a parameter receives the output of upstream task(s).

    Parameters
    ----------
    step : str or None
        The upstream task.
    steps : list[str] or None
        Several upstream tasks whose outputs are concatenated, in order.
    broadcast : bool
        Give the whole upstream value to every element of an array task
        instead of fanning it out.

    Examples
    --------
    >>> Result(step="prepare")
    Result(step='prepare')
    >>> Result(steps=["source_a", "source_b"]).steps
    ['source_a', 'source_b']
    """

    __slots__ = ("_steps", "broadcast")

    def __init__(
        self,
        step: str | None = None,
        *,
        steps: Sequence[str] | None = None,
        broadcast: bool = False,
    ) -> None:
        if step is not None and steps is not None:
            raise ValueError("Result() takes step= or steps=, not both")
        if step is None and not steps:
            raise ValueError(
                "Result() needs the upstream task: Result(step='name') or Result(steps=['a', 'b'])"
            )
        names = [step] if step is not None else list(steps or [])
        for name in names:
            if not isinstance(name, str) or not name:
                raise ValueError(f"Result() step names must be non-empty strings, got {name!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"Result(steps={names!r}) names a task twice")
        self._steps: tuple[str, ...] = tuple(names)
        self.broadcast: bool = bool(broadcast)

    @property
    def steps(self) -> list[str]:
        """The upstream task names, in concatenation order."""
        return list(self._steps)

    @property
    def step(self) -> str:
        """The first (usually the only) upstream task name."""
        return self._steps[0]

    def renamed(self, mapping: dict[str, str]) -> Result:
        """Return a copy whose step names are rewritten through ``mapping``."""
        new = Result(steps=[mapping.get(s, s) for s in self._steps], broadcast=self.broadcast)
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Result):
            return NotImplemented
        return self._steps == other._steps and self.broadcast == other.broadcast

    def __hash__(self) -> int:
        return hash((self._steps, self.broadcast))

    def __repr__(self) -> str:
        target = f"step={self._steps[0]!r}" if len(self._steps) == 1 else f"steps={self.steps!r}"
        extra = ", broadcast=True" if self.broadcast else ""
        return f"Result({target}{extra})"


if typing.TYPE_CHECKING or sys.version_info >= (3, 12):
    _PathBase = Path
else:  # pragma: no cover - depends on the Python version
    _PathBase = type(Path())


class RunDir(_PathBase):
    """Marker for the parameter that receives the run's working directory.

    Write ``run_dir: RunDir = RunDir()``; the task receives the shared run
    directory as a :class:`pathlib.Path`.  Such a parameter never appears on
    the command line.
    """

    def __new__(cls, *args: Any) -> RunDir:
        return super().__new__(cls, *(args or (".",)))

    def __repr__(self) -> str:
        return "RunDir()"


def split_annotated(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    """Split ``Annotated[T, m1, m2]`` into ``(T, (m1, m2))``."""
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        inner, more = split_annotated(base)
        return inner, (*more, *metadata)
    return annotation, ()


def extract_base_type(annotation: Any) -> Any:
    """Return the annotation without ``Annotated`` metadata."""
    return split_annotated(annotation)[0]


def _is_union(tp: Any) -> bool:
    origin = get_origin(tp)
    return origin is Union or origin is types.UnionType


def strip_optional(tp: Any) -> tuple[Any, bool]:
    """Return ``(T, True)`` for ``Optional[T]`` / ``T | None``, else ``(tp, False)``."""
    if _is_union(tp):
        members = [a for a in get_args(tp) if a is not _NoneType]
        if len(members) < len(get_args(tp)):
            if len(members) == 1:
                return members[0], True
            return Union[tuple(members)], True  # noqa: UP007
    return tp, False


_SEQUENCE_ORIGINS = (list, Sequence, typing.Sequence, typing.List)  # noqa: UP006


def list_element_type(tp: Any) -> Any | None:
    """Return ``T`` for ``list[T]`` (or ``Sequence[T]``), ``Any`` for bare ``list``.

    Returns ``None`` when the type is not a list type.
    """
    tp = extract_base_type(tp)
    if tp is list:
        return Any
    origin = get_origin(tp)
    if origin in _SEQUENCE_ORIGINS:
        args = get_args(tp)
        return args[0] if args else Any
    return None


def type_repr(tp: Any) -> str:
    """Readable name of a type for messages: ``list[str]``, ``int``, ``Path``."""
    tp = extract_base_type(tp)
    if tp is Any:
        return "Any"
    if tp is None or tp is _NoneType:
        return "None"
    if isinstance(tp, type) and not get_args(tp):
        return tp.__qualname__
    text = repr(tp)
    for prefix in ("typing.", "pathlib.", "collections.abc.", "datetime.", "builtins."):
        text = text.replace(prefix, "")
    return text

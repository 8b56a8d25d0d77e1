"""Checking run-parameter values given in Python (``submit(n=3)``)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow.cache.filestate import absolute
from reflow.define.markers import type_repr
from reflow.define.runparams import dict_problem
from reflow.errors import ParameterError

if TYPE_CHECKING:
    from reflow.define.runparams import ResolvedParam

__all__ = ["check_value"]


def _one(rp: ResolvedParam, value: Any) -> Any:
    tp = rp.base_type
    if rp.literal_choices is not None and not (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        if value in rp.literal_choices:
            return value
        raise ParameterError(
            f"Parameter {rp.dest!r} must be one of {list(rp.literal_choices)!r}, got {value!r}."
        )
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(value, tp):
            return value
        if isinstance(value, str) and value in tp.__members__:
            return tp[value]
    elif tp is bool or rp.is_bool:
        if isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(tp, type) and issubclass(tp, Path):
        if isinstance(value, (str, Path)):
            # Absolute against the directory the command runs in, before the
            # value is recorded: jobs of a submitted run start elsewhere (the
            # run directory), and must open the same file that `run` would.
            return tp(absolute(value))
    elif tp is dict or getattr(tp, "__origin__", None) is dict:
        if isinstance(value, dict):
            problem = dict_problem(tp, value)
            if problem is None:
                return value
            raise ParameterError(
                f"Parameter {rp.dest!r} ({rp.cli_flag()}) expects {type_repr(rp.annotation)}: "
                f"{problem}."
            )
    elif isinstance(tp, type):
        if isinstance(value, tp):
            return value
    else:  # pragma: no cover - exotic annotations are rejected earlier
        return value
    raise ParameterError(
        f"Parameter {rp.dest!r} ({rp.cli_flag()}) expects {type_repr(rp.annotation)}, got "
        f"{type(value).__name__} {value!r}."
    )


def check_value(rp: ResolvedParam, value: Any) -> Any:
    """Return ``value`` checked (and lightly coerced: int→float, str→Path) for ``rp``.

    A ``Path`` comes back absolute, taken against the current directory.

    Raises
    ------
    ParameterError
        Naming the parameter, the expected type and the value.
    """
    if value is None and (rp.default is None or (not rp.required and rp.default is None)):
        return None
    if rp.is_list:
        if not isinstance(value, (list, tuple)):
            raise ParameterError(
                f"Parameter {rp.dest!r} ({rp.cli_flag()}) expects a list of "
                f"{type_repr(rp.base_type)}, got {type(value).__name__} {value!r}."
            )
        return [_one(rp, item) for item in value]
    return _one(rp, value)

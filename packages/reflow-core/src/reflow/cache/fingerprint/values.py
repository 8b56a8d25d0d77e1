"""Canonical text of the values a task's code reads: constants, defaults, closures.

Plain data of any container shape is written out by value (sets in a sorted
order, so the hash seed does not matter); functions and classes of the user's
own code become references (``@0``, ``@1``...) that the fingerprint follows
as edges of its graph; functions, classes and modules from anywhere else are
named by their qualified name (``builtins.max``); other objects by their type,
their fields when they are dataclasses, and their attributes when their class
is the user's own.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import re
from collections.abc import Callable
from pathlib import PurePath
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType, SimpleNamespace
from typing import Any

from reflow.cache.fingerprint.userfiles import (
    is_user_class,
    is_user_function,
    qualified_name,
)
from reflow.errors import ReflowError

__all__ = ["Encoder", "is_external"]

_MAX_DEPTH = 100
_SCALARS = (type(None), bool, int, float, complex, str, bytes)
# Values whose repr is their value, stable across processes and versions.
_BY_REPR = (PurePath, datetime.date, datetime.time, datetime.timedelta, range, re.Pattern)
# The same, named rather than imported: a worker need not load these modules.
_BY_REPR_NAMES = frozenset({"decimal.Decimal", "fractions.Fraction", "uuid.UUID"})


def is_external(value: Any) -> bool:
    """A function, class or module not of the user's code: named, never followed."""
    if isinstance(value, ModuleType):
        return True
    if isinstance(value, type):
        return not is_user_class(value)
    return isinstance(value, (FunctionType, BuiltinFunctionType)) and not is_user_function(value)


class Encoder:
    """Write values as canonical text, handing user functions and classes to ``ref``.

    Parameters
    ----------
    ref : callable
        Called with a user function or class; returns the placeholder that
        stands for it in the text (the caller records the edge).
    """

    def __init__(self, ref: Callable[[Any], str]) -> None:
        self._ref = ref
        self._active: list[int] = []  # the containers being written, outermost first

    def __call__(self, value: Any) -> str:
        """Return the canonical text of ``value``."""
        if isinstance(value, enum.Enum):  # before str/int: enum members may be both
            return f"enum {self._type(type(value))}.{value.name}"
        if isinstance(value, _SCALARS) and type(value) in _SCALARS:
            return f"{type(value).__name__}:{value!r}"
        if isinstance(value, _BY_REPR) or qualified_name(type(value)) in _BY_REPR_NAMES:
            # By its type's name: Path's class moved to pathlib._local in 3.13.
            return f"{type(value).__name__}:{value!r}"
        if is_user_function(value) or is_user_class(value):
            return self._ref(value)
        if is_external(value):
            # A wrapper from a library (a decorator's) still leads to the user's function.
            return self._wrapped(qualified_name(value), value)
        if id(value) in self._active:
            return "<cycle>"  # a container that holds itself
        if len(self._active) >= _MAX_DEPTH:
            # An object that makes a new wrapper for each attribute read (a mock, a proxy).
            raise ReflowError(
                f"Cannot fingerprint a value nested more than {_MAX_DEPTH} levels deep "
                f"({qualified_name(type(value))}): keep it out of module-level names, "
                "defaults and closures of task code, or build it inside the task."
            )
        self._active.append(id(value))
        try:
            return self._composite(value)
        finally:
            self._active.pop()

    def _type(self, kind: type) -> str:
        return self(kind) if is_user_class(kind) else qualified_name(kind)

    def _wrapped(self, label: str, value: Any) -> str:
        try:
            wrapped = getattr(value, "__wrapped__", None)
        except Exception:  # a proxy whose attribute lookup fails: nothing is wrapped
            wrapped = None
        if wrapped is None or isinstance(value, (ModuleType, type)):
            return label
        return f"{label}(wraps {self(wrapped)})"

    def _items(self, values: Any) -> str:
        return ",".join(self(v) for v in values)

    def _composite(self, value: Any) -> str:
        kind = self._type(type(value))
        if isinstance(value, (set, frozenset)):
            return f"{kind}{{" + ",".join(sorted(self(v) for v in value)) + "}"
        if isinstance(value, (list, tuple)):
            return f"{kind}[{self._items(value)}]"
        if isinstance(value, dict):
            # Insertion order is kept: code that iterates a dict sees it.
            return f"{kind}{{" + ",".join(f"{self(k)}:{self(v)}" for k, v in value.items()) + "}"
        if isinstance(value, functools.partial):
            keywords = ",".join(f"{k}={self(v)}" for k, v in sorted(value.keywords.items()))
            return f"partial({self(value.func)};{self._items(value.args)};{keywords})"
        if isinstance(value, (staticmethod, classmethod)):
            return f"{type(value).__name__}({self(value.__func__)})"
        if isinstance(value, property):
            return f"property({self._items((value.fget, value.fset, value.fdel))})"
        if isinstance(value, MethodType):
            return f"method({self(value.__self__)}.{self(value.__func__)})"
        if dataclasses.is_dataclass(value):
            fields = ",".join(
                f"{f.name}={self(getattr(value, f.name, None))}" for f in dataclasses.fields(value)
            )
            return f"{kind}({fields})"
        if is_user_class(type(value)) or isinstance(value, SimpleNamespace):
            return f"{kind}({self._attributes(value)})"  # SimpleNamespace: a config holder
        # An object of a library (an array, a connection): its type is all that is seen.
        return self._wrapped(f"<{kind}>", value)

    def _attributes(self, value: Any) -> str:
        state = dict(getattr(value, "__dict__", {}))
        for slot in getattr(type(value), "__slots__", ()):
            if isinstance(slot, str) and hasattr(value, slot):
                state[slot] = getattr(value, slot)
        return ",".join(f"{name}={self(state[name])}" for name in sorted(state))

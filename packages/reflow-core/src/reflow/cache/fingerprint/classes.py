"""Which entries of a class's namespace the user wrote, as opposed to its machinery.

A class is fingerprinted by what its body defines: methods, attributes,
nested classes, dataclass fields, enum members.  What Python, ``dataclasses``,
``enum`` or ``typing.NamedTuple`` add on top (``__static_attributes__``,
``__replace__``, ``_member_map_``, ``_make``...) follows from that body, and
it differs between Python versions, so it is left out: an unchanged class
keeps its fingerprint on a new Python.

A *plain* class (its metaclass is ``type`` and every base but ``object`` is
the user's own) keeps every entry but the ones Python writes.  A class built
on a library's class (``Enum``, ``NamedTuple``, a library's base class)
keeps only what is certainly the user's: functions and classes of the
user's code (also as static methods, class methods and properties) and
plain data, without the ``_sunder_`` names that ``enum`` uses.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from reflow.cache.fingerprint.userfiles import is_user_class, is_user_function

__all__ = ["innermost", "user_entries"]

# Entries of a class's namespace that Python itself writes.
_PYTHON_WRITES = frozenset(
    {
        "__dict__",
        "__weakref__",
        "__module__",
        "__doc__",
        "__qualname__",
        "__firstlineno__",
        "__static_attributes__",
        "__annotations__",
        "__annotate__",
        "__annotate_func__",
        "__dataclass_params__",
        "__dataclass_fields__",
        "__match_args__",
        "__orig_bases__",
        "__parameters__",
    }
)
_DATA = (type(None), bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)


def user_entries(cls: type) -> Iterator[str]:
    """The names of ``cls``'s own namespace to fingerprint, sorted."""
    namespace = vars(cls)
    plain = type(cls) is type and all(b is object or is_user_class(b) for b in cls.__mro__[1:])
    # Code compiled from a string in a class of a real file was written by a
    # library (dataclasses, namedtuple, attrs) from what is hashed anyway.
    module_file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    machinery = bool(module_file) or "__dataclass_fields__" in namespace or not plain
    for name in sorted(namespace):
        value = namespace[name]
        if name in _PYTHON_WRITES or _generated(value, machinery):
            continue
        if plain or (_users(value) and not _sunder(name)):
            yield name


def innermost(value: Any) -> Any:
    """What a chain of ``__wrapped__`` ends at (dataclasses wrap the ``__repr__`` it writes)."""
    for _ in range(100):  # a wrapper that wraps itself must not hang the fingerprint
        try:
            inner = getattr(value, "__wrapped__", None)
        except Exception:  # a proxy whose attribute lookup fails
            break
        if inner is None:
            break
        value = inner
    return value


def _generated(value: Any, machinery: bool) -> bool:
    inner = innermost(value)
    if getattr(inner, "__module__", None) == "dataclasses" and callable(inner):
        return True  # 3.13's __replace__
    code = getattr(inner, "__code__", None)
    return machinery and code is not None and code.co_filename.startswith("<")


def _users(value: Any) -> bool:
    """Whether a class attribute is certainly the user's: their code, or plain data."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    elif isinstance(value, property):
        return any(is_user_function(f) for f in (value.fget, value.fset, value.fdel))
    if is_user_function(innermost(value)) or is_user_class(value):
        return True
    return type(value) in _DATA


def _sunder(name: str) -> bool:
    return len(name) > 2 and name[0] == name[-1] == "_" and name[1] != "_" and name[-2] != "_"

"""Fingerprints of task code, for the cache identity.

A fingerprint hashes what decides a function's behaviour, from the code
object that actually runs (never from a source file that may have changed
since it was imported):

- its bytecode, names and constants, nested code included.  Comments, blank
  lines and layout are not in bytecode, so reformatting keeps results; line
  numbers are left out.  Bytecode differs between Python versions, so a new
  interpreter is a cache miss;
- its default values, and the values captured in its closure, when they are
  immutable plain data (numbers, strings, bytes, ``None``, tuples and
  frozensets of these);
- the module-level names its code reads, on the same terms, and the
  functions of the user's own code it uses (not the standard library or an
  installed package), directly or as ``module.helper``, by their own
  fingerprint, recursively; decorators are covered because the wrapper that
  runs is fingerprinted with what it wraps;
- for a bound method, the plain-data attributes of its instance.

Installed packages, classes, mutable objects (lists, dicts, sets) and data
read from elsewhere are not seen: bump the task's ``version=`` when they
change in a way that changes results.
"""

from __future__ import annotations

import hashlib
import sysconfig
from collections.abc import Callable
from pathlib import Path
from types import CodeType, FunctionType, MethodType, ModuleType
from typing import Any

__all__ = ["code_fingerprint"]

_PLAIN = (type(None), bool, int, float, complex, str, bytes)


def _library_dirs() -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    own = Path(__file__).resolve().parent  # reflow itself
    return (*(str(Path(p).resolve()) for p in paths if p), str(own) + "/")


_LIBRARY = _library_dirs()


def _is_user_file(path: str | None) -> bool:
    if not path or path.startswith("<"):
        return True  # exec'd or interactive code is the user's own
    return not str(Path(path).resolve()).startswith(_LIBRARY)


def _is_user_function(value: Any) -> bool:
    return isinstance(value, FunctionType) and _is_user_file(value.__code__.co_filename)


def _is_user_module(value: Any) -> bool:
    return isinstance(value, ModuleType) and _is_user_file(getattr(value, "__file__", None))


def _plain(value: Any) -> str | None:
    """A stable text for immutable plain data, or None for anything else.

    Mutable containers are left out on purpose: their contents when the run
    starts say little about what the function will do with them, and call
    recorders or caches held in a closure would make every run a miss.
    """
    if isinstance(value, _PLAIN):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, (tuple, frozenset)):
        texts = [_plain(v) for v in value]
        if any(t is None for t in texts):
            return None
        kept = [t for t in texts if t is not None]
        if isinstance(value, frozenset):
            kept.sort()
        return f"{type(value).__name__}(" + ",".join(kept) + ")"
    return None


def _code_digest(code: CodeType) -> str:
    parts = [
        code.co_code.hex(),
        repr(code.co_names),
        repr(code.co_varnames),
        repr(code.co_freevars),
        repr(code.co_cellvars),
    ]
    for const in code.co_consts:
        if isinstance(const, CodeType):
            parts.append(_code_digest(const))
        else:
            parts.append(_plain(const) or f"<{type(const).__name__}>")
    return "|".join(parts)


def _names(code: CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _names(const)
    return names


class _Fingerprinter:
    def __init__(self) -> None:
        self.seen: dict[int, str] = {}

    def value(self, value: Any, *, objects: bool) -> str | None:
        if _is_user_function(value):
            return "function:" + self.function(value)
        plain = _plain(value)
        if plain is not None:
            return plain
        return f"<{type(value).__qualname__}>" if objects else None

    def function(self, func: Callable[..., Any]) -> str:
        key = id(func)
        if key in self.seen:
            return self.seen[key] or f"recursive:{getattr(func, '__qualname__', '?')}"
        self.seen[key] = ""
        parts: list[str] = []
        if isinstance(func, MethodType):
            owner = func.__self__
            state = getattr(owner, "__dict__", {})
            parts.append(f"self:{type(owner).__qualname__}")
            for name in sorted(state):
                parts.append(f"attr {name}={self.value(state[name], objects=True)}")
            func = func.__func__
        code = getattr(func, "__code__", None)
        if code is None:  # a callable object: its class and plain state
            parts.append(f"callable:{type(func).__qualname__}")
            state = getattr(func, "__dict__", {})
            for name in sorted(state):
                parts.append(f"attr {name}={self.value(state[name], objects=True)}")
        else:
            parts.append(_code_digest(code))
            # Annotations decide wire modes and flag types: they count too.
            annotations = getattr(func, "__annotations__", None) or {}
            for name in sorted(annotations):
                parts.append(f"annotation {name}={annotations[name]!r}")
            for default in getattr(func, "__defaults__", None) or ():
                parts.append(f"default={self.value(default, objects=True)}")
            kwdefaults = getattr(func, "__kwdefaults__", None) or {}
            for name in sorted(kwdefaults):
                parts.append(f"kwdefault {name}={self.value(kwdefaults[name], objects=True)}")
            cells = getattr(func, "__closure__", None) or ()
            for name, cell in zip(code.co_freevars, cells, strict=False):
                try:
                    content = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                parts.append(f"closure {name}={self.value(content, objects=True)}")
            parts.extend(self._globals(func, code))
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
        self.seen[key] = digest
        return digest

    def _globals(self, func: Any, code: CodeType) -> list[str]:
        namespace = getattr(func, "__globals__", {})
        names = _names(code)
        parts = []
        for name in sorted(names):
            if name not in namespace:
                continue
            value = namespace[name]
            if _is_user_module(value):
                # module.helper: the attributes the code reads, by name
                for attr in sorted(names):
                    member = getattr(value, attr, None)
                    text = self.value(member, objects=False) if member is not None else None
                    if text is not None:
                        parts.append(f"global {name}.{attr}={text}")
                continue
            text = self.value(value, objects=False)
            if text is not None:
                parts.append(f"global {name}={text}")
        return parts


def code_fingerprint(func: Callable[..., Any]) -> str:
    """Return a hex digest of what decides ``func``'s behaviour (see the module doc)."""
    return _Fingerprinter().function(func)

"""Fingerprints of task code, for the cache identity.

A fingerprint hashes what decides a function's behaviour:

- its syntax tree (so comments, blank lines and formatting do not matter);
  when the source is not available, its bytecode and constants;
- the values captured in its closure;
- the module-level names its code reads: immutable plain data (numbers,
  strings, tuples and frozensets of them) by value, and functions defined
  in the user's own code (not in the standard library or installed
  packages) by their own fingerprint, recursively.

Anything else a task depends on (data files, installed packages, mutable
objects such as lists and dicts it reads, class definitions) is not seen:
bump the task's ``version=`` when it changes.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
import sysconfig
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import CodeType, FunctionType
from typing import Any

__all__ = ["code_fingerprint"]

_PLAIN = (type(None), bool, int, float, complex, str, bytes)


def _library_dirs() -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(str(Path(p).resolve()) for p in paths if p)


_LIBRARY = _library_dirs()


def _is_user_function(value: Any) -> bool:
    if not isinstance(value, FunctionType):
        return False
    module = sys.modules.get(value.__module__)
    path = getattr(module, "__file__", None) or value.__code__.co_filename
    if not path or path.startswith("<"):
        return True
    resolved = str(Path(path).resolve())
    return not resolved.startswith(_LIBRARY) and "/reflow/" not in resolved.replace("\\", "/")


def _plain(value: Any) -> str | None:
    """A stable text for immutable plain data, or None for anything else.

    Mutable containers are left out on purpose: their contents when the run
    starts say little about what the function will do with them, and call
    recorders or caches held in a closure would make every run a miss.
    """
    if isinstance(value, _PLAIN):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, tuple):
        parts = [_plain(v) for v in value]
        if any(p is None for p in parts):
            return None
        return "tuple(" + ",".join(p for p in parts if p is not None) + ")"
    if isinstance(value, frozenset):
        texts = [_plain(v) for v in value]
        if any(t is None for t in texts):
            return None
        return "frozenset(" + ",".join(sorted(t for t in texts if t is not None)) + ")"
    return None


def _source_digest(func: Callable[..., Any]) -> str | None:
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        return None
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return None
    node = tree.body[0] if tree.body else tree
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        # Decorators say how the task is scheduled, not what it computes;
        # resources and version are part of the identity on their own.
        node.decorator_list = []
    return ast.dump(node, annotate_fields=True, include_attributes=False)


def _code_digest(code: CodeType) -> str:
    parts: list[str] = [code.co_code.hex(), repr(code.co_names), repr(code.co_varnames)]
    for const in code.co_consts:
        if isinstance(const, CodeType):
            parts.append(_code_digest(const))
        else:
            parts.append(_plain(const) or type(const).__name__)
    return "|".join(parts)


def _names(code: CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _names(const)
    return names


def _digest(func: Callable[..., Any], seen: set[int]) -> str:
    raw = inspect.unwrap(func)
    seen.add(id(raw))
    text = _source_digest(raw)
    code = getattr(raw, "__code__", None)
    if text is None:
        text = "bytecode:" + (_code_digest(code) if code is not None else repr(raw))
    parts = [text]
    for cell_name, cell in zip(
        getattr(code, "co_freevars", ()), getattr(raw, "__closure__", None) or (), strict=False
    ):
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        parts.append(f"closure {cell_name}={_value_text(value, seen)}")
    namespace = getattr(raw, "__globals__", {})
    for name in sorted(_names(code)) if code is not None else []:
        if name not in namespace:
            continue
        value = namespace[name]
        text_value = _value_text(value, seen, only_user_data=True)
        if text_value is not None:
            parts.append(f"global {name}={text_value}")
    return "\n".join(parts)


def _value_text(value: Any, seen: set[int], only_user_data: bool = False) -> str | None:
    if _is_user_function(value):
        if id(value) in seen:
            return f"recursive:{value.__qualname__}"
        return "function:" + hashlib.sha256(_digest(value, seen).encode()).hexdigest()
    plain = _plain(value)
    if plain is not None:
        return plain
    if only_user_data:
        return None  # modules, classes, library functions: not covered
    return f"object:{type(value).__module__}.{type(value).__qualname__}"


def code_fingerprint(func: Callable[..., Any]) -> str:
    """Return a hex digest of what decides ``func``'s behaviour (see the module doc)."""
    return hashlib.sha256(_digest(func, set()).encode()).hexdigest()

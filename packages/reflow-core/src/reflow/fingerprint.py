"""Fingerprints of task code, for the cache identity.

A fingerprint is a hash of the function's syntax tree: comments, blank lines
and formatting do not change it; any change to what the code does does.
When the source is not available (a function built at run time), the
compiled bytecode and constants are hashed instead.

Only the task function's own body is covered.  A change in a helper it calls
is not seen: bump the task's ``version=`` for those.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
from collections.abc import Callable
from types import CodeType
from typing import Any

__all__ = ["code_fingerprint"]

_CACHE: dict[Any, str] = {}


def _strip_positions(tree: ast.AST) -> str:
    return ast.dump(tree, annotate_fields=True, include_attributes=False)


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
    return _strip_positions(node)


def _code_digest(code: CodeType) -> str:
    parts: list[str] = [code.co_code.hex(), repr(code.co_names), repr(code.co_varnames)]
    for const in code.co_consts:
        if isinstance(const, CodeType):
            parts.append(_code_digest(const))
        elif isinstance(const, frozenset):  # repr order varies between processes
            parts.append("frozenset" + repr(sorted(map(repr, const))))
        else:
            parts.append(repr(const))
    return "|".join(parts)


def code_fingerprint(func: Callable[..., Any]) -> str:
    """Return a hex digest of ``func``'s code that ignores formatting."""
    raw = inspect.unwrap(func)
    code = getattr(raw, "__code__", None)
    key = code if code is not None else raw
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    text = _source_digest(raw)
    if text is None:
        text = "bytecode:" + (_code_digest(code) if code is not None else repr(raw))
    digest = hashlib.sha256(text.encode()).hexdigest()
    _CACHE[key] = digest
    return digest

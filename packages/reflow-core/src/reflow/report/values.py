"""Values as a user wrote them: ``/data/in.csv``, not ``PosixPath('/data/in.csv')``."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import PurePath
from typing import Any

__all__ = ["plain", "show_value"]


def plain(value: Any) -> Any:
    """``value`` with paths as strings and enums as their values, recursively; JSON-ready."""
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, dict):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [plain(v) for v in items]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def show_value(value: Any, limit: int = 0) -> str:
    """One value as text: a string or path bare, anything else as compact JSON.

    Parameters
    ----------
    value : Any
        The value.
    limit : int
        Cut the text to this many characters (with an ellipsis); 0 for no limit.
    """
    simple = plain(value)
    text = simple if isinstance(simple, str) else json.dumps(simple, ensure_ascii=False)
    if limit and len(text) > limit:
        return text[: limit - 1] + "\u2026"
    return text

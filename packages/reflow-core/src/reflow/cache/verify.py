"""Checking a cached output before it is reused (``verify=True``, and on retry)."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reflow.define.flow import TaskSpec

__all__ = ["verify_output"]


def _missing_paths(output: Any) -> list[Path]:
    if isinstance(output, Path):
        return [] if output.exists() else [output]
    if isinstance(output, (list, tuple)):
        return [p for item in output for p in _missing_paths(item)]
    if isinstance(output, dict):
        return [p for item in output.values() for p in _missing_paths(item)]
    if is_dataclass(output) and not isinstance(output, type):
        return [p for f in fields(output) for p in _missing_paths(getattr(output, f.name))]
    return []


def verify_output(spec: TaskSpec, output: Any) -> str:
    """Return why ``output`` cannot be reused, or ``""`` when it can.

    Every ``Path`` in the output (also inside lists, tuples, dicts and
    dataclasses) must still exist; the
    task's own ``verify=`` callable, if any, must return a true value.
    """
    missing = _missing_paths(output)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        return f"output file {str(missing[0])!r}{more} no longer exists"
    if spec.verify is not None:
        try:
            ok = spec.verify(output)
        except Exception as exc:
            return f"verify function {spec.verify.__name__!r} raised {exc!r}"
        if not ok:
            return f"verify function {spec.verify.__name__!r} returned {ok!r}"
    return ""

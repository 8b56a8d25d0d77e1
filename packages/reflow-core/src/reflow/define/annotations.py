"""Resolution of a task function's annotations, one parameter at a time.

``typing.get_type_hints`` fails for the whole function when one name is
missing; resolving each annotation alone lets the error name the parameter.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from reflow.errors import AnnotationError

__all__ = ["resolve_annotations"]


def _resolve_one(func: Callable[..., Any], key: str, annotation: Any) -> Any:
    if annotation is inspect.Parameter.empty:
        return annotation
    raw = inspect.unwrap(func)
    holder = SimpleNamespace(
        __annotations__={key: annotation},
        __globals__=getattr(raw, "__globals__", {}),
    )
    try:
        hints = typing.get_type_hints(holder, include_extras=True)
    except Exception as exc:  # NameError, SyntaxError, TypeError from typing
        text = annotation if isinstance(annotation, str) else repr(annotation)
        raise AnnotationError(
            f"{text!r} cannot be resolved ({type(exc).__name__}: {exc})"
        ) from exc
    return hints[key]


def resolve_annotations(
    task: str, func: Callable[..., Any], signature: inspect.Signature
) -> dict[str, Any]:
    """Return the resolved annotation of every parameter, and ``"return"``.

    Unannotated parameters are absent from the result.

    Raises
    ------
    AnnotationError
        Naming the task, the parameter (or the return value) and the name
        that could not be found, with the fix.
    """
    resolved: dict[str, Any] = {}
    items = [(p.name, p.annotation) for p in signature.parameters.values()]
    items.append(("return", signature.return_annotation))
    for key, annotation in items:
        if annotation is inspect.Parameter.empty:
            continue
        try:
            resolved[key] = _resolve_one(func, key, annotation)
        except AnnotationError as exc:
            what = "return annotation" if key == "return" else f"parameter {key!r}"
            raise AnnotationError(
                f"Task {task!r} {what}: annotation {exc}. Define or import every name "
                "it uses at module level of the workflow file, before the workflow is "
                "validated or run."
            ) from exc.__cause__
    return resolved

"""How a task instance is named in messages: ``task`` or ``task[index]``."""

from __future__ import annotations

__all__ = ["instance_label"]


def instance_label(task: str, index: int | None) -> str:
    """``"process[3]"`` for element 3 of an array task, ``"report"`` for a singleton."""
    return f"{task}[{index}]" if index is not None else task

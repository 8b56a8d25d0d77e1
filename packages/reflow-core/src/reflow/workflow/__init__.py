"""The runnable workflow: :class:`Workflow` and its helpers."""

from __future__ import annotations

from reflow.workflow._core import Workflow

__all__ = ["Workflow"]

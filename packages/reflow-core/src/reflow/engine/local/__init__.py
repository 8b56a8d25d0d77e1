"""Local execution of a whole workflow: :func:`run_local`."""

from __future__ import annotations

from reflow.engine.local.engine import TaskFailedError, run_local

__all__ = ["TaskFailedError", "run_local"]

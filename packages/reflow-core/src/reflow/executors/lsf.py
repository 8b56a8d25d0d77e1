"""The IBM Spectrum LSF executor, ``LSFExecutor``, from the ``reflow-executor-lsf`` package.

This module keeps the import path ``reflow.executors.lsf.LSFExecutor`` working.
When the package is not installed, importing it raises
:class:`~reflow.errors.PluginNotFoundError` (an :class:`ImportError`) that
gives the ``pip install`` line.
"""

from __future__ import annotations

import sys

from reflow.errors import PluginNotFoundError

__all__ = ["LSFExecutor"]

try:
    from reflow_executor_lsf import LSFExecutor
except ModuleNotFoundError as exc:
    if exc.name != "reflow_executor_lsf":
        raise
    raise PluginNotFoundError(
        f"reflow.executors.lsf needs the reflow-executor-lsf package, which is not "
        f"installed for {sys.executable}. Install it with: pip install reflow-executor-lsf",
        name="reflow_executor_lsf",
    ) from exc

"""The Flux executor, ``FluxExecutor``, from the ``reflow-executor-flux`` package.

This module keeps the import path ``reflow.executors.flux.FluxExecutor`` working.
When the package is not installed, importing it raises
:class:`~reflow.errors.PluginNotFoundError` (an :class:`ImportError`) that
gives the ``pip install`` line.
"""

from __future__ import annotations

import sys

from reflow.errors import PluginNotFoundError

__all__ = ["FluxExecutor"]

try:
    from reflow_executor_flux import FluxExecutor
except ModuleNotFoundError as exc:
    if exc.name != "reflow_executor_flux":
        raise
    raise PluginNotFoundError(
        f"reflow.executors.flux needs the reflow-executor-flux package, which is not "
        f"installed for {sys.executable}. Install it with: pip install reflow-executor-flux",
        name="reflow_executor_flux",
    ) from exc

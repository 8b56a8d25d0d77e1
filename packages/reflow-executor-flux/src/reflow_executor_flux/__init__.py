"""Flux executor for reflow.

Installed with ``pip install reflow-core reflow-executor-flux``; reflow finds it through
the ``reflow.executors`` entry point ``flux``.
"""

from __future__ import annotations

from reflow_executor_flux._version import __version__
from reflow_executor_flux.executor import FluxExecutor

__all__ = ["FluxExecutor", "__version__"]

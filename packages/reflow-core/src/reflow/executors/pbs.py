"""The PBS Pro / OpenPBS / Torque executor, ``PBSExecutor``, from ``reflow-executor-pbs``.

This module keeps the import path ``reflow.executors.pbs.PBSExecutor`` working.
When the package is not installed, importing it raises
:class:`~reflow.errors.PluginNotFoundError` (an :class:`ImportError`) that
gives the ``pip install`` line.
"""

from __future__ import annotations

import sys

from reflow.errors import PluginNotFoundError

__all__ = ["PBSExecutor"]

try:
    from reflow_executor_pbs import PBSExecutor
except ModuleNotFoundError as exc:
    if exc.name != "reflow_executor_pbs":
        raise
    raise PluginNotFoundError(
        f"reflow.executors.pbs needs the reflow-executor-pbs package, which is not "
        f"installed for {sys.executable}. Install it with: pip install reflow-executor-pbs",
        name="reflow_executor_pbs",
    ) from exc

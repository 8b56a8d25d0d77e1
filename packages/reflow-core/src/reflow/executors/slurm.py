"""The Slurm executor, ``SlurmExecutor``, from the ``reflow-executor-slurm`` package.

This module keeps the import path ``reflow.executors.slurm.SlurmExecutor`` working.
When the package is not installed, importing it raises
:class:`~reflow.errors.PluginNotFoundError` (an :class:`ImportError`) that
gives the ``pip install`` line.
"""

from __future__ import annotations

import sys

from reflow.errors import PluginNotFoundError

__all__ = ["SlurmExecutor"]

try:
    from reflow_executor_slurm import SlurmExecutor
except ModuleNotFoundError as exc:
    if exc.name != "reflow_executor_slurm":
        raise
    raise PluginNotFoundError(
        f"reflow.executors.slurm needs the reflow-executor-slurm package, which is not "
        f"installed for {sys.executable}. Install it with: pip install reflow-executor-slurm",
        name="reflow_executor_slurm",
    ) from exc

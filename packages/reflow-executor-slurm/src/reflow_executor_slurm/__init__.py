"""Slurm executor for reflow.

Installed with ``pip install reflow-core reflow-executor-slurm``; reflow finds it through
the ``reflow.executors`` entry point ``slurm``.
"""

from __future__ import annotations

from reflow_executor_slurm._version import __version__
from reflow_executor_slurm.executor import SlurmExecutor

__all__ = ["SlurmExecutor", "__version__"]

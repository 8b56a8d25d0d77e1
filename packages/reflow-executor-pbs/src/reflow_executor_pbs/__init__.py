"""PBS Pro / OpenPBS / Torque executor for reflow.

Installed with ``pip install reflow-core reflow-executor-pbs``; reflow finds it through
the ``reflow.executors`` entry point ``pbs``.
"""

from __future__ import annotations

from reflow_executor_pbs._version import __version__
from reflow_executor_pbs.executor import PBSExecutor

__all__ = ["PBSExecutor", "__version__"]

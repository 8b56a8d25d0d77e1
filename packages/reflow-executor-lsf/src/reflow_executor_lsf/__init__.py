"""IBM Spectrum LSF executor for reflow.

Installed with ``pip install reflow-core reflow-executor-lsf``; reflow finds it through
the ``reflow.executors`` entry point ``lsf``.
"""

from __future__ import annotations

from reflow_executor_lsf._version import __version__
from reflow_executor_lsf.executor import LSFExecutor

__all__ = ["LSFExecutor", "__version__"]

"""Son of Grid Engine / Univa / Altair Grid Engine (SGE, UGE) executor for reflow.

Installed with ``pip install reflow-core reflow-executor-sge``; reflow finds it through
the ``reflow.executors`` entry point ``sge``.
"""

from __future__ import annotations

from reflow_executor_sge._version import __version__
from reflow_executor_sge.executor import SGEExecutor

__all__ = ["SGEExecutor", "__version__"]

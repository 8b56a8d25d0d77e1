"""The SGE / UGE executor, ``SGEExecutor``, from the ``reflow-executor-sge`` package.

This module keeps the import path ``reflow.executors.sge.SGEExecutor`` working.
When the package is not installed, importing it raises
:class:`~reflow.errors.PluginNotFoundError` (an :class:`ImportError`) that
gives the ``pip install`` line.
"""

from __future__ import annotations

import sys

from reflow.errors import PluginNotFoundError

__all__ = ["SGEExecutor"]

try:
    from reflow_executor_sge import SGEExecutor
except ModuleNotFoundError as exc:
    if exc.name != "reflow_executor_sge":
        raise
    raise PluginNotFoundError(
        f"reflow.executors.sge needs the reflow-executor-sge package, which is not "
        f"installed for {sys.executable}. Install it with: pip install reflow-executor-sge",
        name="reflow_executor_sge",
    ) from exc

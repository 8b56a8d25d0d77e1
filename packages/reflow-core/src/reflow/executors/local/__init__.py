"""The ``local`` executor: reflow's jobs as background processes on this machine.

:mod:`.executor` submits and queries, :mod:`.runner` supervises one job,
:mod:`.state` holds the job directories, :mod:`.slots` the machine-wide slots and
:mod:`.proc` process identity and group signals.
"""

from __future__ import annotations

from reflow.executors.local.executor import LocalExecutor

__all__ = ["LocalExecutor"]

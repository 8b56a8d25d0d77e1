"""The IBM Spectrum LSF executor class."""

from __future__ import annotations

from typing import ClassVar

from reflow.executors import Executor

__all__ = ["LSFExecutor"]


class LSFExecutor(Executor):
    """Runs reflow jobs on IBM Spectrum LSF through ``bsub``, ``bkill`` and ``bjobs``.

    Selected with the executor name ``lsf`` (``REFLOW_EXECUTOR=lsf``).

    Canonical submit-option keys are renamed to their native names
    (:meth:`~reflow.executors.Executor.normalize_options`):

    - ``partition`` -> ``queue`` (``-q``)
    - ``queue`` -> ``queue`` (``-q``)
    - ``account`` -> ``project`` (``-P``)

    LSF has queues rather than partitions, and charges jobs to a *project* (``-P``).  Other
    keys pass through unchanged.

    Notes
    -----
    Job submission, cancellation and state queries land in a later release:
    :meth:`_submit`, :meth:`cancel` and :meth:`query` are still abstract,
    so this class cannot be instantiated yet.  Discovery, version checks and
    key normalisation work now.
    """

    name: ClassVar[str] = "lsf"
    _KEY_ALIASES: ClassVar[dict[str, str]] = {
        "partition": "queue",
        "queue": "queue",
        "account": "project",
    }

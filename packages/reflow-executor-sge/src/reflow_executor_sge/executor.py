"""The Sun/Son of/Univa Grid Engine (SGE, UGE) executor class."""

from __future__ import annotations

from typing import ClassVar

from reflow.executors import Executor

__all__ = ["SGEExecutor"]


class SGEExecutor(Executor):
    """Runs reflow jobs on Grid Engine (SGE, UGE) through ``qsub``, ``qdel`` and ``qstat``.

    Selected with the executor name ``sge`` (``REFLOW_EXECUTOR=sge``).

    Canonical submit-option keys are renamed to their native names
    (:meth:`~reflow.executors.Executor.normalize_options`):

    - ``partition`` -> ``queue`` (``-q``)
    - ``queue`` -> ``queue`` (``-q``)
    - ``account`` -> ``project`` (``-P``)

    Grid Engine has cluster queues rather than partitions, and accounts jobs to a *project*
    (``-P``).  Other keys pass through unchanged.

    Notes
    -----
    Job submission, cancellation and state queries land in a later release:
    :meth:`_submit`, :meth:`cancel` and :meth:`query` are still abstract,
    so this class cannot be instantiated yet.  Discovery, version checks and
    key normalisation work now.
    """

    name: ClassVar[str] = "sge"
    _KEY_ALIASES: ClassVar[dict[str, str]] = {
        "partition": "queue",
        "queue": "queue",
        "account": "project",
    }

"""The PBS Pro / OpenPBS / Torque executor class."""

from __future__ import annotations

from typing import ClassVar

from reflow.executors import Executor

__all__ = ["PBSExecutor"]


class PBSExecutor(Executor):
    """Runs reflow jobs on PBS Pro / OpenPBS / Torque through ``qsub``, ``qdel`` and ``qstat``.

    Selected with the executor name ``pbs`` (``REFLOW_EXECUTOR=pbs``).

    Canonical submit-option keys are renamed to their native names
    (:meth:`~reflow.executors.Executor.normalize_options`):

    - ``partition`` -> ``queue`` (``-q``)
    - ``queue`` -> ``queue`` (``-q``)
    - ``account`` -> ``account`` (``-A``)

    PBS has queues rather than partitions; the account string is passed with ``-A``.  Other
    keys pass through unchanged.

    Notes
    -----
    Job submission, cancellation and state queries land in a later release:
    :meth:`_submit`, :meth:`cancel` and :meth:`query` are still abstract,
    so this class cannot be instantiated yet.  Discovery, version checks and
    key normalisation work now.
    """

    name: ClassVar[str] = "pbs"
    _KEY_ALIASES: ClassVar[dict[str, str]] = {
        "partition": "queue",
        "queue": "queue",
        "account": "account",
    }

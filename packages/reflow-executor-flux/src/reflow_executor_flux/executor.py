"""The Flux executor class."""

from __future__ import annotations

from typing import ClassVar

from reflow.executors import Executor

__all__ = ["FluxExecutor"]


class FluxExecutor(Executor):
    """Runs reflow jobs on Flux through ``flux batch``, ``flux cancel`` and ``flux jobs``.

    Selected with the executor name ``flux`` (``REFLOW_EXECUTOR=flux``).

    Canonical submit-option keys are renamed to their native names
    (:meth:`~reflow.executors.Executor.normalize_options`):

    - ``partition`` -> ``queue`` (``--queue``)
    - ``queue`` -> ``queue`` (``--queue``)
    - ``account`` -> ``bank`` (``--bank``)

    Flux has queues rather than partitions, and charges jobs to a *bank* (flux-accounting,
    ``--bank``).  Other keys pass through unchanged.

    Notes
    -----
    Job submission, cancellation and state queries land in a later release:
    :meth:`_submit`, :meth:`cancel` and :meth:`query` are still abstract,
    so this class cannot be instantiated yet.  Discovery, version checks and
    key normalisation work now.
    """

    name: ClassVar[str] = "flux"
    _KEY_ALIASES: ClassVar[dict[str, str]] = {
        "partition": "queue",
        "queue": "queue",
        "account": "bank",
    }

"""The Slurm executor class."""

from __future__ import annotations

from typing import ClassVar

from reflow.executors import Executor

__all__ = ["SlurmExecutor"]


class SlurmExecutor(Executor):
    """Runs reflow jobs on Slurm through ``sbatch``, ``scancel`` and ``squeue``/``sacct``.

    Selected with the executor name ``slurm`` (``REFLOW_EXECUTOR=slurm``).

    Canonical submit-option keys are renamed to their native names
    (:meth:`~reflow.executors.Executor.normalize_options`):

    - ``partition`` -> ``partition`` (``--partition``)
    - ``queue`` -> ``partition`` (``--partition``)
    - ``account`` -> ``account`` (``--account``)
    - ``qos`` -> ``qos`` (``--qos``)

    Slurm calls a queue a *partition*, so ``queue`` is accepted as a synonym of ``partition``.
    Other keys pass through unchanged.

    Notes
    -----
    Job submission, cancellation and state queries land in a later release:
    :meth:`_submit`, :meth:`cancel` and :meth:`query` are still abstract,
    so this class cannot be instantiated yet.  Discovery, version checks and
    key normalisation work now.
    """

    name: ClassVar[str] = "slurm"
    _KEY_ALIASES: ClassVar[dict[str, str]] = {
        "partition": "partition",
        "queue": "partition",
        "account": "account",
        "qos": "qos",
    }

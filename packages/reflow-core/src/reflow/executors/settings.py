"""The settings every batch-scheduler executor shares, in one frozen record.

:class:`BatchSettings` holds what the Slurm, PBS, LSF, SGE and Flux
executors used to take and record one by one: the state directory, the
directory of the scheduler's commands (``REFLOW_<NAME>_BIN``), the command
timeout, retries and backoff, and the site's array size limit.  The submit
mode is not among them: it stays the executor's own ``mode``, which
:meth:`~reflow.executors.Executor.from_config` sets after construction.
:class:`~reflow.executors.batch.BatchExecutor` builds it from its
constructor keywords and derives
:meth:`~reflow.executors.batch.BatchExecutor.recorded_options` from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from reflow import env
from reflow.userdirs import user_cache_dir

__all__ = ["BatchOptions", "BatchSettings"]


class BatchOptions(TypedDict, total=False):
    """The constructor keywords every batch executor passes on to :class:`BatchExecutor`.

    A backend's ``__init__`` takes its own keywords and ``**options:
    Unpack[BatchOptions]``, so that these are declared (and typed) once.
    """

    command_timeout: float
    """Seconds each scheduler command may take (60)."""
    retries: int
    """How often a transiently failing command is retried (3)."""
    backoff: float
    """Seconds before the first retry, doubled for each further one (1)."""
    mode: str | None
    """``"dry-run"``, ``"submit"``, or ``None`` to follow ``REFLOW_MODE``."""


@dataclass(frozen=True)
class BatchSettings:
    """How a batch executor reaches its scheduler.

    Parameters
    ----------
    state_dir : Path
        Absolute directory where the maps of submitted arrays (and a
        backend's own job records) are kept; every process of a run must see it.
    bin_dir : str or None
        Directory of the scheduler's commands; ``None``: found on ``PATH``.
    command_timeout : float
        Seconds each scheduler command may take.
    retries : int
        How often a transiently failing command is retried.
    backoff : float
        Seconds before the first retry, doubled for each further one.
    max_array_size : int or None
        The site's array size limit as the backend's keyword gives it
        (``max_array_size``, Grid Engine's ``max_array_tasks``); ``None``:
        the backend's default or the scheduler's own configuration.
    """

    state_dir: Path
    bin_dir: str | None = None
    command_timeout: float = 60.0
    retries: int = 3
    backoff: float = 1.0
    max_array_size: int | None = None

    @classmethod
    def build(
        cls,
        name: str,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        bin_dir: str | None = None,
        command_timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
        max_array_size: int | None = None,
    ) -> BatchSettings:
        """The settings of executor ``name`` from its constructor keywords and the environment.

        ``state_dir`` ``None`` is ``batch/<name>`` in reflow's user cache
        directory; ``bin_dir`` ``None`` is ``REFLOW_<NAME>_BIN`` when reflow
        knows that variable (:func:`reflow.env.bin_variable`), else ``PATH``.
        """
        if state_dir is None:
            state_dir = user_cache_dir() / "batch" / name
        if bin_dir is None and (variable := env.bin_variable(name)) is not None:
            bin_dir = env.get(variable)
        return cls(
            state_dir=Path(state_dir).expanduser().absolute(),
            bin_dir=bin_dir or None,
            command_timeout=float(command_timeout),
            retries=int(retries),
            backoff=float(backoff),
            max_array_size=None if max_array_size is None else int(max_array_size),
        )

    def command(self, program: str) -> str:
        """``program`` in :attr:`bin_dir`, else its bare name for ``PATH``."""
        return program if self.bin_dir is None else str(Path(self.bin_dir, program))

    def recorded(self) -> dict[str, Any]:
        """The settings as JSON-ready constructor keywords of :class:`BatchExecutor`.

        ``bin_dir`` and ``max_array_size`` are left out: the executor records
        them under its own keywords (``slurm_bin``, ``max_array_tasks`` ...).
        """
        return {
            "state_dir": str(self.state_dir),
            "command_timeout": self.command_timeout,
            "retries": self.retries,
            "backoff": self.backoff,
        }

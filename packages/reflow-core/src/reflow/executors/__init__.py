"""Executors: the backends that submit reflow's jobs to a workload manager.

:class:`Executor` is the interface; the Slurm, PBS, LSF, SGE and Flux
backends are separate packages (``pip install reflow-executor-slurm``) found
through the ``reflow.executors`` entry-point group.  The modules
``reflow.executors.slurm``, ``.pbs``, ``.lsf``, ``.sge`` and ``.flux``
re-export them under the import paths the documentation uses.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, cast

from reflow.executors.base import Executor
from reflow.executors.jobs import (
    ARRAY_INDEX_ENV,
    ArraySpec,
    JobResources,
    JobSpec,
    JobState,
    JobStatus,
    element_id,
    split_element_id,
)

if TYPE_CHECKING:
    from reflow.executors.arrays import ArrayChunk
    from reflow.executors.batch import BatchExecutor, BatchExecutorError
    from reflow.executors.commands import SchedulerCommandError, run_command

# The batch-scheduler template is imported on first use: workers and the
# local executor never need it.
_LAZY = {
    "ArrayChunk": "reflow.executors.arrays",
    "BatchExecutor": "reflow.executors.batch",
    "BatchExecutorError": "reflow.executors.batch",
    "SchedulerCommandError": "reflow.executors.commands",
    "run_command": "reflow.executors.commands",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reflow.executors' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ARRAY_INDEX_ENV",
    "ArrayChunk",
    "ArraySpec",
    "BatchExecutor",
    "BatchExecutorError",
    "Executor",
    "JobResources",
    "JobSpec",
    "JobState",
    "JobStatus",
    "SchedulerCommandError",
    "element_id",
    "load_executor",
    "run_command",
    "split_element_id",
]


def load_executor(name: str) -> type[Executor]:
    """Return the executor class registered under ``name``.

    Only that executor's package is imported.

    Parameters
    ----------
    name : str
        The plugin name, e.g. ``"slurm"`` or ``"local"``.

    Returns
    -------
    type[Executor]
        The executor class (not an instance).

    Raises
    ------
    PluginNotFoundError
        If no installed package provides that executor; the message gives
        the ``pip install`` line.
    PluginIncompatibleError
        If the package was built for another reflow-core version.
    PluginLoadError
        If importing the package fails.
    """
    # lazy: plugin discovery (importlib.metadata, version checks) only when loading
    from reflow import plugins

    return cast("type[Executor]", plugins.load(plugins.EXECUTORS, name, Executor))

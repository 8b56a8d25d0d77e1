"""Executors: the backends that submit reflow's jobs to a workload manager.

:class:`Executor` is the interface; the Slurm, PBS, LSF, SGE and Flux
backends are separate packages (``pip install reflow-executor-slurm``) found
through the ``reflow.executors`` entry-point group.  The modules
``reflow.executors.slurm``, ``.pbs``, ``.lsf``, ``.sge`` and ``.flux``
re-export them under the import paths the documentation uses.
"""

from __future__ import annotations

from typing import cast

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

__all__ = [
    "ARRAY_INDEX_ENV",
    "ArraySpec",
    "Executor",
    "JobResources",
    "JobSpec",
    "JobState",
    "JobStatus",
    "element_id",
    "load_executor",
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
    from reflow import plugins

    return cast("type[Executor]", plugins.load(plugins.EXECUTORS, name))

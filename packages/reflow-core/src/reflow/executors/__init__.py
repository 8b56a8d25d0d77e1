"""Executors, and the executor plugin API.

:class:`Executor` is the interface; the Slurm, PBS, LSF, SGE and Flux
backends are separate packages (``pip install reflow-executor-slurm``) found
through the ``reflow.executors`` entry-point group.  The modules
``reflow.executors.slurm``, ``.pbs``, ``.lsf``, ``.sge`` and ``.flux``
re-export them under the import paths the documentation uses.

This module is the plugin API: an executor plugin imports nothing else from
reflow-core (its tests may also use :mod:`reflow.testing`).  ``__all__``
lists every name it may use: the interfaces (:class:`Executor`,
:class:`BatchExecutor` and its :class:`BatchSettings`), the job types and
states, the errors a plugin raises, the resource parsers, the environment
export helpers, the job-environment lines (:func:`command_lines`: modules,
prologue, container), the command runner and the array chunk helpers.  The root
test ``tests/test_plugin_imports.py`` fails on any other ``reflow`` import
in a plugin package, so a name a plugin needs is added here, where it is
declared (and documented in ``docs/writing-an-executor.md``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, cast

from reflow.define.taskenv import TaskEnvironment
from reflow.errors import ConfigError, ReflowError
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
    from reflow import env
    from reflow._types import RunState, TaskState
    from reflow.define.resources import format_walltime, parse_memory, parse_walltime
    from reflow.executors.arrays import (
        JOIN,
        ArrayChunk,
        ArrayMap,
        index_lines,
        split_array,
        split_job_id,
    )
    from reflow.executors.batch import (
        BatchExecutor,
        BatchExecutorError,
        SchedulerCommand,
        known_options,
        option_text,
        option_value,
        refusal,
    )
    from reflow.executors.commands import SchedulerCommandError, looks_transient, run_command
    from reflow.executors.environment import ExportEnv, split_export_env
    from reflow.executors.settings import BatchOptions, BatchSettings
    from reflow.executors.taskenv import command_lines

# The batch-scheduler template and its helpers are imported on first use:
# workers and the local executor never need them.
_LAZY = {
    "RunState": "reflow._types",
    "TaskState": "reflow._types",
    "ArrayChunk": "reflow.executors.arrays",
    "ArrayMap": "reflow.executors.arrays",
    "JOIN": "reflow.executors.arrays",
    "index_lines": "reflow.executors.arrays",
    "split_array": "reflow.executors.arrays",
    "split_job_id": "reflow.executors.arrays",
    "BatchExecutor": "reflow.executors.batch",
    "BatchExecutorError": "reflow.executors.batch",
    "SchedulerCommand": "reflow.executors.batch",
    "option_text": "reflow.executors.batch",
    "option_value": "reflow.executors.batch",
    "known_options": "reflow.executors.batch",
    "refusal": "reflow.executors.batch",
    "BatchOptions": "reflow.executors.settings",
    "BatchSettings": "reflow.executors.settings",
    "SchedulerCommandError": "reflow.executors.commands",
    "looks_transient": "reflow.executors.commands",
    "run_command": "reflow.executors.commands",
    "ExportEnv": "reflow.executors.environment",
    "split_export_env": "reflow.executors.environment",
    "command_lines": "reflow.executors.taskenv",
    "format_walltime": "reflow.define.resources",
    "parse_memory": "reflow.define.resources",
    "parse_walltime": "reflow.define.resources",
}


def __getattr__(name: str) -> Any:
    if name == "env":  # the module of REFLOW_* names (SchedulerCommand(env.REFLOW_SBATCH))
        value: Any = import_module("reflow.env")
    else:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'reflow.executors' has no attribute {name!r}")
        value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ARRAY_INDEX_ENV",
    "JOIN",
    "ArrayChunk",
    "ArrayMap",
    "ArraySpec",
    "BatchExecutor",
    "BatchExecutorError",
    "BatchOptions",
    "BatchSettings",
    "ConfigError",
    "Executor",
    "ExportEnv",
    "JobResources",
    "JobSpec",
    "JobState",
    "JobStatus",
    "ReflowError",
    "RunState",
    "SchedulerCommand",
    "SchedulerCommandError",
    "TaskEnvironment",
    "TaskState",
    "command_lines",
    "element_id",
    "env",
    "format_walltime",
    "index_lines",
    "known_options",
    "load_executor",
    "looks_transient",
    "option_text",
    "option_value",
    "parse_memory",
    "parse_walltime",
    "refusal",
    "run_command",
    "split_array",
    "split_element_id",
    "split_export_env",
    "split_job_id",
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

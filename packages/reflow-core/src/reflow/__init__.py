"""reflow: typed Python workflows run as HPC scheduler jobs, with a Merkle-DAG cache.

The public names below are imported on first use, so ``import reflow`` stays
cheap on a login node; ``from reflow import Workflow`` imports what it needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from reflow._version import __version__

if TYPE_CHECKING:
    from reflow._types import RunState, TaskState
    from reflow.config import Config, config_path, load_config, write_example_config
    from reflow.define.flow import Flow, JobConfig, TaskSpec
    from reflow.define.given import Resources
    from reflow.define.markers import Param, Result, RunDir
    from reflow.define.retrypolicy import Retry
    from reflow.define.wiring import WireMode
    from reflow.engine.local import TaskFailedError
    from reflow.errors import ReflowError
    from reflow.executors.flux import FluxExecutor
    from reflow.executors.jobs import JobResources
    from reflow.executors.local.executor import LocalExecutor
    from reflow.executors.lsf import LSFExecutor
    from reflow.executors.pbs import PBSExecutor
    from reflow.executors.sge import SGEExecutor
    from reflow.executors.slurm import SlurmExecutor
    from reflow.manifest import ManifestCodec
    from reflow.programs import ShellError, shell
    from reflow.run import Run
    from reflow.signals import TaskInterrupted, graceful_shutdown
    from reflow.workflow import Workflow

__all__ = [
    "Config",
    "Flow",
    "FluxExecutor",
    "JobConfig",
    "JobResources",
    "LSFExecutor",
    "LocalExecutor",
    "ManifestCodec",
    "PBSExecutor",
    "Param",
    "ReflowError",
    "Resources",
    "Result",
    "Retry",
    "Run",
    "RunDir",
    "RunState",
    "SGEExecutor",
    "ShellError",
    "SlurmExecutor",
    "TaskFailedError",
    "TaskInterrupted",
    "TaskSpec",
    "TaskState",
    "WireMode",
    "Workflow",
    "__version__",
    "config_path",
    "graceful_shutdown",
    "load_config",
    "shell",
    "write_example_config",
]

_LAZY: dict[str, str] = {
    "Config": "reflow.config",
    "Flow": "reflow.define.flow",
    "JobConfig": "reflow.define.flow",
    "LocalExecutor": "reflow.executors.local.executor",
    "ManifestCodec": "reflow.manifest",
    "Param": "reflow.define.markers",
    "ReflowError": "reflow.errors",
    "Resources": "reflow.define.given",
    "ShellError": "reflow.programs",
    "shell": "reflow.programs",
    "Result": "reflow.define.markers",
    "Retry": "reflow.define.retrypolicy",
    "Run": "reflow.run",
    "RunDir": "reflow.define.markers",
    "RunState": "reflow._types",
    "TaskFailedError": "reflow.engine.local",
    "TaskInterrupted": "reflow.signals",
    "TaskSpec": "reflow.define.flow",
    "TaskState": "reflow._types",
    "WireMode": "reflow.define.wiring",
    "Workflow": "reflow.workflow",
    "graceful_shutdown": "reflow.signals",
    "load_config": "reflow.config",
    "config_path": "reflow.config",
    "write_example_config": "reflow.config",
    "JobResources": "reflow.executors.jobs",
    # The scheduler executors live in plugin packages; these modules re-export
    # them, and raise PluginNotFoundError with the pip line when one is missing.
    "SlurmExecutor": "reflow.executors.slurm",
    "PBSExecutor": "reflow.executors.pbs",
    "LSFExecutor": "reflow.executors.lsf",
    "SGEExecutor": "reflow.executors.sge",
    "FluxExecutor": "reflow.executors.flux",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reflow' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

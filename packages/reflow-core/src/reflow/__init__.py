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
    from reflow.config import Config, load_config
    from reflow.errors import ReflowError
    from reflow.executors.local import LocalExecutor
    from reflow.flow import Flow, JobConfig, TaskSpec
    from reflow.local import TaskFailedError
    from reflow.manifest import ManifestCodec
    from reflow.params import Param, Result, RunDir
    from reflow.run import Run
    from reflow.signals import TaskInterrupted, graceful_shutdown
    from reflow.wiring import WireMode
    from reflow.workflow import Workflow

__all__ = [
    "Config",
    "Flow",
    "JobConfig",
    "LocalExecutor",
    "ManifestCodec",
    "Param",
    "ReflowError",
    "Result",
    "Run",
    "RunDir",
    "RunState",
    "TaskFailedError",
    "TaskInterrupted",
    "TaskSpec",
    "TaskState",
    "WireMode",
    "Workflow",
    "__version__",
    "graceful_shutdown",
    "load_config",
]

_LAZY: dict[str, str] = {
    "Config": "reflow.config",
    "Flow": "reflow.flow",
    "JobConfig": "reflow.flow",
    "LocalExecutor": "reflow.executors.local",
    "ManifestCodec": "reflow.manifest",
    "Param": "reflow.params",
    "ReflowError": "reflow.errors",
    "Result": "reflow.params",
    "Run": "reflow.run",
    "RunDir": "reflow.params",
    "RunState": "reflow._types",
    "TaskFailedError": "reflow.local",
    "TaskInterrupted": "reflow.signals",
    "TaskSpec": "reflow.flow",
    "TaskState": "reflow._types",
    "WireMode": "reflow.wiring",
    "Workflow": "reflow.workflow",
    "graceful_shutdown": "reflow.signals",
    "load_config": "reflow.config",
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

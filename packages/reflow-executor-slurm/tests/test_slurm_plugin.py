"""The slurm executor is registered, loadable, and renames options to slurm's names."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from reflow.executors import (
    ConfigError,
)
from reflow.testing.plugin import ExecutorPluginConformance
from reflow_executor_slurm import SlurmExecutor, __version__


class TestSlurmExecutorPlugin(ExecutorPluginConformance):
    __test__ = True
    executor = SlurmExecutor
    name = "slurm"
    distribution = "reflow-executor-slurm"
    version = __version__
    options: ClassVar[dict[str, Any]] = {
        "partition": "gpu",
        "account": "proj42",
        "qos": "high",
        "mem": "4G",
    }
    native: ClassVar[dict[str, Any]] = {
        "partition": "gpu",
        "account": "proj42",
        "qos": "high",
        "mem": "4G",
    }
    documented_module = "reflow.executors.slurm"


def test_queue_is_accepted_and_must_agree_with_partition() -> None:
    native = SlurmExecutor.normalize_options({"queue": "short"})
    assert native == SlurmExecutor.normalize_options({"partition": "short"})
    with pytest.raises(ConfigError, match="partition"):
        SlurmExecutor.normalize_options({"partition": "gpu", "queue": "cpu"})

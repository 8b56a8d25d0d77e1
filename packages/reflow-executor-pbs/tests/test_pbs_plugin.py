"""The pbs executor is registered, loadable, and renames options to pbs's names."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from reflow.executors import (
    ConfigError,
)
from reflow.testing.plugin import ExecutorPluginConformance
from reflow_executor_pbs import PBSExecutor, __version__


class TestPBSExecutorPlugin(ExecutorPluginConformance):
    __test__ = True
    executor = PBSExecutor
    name = "pbs"
    distribution = "reflow-executor-pbs"
    version = __version__
    options: ClassVar[dict[str, Any]] = {"partition": "gpu", "account": "proj42", "mem": "4G"}
    native: ClassVar[dict[str, Any]] = {"queue": "gpu", "account": "proj42", "mem": "4G"}
    documented_module = "reflow.executors.pbs"


def test_queue_is_accepted_and_must_agree_with_partition() -> None:
    native = PBSExecutor.normalize_options({"queue": "short"})
    assert native == PBSExecutor.normalize_options({"partition": "short"})
    with pytest.raises(ConfigError, match="partition"):
        PBSExecutor.normalize_options({"partition": "gpu", "queue": "cpu"})

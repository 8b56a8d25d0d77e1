"""The lsf executor is registered, loadable, and renames options to lsf's names."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from reflow.executors import (
    ConfigError,
)
from reflow.testing.plugin import ExecutorPluginConformance
from reflow_executor_lsf import LSFExecutor, __version__


class TestLSFExecutorPlugin(ExecutorPluginConformance):
    __test__ = True
    executor = LSFExecutor
    name = "lsf"
    distribution = "reflow-executor-lsf"
    version = __version__
    options: ClassVar[dict[str, Any]] = {"partition": "gpu", "account": "proj42", "mem": "4G"}
    native: ClassVar[dict[str, Any]] = {"queue": "gpu", "project": "proj42", "mem": "4G"}
    documented_module = "reflow.executors.lsf"


def test_queue_is_accepted_and_must_agree_with_partition() -> None:
    native = LSFExecutor.normalize_options({"queue": "short"})
    assert native == LSFExecutor.normalize_options({"partition": "short"})
    with pytest.raises(ConfigError, match="partition"):
        LSFExecutor.normalize_options({"partition": "gpu", "queue": "cpu"})

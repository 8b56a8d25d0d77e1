"""The sge executor is registered, loadable, and renames options to sge's names."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from reflow.executors import (
    ConfigError,
)
from reflow.testing.plugin import ExecutorPluginConformance
from reflow_executor_sge import SGEExecutor, __version__


class TestSGEExecutorPlugin(ExecutorPluginConformance):
    __test__ = True
    executor = SGEExecutor
    name = "sge"
    distribution = "reflow-executor-sge"
    version = __version__
    options: ClassVar[dict[str, Any]] = {"partition": "gpu", "account": "proj42", "mem": "4G"}
    native: ClassVar[dict[str, Any]] = {"queue": "gpu", "project": "proj42", "mem": "4G"}
    documented_module = "reflow.executors.sge"


def test_queue_is_accepted_and_must_agree_with_partition() -> None:
    native = SGEExecutor.normalize_options({"queue": "short"})
    assert native == SGEExecutor.normalize_options({"partition": "short"})
    with pytest.raises(ConfigError, match="partition"):
        SGEExecutor.normalize_options({"partition": "gpu", "queue": "cpu"})

"""The flux executor is registered, loadable, and renames options to flux's names."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from reflow.executors import (
    ConfigError,
)
from reflow.testing.plugin import ExecutorPluginConformance
from reflow_executor_flux import FluxExecutor, __version__


class TestFluxExecutorPlugin(ExecutorPluginConformance):
    __test__ = True
    executor = FluxExecutor
    name = "flux"
    distribution = "reflow-executor-flux"
    version = __version__
    options: ClassVar[dict[str, Any]] = {"partition": "gpu", "account": "proj42", "mem": "4G"}
    native: ClassVar[dict[str, Any]] = {"queue": "gpu", "bank": "proj42", "mem": "4G"}
    documented_module = "reflow.executors.flux"


def test_queue_is_accepted_and_must_agree_with_partition() -> None:
    native = FluxExecutor.normalize_options({"queue": "short"})
    assert native == FluxExecutor.normalize_options({"partition": "short"})
    with pytest.raises(ConfigError, match="partition"):
        FluxExecutor.normalize_options({"partition": "gpu", "queue": "cpu"})

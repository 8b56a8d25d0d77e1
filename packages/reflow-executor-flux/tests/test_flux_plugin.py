"""The flux executor is discoverable, loadable and renames options to flux's names."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points

import pytest

from reflow import plugins
from reflow.errors import ConfigError
from reflow.executors import Executor, load_executor
from reflow_executor_flux import FluxExecutor, __version__


@pytest.fixture(autouse=True)
def fresh_discovery() -> Iterator[None]:
    plugins.clear_cache()
    yield
    plugins.clear_cache()


def test_entry_point_is_registered_by_this_distribution() -> None:
    (entry_point,) = entry_points(group="reflow.executors", name="flux")
    assert entry_point.value == "reflow_executor_flux:FluxExecutor"
    assert entry_point.dist is not None
    assert entry_point.dist.name == "reflow-executor-flux"
    assert entry_point.dist.version == __version__


def test_plugins_load_returns_the_class() -> None:
    assert plugins.load("executors", "flux") is FluxExecutor
    assert load_executor("flux") is FluxExecutor
    assert issubclass(FluxExecutor, Executor)
    assert FluxExecutor.name == "flux"


def test_reflow_plugins_reports_it_compatible() -> None:
    (info,) = [i for i in plugins.describe_plugins() if i.kind == "executor" and i.name == "flux"]
    assert info.distribution == "reflow-executor-flux"
    assert info.compatible
    assert info.error is None


def test_canonical_keys_become_native_names() -> None:
    options = {
        "partition": "gpu",
        "account": "proj42",
        "mem": "4G",
    }
    assert FluxExecutor.normalize_options(options) == {
        "queue": "gpu",
        "bank": "proj42",
        "mem": "4G",
    }
    # the spelling used in the reference documents
    assert FluxExecutor._normalize_options({"queue": "short"}) == {"queue": "short"}


def test_partition_and_queue_must_agree() -> None:
    assert FluxExecutor.normalize_options({"partition": "gpu", "queue": "gpu"}) == {"queue": "gpu"}
    with pytest.raises(ConfigError, match="partition"):
        FluxExecutor.normalize_options({"partition": "gpu", "queue": "cpu"})


def test_documented_import_path_is_the_same_class() -> None:
    from reflow.executors.flux import FluxExecutor as Documented

    assert Documented is FluxExecutor

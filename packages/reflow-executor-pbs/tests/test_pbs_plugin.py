"""The pbs executor is discoverable, loadable and renames options to pbs's names."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points

import pytest

from reflow import plugins
from reflow.errors import ConfigError
from reflow.executors import Executor, load_executor
from reflow_executor_pbs import PBSExecutor, __version__


@pytest.fixture(autouse=True)
def fresh_discovery() -> Iterator[None]:
    plugins.clear_cache()
    yield
    plugins.clear_cache()


def test_entry_point_is_registered_by_this_distribution() -> None:
    (entry_point,) = entry_points(group="reflow.executors", name="pbs")
    assert entry_point.value == "reflow_executor_pbs:PBSExecutor"
    assert entry_point.dist is not None
    assert entry_point.dist.name == "reflow-executor-pbs"
    assert entry_point.dist.version == __version__


def test_plugins_load_returns_the_class() -> None:
    assert plugins.load("executors", "pbs") is PBSExecutor
    assert load_executor("pbs") is PBSExecutor
    assert issubclass(PBSExecutor, Executor)
    assert PBSExecutor.name == "pbs"


def test_reflow_plugins_reports_it_compatible() -> None:
    (info,) = [i for i in plugins.describe_plugins() if i.kind == "executor" and i.name == "pbs"]
    assert info.distribution == "reflow-executor-pbs"
    assert info.compatible
    assert info.error is None


def test_canonical_keys_become_native_names() -> None:
    options = {
        "partition": "gpu",
        "account": "proj42",
        "mem": "4G",
    }
    assert PBSExecutor.normalize_options(options) == {
        "queue": "gpu",
        "account": "proj42",
        "mem": "4G",
    }
    # the spelling used in the reference documents
    assert PBSExecutor._normalize_options({"queue": "short"}) == {"queue": "short"}


def test_partition_and_queue_must_agree() -> None:
    assert PBSExecutor.normalize_options({"partition": "gpu", "queue": "gpu"}) == {"queue": "gpu"}
    with pytest.raises(ConfigError, match="partition"):
        PBSExecutor.normalize_options({"partition": "gpu", "queue": "cpu"})


def test_documented_import_path_is_the_same_class() -> None:
    from reflow.executors.pbs import PBSExecutor as Documented

    assert Documented is PBSExecutor

"""A conformance suite for how an executor plugin is packaged and registered.

A plugin package's tests subclass :class:`ExecutorPluginConformance`, set
``__test__ = True`` and the class attributes, and get tests that its entry
point is registered by its own distribution, that ``reflow`` loads and
reports it, that key normalisation gives the scheduler's native names, and
that the documented import path is the same class.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, ClassVar

import pytest

from reflow import plugins
from reflow.executors import Executor, load_executor

__all__ = ["ExecutorPluginConformance"]


class ExecutorPluginConformance:
    """Subclass with ``__test__ = True`` and these attributes set.

    Attributes
    ----------
    executor : type[Executor]
        The plugin's class.
    name : str
        Its entry-point name.
    distribution : str
        The distribution that registers it.
    version : str
        That distribution's version.
    options : dict
        Canonical submit options given to ``normalize_options``.
    native : dict
        What ``normalize_options(options)`` must return.
    documented_module : str or None
        A compatibility import path that must give the same class
        (``"reflow.executors.slurm"``), or ``None``.
    """

    __test__ = False
    executor: ClassVar[type[Executor]]
    name: ClassVar[str]
    distribution: ClassVar[str]
    version: ClassVar[str]
    options: ClassVar[dict[str, Any]]
    native: ClassVar[dict[str, Any]]
    documented_module: ClassVar[str | None] = None

    @pytest.fixture(autouse=True)
    def _fresh_discovery(self) -> Iterator[None]:
        plugins.clear_cache()
        yield
        plugins.clear_cache()

    def test_entry_point_is_registered_by_its_distribution(self) -> None:
        (entry_point,) = entry_points(group="reflow.executors", name=self.name)
        module, _, attr = entry_point.value.partition(":")
        assert getattr(import_module(module), attr) is self.executor
        assert entry_point.dist is not None
        assert entry_point.dist.name == self.distribution
        assert entry_point.dist.version == self.version

    def test_reflow_loads_it_by_name(self) -> None:
        assert plugins.load("executors", self.name) is self.executor
        assert load_executor(self.name) is self.executor
        assert issubclass(self.executor, Executor)
        assert self.executor.name == self.name

    def test_reflow_plugins_reports_it_compatible(self) -> None:
        found = [
            i
            for i in plugins.describe_plugins({"executors": Executor})
            if i.kind == "executor" and i.name == self.name
        ]
        assert len(found) == 1
        assert found[0].distribution == self.distribution
        assert found[0].compatible and found[0].error is None

    def test_canonical_keys_become_native_names(self) -> None:
        assert self.executor.normalize_options(self.options) == self.native
        assert self.executor._normalize_options(self.options) == self.native

    def test_documented_import_path_is_the_same_class(self) -> None:
        if self.documented_module is None:
            pytest.skip("no documented compatibility import path")
        module = import_module(self.documented_module)
        assert getattr(module, self.executor.__name__) is self.executor

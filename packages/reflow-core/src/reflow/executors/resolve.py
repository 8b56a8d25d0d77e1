"""Choosing an executor: by name, by instance, or from the configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reflow.errors import PluginError, ReflowError
from reflow.executors import load_executor
from reflow.executors.base import Executor

if TYPE_CHECKING:
    from reflow.config import Config

__all__ = ["default_executor", "executor_from_record", "resolve_executor"]


def _build(name: str, options: Mapping[str, Any] | None = None) -> Executor:
    cls = load_executor(name)
    try:
        return cls(**dict(options or {}))
    except TypeError as exc:
        raise ReflowError(
            f"Executor {name!r} ({cls.__module__}.{cls.__qualname__}) cannot be created "
            f"with options {dict(options or {})!r}: {exc}."
        ) from exc


def default_executor(config: Config) -> Executor:
    """The executor the configuration names (``local`` unless set otherwise)."""
    name = config.executor_name
    return _build(name, config.executor_settings(name))


def resolve_executor(executor: Executor | str | None, config: Config) -> Executor:
    """An executor instance from an instance, a plugin name, or ``None`` (the default)."""
    if executor is None:
        return default_executor(config)
    if isinstance(executor, Executor):
        return executor
    if isinstance(executor, str):
        return _build(executor, config.executor_settings(executor))
    raise ReflowError(
        f"executor={executor!r} is not an executor: pass a name such as 'local' or "
        "'slurm', or an Executor instance."
    )


def executor_from_record(name: str, options: Mapping[str, Any]) -> Executor:
    """Rebuild the executor a run was submitted with (every dispatcher does)."""
    if not name:
        raise ReflowError("The run records no executor; it was not submitted to a scheduler.")
    try:
        return _build(name, options)
    except PluginError as exc:
        raise ReflowError(
            f"The run was submitted with executor {name!r}, which cannot be loaded here: {exc}"
        ) from exc

"""The exceptions reflow raises.

Every error reflow raises on purpose derives from :class:`ReflowError`, so a
caller can catch the whole family with one ``except``.  Errors that describe a
bad value or a bad type also derive from the matching builtin
(:class:`ValueError`, :class:`TypeError`, :class:`ImportError`), so code
written against the builtin keeps working.

Messages follow one rule: say what failed, for which task, parameter, job or
plugin, and what to do next.
"""

from __future__ import annotations

__all__ = [
    "AnnotationError",
    "ConfigError",
    "CycleError",
    "ParameterError",
    "PluginError",
    "PluginIncompatibleError",
    "PluginLoadError",
    "PluginNotFoundError",
    "ReflowError",
    "UnknownTaskError",
    "WiringError",
    "WorkflowDefinitionError",
]


class ReflowError(Exception):
    """Base class of every error reflow raises on purpose."""


class WorkflowDefinitionError(ReflowError, ValueError):
    """A task or workflow is defined in a way reflow cannot run."""


class UnknownTaskError(WorkflowDefinitionError):
    """A ``Result`` or ``after=`` names a task that does not exist."""


class CycleError(WorkflowDefinitionError):
    """The task graph has a cycle.

    Attributes
    ----------
    cycle : list[str]
        The tasks on the cycle, in order, the first repeated at the end.
    """

    def __init__(self, message: str, cycle: list[str]) -> None:
        super().__init__(message)
        self.cycle = cycle


class AnnotationError(WorkflowDefinitionError):
    """A parameter or return annotation cannot be resolved or used."""


class WiringError(ReflowError, TypeError):
    """An upstream output type cannot feed the parameter wired to it."""


class ParameterError(ReflowError, TypeError):
    """A run parameter is missing, unknown, or of the wrong type."""


class ConfigError(ReflowError, ValueError):
    """The configuration file or a ``REFLOW_*`` variable is invalid."""


class PluginError(ReflowError, ImportError):
    """Base class of the plugin (executor or store) errors."""


class PluginNotFoundError(PluginError):
    """No installed plugin has the requested name."""


class PluginLoadError(PluginError):
    """A plugin is installed but importing it failed."""


class PluginIncompatibleError(PluginError):
    """A plugin requires a reflow-core version other than the installed one."""

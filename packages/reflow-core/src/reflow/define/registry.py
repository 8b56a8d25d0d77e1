"""The workflows defined in this process, by name.

A ``Workflow`` registers itself here when it is created; the scheduler-mode
loader (:mod:`reflow.engine.scheduler.loader`) reads this registry to find,
by name, the workflow a job's script defined.  The registry lives in the
definition layer so that defining a workflow needs nothing of the engines.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reflow.define.flow import Flow

__all__ = ["defined_flows", "register"]

# Weak references: a workflow the script dropped must not be found (nor kept alive).
_DEFINED: list[weakref.ref[Flow]] = []


def register(flow: Flow) -> None:
    """Remember ``flow`` (the workflow records the file it was defined in itself)."""
    _DEFINED.append(weakref.ref(flow))


def defined_flows() -> list[Flow]:
    """The registered flows still alive, oldest first."""
    return [flow for ref in _DEFINED if (flow := ref()) is not None]

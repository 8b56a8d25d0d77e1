"""Task definitions: ``Flow``, ``JobConfig`` and ``TaskSpec`` (the seed-documented path).

The definitions live in :mod:`reflow.define.flow`; this module keeps the import
path the documentation has always given.
"""

from __future__ import annotations

from reflow.define.flow import Flow, JobConfig, TaskSpec

__all__ = ["Flow", "JobConfig", "TaskSpec"]

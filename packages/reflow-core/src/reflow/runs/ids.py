"""Run identifiers: readable, sortable by time, and never colliding."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone

__all__ = ["make_run_id"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def make_run_id(workflow_name: str) -> str:
    """Return ``<workflow>-<UTC yyyymmdd-HHMMSS>-<8 random hex>``.

    32 random bits per second of submission make a collision between two runs
    of one workflow started in the same second a one-in-four-billion event;
    the store's UNIQUE constraint refuses the second one if it ever happens.
    """
    name = _UNSAFE.sub("-", workflow_name).strip("-") or "run"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{name}-{stamp}-{os.urandom(4).hex()}"

"""A driver script without a ``__main__`` guard, submitted to the real Grid Engine test cell.

The script reads an environment variable at import, calls ``submit(...)``, polls
``status`` and ``wait()``s at top level, and prints the status and the output. Every
dispatcher and task job imports it: each must see the submitting environment and stop
at the first driver call instead of waiting for the run only it can advance.
"""

from __future__ import annotations

from typing import Any

import pytest

from reflow.testing.drivers import GuardlessDriverSuite


class TestGuardlessDriver(GuardlessDriverSuite):
    __test__ = True
    executor = "sge"
    timeout = 600.0

    @pytest.fixture
    def driver_env(self, sge: Any) -> dict[str, str]:
        return {}

"""A driver script without a ``__main__`` guard, submitted through the fake PBS.

The script reads an environment variable at import, waits for its run at top level
and prints its status: every job imports it, must see the submitting environment,
and must stop at the driver call instead of waiting for itself.
"""

from __future__ import annotations

import pytest

from reflow.testing.drivers import GuardlessDriverSuite
from reflow_fake_schedulers import FakeScheduler


class TestGuardlessDriver(GuardlessDriverSuite):
    __test__ = True
    executor = "pbs"
    timeout = 300.0

    @pytest.fixture
    def driver_env(self, fake_pbs: FakeScheduler) -> dict[str, str]:
        return {}

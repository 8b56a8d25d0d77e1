"""A driver script without a ``__main__`` guard, submitted through Slurm's Torque wrappers.

The PBS executor in Torque mode writes ``#PBS -V`` (or ``-v NAMES`` from ``export_env``);
the wrappers turn them into Slurm's ``--export``. Every job imports the script, which reads
an environment variable at import and waits for its run at top level.
"""

from __future__ import annotations

from typing import Any

import pytest

from reflow.testing.drivers import GuardlessDriverSuite


class TestGuardlessDriver(GuardlessDriverSuite):
    __test__ = True
    executor = "pbs"
    timeout = 600.0

    @pytest.fixture
    def driver_env(self, torque: Any) -> dict[str, str]:
        return dict(torque.env)

"""A driver script without a ``__main__`` guard, submitted through Slurm's Torque wrappers.

The PBS executor in Torque mode writes ``#PBS -V`` (or ``-v NAMES`` from ``export_env``);
the wrappers turn them into Slurm's ``--export``. Every job imports the script, which reads
an environment variable at import and waits for its run at top level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reflow.testing.drivers import run_guardless_driver

# PATH is kept so the dispatcher job finds the wrappers' qsub, as a user's list would.
EXPORT_LIST = """
[executor.submit_options]
export_env = ["MY_SETTING", "PATH"]
[dispatch.submit_options]
export_env = ["MY_SETTING", "PATH"]
"""


def test_a_guardless_driver_that_waits_succeeds_with_exactly_one_run(
    tmp_path: Path, torque: Any
) -> None:
    done = run_guardless_driver(tmp_path, "pbs", env=torque.env, timeout=600)
    assert done.leak == "present"


def test_export_env_passes_only_the_named_variables_and_reflow_s_own(
    tmp_path: Path, torque: Any
) -> None:
    done = run_guardless_driver(tmp_path, "pbs", env=torque.env, config=EXPORT_LIST, timeout=600)
    assert done.leak == "absent"

"""A driver script without a ``__main__`` guard, submitted to the real Grid Engine test cell.

The script reads an environment variable at import, calls ``submit(...)``, polls
``status`` and ``wait()``s at top level, and prints the status and the output. Every
dispatcher and task job imports it: each must see the submitting environment and stop
at the first driver call instead of waiting for the run only it can advance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reflow.testing.drivers import run_guardless_driver

# PATH is kept so the dispatcher job finds the scheduler's commands, as a user's list would.
EXPORT_LIST = """
[executor.submit_options]
export_env = ["MY_SETTING", "PATH"]
[dispatch.submit_options]
export_env = ["MY_SETTING", "PATH"]
"""


def test_a_guardless_driver_that_waits_succeeds_with_exactly_one_run(
    tmp_path: Path, sge: Any
) -> None:
    done = run_guardless_driver(tmp_path, "sge", timeout=600)
    assert done.leak == "present"  # the whole submitting environment, by default


def test_a_guardless_driver_that_also_runs_locally_gives_exactly_two_runs(
    tmp_path: Path, sge: Any
) -> None:
    run_guardless_driver(tmp_path, "sge", also_run_local=True, timeout=600)


def test_export_env_passes_only_the_named_variables_and_reflow_s_own(
    tmp_path: Path, sge: Any
) -> None:
    done = run_guardless_driver(tmp_path, "sge", config=EXPORT_LIST, timeout=600)
    assert done.leak == "absent"

"""A driver script without a ``__main__`` guard, submitted through the fake Flux.

The script reads an environment variable at import, waits for its run at top level
and prints its status: every job imports it, must see the submitting environment,
and must stop at the driver call instead of waiting for itself.
"""

from __future__ import annotations

from pathlib import Path

from reflow.testing.drivers import run_guardless_driver
from reflow.testing.fake_schedulers import FakeScheduler

# The list keeps PATH: the fake's commands are found through it, as on a cluster's nodes.
EXPORT_LIST = """
[executor.submit_options]
export_env = ["MY_SETTING", "PATH"]
[dispatch.submit_options]
export_env = ["MY_SETTING", "PATH"]
"""


def test_a_guardless_driver_that_waits_succeeds_with_one_run(
    tmp_path: Path, fake_flux: FakeScheduler
) -> None:
    done = run_guardless_driver(tmp_path, "flux", timeout=300)
    assert done.leak == "present"  # the whole submitting environment, by default


def test_a_guardless_driver_that_also_runs_locally_gives_two_runs(
    tmp_path: Path, fake_flux: FakeScheduler
) -> None:
    run_guardless_driver(tmp_path, "flux", also_run_local=True, timeout=300)


def test_export_env_names_only_those_variables_and_reflow_s_own(
    tmp_path: Path, fake_flux: FakeScheduler
) -> None:
    done = run_guardless_driver(tmp_path, "flux", config=EXPORT_LIST, timeout=300)
    assert done.leak == "absent"

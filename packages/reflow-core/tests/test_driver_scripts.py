"""A driver script without a ``__main__`` guard is safe: jobs stop at its first driver call."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reflow.engine.scheduler.loader import load_workflow, loading
from reflow.errors import ReflowError
from reflow.testing.drivers import run_guardless_driver


def local_env(tmp_path: Path) -> dict[str, str]:
    return {"REFLOW_LOCAL_STATE": str(tmp_path / "jobs")}


def test_a_guardless_driver_that_waits_succeeds_with_exactly_one_run(tmp_path: Path) -> None:
    done = run_guardless_driver(tmp_path, "local", env=local_env(tmp_path), timeout=120)
    assert "Status   SUCCESS" in done.stdout  # print(run.status()) after the wait
    assert done.leak == "present"  # jobs see the submitting environment by default


def test_export_env_limits_what_local_jobs_see_but_reflow_variables_always_pass(
    tmp_path: Path,
) -> None:
    names = '["MY_SETTING", "PATH"]'
    done = run_guardless_driver(
        tmp_path,
        "local",
        env=local_env(tmp_path),
        config=f"[executor.submit_options]\nexport_env = {names}\n"
        f"[dispatch.submit_options]\nexport_env = {names}\n",
        timeout=120,
    )
    assert done.leak == "absent"


def test_a_guardless_driver_that_also_runs_locally_gives_exactly_two_runs(
    tmp_path: Path,
) -> None:
    run_guardless_driver(
        tmp_path, "local", also_run_local=True, env=local_env(tmp_path), timeout=120
    )


SCRIPT = """
import sys
from reflow import Workflow

wf = Workflow("{name}")

@wf.job()
def one() -> int:
    return 1

{driver}
AFTER = True
"""


@pytest.mark.parametrize(
    "driver",
    [
        "raise SystemExit(wf.cli())",
        "print(wf.submit('run').status())",
        "try:\n    wf.run_local('run').wait()\nexcept Exception:\n    pass",
        "run = wf.submit_run('run', {})",
    ],
    ids=["cli", "print-status", "except-exception", "submit_run"],
)
def test_loading_stops_at_the_first_driver_call(tmp_path: Path, driver: str) -> None:
    script = tmp_path / "drv.py"
    script.write_text(textwrap.dedent(SCRIPT).format(name="stops", driver=driver))
    wf = load_workflow(script, "stops")
    assert list(wf.tasks) == ["one"]
    module = __import__("sys").modules["__reflow_job__"]
    assert not hasattr(module, "AFTER")  # nothing after the driver call ran
    assert not loading()


def test_a_driver_call_before_the_workflow_is_defined_is_named(tmp_path: Path) -> None:
    script = tmp_path / "early.py"
    script.write_text(
        textwrap.dedent(
            """
            from reflow import Workflow

            first = Workflow("first")
            first.cli()
            late = Workflow("late")
            """
        )
    )
    with pytest.raises(ReflowError, match=r"Workflow\.cli\(\) at line 5.*__main__") as info:
        load_workflow(script, "late")
    assert "\n" not in str(info.value)


def test_driver_calls_work_again_once_the_script_is_loaded(tmp_path: Path) -> None:
    script = tmp_path / "again.py"
    script.write_text(textwrap.dedent(SCRIPT).format(name="again", driver="wf.cli()"))
    wf = load_workflow(script, "again")
    assert wf.run_local(tmp_path / "run").output("one") == 1

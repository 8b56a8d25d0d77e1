"""A driver script with no ``__main__`` guard, run as a user runs it, and checked.

Many users write the driver code at the top level of their workflow file::

    run = wf.submit("run")
    run.wait()
    print(run.status())

Every job of the run imports that file.  The guardless driver here does all of
it at top level: it reads an environment variable at import (so every job
must see the submitting environment), optionally runs the workflow once with
``run_local``, submits it, polls ``status`` in a loop, waits inside a
``try/except Exception`` and prints the status and the output.  An executor
package proves its scheduler runs such a script safely with one call::

    from reflow.testing.drivers import run_guardless_driver

    def test_guardless_driver(tmp_path, fake_acme):
        run_guardless_driver(tmp_path, "acme")

It imports nothing from pytest; a failed check raises :class:`AssertionError`.
:class:`GuardlessDriverSuite` holds the three checks every executor runs
(submit and wait, with ``run_local`` too, and ``export_env`` as a list), for
its tests to subclass.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from reflow import RunState
from reflow.stores import open_store

__all__ = [
    "DRIVER_SETTING",
    "EXPORT_ONLY_SETTING",
    "GUARDLESS_DRIVER",
    "DriverRun",
    "GuardlessDriverSuite",
    "run_guardless_driver",
]

DRIVER_SETTING = "MY_SETTING"
"""The environment variable the driver reads at import, in every job too."""

GUARDLESS_DRIVER = """
import os, sys, time
from typing import Annotated
from reflow import Result, Workflow

SETTING = os.environ["MY_SETTING"]  # read at import: every job imports this file

wf = Workflow("{name}")

@wf.job(time="00:05:00", mem="200M")
def items() -> list[int]:
    return [1, 2, 3]

@wf.job(array=True, time="00:05:00", mem="200M")
def label(i: Annotated[int, Result(step="items")]) -> str:
    return f"{{SETTING}}-{{2 * i}}"

@wf.job(time="00:05:00", mem="200M")
def joined(xs: Annotated[list[str], Result(step="label")]) -> str:
    return ",".join(xs)

@wf.job(time="00:05:00", mem="200M")
def leak() -> str:  # is a variable of the submitting environment in the task's?
    return os.environ.get("DRIVER_LEAK", "absent")

if os.environ.get("DRIVER_RUN_LOCAL"):
    print("LOCAL", wf.run_local(sys.argv[1] + "-local").output("joined"), flush=True)
run = wf.submit(sys.argv[1])
print("RUN", run.run_id, flush=True)
deadline = time.monotonic() + float(sys.argv[2])
while run.status(as_dict=True)["run"]["status"] == "PENDING" and time.monotonic() < deadline:
    time.sleep(0.2)
try:
    state = run.wait(timeout=max(1.0, deadline - time.monotonic()))
except Exception as exc:  # a user's catch-all: a job's stop must pass through it
    state = exc
print("STATE", state, flush=True)
print(run.status())
print("VALUE", run.output("joined"), flush=True)
print("LEAK", run.output("leak"), flush=True)
"""
"""The driver's source, with ``{name}`` for the workflow's name."""


@dataclass(frozen=True)
class DriverRun:
    """What a checked run of the guardless driver gave.

    Attributes
    ----------
    run_id : str
        The submitted run.
    stdout : str
        Everything the driver printed.
    store_path : Path
        The manifest store the driver used (its own, fresh).
    leak : str
        What a task saw of ``DRIVER_LEAK``, set to ``"present"`` in the
        submitting environment: ``"absent"`` when ``export_env`` left it out.
    """

    run_id: str
    stdout: str
    store_path: Path
    leak: str


def run_guardless_driver(
    directory: Path,
    executor: str,
    *,
    name: str = "guardless",
    also_run_local: bool = False,
    env: Mapping[str, str] | None = None,
    config: str | None = None,
    timeout: float = 600.0,
) -> DriverRun:
    """Run the guardless driver with ``python driver.py`` and check what it did.

    Parameters
    ----------
    directory : Path
        A fresh directory the jobs can see: it gets the script, the run
        directory ``run`` and the manifest store ``manifest.db``.
    executor : str
        The executor's entry-point name, given to the driver as ``REFLOW_EXECUTOR``.
    name : str
        The workflow's name.
    also_run_local : bool
        Also call ``wf.run_local()`` at top level: then there are two runs.
    env : Mapping[str, str] or None
        Variables added to this process's environment for the driver
        (a scheduler's client settings, for instance).
    config : str or None
        The text of a configuration file for the driver (``REFLOW_CONFIG``),
        e.g. ``[executor.submit_options]`` with ``export_env``.
    timeout : float
        Seconds the submitted run may take.

    Returns
    -------
    DriverRun
        The run and the driver's output.

    Raises
    ------
    AssertionError
        If the driver failed, the run did not succeed with ``MY_SETTING`` seen
        by every task, or the store holds another number of runs than the
        driver started.
    """
    script = directory / f"{name}.py"
    script.write_text(textwrap.dedent(GUARDLESS_DRIVER.format(name=name)))
    store_path = directory / "manifest.db"
    setting = f"seen-by-{name}"
    child_env = {
        **os.environ,
        **(env or {}),
        "REFLOW_EXECUTOR": executor,
        "REFLOW_STORE_PATH": str(store_path),
        DRIVER_SETTING: setting,
        "DRIVER_LEAK": "present",
    }
    if config is not None:
        (directory / "config.toml").write_text(textwrap.dedent(config))
        child_env["REFLOW_CONFIG"] = str(directory / "config.toml")
    if also_run_local:
        child_env["DRIVER_RUN_LOCAL"] = "1"
    done = subprocess.run(
        [sys.executable, str(script), str(directory / "run"), str(timeout)],
        cwd=directory,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout + 60,
        check=False,
    )
    out = done.stdout
    _check(done.returncode == 0, f"the driver exited {done.returncode}: {done.stderr[-2000:]}")
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    expected = ",".join(f"{setting}-{2 * i}" for i in (1, 2, 3))
    _check(lines.get("STATE") == str(RunState.SUCCESS), f"the run ended: {out[-2000:]}")
    _check(lines.get("VALUE") == expected, f"joined gave {lines.get('VALUE')!r}, not {expected}")
    if also_run_local:
        _check(lines.get("LOCAL") == expected, f"run_local gave {lines.get('LOCAL')!r}")
    store = open_store(store_path)
    store.init()
    runs = store.list_run_records()
    wanted = 2 if also_run_local else 1
    _check(len(runs) == wanted, f"the store holds {len(runs)} runs, not {wanted}: {runs!r}")
    states = {r.status for r in runs}
    _check(states == {RunState.SUCCESS}, f"the runs ended {sorted(map(str, states))}")
    return DriverRun(
        run_id=lines["RUN"], stdout=out, store_path=store_path, leak=lines.get("LEAK", "")
    )


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise AssertionError(message)


EXPORT_ONLY_SETTING = """
[executor.submit_options]
export_env = ["MY_SETTING", "PATH"]
[dispatch.submit_options]
export_env = ["MY_SETTING", "PATH"]
"""
"""A configuration that exports only the driver's variable to every job.

``PATH`` is kept, as a user's list would keep it: dispatcher jobs find the
scheduler's commands through it.
"""


class GuardlessDriverSuite:
    """The guardless driver's checks on one executor; an executor's tests subclass it.

    A subclass sets :attr:`executor` (and :attr:`timeout`), sets
    ``__test__ = True`` and defines a fixture ``driver_env`` that makes the
    scheduler available (its fake, or a started test cluster) and returns the
    variables the driver needs beside this process's environment (``{}``
    when none)::

        class TestGuardlessDriver(GuardlessDriverSuite):
            __test__ = True
            executor = "acme"

            @pytest.fixture
            def driver_env(self, fake_acme: FakeScheduler) -> dict[str, str]:
                return {}
    """

    __test__ = False
    executor: ClassVar[str]
    """The executor's entry-point name."""
    timeout: ClassVar[float] = 600.0
    """Seconds each submitted run may take."""

    def test_a_guardless_driver_that_waits_succeeds_with_exactly_one_run(
        self, tmp_path: Path, driver_env: Mapping[str, str]
    ) -> None:
        done = run_guardless_driver(tmp_path, self.executor, env=driver_env, timeout=self.timeout)
        assert done.leak == "present"  # the whole submitting environment, by default

    def test_a_guardless_driver_that_also_runs_locally_gives_exactly_two_runs(
        self, tmp_path: Path, driver_env: Mapping[str, str]
    ) -> None:
        run_guardless_driver(
            tmp_path, self.executor, env=driver_env, also_run_local=True, timeout=self.timeout
        )

    def test_export_env_passes_only_the_named_variables_and_reflow_s_own(
        self, tmp_path: Path, driver_env: Mapping[str, str]
    ) -> None:
        done = run_guardless_driver(
            tmp_path,
            self.executor,
            env=driver_env,
            config=EXPORT_ONLY_SETTING,
            timeout=self.timeout,
        )
        assert done.leak == "absent"

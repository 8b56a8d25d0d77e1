"""FakeScheduler itself: start, env, apply, stop, and what it refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reflow_fake_schedulers import FLAVOURS, FakeScheduler, FakeSchedulerError

Bench = Any


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_start_writes_the_commands_and_env(tmp_path: Path, flavour: str) -> None:
    with FakeScheduler.start(flavour, state_dir=tmp_path / "fake") as fake:
        for name in FLAVOURS[flavour]:
            assert os.access(fake.bin_dir / name, os.X_OK)
        assert fake.env["PATH"].split(os.pathsep)[0] == str(fake.bin_dir)
        assert fake.env["REFLOW_FAKE_SCHEDULER_DIR"] == str(fake.state_dir)


def test_refuses_unknown_flavour_bad_slots_and_a_used_directory(tmp_path: Path) -> None:
    with pytest.raises(FakeSchedulerError, match="use one of pbs, lsf, flux"):
        FakeScheduler.start("slurm", state_dir=tmp_path / "a")
    with pytest.raises(FakeSchedulerError, match="slots must be at least 1"):
        FakeScheduler.start("pbs", state_dir=tmp_path / "b", slots=0)
    with (
        FakeScheduler.start("pbs", state_dir=tmp_path / "c"),
        pytest.raises(FakeSchedulerError, match="already holds a fake scheduler"),
    ):
        FakeScheduler.start("pbs", state_dir=tmp_path / "c")


def test_apply_sets_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeScheduler.start("lsf", state_dir=tmp_path / "fake") as fake:
        fake.apply(monkeypatch)
        assert os.environ["REFLOW_FAKE_SCHEDULER_DIR"] == str(fake.state_dir)
        done = subprocess.run(
            ["bsub", "true"], capture_output=True, text=True, check=True, timeout=30
        )
        assert done.stdout.startswith("Job <")


def test_stop_kills_running_jobs_and_the_runner(make_bench: Callable[..., Bench]) -> None:
    bench = make_bench("pbs")
    job_id = bench.ok("qsub", "--", "/bin/sleep", "300")
    bench.wait_until(lambda: "session_id" in _attrs(bench, job_id))
    pid = _attrs(bench, job_id)["session_id"]
    runner = bench.fake.store.read()["runner_pid"]
    bench.fake.stop()
    bench.fake.stop()
    for gone in (pid, runner):
        with pytest.raises(ProcessLookupError):
            os.kill(gone, 0)
    refused = bench.run("qsub", "--", "/bin/true")
    assert refused.returncode != 0
    assert "cannot connect to server" in refused.stderr


def test_jobs_reach_the_fake_without_its_variable(make_bench: Callable[..., Bench]) -> None:
    # A dispatcher job submits the next wave: the commands find their own state.
    bench = make_bench("pbs")
    inner = f"{bench.fake.bin_dir / 'qsub'} -- /bin/true > inner.txt"
    outer = bench.ok("qsub", "--", "/bin/sh", "-c", f"cd {bench.work} && {inner}")
    bench.wait_until(
        lambda: (bench.work / "inner.txt").exists() and _attrs(bench, outer)["job_state"] == "F"
    )
    assert _attrs(bench, outer)["Exit_status"] == 0
    assert (
        (bench.work / "inner.txt").read_text().strip().endswith(bench.fake.store.read()["server"])
    )


def test_commands_without_a_fake_say_how_to_start_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REFLOW_FAKE_SCHEDULER_DIR"}
    done = subprocess.run(
        [sys.executable, "-m", "reflow_fake_schedulers.pbs", "qstat"],
        env=env, capture_output=True, text=True, timeout=30, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "FakeScheduler.start" in done.stderr


def _attrs(bench: Bench, job_id: str) -> dict[str, Any]:
    done = bench.run("qstat", "-f", "-F", "json", "-x", job_id)
    found: dict[str, Any] = json.loads(done.stdout)["Jobs"][job_id]
    return found

"""``max_jobs``: never more than N of a run's jobs queued, array elements counted one by one."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

import pytest

from reflow import RunState
from reflow.config import Config
from reflow.errors import ConfigError
from reflow.executors.jobs import JobState
from reflow.executors.local.executor import LocalExecutor
from reflow.runs.context import read_context
from reflow.runs.layout import RunLayout
from reflow.testing.localjobs import job_names
from reflow.testing.pipeline import load_guide_workflow


def queued(executor: LocalExecutor) -> int:
    """Jobs (array elements one by one) of the executor that have not ended."""
    jobs_dir = executor.state_dir / "jobs"
    ids = [d.name for d in jobs_dir.iterdir()] if jobs_dir.exists() else []
    if not ids:
        return 0
    statuses = executor.query(ids)
    # An array is reported whole and per element: count the elements only.
    arrays = {key.partition("[")[0] for key in statuses if "[" in key}
    return sum(
        1
        for key, status in statuses.items()
        if key not in arrays and status.state not in JobState.ended()
    )


def test_max_jobs_slices_an_array_and_the_queue_never_holds_more(
    tmp_path: Path, store: Any
) -> None:
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    mod = load_guide_workflow(tmp_path, "capped")
    peak = 0
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, queued(executor))
            stop.wait(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=6, max_jobs=4)
        assert run.wait(timeout=180) is RunState.SUCCESS
    finally:
        stop.set()
        poller.join()
    assert run.output("report") == "processed 6 files"
    assert 0 < peak <= 4
    # Two task elements at a time: the 6 elements of process go in 3 slices.
    assert job_names(executor).count("capped.process") == 3
    assert read_context(RunLayout(run.run_dir, run.run_id).context_file).max_jobs == 4


def test_max_jobs_comes_from_the_configuration_and_is_checked(tmp_path: Path, store: Any) -> None:
    assert Config({"submit": {"max_jobs": 50}}).max_jobs == 50
    assert Config({}).max_jobs is None
    with pytest.raises(ConfigError, match=r"submit.max_jobs .* at least 3, got 2"):
        Config({"submit": {"max_jobs": 2}})
    mod = load_guide_workflow(tmp_path, "capcheck")
    with pytest.raises(ConfigError, match="max_jobs must be a whole number of at least 3"):
        mod.wf.submit(tmp_path / "run", store=store, executor="local", max_jobs=1)
    assert store.list_runs() == []  # refused before the run was recorded


def test_the_cli_refuses_a_cap_below_three_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from reflow.cli.script.main import _job_cap

    assert _job_cap("10") == 10
    with pytest.raises(
        argparse.ArgumentTypeError, match="'2' is not a whole number of at least 3"
    ):
        _job_cap("2")

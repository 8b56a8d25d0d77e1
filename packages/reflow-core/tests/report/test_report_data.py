"""What the report gathers from real runs: times, usage, cache hits, failures, wire modes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reflow import RunState
from reflow.errors import ReflowError
from reflow.executors.local.executor import LocalExecutor
from reflow.report import gather


def test_a_run_local_run_reports_every_instance_with_its_times_and_usage(
    local_runs: tuple[Any, str, str],
) -> None:
    store, first, _ = local_runs
    data = gather(store, first)
    assert [t.name for t in data.tasks] == ["items", "square", "total"]
    assert [i.label for i in data.instances] == [
        "items",
        "square[0]",
        "square[1]",
        "square[2]",
        "total",
    ]
    for info in data.instances:
        assert info.state == "SUCCESS"
        assert info.start is not None and info.end is not None
        assert info.queued - 0.01 <= info.start <= info.end
        assert info.host
        assert info.cpu_time is not None and info.cpu_time >= 0
        assert info.peak_rss_kb is not None and info.peak_rss_kb > 1000
    squares = [i for i in data.instances if i.task == "square"]
    assert all((i.elapsed or 0) >= 0.05 for i in squares)  # each sleeps 0.05 s


def test_cache_hits_failures_and_skips_are_told_apart(local_runs: tuple[Any, str, str]) -> None:
    store, first, second = local_runs
    data = gather(store, second)
    by_label = {i.label: i for i in data.instances}
    assert by_label["items"].cached is False  # n changed: items ran again
    for k in range(3):
        hit = by_label[f"square[{k}]"]
        assert hit.cached and hit.cached_from == first
        assert hit.start is None  # nothing ran
    failed = by_label["square[3]"]
    assert failed.state == "FAILED" and not failed.cached
    assert "Traceback" in failed.error and "<script>alert('boom')</script>" in failed.error
    assert failed.start is not None and failed.end is not None
    assert by_label["total"].state == "SKIPPED"
    assert {t.name: t.counts for t in data.tasks}["square"] == {"SUCCESS": 3, "FAILED": 1}


def test_edges_carry_the_recorded_wire_modes(local_runs: tuple[Any, str, str]) -> None:
    store, first, _ = local_runs
    data = gather(store, first)
    assert [(e.source, e.target, e.label) for e in data.edges] == [
        ("items", "square", "i: fan_out"),
        ("square", "total", "xs: gather"),
    ]
    assert data.wiring_recorded and not data.notes


def test_requested_resources_come_from_the_task_definition(
    local_runs: tuple[Any, str, str],
) -> None:
    store, first, _ = local_runs
    square = {t.name: t for t in gather(store, first).tasks}["square"]
    assert (square.requested.cpus, square.requested.mem, square.requested.time) == (
        2,
        "1G",
        "00:10:00",
    )
    assert square.requested.mem_bytes == 1024**3 and square.requested.time_s == 600


def test_a_submitted_run_reports_what_the_workers_wrote(
    tmp_path: Path, store: Any, pipeline: Callable[[str], ModuleType]
) -> None:
    mod = pipeline("rep_submit")
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=4)
    assert run.wait(timeout=120) is RunState.FAILED
    data = gather(store, run.run_id)
    by_label = {i.label: i for i in data.instances}
    ok, bad = by_label["square[0]"], by_label["square[3]"]
    for info in (ok, bad):
        assert info.job_id and info.host
        assert info.start is not None and info.end is not None and info.start >= info.queued
        assert info.cpu_time is not None and info.elapsed is not None
        # CPU time and elapsed time cover the same interval: one thread cannot use more.
        assert 0 <= info.cpu_time <= info.elapsed + 0.01
        assert info.peak_rss_kb is not None and info.peak_rss_kb > 1000
    assert ok.state == "SUCCESS" and bad.state == "FAILED"
    assert "ValueError" in bad.error
    assert [(e.source, e.target, e.label) for e in data.edges] == [
        ("items", "square", "i: fan_out"),
        ("square", "total", "xs: gather"),
    ]
    assert not data.notes


def test_a_run_without_recorded_wiring_still_has_its_edges(store: Any) -> None:
    store.insert_run("old", "wf", "me", {})
    store.insert_task_spec("old", "a", False, {}, [])
    store.insert_task_spec("old", "b", False, {"after": []}, ["a"])
    data = gather(store, "old")
    assert [(e.source, e.target, e.label) for e in data.edges] == [("a", "b", "")]
    assert any("did not record its wire modes" in note for note in data.notes)


def test_an_unknown_run_is_a_clear_error(store: Any) -> None:
    with pytest.raises(ReflowError, match=r"No run 'nope' .*reflow runs"):
        gather(store, "nope")


def test_a_missing_run_directory_is_said_and_the_rest_still_reported(
    local_runs: tuple[Any, str, str], tmp_path: Path
) -> None:
    import shutil

    store, first, _ = local_runs
    shutil.rmtree(tmp_path / "run")
    data = gather(store, first)
    assert len(data.instances) == 5
    assert all(i.start is None for i in data.instances)
    assert any("is not readable here" in note for note in data.notes)


def test_a_job_that_only_left_its_start_marker_has_a_start_and_no_end(
    store: Any, tmp_path: Path
) -> None:
    from reflow import TaskState
    from reflow.report import render_page
    from reflow.runs.files import write_json_atomic
    from reflow.runs.layout import RunLayout
    from reflow.stores import NewTaskInstance, RunContext, StateUpdate

    run_dir = tmp_path / "run"
    context = RunContext("r1", run_dir, "wf", executor="slurm")
    store.insert_run(
        "r1", "wf", "me", {"run_dir": str(run_dir)}, executor="slurm", context=context
    )
    store.insert_task_spec("r1", "work", True, {"cpus": 1, "mem": "1G", "time": "01:00"}, [])
    running, killed = store.insert_task_instances(
        "r1", [NewTaskInstance("work", 0), NewTaskInstance("work", 1)]
    )
    store.apply_state_updates(
        [
            StateUpdate(running, TaskState.RUNNING, job_id="7_0"),
            StateUpdate(killed, TaskState.RUNNING, job_id="7_1"),
            StateUpdate(killed, TaskState.FAILED, error_text="OUT_OF_MEMORY: killed"),
        ]
    )
    for index in (0, 1):
        write_json_atomic(
            RunLayout(run_dir, "r1").started_file("work", index), {"host": "n1", "start": 1.0e9}
        )
    data = gather(store, "r1")
    for info in data.instances:
        assert (info.start, info.end, info.host) == (1.0e9, None, "n1")
        assert info.elapsed is None  # not counted in the efficiency figures
    html = render_page(data)
    assert html.count('class="bar run open"') == 2  # one still running, one died
    assert "the job wrote no end time" in html
    assert "OUT_OF_MEMORY: killed" in html

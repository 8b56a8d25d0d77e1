"""An array task fanned out over an empty list is named as such, not shown as unplanned."""

from __future__ import annotations

import importlib.util
import logging
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from reflow import RunState
from reflow.executors.local.executor import LocalExecutor
from reflow.runs.fanout import EMPTY_FANOUT
from reflow.stores.sqlite import SqliteStore

PIPELINE = """
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job()
def find(count: int = 0, fail: bool = False) -> list[int]:
    if fail:
        raise RuntimeError("no listing")
    return list(range(count))

@wf.job(array=True)
def process(i: Annotated[int, Result(step="find")]) -> int:
    return 2 * i

@wf.job()
def total(xs: Annotated[list[int], Result(step="process")]) -> int:
    return sum(xs)
"""

LINE = "process: fan-out over an empty list: 0 elements"


def load(tmp_path: Path, name: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(PIPELINE.format(name=name)))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reflow_status(store_path: Path, run_id: str, capsys: pytest.CaptureFixture[str]) -> str:
    from reflow.cli.main import main

    capsys.readouterr()
    assert main(["status", run_id, "--store-path", str(store_path)]) == 0
    return capsys.readouterr().out


def test_run_local_says_so_in_the_log_and_both_status_views(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert EMPTY_FANOUT == "fan-out over an empty list: 0 elements"
    store = SqliteStore(tmp_path / "m.db")
    wf = load(tmp_path, "empty_local").wf
    with caplog.at_level(logging.WARNING):
        run = wf.run_local(tmp_path / "run", store=store, count=0)
    assert LINE in [r.getMessage() for r in caplog.records]
    assert store.get_run_record(run.run_id).status is RunState.SUCCESS  # type: ignore[union-attr]
    assert run.outputs()["total"] == 0

    capsys.readouterr()
    run.status()  # what `python pipeline.py status` prints
    assert f"  {'process':20s}  {EMPTY_FANOUT}" in capsys.readouterr().out.splitlines()
    assert run.status_dict()["empty_fanouts"] == ["process"]

    out = reflow_status(tmp_path / "m.db", run.run_id, capsys).splitlines()
    assert [line.split() for line in out if line.startswith("process")] == [
        ["process", "array", "0"],
        LINE.split(),
    ]


def test_a_non_empty_or_unplanned_array_is_not_called_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteStore(tmp_path / "m.db")
    wf = load(tmp_path, "empty_not").wf
    with caplog.at_level(logging.WARNING):
        full = wf.run_local(tmp_path / "run", store=store, count=2)
        failed = wf.run_local(tmp_path / "run", store=store, fail=True, on_error="continue")
    assert EMPTY_FANOUT not in caplog.text
    for run in (full, failed):
        assert run.status_dict()["empty_fanouts"] == []
        assert EMPTY_FANOUT not in reflow_status(tmp_path / "m.db", run.run_id, capsys)
    # find failed, so process is SKIPPED (one instance), not an empty fan-out
    status = reflow_status(tmp_path / "m.db", failed.run_id, capsys).splitlines()
    assert [line.split()[:3] for line in status if line.startswith("process")] == [
        ["process", "array", "1"]
    ]


def test_scheduler_mode_says_so_in_the_dispatcher_log_and_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SqliteStore(tmp_path / "m.db")
    wf = load(tmp_path, "empty_sched").wf
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    run = wf.submit(tmp_path / "run", store=store, executor=executor, count=0)
    assert run.wait(timeout=120) is RunState.SUCCESS
    logs = "".join(p.read_text() for p in (tmp_path / "run" / "logs").glob("*dispatch*.err"))
    assert LINE in logs
    assert run.status_dict()["empty_fanouts"] == ["process"]
    out = reflow_status(tmp_path / "m.db", run.run_id, capsys)
    assert LINE in out.splitlines()


def test_a_scheduler_run_between_waves_is_not_called_empty_too_early(tmp_path: Path) -> None:
    from reflow.runs.fanout import empty_fanouts
    from reflow.runs.layout import RunLayout

    store = SqliteStore(tmp_path / "m.db")
    wf = load(tmp_path, "empty_gap").wf
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    run = wf.submit(tmp_path / "run", store=store, executor=executor, count=0)
    assert run.wait(timeout=120) is RunState.SUCCESS
    planned = RunLayout(tmp_path / "run", run.run_id).planned_file
    store.update_run_status(run.run_id, RunState.RUNNING)
    record = store.get_run_record(run.run_id)
    assert record is not None
    assert empty_fanouts(store, record) == {"process"}  # the dispatcher's record says so
    planned.unlink()  # as before the next wave plans process: find done, process not yet
    assert empty_fanouts(store, record) == set()

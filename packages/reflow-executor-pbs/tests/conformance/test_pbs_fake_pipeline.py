"""The user-guide pipeline (fan-out of 20, two at a time, then a gather) on the fake PBS Pro.

The run's dispatcher is itself a PBS job, as in scheduler mode on a real cluster: it
submits the array with ``-J 1-20%2`` and the gather with ``-W depend=afterok:...``.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reflow import RunState
from reflow.testing.executor import max_overlap
from reflow_executor_pbs import PBSExecutor

PIPELINE = """
import time
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job(time="00:05:00", mem="200M")
def find_files(n: int = 20) -> list[str]:
    return [f"file_{{i}}.dat" for i in range(n)]

@wf.job(array=True, array_parallelism=2, time="00:05:00", mem="200M")
def process(path: Annotated[str, Result(step="find_files")]) -> dict[str, float | str]:
    start = time.time()
    time.sleep(0.3)
    return {{"path": path.upper(), "start": start, "end": time.time()}}

@wf.job(time="00:05:00", mem="200M")
def report(results: Annotated[list[dict[str, float | str]], Result(step="process")]) -> str:
    return ",".join(str(r["path"]) for r in results)
"""


def load(tmp_path: Path, name: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(PIPELINE.format(name=name)))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def store(tmp_path: Path) -> Any:
    from reflow.stores.sqlite import SqliteStore

    st = SqliteStore(tmp_path / "manifest.db")
    st.init()
    return st


@pytest.mark.parametrize("server", ["fake_pbs", "fake_pbs_no_history"])
def test_fan_out_of_20_two_at_a_time_then_gather(
    tmp_path: Path, store: Any, server: str, request: pytest.FixtureRequest
) -> None:
    """With job history, and without: then finished jobs vanish and their markers decide."""
    request.getfixturevalue(server)
    mod = load(tmp_path, "guide20")
    # The fake's commands are first on PATH, which the jobs (the dispatcher) see through -V.
    executor = PBSExecutor(state_dir=tmp_path / "pbs-state")
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=20)
    assert run.wait(timeout=300) is RunState.SUCCESS
    outputs = run.output("process")
    assert [o["path"] for o in outputs] == [f"FILE_{i}.DAT" for i in range(20)]
    assert max_overlap([(o["start"], o["end"]) for o in outputs]) <= 2
    assert run.output("report") == ",".join(f"FILE_{i}.DAT" for i in range(20))
    scripts = list((tmp_path / "run").rglob("guide20.process.*.sh"))
    assert scripts, "no job script of the array"
    text = scripts[0].read_text()
    assert "#PBS -J 1-20%2" in text, text
    assert "#PBS -l select=1:ncpus=1:mem=200mb" in text, text

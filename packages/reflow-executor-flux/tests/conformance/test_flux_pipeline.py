"""The user guide's fan-out/gather pipeline, submitted with executor="flux", on the Flux fake."""

from __future__ import annotations

import importlib.util
import json
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reflow import RunState
from reflow.testing.executor import max_overlap
from reflow.testing.fake_schedulers import FakeScheduler

PIPELINE = """
import json, time
from typing import Annotated
from reflow import Result, RunDir, Workflow

wf = Workflow("guide")

@wf.job(time="00:05:00", mem="200M")
def find_files(n: int = 20) -> list[str]:
    return [f"file_{i:02d}" for i in range(n)]

@wf.job(array=True, array_parallelism=2, time="00:05:00", mem="200M")
def process(path: Annotated[str, Result(step="find_files")], run_dir: RunDir = RunDir()) -> str:
    start = time.time()
    time.sleep(0.3)
    (run_dir / f"span-{path}.json").write_text(json.dumps([start, time.time()]))
    return path.upper()

@wf.job(time="00:05:00", mem="200M")
def report(results: Annotated[list[str], Result(step="process")]) -> str:
    return f"processed {len(results)} files"
"""


def load(tmp_path: Path) -> ModuleType:
    path = tmp_path / "guide.py"
    path.write_text(textwrap.dedent(PIPELINE))
    spec = importlib.util.spec_from_file_location("guide", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_fan_out_of_20_throttled_to_2_then_gather(
    tmp_path: Path, fake_flux: FakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflow.stores.sqlite import SqliteStore

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the executor's state_dir
    store: Any = SqliteStore(tmp_path / "manifest.db")
    store.init()
    module = load(tmp_path)
    run = module.wf.submit(tmp_path / "run", store=store, executor="flux", n=20)
    assert run.wait(timeout=600) is RunState.SUCCESS
    assert run.output("process") == [f"FILE_{i:02d}" for i in range(20)]
    assert run.output("report") == "processed 20 files"
    spans = [json.loads(p.read_text()) for p in (tmp_path / "run").glob("span-*.json")]
    assert len(spans) == 20
    assert max_overlap([(a, b) for a, b in spans]) <= 2, "more than 2 elements ran at once"
    # Flux has no array throttle: the 20 elements went in as 20 jobs, in slices of 2
    # whose every job waits for both jobs of the slice before.
    jobs = [
        job for job in fake_flux.store.read()["jobs"].values() if job["name"] == "guide.process"
    ]
    assert len(jobs) == 20
    waiting = sorted(len(job["deps"]) for job in jobs)
    assert waiting == [0, 0] + [2] * 18, waiting

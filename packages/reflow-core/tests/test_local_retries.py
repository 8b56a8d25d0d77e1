"""``run_local`` retries an exception type its task lists, and records each attempt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reflow import RunState
from reflow.errors import ReflowError
from reflow.runs.attempts import AttemptLog
from reflow.runs.layout import RunLayout
from reflow.testing.scripts import load_script

PIPELINE = """
from reflow import RunDir, Workflow

wf = Workflow("{name}")

@wf.job(retries=2, retry_on=[ConnectionError])
def fetch(run_dir: RunDir = RunDir()) -> str:
    tries = run_dir / "tries"
    n = len(tries.read_text()) if tries.exists() else 0
    tries.write_text("x" * (n + 1))
    if n < {failures}:
        raise ConnectionResetError(f"try {{n + 1}}")
    return f"after {{n}} failures"

@wf.job(retries=2, retry_on=[ConnectionError], after=["fetch"])
def strict() -> int:
    return 1
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_a_listed_exception_type_is_retried_and_each_attempt_recorded(
    tmp_path: Path, store: Any, workers: int
) -> None:
    mod = load_script(
        tmp_path, f"flaky{workers}", PIPELINE.format(name=f"flaky{workers}", failures=2)
    )
    run = mod.wf.run_local(tmp_path / "run", store=store, max_workers=workers)
    assert store.get_run_record(run.run_id).status is RunState.SUCCESS, run.status_dict()
    assert run.output("fetch") == "after 2 failures"
    log = AttemptLog(RunLayout(run.run_dir, run.run_id)).of("fetch", None)
    assert [(a.number, a.reason, a.counted) for a in log] == [
        (1, "ConnectionResetError", True),
        (2, "ConnectionResetError", True),
    ]
    assert log[0].detail.endswith("try 1")


def test_it_stops_after_its_retries(tmp_path: Path, store: Any) -> None:
    mod = load_script(tmp_path, "broken", PIPELINE.format(name="broken", failures=9))
    with pytest.raises(ReflowError):
        mod.wf.run_local(tmp_path / "run", store=store)
    assert (tmp_path / "run" / "tries").read_text() == "xxx"  # 1 + retries=2

"""Runs of a small pipeline (fan-out, one failing element, a cache hit) for the report tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reflow.testing.scripts import load_script

PIPELINE = """
import time
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job()
def items(n: int = 4) -> list[int]:
    return list(range(n))

@wf.job(array=True, cpus=2, mem="1G", time="00:10:00")
def square(i: Annotated[int, Result(step="items")]) -> int:
    time.sleep(0.05)
    if i == 3:
        raise ValueError("<script>alert('boom')</script> element " + str(i))
    return i * i

@wf.job()
def total(xs: Annotated[list[int], Result(step="square")]) -> int:
    return sum(xs)
"""


def load_pipeline(tmp_path: Path, name: str) -> ModuleType:
    """Write the pipeline to ``<tmp_path>/<name>.py`` and import it."""
    return load_script(tmp_path, name, PIPELINE.format(name=name))


@pytest.fixture
def pipeline(tmp_path: Path) -> Callable[[str], ModuleType]:
    """Import the pipeline under a name of one's choosing (see :func:`load_pipeline`)."""
    return lambda name: load_pipeline(tmp_path, name)


@pytest.fixture
def local_runs(tmp_path: Path, store: Any) -> tuple[Any, str, str]:
    """Two run_local runs: n=3 succeeds; n=4 takes square[0..2] from the cache, square[3] fails.

    Returns the store, the first run's id and the second's.
    """
    mod = load_pipeline(tmp_path, "rep_local")
    first = mod.wf.run_local(tmp_path / "run", store=store, max_workers=2, n=3)
    second = mod.wf.run_local(
        tmp_path / "run", store=store, max_workers=2, on_error="continue", n=4
    )
    return store, first.run_id, second.run_id

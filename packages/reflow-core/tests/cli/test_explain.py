"""``reflow explain``: why an instance was, or was not, taken from the cache."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Demo


def test_a_hit_names_the_run_and_instance_it_came_from(demo: Demo) -> None:
    done = demo.cli("explain", demo.sched, "process[1]")
    assert done.code == 0, done.err
    assert done.out.startswith("process[1]: cache hit")
    assert f"in run {demo.ok}" in done.out
    data = json.loads(demo.cli("explain", demo.sched, "process[1]", "--json").out)
    assert data["cache"] == "hit"
    assert data["source"]["run_id"] == demo.ok


def test_a_miss_names_the_parameter_that_changed(demo: Demo) -> None:
    out = demo.cli("explain", demo.failed, "process[2]").out
    assert out.startswith("process[2]: cache miss")
    assert f"Compared with run {demo.ok}" in out
    assert "parameter 'fail_on' changed" in out
    assert json.loads(demo.cli("explain", demo.failed, "process[2]", "--json").out)["cache"] == (
        "miss"
    )


def test_a_miss_names_the_upstream_output_that_changed(demo: Demo) -> None:
    out = demo.cli("explain", demo.sched, "report").out
    assert out.startswith("report: cache miss")
    assert "input 'outputs' changed (upstream output differs)" in out
    count = demo.cli("explain", demo.sched, "find_inputs").out
    assert "parameter 'count' changed" in count


def test_an_array_task_is_summarised_over_its_elements(demo: Demo) -> None:
    out = demo.cli("explain", demo.sched, "process").out
    assert out.splitlines()[0] == "process: 5 elements: 4 hit, 1 miss."
    assert "process[0]: cache hit" in out and "process[4]: cache miss" in out
    data = json.loads(demo.cli("explain", demo.sched, "process", "--json").out)
    assert data["counts"] == {"hit": 4, "miss": 1}


def test_a_miss_names_a_code_change(
    tmp_path: Path, make_module: Callable[..., Any], reflow_cli: Callable[..., Any]
) -> None:
    from reflow.stores.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "manifest.db")
    source = (
        "from reflow import Workflow\n"
        "wf = Workflow('code')\n"
        "@wf.job()\n"
        "def step(x: int = 1) -> int:\n"
        "    return x + {n}\n"
    )
    first = make_module(tmp_path / "v1.py", source.format(n=1), "explain_code_v1")
    second = make_module(tmp_path / "v2.py", source.format(n=2), "explain_code_v2")
    first.wf.run_local(tmp_path / "run", store=store)
    run = second.wf.run_local(tmp_path / "run", store=store)
    done = reflow_cli("explain", run.run_id, "step", "--store-path", str(store.path))
    assert done.code == 0, done.err
    assert done.out.startswith("step: cache miss")
    assert "  - function step changed" in done.out.splitlines()
    assert "parameter" not in done.out

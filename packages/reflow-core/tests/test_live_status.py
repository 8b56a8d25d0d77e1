"""``reflow status`` sees array elements start and finish before a dispatcher records them."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from reflow import RunState
from reflow.executors.local.executor import LocalExecutor
from reflow.stores.sqlite import SqliteStore

SLOW_ARRAY = """
import time
from pathlib import Path
from typing import Annotated
from reflow import Result, RunDir, Workflow

wf = Workflow("{name}")

@wf.job()
def items(n: int = 3) -> list[int]:
    return list(range(n))

@wf.job(array=True, array_parallelism=3)
def work(i: Annotated[int, Result(step="items")], run_dir: RunDir = RunDir()) -> int:
    # Each element takes a few seconds at least, and runs until the test lets it go.
    time.sleep(2)
    deadline = time.monotonic() + 120
    while not (run_dir / f"go-{{i}}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return i * i
"""


def load(tmp_path: Path, name: str, source: str) -> ModuleType:
    """Write the workflow script and import it, as its user's driver would."""
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source.format(name=name)))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def status_json(store_path: Path, run_id: str) -> dict[str, Any]:
    """``reflow status RUN --json``, run as a user would, from another process."""
    done = subprocess.run(
        [sys.executable, "-m", "reflow", "status", run_id, "--json", "--store-path", store_path],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def work_task(data: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in data["tasks"] if t["task"] == "work")


def until(check: Callable[[], dict[str, Any] | None], what: str, seconds: float = 90) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_status_shows_running_then_success_counts_before_the_array_ends(
    tmp_path: Path, store: Any
) -> None:
    mod = load(tmp_path, "live_arr", SLOW_ARRAY)
    run_dir = tmp_path / "run"
    # Three slots: the elements mostly sleep, and all three must run at once on two cores.
    executor = LocalExecutor(state_dir=tmp_path / "jobs", slots=3)
    run = mod.wf.submit(run_dir, store=store, executor=executor)
    store_path = tmp_path / "store" / "manifest.db"

    def all_running() -> dict[str, Any] | None:
        data = status_json(store_path, run.run_id)
        return data if work_task(data)["counts"].get("RUNNING") == 3 else None

    data = until(all_running, "the three elements to show as RUNNING")
    task = work_task(data)
    # The store still says SUBMITTED: only the workers' start markers say RUNNING.
    assert task["unrecorded"] == {"RUNNING": 3}
    assert data["unrecorded_total"] == 3
    assert data["run"]["status"] == "RUNNING"

    (run_dir / "go-1").write_text("")

    def one_done() -> dict[str, Any] | None:
        data = status_json(store_path, run.run_id)
        return data if work_task(data)["counts"].get("SUCCESS") == 1 else None

    data = until(one_done, "element 1 to show as SUCCESS")
    task = work_task(data)
    assert task["counts"] == {"RUNNING": 2, "SUCCESS": 1}
    assert task["unrecorded"] == {"RUNNING": 2, "SUCCESS": 1}  # the array has not ended

    view = run.status_dict()  # Run.status() reads the same overlay
    assert view["summary"]["work"] == {"RUNNING": 2, "SUCCESS": 1}
    states = {
        i["array_index"]: (i["state"], i["recorded"])
        for i in view["instances"]
        if i["task_name"] == "work"
    }
    assert states[1] == ("SUCCESS", False)

    text = subprocess.run(
        [sys.executable, "-m", "reflow", "status", run.run_id, "--store-path", store_path],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    ).stdout
    row = next(line.split() for line in text.splitlines() if line.startswith("work "))
    assert row[-2:] == ["2*", "1*"]
    assert "* 3 not yet recorded" in text

    for i in (0, 2):
        (run_dir / f"go-{i}").write_text("")
    assert run.wait(timeout=120) is RunState.SUCCESS
    final = status_json(store_path, run.run_id)
    assert work_task(final)["counts"] == {"SUCCESS": 3}
    assert work_task(final)["unrecorded"] == {}


RUN_LOCAL_SCRIPT = """
import time
from pathlib import Path
from typing import Annotated
from reflow import Result, RunDir, Workflow

wf = Workflow("live_local")

@wf.job()
def items(n: int = 3) -> list[int]:
    return list(range(n))

@wf.job(array=True)
def work(i: Annotated[int, Result(step="items")], run_dir: RunDir = RunDir()) -> int:
    deadline = time.monotonic() + 120
    while not (run_dir / f"go-{i}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return i * i

if __name__ == "__main__":
    raise SystemExit(wf.cli())
"""


def test_status_from_another_process_sees_run_local_finish_elements(tmp_path: Path) -> None:
    script = tmp_path / "live_local.py"
    script.write_text(textwrap.dedent(RUN_LOCAL_SCRIPT))
    store_path = tmp_path / "local.db"
    env = {**os.environ, "REFLOW_STORE_PATH": str(store_path)}
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(script), "run", "--run-dir", run_dir, "--max-workers", "3"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        until(lambda: {} if store_path.exists() else None, "the run to be recorded")

        def one_done(n: int) -> dict[str, Any] | None:
            data = status_json(store_path, "latest")
            return data if work_task(data)["counts"].get("SUCCESS") == n else None

        def recorded_after(n: int, released: float) -> float:
            # When the store first holds n finished elements, polled in this process
            # every 50 ms: the cadence of run_local's recording, not the time a
            # `reflow status` process takes on a loaded machine.
            reader = SqliteStore(store_path)
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    runs = reader.list_run_records()  # the store is made before the run
                    counts = reader.task_state_summary(runs[0].run_id) if runs else {}
                    if counts.get("work", {}).get("SUCCESS") == n:
                        return time.monotonic() - released
                    time.sleep(0.05)
            finally:
                reader.close()
            raise AssertionError(f"{n} element(s) not recorded within 30 s")

        # Element 1, then element 2, finish: each is in the store within about 2 s
        # while element 0 still runs, and `reflow status` from another process shows it.
        for n, i in enumerate((1, 2), start=1):
            (run_dir / f"go-{i}").mkdir(parents=True, exist_ok=True)
            released = time.monotonic()
            assert recorded_after(n, released) < 3.0
            data = until(partial(one_done, n), f"{n} element(s) shown by reflow status")
            assert data["run"]["status"] == "RUNNING"
        assert proc.poll() is None
    finally:
        for i in (0, 1, 2):
            (run_dir / f"go-{i}").mkdir(parents=True, exist_ok=True)
        proc.wait(timeout=120)


def test_element_states_reads_markers_and_results_and_rereads_only_changed_ones(
    tmp_path: Path,
) -> None:
    from reflow.runs.layout import RunLayout

    layout = RunLayout(tmp_path, "r1")
    for index in (0, 1, 2, 3, None):
        layout.started_file("t", index).parent.mkdir(parents=True, exist_ok=True)
        layout.started_file("t", index).write_text("{}")
    layout.result_file("t", 1).parent.mkdir(parents=True, exist_ok=True)
    layout.result_file("t", 1).write_text('{"ok": true}')
    layout.result_file("t", 2).write_text('{"ok": false, "error": "boom"}')
    layout.result_file("t", 3).write_text("{not json")  # the dispatcher fails it too
    (layout.result_file("t", 0).parent / ".0.json.x1.tmp").write_text("")  # being written
    assert layout.element_states("t") == {
        0: "RUNNING",
        1: "SUCCESS",
        2: "FAILED",
        3: "FAILED",
        None: "RUNNING",
    }
    assert layout.element_states("t", {1, None}) == {1: "SUCCESS", None: "RUNNING"}
    seen: dict[Path, tuple[int, str]] = {}
    assert layout.element_states("t", {1}, seen)[1] == "SUCCESS"
    path = layout.result_file("t", 1)
    stamp = path.stat().st_mtime_ns
    path.write_text('{"ok": false}')
    os.utime(path, ns=(stamp, stamp))
    assert layout.element_states("t", {1}, seen)[1] == "SUCCESS"  # unchanged: not read again
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))
    assert layout.element_states("t", {1}, seen)[1] == "FAILED"  # replaced (a retry): read

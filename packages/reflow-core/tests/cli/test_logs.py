"""``reflow logs``: the job's own stdout and stderr files, found from the run and its job id."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Demo


def test_stdout_and_stderr_of_an_array_element_job(demo: Demo) -> None:
    out = demo.cli("logs", demo.sched, "process[4]")
    assert out.code == 0, out.err
    assert out.out == "processing sample_4\n"
    err = demo.cli("logs", demo.sched, "process[4]", "--stderr")
    assert "warning about sample_4" in err.out
    path = Path(demo.cli("logs", demo.sched, "process[4]", "--path").out.strip())
    assert path.parent == demo.run_dir() / "logs"
    job = json.loads(demo.cli("status", demo.sched, "--task", "process", "--json").out)
    job_id = job["instances"][4]["job_id"]  # "<job>[4]"
    assert path.name == f"process-{job_id.split('[')[0]}_4.out"


def test_a_singleton_job_log(demo: Demo) -> None:
    done = demo.cli("logs", demo.sched, "find_inputs", "--path")
    assert done.code == 0, done.err
    assert Path(done.out.strip()).name.startswith("find_inputs-")
    assert Path(done.out.strip()).is_file()


def test_follow_of_an_ended_instance_prints_the_file_and_returns(demo: Demo) -> None:
    done = demo.cli("logs", demo.sched, "process[4]", "--follow")
    assert done.code == 0
    assert done.out == "processing sample_4\n"


def test_instances_without_log_files_say_why(demo: Demo) -> None:
    local = demo.cli("logs", demo.failed, "process[2]")
    assert local.code == 2
    assert "ran inside 'run_local'" in local.err
    hit = demo.cli("logs", demo.sched, "process[0]")
    assert hit.code == 2 and "taken from the cache" in hit.err
    array = demo.cli("logs", demo.sched, "process")
    assert array.code == 2 and "process[0] to process[4]" in array.err
    bad = demo.cli("logs", demo.sched, "process[x]")
    assert bad.code == 2 and "TASK[INDEX]" in bad.err


def test_a_missing_log_file_names_the_paths_looked_at(demo: Demo) -> None:
    path = Path(demo.cli("logs", demo.sched, "process[4]", "--path").out.strip())
    moved = path.with_name(path.name + ".moved")
    path.rename(moved)
    try:
        done = demo.cli("logs", demo.sched, "process[4]")
    finally:
        moved.rename(path)
    assert done.code == 2
    assert done.err.startswith("reflow: error: No out file of process[4]")
    assert str(path) in done.err


TICKER = """
import time
from reflow import Workflow

wf = Workflow("ticker")


@wf.job()
def tick(n: int = 3) -> int:
    for i in range(n):
        print(f"tick {i}", flush=True)
        time.sleep(0.7)
    return n
"""


def test_follow_prints_while_the_job_runs_and_stops_when_it_ends(
    tmp_path: Path, make_module: Callable[..., Any]
) -> None:
    from reflow import RunState
    from reflow.executors.local.executor import LocalExecutor
    from reflow.stores.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "manifest.db")
    module = make_module(tmp_path / "ticker.py", TICKER, f"ticker_{id(tmp_path)}")
    run = module.wf.submit(
        tmp_path / "run", store=store, executor=LocalExecutor(state_dir=tmp_path / "jobs")
    )
    argv = ["logs", run.run_id, "tick", "--follow", "--store-path", str(store.path)]
    errors = (tmp_path / "follow.err").open("w")
    follower = subprocess.Popen(
        [sys.executable, "-m", "reflow", *argv],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    assert follower.stdout is not None
    guard = threading.Timer(120, follower.kill)  # a follower that never stops fails, not hangs
    guard.start()
    first = follower.stdout.readline()
    assert first == "tick 0\n"
    record = store.get_run_record(run.run_id)
    assert record is not None and record.status is RunState.RUNNING  # printed while running
    rest = follower.stdout.read()  # until the follower exits: after the job has ended
    assert follower.wait(timeout=120) == 0, (tmp_path / "follow.err").read_text()
    guard.cancel()
    errors.close()
    assert rest == "tick 1\ntick 2\n"
    assert run.wait(timeout=60) is RunState.SUCCESS


def _cli_within(demo: Demo, seconds: float, *argv: str) -> Any:
    """Run ``reflow ARGV`` in a thread; fail if it has not returned after ``seconds``."""
    done: list[Any] = []
    worker = threading.Thread(target=lambda: done.append(demo.cli(*argv)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"reflow {' '.join(argv)} still running after {seconds} s"
    return done[0]


def test_follow_stops_when_the_run_has_ended_with_instances_left_unfinished(
    gc_demo: Demo,
) -> None:
    """A run its dispatcher left ended keeps RETRYING or RUNNING instances: follow still ends."""
    import sqlite3

    from reflow import RunState, TaskState
    from reflow.runs.layout import RunLayout
    from reflow.stores import StateUpdate
    from reflow.stores.sqlite import SqliteStore
    from reflow_store_sqlite.schema import TASK_STATE_CODES

    demo = gc_demo
    store = SqliteStore(demo.store_path)
    waiting = store.get_task_instance_record(demo.failed, "process", 2)
    running = store.get_task_instance_record(demo.sched, "process", 4)
    assert waiting is not None and running is not None and running.job_id
    store.apply_state_updates([StateUpdate(waiting.id, TaskState.RETRYING)])  # no job id
    store.update_run_status(demo.sched, RunState.FAILED)  # a dispatcher that crashed
    store.close()
    with sqlite3.connect(demo.store_path) as conn:  # its job was killed without a result
        conn.execute(
            "UPDATE task_instances SET state = ? WHERE id = ?",
            (TASK_STATE_CODES[TaskState.RUNNING], running.id),
        )
    RunLayout(demo.run_dir(), demo.sched).result_file("process", 4).unlink()

    never_submitted = _cli_within(demo, 20, "logs", demo.failed, "process[2]", "--follow")
    assert never_submitted.code == 2 and "ran inside 'run_local'" in never_submitted.err
    orphan = _cli_within(demo, 20, "logs", demo.sched, "process[4]", "--follow")
    assert orphan.code == 0, orphan.err
    assert orphan.out == "processing sample_4\n"

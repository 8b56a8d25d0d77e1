"""``reflow status``: counts per task, failures with their error, --task, --json, --watch."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Demo

from reflow import RunState


def test_counts_per_task_and_the_failed_instance_with_its_error(demo: Demo) -> None:
    done = demo.cli("status", demo.failed)
    assert done.code == 0, done.err
    out = done.out
    assert f"Run       {demo.failed}" in out
    assert "Status    FAILED" in out and "Executor  run_local" in out
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line[:1].isalpha()}
    assert table["TASK"] == ["KIND", "INSTANCES", "SUCCESS", "FAILED", "SKIPPED"]
    assert table["process"] == ["array", "4", "3", "1"]  # collapsed to counts
    assert table["report"] == ["job", "1", "1"]  # skipped: an upstream element failed
    assert out.index("find_inputs") < out.index("process ") < out.index("report ")
    assert "Failed instances (1):" in out
    assert "process[2]" in out
    assert "ValueError: cannot process sample_2: corrupt header" in out.splitlines()[-1]


def test_task_expands_the_instances(demo: Demo) -> None:
    out = demo.cli("status", demo.sched, "--task", "process").out
    rows = [line.split() for line in out.splitlines() if line.startswith("process[")]
    assert [row[:2] for row in rows] == [[f"process[{i}]", "SUCCESS"] for i in range(5)]
    assert [row[3] for row in rows] == ["hit"] * 4 + ["miss"]
    assert rows[4][2].endswith("[4]")  # process[4] ran as element 4 of a job
    failed = demo.cli("status", demo.failed, "--task", "process", "--state", "failed").out
    assert [line.split()[0] for line in failed.splitlines() if line.startswith("process[")] == [
        "process[2]"
    ]


def test_json_parses_and_holds_counts_and_failures(demo: Demo) -> None:
    data = json.loads(demo.cli("status", demo.failed, "--json").out)
    assert data["run"]["run_id"] == demo.failed
    assert data["run"]["status"] == "FAILED"
    tasks = {t["task"]: t for t in data["tasks"]}
    assert list(tasks) == ["find_inputs", "process", "report"]  # run order
    assert tasks["process"]["counts"] == {"SUCCESS": 3, "FAILED": 1}
    assert tasks["process"]["is_array"] is True
    assert data["failed_total"] == 1
    assert data["failed"][0]["instance"] == "process[2]"
    assert data["failed"][0]["error_tail"][-1].startswith("ValueError: cannot process")
    expanded = json.loads(demo.cli("status", demo.sched, "--task", "report", "--json").out)
    assert [i["instance"] for i in expanded["instances"]] == ["report"]


def test_run_prefix_suffix_and_latest_name_runs(demo: Demo) -> None:
    suffix = demo.failed.rsplit("-", 1)[1]
    assert json.loads(demo.cli("status", suffix, "--json").out)["run"]["run_id"] == demo.failed
    latest = json.loads(demo.cli("status", "latest", "--json").out)
    assert latest["run"]["run_id"] == demo.sched
    ambiguous = demo.cli("status", "demo-")
    assert ambiguous.code == 2 and "matches 3 runs" in ambiguous.err
    missing = demo.cli("status", "nosuchrun")
    assert missing.code == 2
    assert missing.err.startswith("reflow: error: No run 'nosuchrun'")
    assert "reflow runs" in missing.err
    task = demo.cli("status", demo.ok, "--task", "proces")
    assert task.code == 2 and "Did you mean 'process'?" in task.err


def test_watch_redraws_until_the_run_ends(demo: Demo) -> None:
    from reflow.stores.sqlite import SqliteStore

    store = SqliteStore(demo.store_path)
    store.update_run_status(demo.ok, RunState.RUNNING)  # as if a retry were going on

    def finish() -> None:
        time.sleep(0.6)
        store.update_run_status(demo.ok, RunState.SUCCESS)

    thread = threading.Thread(target=finish)
    thread.start()
    started = time.monotonic()
    done = demo.cli("status", demo.ok, "--watch", "--interval", "0.1")
    thread.join()
    store.close()
    assert done.code == 0
    assert time.monotonic() - started >= 0.5
    assert done.out.count("Status    RUNNING") == 1  # printed again only when it changed
    assert done.out.count("Status    SUCCESS") == 1
    assert done.out.index("RUNNING") < done.out.index("Status    SUCCESS")
    lines = demo.cli("status", demo.ok, "--watch", "--json").out.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["run"]["status"] == "SUCCESS"


def test_ctrl_c_stops_watching_restores_the_cursor_and_leaves_the_run_alone(
    gc_demo: Demo,
) -> None:
    """On a terminal ``--watch`` draws in place (cursor hidden); Ctrl-C shows it again."""
    import os
    import pty
    import signal
    import subprocess
    import sys

    from reflow.stores.sqlite import SqliteStore

    demo = gc_demo  # its run ``ok`` is RUNNING
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    argv = [
        "status",
        demo.ok,
        "--watch",
        "--interval",
        "0.2",
        "--store-path",
        str(demo.store_path),
    ]
    child = subprocess.Popen(
        [sys.executable, "-m", "reflow", *argv],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    while b"RUNNING" not in seen and time.monotonic() < deadline:
        seen += os.read(leader, 65536)
    child.send_signal(signal.SIGINT)
    assert child.stderr is not None
    err = child.stderr.read().decode()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert child.wait(timeout=60) == 130
    assert err == f"reflow: stopped watching; run {demo.ok} goes on.\n"
    text = seen.decode("utf-8", "replace")
    assert "\x1b[?25l" in text  # hidden while drawing ...
    assert text.rindex("\x1b[?25h") > text.rindex("\x1b[?25l")  # ... and shown again
    store = SqliteStore(demo.store_path)
    record = store.get_run_record(demo.ok)
    assert record is not None and record.status is RunState.RUNNING
    store.close()

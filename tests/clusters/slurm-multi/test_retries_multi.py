"""Retries by reason on a real three-node Slurm cluster: each run reaches SUCCESS by itself.

All runs are submitted at once (a module fixture), so the ~3 minutes of the walltime case
overlap the others. Two tasks wait for a ``go`` file, so the test can act on their node while
they run: it kills the node's slurmd and job processes (NODE_FAIL) or preempts the job.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from reflow import RunState
from reflow.runs.attempts import Attempt, AttemptLog
from reflow.runs.layout import RunLayout
from reflow.testing.scripts import load_script

HEADER = """
import os, time
from reflow import RunDir, Workflow
wf = Workflow("{name}")
"""

SCRIPTS = {
    # ~300 MB with mem="100M": killed by OverMemoryKill, then 200M (killed), then 400M.
    "oom": """
@wf.job(mem="100M", time="00:05:00", retries=2)
def hungry() -> int:
    block = bytearray(300 * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(4)
    return len(block) // 2**20
""",
    # needs 100 s with time="00:01:00": TIMEOUT, then 2 minutes.  Slurm checks time
    # limits about every 30 s, so a job only 10 s over its limit may end before it does.
    "slow": """
@wf.job(mem="200M", time="00:01:00", retries=1)
def slow() -> str:
    time.sleep(100)
    return "done"
""",
    # runs until the test has killed its node (or says go): NODE_FAIL, then another node.
    "steady": """
@wf.job(mem="200M", time="00:05:00", retries=1)
def steady(run_dir: RunDir = RunDir()) -> str:
    for _ in range(600):
        if (run_dir / "go").exists():
            break
        time.sleep(0.5)
    return os.environ["SLURMD_NODENAME"]
""",
    # in the preemptable partition, until the test has preempted it: requeued, not counted.
    "humble": """
@wf.job(mem="200M", time="00:05:00", retries=0, partition="low", requeue=True)
def humble(run_dir: RunDir = RunDir()) -> str:
    for _ in range(600):
        if (run_dir / "go").exists():
            break
        time.sleep(0.5)
    return os.environ["SLURMD_NODENAME"]
""",
    # out of memory, then failing twice: stops after 3 attempts with every reason listed.
    "doomed": """
@wf.job(mem="100M", time="00:05:00", retries=2, retry_on=["OUT_OF_MEMORY", "FAILED"])
def doomed(run_dir: RunDir = RunDir()) -> int:
    marker = run_dir / "hungry-once"
    if not marker.exists():
        marker.write_text("")
        block = bytearray(300 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(4)
    os._exit(3)
""",
}


def _submit(tmp: Path, names: list[str]) -> dict[str, Any]:
    """Submit the scenarios ``names``, each a run of its own, together."""
    from reflow.stores.sqlite import SqliteStore
    from reflow_executor_slurm import SlurmExecutor

    store = SqliteStore(tmp / "manifest.db")
    store.init()
    executor = SlurmExecutor(state_dir=str(tmp / "slurm-state"))
    started = {}
    for name in names:
        mod = load_script(tmp, name, textwrap.dedent(HEADER.format(name=name)) + SCRIPTS[name])
        started[name] = mod.wf.submit(tmp / name, store=store, executor=executor)
    return started


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory, cluster: Any) -> Any:
    """The run whose node the test kills, alone on the cluster: a job of another
    scenario on that node would die with it (NODE_FAIL) and count a retry."""
    return _submit(tmp_path_factory.mktemp("fragile"), ["steady"])["steady"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, cluster: Any) -> dict[str, Any]:
    """Every other scenario's run, submitted together (after the node failure's test)."""
    return _submit(tmp_path_factory.mktemp("multi"), [n for n in SCRIPTS if n != "steady"])


def attempts(run: Any, task: str) -> list[Attempt]:
    return AttemptLog(RunLayout(run.run_dir, run.run_id)).of(task, None)


def wait_started(run: Any, task: str, timeout: float = 180) -> dict[str, Any]:
    path = RunLayout(run.run_dir, run.run_id).started_file(task, None)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        except (OSError, ValueError):
            time.sleep(0.3)
    pytest.fail(f"{task} never started")


def kill_job_processes(job_id: str, worker: int) -> None:
    """SIGKILL the job's slurmstepd processes and the worker's process group: the node is gone."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(f"slurmstepd: [{job_id}.".encode()):
            os.kill(int(proc.name), signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(os.getpgid(worker), signal.SIGKILL)


def test_a_node_failure_is_retried_on_another_node(fragile: Any, cluster: Any) -> None:
    run = fragile
    first = wait_started(run, "steady")
    node = first["node"]
    assert node in ("n1", "n2", "n3")
    os.kill(cluster.slurmd_pid(node), signal.SIGKILL)
    try:
        kill_job_processes(first["job_id"], int(first["pid"]))
        (run.run_dir / "go").write_text("")
        assert run.wait(timeout=300) is RunState.SUCCESS
    finally:
        cluster.restart_slurmd(node)
    assert run.output("steady") != node  # --exclude kept it off the failed node
    [failed] = attempts(run, "steady")
    assert (failed.reason, failed.host, failed.job_id) == ("NODE_FAIL", node, first["job_id"])
    assert failed.next is not None and failed.next["exclude"] == [node]


def test_a_preempted_job_is_requeued_and_not_counted(runs: dict[str, Any], cluster: Any) -> None:
    run = runs["humble"]
    first = wait_started(run, "humble")
    cluster.run(
        "sbatch",
        "--parsable",
        "-p",
        "high",
        "-w",
        first["node"],
        "--exclusive",
        "--mem=100M",
        "-t",
        "1",
        "-o",
        "/dev/null",
        "--wrap",
        "sleep 2",
    )
    path = RunLayout(run.run_dir, run.run_id).started_file("humble", None)
    deadline = time.monotonic() + 240
    while "earlier" not in json.loads(path.read_text()):  # the requeued job started again
        assert time.monotonic() < deadline, "the job was not requeued and started again"
        time.sleep(0.5)
    (run.run_dir / "go").write_text("")
    assert run.wait(timeout=300) is RunState.SUCCESS  # retries=0: the requeue did not count
    [requeued] = attempts(run, "humble")
    assert (requeued.reason, requeued.counted, requeued.host) == ("REQUEUED", False, first["node"])


def test_out_of_memory_is_retried_with_more_memory(runs: dict[str, Any]) -> None:
    run = runs["oom"]
    assert run.wait(timeout=300) is RunState.SUCCESS
    assert run.output("hungry") == 300
    log = attempts(run, "hungry")
    assert [(a.reason, a.resources["mem"]) for a in log] == [
        ("OUT_OF_MEMORY", "100M"),
        ("OUT_OF_MEMORY", "200M"),
    ]
    assert log[-1].next is not None and log[-1].next["mem"] == "400M"


def test_a_timeout_is_retried_with_more_time(runs: dict[str, Any]) -> None:
    run = runs["slow"]
    assert run.wait(timeout=420) is RunState.SUCCESS
    [timeout] = attempts(run, "slow")
    assert (timeout.reason, timeout.resources["time"]) == ("TIMEOUT", "00:01:00")
    assert timeout.next is not None and timeout.next["time"] == "00:02:00"


def test_a_task_that_keeps_failing_stops_with_every_reason(runs: dict[str, Any]) -> None:
    run = runs["doomed"]
    assert run.wait(timeout=300) is RunState.FAILED
    assert [a.reason for a in attempts(run, "doomed")] == ["OUT_OF_MEMORY", "FAILED", "FAILED"]
    record = run.store.get_task_instance_record(run.run_id, "doomed", None)
    text = record.error_text or ""
    assert "#1 OUT_OF_MEMORY mem=100M" in text and "#3 FAILED mem=200M" in text
    assert "no retries left (retries=2)" in text

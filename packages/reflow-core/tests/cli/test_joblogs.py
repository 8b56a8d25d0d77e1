"""Where a job's log files are, for executors that number array tasks their own way."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from reflow import RunState, TaskState
from reflow.cli.joblogs import log_candidates
from reflow.stores import RunContext, RunRecord, TaskInstanceRecord

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)


def _run(tmp_path: Path, executor: str, options: dict[str, object]) -> RunRecord:
    context = RunContext("demo-1", tmp_path / "run", "demo", executor=executor)
    return RunRecord(
        "demo-1", "demo", "alice", NOW, RunState.SUCCESS, {"run_dir": str(tmp_path / "run")},
        executor, options, context=context,
    )  # fmt: skip


def _instance(index: int | None, job_id: str) -> TaskInstanceRecord:
    return TaskInstanceRecord(
        1, "demo-1", "process", index, TaskState.SUCCESS, job_id, {}, None, None, "", "", "",
        NOW, NOW,
    )  # fmt: skip


def test_a_split_array_element_is_found_through_the_executors_array_map(tmp_path: Path) -> None:
    pytest.importorskip("reflow_executor_slurm")
    from reflow.executors.arrays import ArrayChunk, ArrayMap, ArrayRegistry

    state = tmp_path / "slurm-state"
    # Elements 0-2 ran as tasks 0-2 of job 500, elements 3-4 as tasks 0-1 of job 501.
    chunks = [("500", ArrayChunk(0, (0, 1, 2), 0)), ("501", ArrayChunk(1, (3, 4), 0))]
    ArrayRegistry(state / "arrays").save(ArrayMap.build(chunks))
    run = _run(tmp_path, "slurm", {"state_dir": str(state)})
    [path] = log_candidates(run, _instance(4, "500+501[4]"), "err")
    assert path == tmp_path / "run" / "logs" / "process-501_1.err"


def test_without_a_map_the_worker_names_its_chunk_and_the_index_is_reflows(
    tmp_path: Path,
) -> None:
    from reflow.runs.files import write_json_atomic
    from reflow.runs.layout import RunLayout

    run = _run(tmp_path, "local", {"state_dir": str(tmp_path / "local-state")})
    inst = _instance(4, "500+501[4]")
    both = log_candidates(run, inst)
    assert [p.name for p in both] == ["process-500_4.out", "process-501_4.out"]
    write_json_atomic(
        RunLayout(tmp_path / "run", "demo-1").started_file("process", 4), {"job_id": "501"}
    )
    assert [p.name for p in log_candidates(run, inst)] == ["process-501_4.out"]


def test_a_single_job_log(tmp_path: Path) -> None:
    run = _run(tmp_path, "local", {"state_dir": str(tmp_path / "local-state")})
    [path] = log_candidates(run, _instance(None, "77"))
    assert path.name == "process-77.out"

"""``pack=N`` on the real Slurm cluster: one array task per pack, each element on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reflow import RunState, TaskState
from reflow.testing.scripts import load_template

PIPELINE = """
import sys
from typing import Annotated
from reflow import Result, RunDir, Workflow

wf = Workflow("{name}")

@wf.job(time="00:05:00", mem="200M")
def find(n: int = 25) -> list[int]:
    return list(range(n))

@wf.job(array=True, pack=10, time="00:01:00", mem="200M")
def process(i: Annotated[int, Result(step="find")], run_dir: RunDir = RunDir()) -> int:
    print(f"processing {{i}}")
    if (run_dir / f"fail-{{i}}").exists():
        raise RuntimeError(f"element {{i}} was told to fail")
    return i * 10

@wf.job(time="00:05:00", mem="200M")
def total(xs: Annotated[list[int], Result(step="process")]) -> int:
    return sum(xs)
"""


def array_tasks(slurm: Any, name: str) -> list[str]:
    """The ids of the array tasks of jobs named ``name`` squeue knows (finished too)."""
    return sorted(
        job
        for job, full in slurm.squeue(name, "%i", "%j", finished=True, elements=True)
        if full == name
    )


def test_a_packed_array_on_slurm_fails_one_element_alone_then_retries_and_caches(
    tmp_path: Path, store: Any, executor: Any, slurm: Any
) -> None:
    mod = load_template(tmp_path, "packs25", PIPELINE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "fail-13").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=25)
    assert run.wait(timeout=600) is RunState.FAILED
    assert store.task_state_summary(run.run_id)["process"] == {"SUCCESS": 24, "FAILED": 1}
    failed = store.get_task_instance_record(run.run_id, "process", 13)
    assert "element 13 was told to fail" in failed.error_text
    tasks = array_tasks(slurm, "packs25.process")
    assert len(tasks) == 3, tasks  # 25 elements in packs of 10
    base = tasks[0].split("_")[0]
    for i in (0, 9, 10, 24):
        job = store.get_task_instance_record(run.run_id, "process", i).job_id
        assert job == f"{base}[{i // 10}]"
    logs = sorted(p.name for p in (run_dir / "logs").glob("process-*.out"))
    assert logs == [f"process-{base}_{k}.out" for k in range(3)]
    assert "processing 13" in (run_dir / "logs" / f"process-{base}_1.out").read_text()

    (run_dir / "fail-13").unlink()
    # process[13], and total: submitted ahead on process, Slurm cancelled it with it.
    assert store.get_task_instance_record(run.run_id, "total", None).state is TaskState.CANCELLED
    assert run.retry() == 2
    assert run.wait(timeout=600) is RunState.SUCCESS
    assert run.output("total") == sum(i * 10 for i in range(25))
    retried = [t for t in array_tasks(slurm, "packs25.process") if t not in tasks]
    assert len(retried) == 1, retried  # element 13 alone, in an array of one task

    again = mod.wf.submit(run_dir, store=store, executor=executor, n=25)
    assert again.wait(timeout=300) is RunState.SUCCESS
    assert store.task_state_summary(again.run_id)["process"] == {"SUCCESS": 25}
    assert len(array_tasks(slurm, "packs25.process")) == len(tasks) + 1  # nothing new ran
    assert TaskState.SUCCESS is store.get_task_instance_record(again.run_id, "total", None).state

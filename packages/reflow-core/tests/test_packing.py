"""``pack=N``: N elements of an array task per array task, each with its own result and retry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reflow import RunState, TaskState
from reflow.config import Config
from reflow.engine.scheduler.packing import element_part, marker, pack_groups, pack_size
from reflow.errors import ConfigError, WorkflowDefinitionError
from reflow.executors.local.executor import LocalExecutor
from reflow.testing.localjobs import job_specs
from reflow.testing.scripts import load_template

PIPELINE = """
import os, signal, sys
from typing import Annotated
from reflow import Result, RunDir, Workflow

wf = Workflow("{name}")

@wf.job()
def find(n: int = 10) -> list[int]:
    return list(range(n))

@wf.job(array=True, pack=4)
def process(i: Annotated[int, Result(step="find")], run_dir: RunDir = RunDir()) -> int:
    print(f"processing {{i}}")
    print(f"note on {{i}}", file=sys.stderr)
    if (run_dir / f"fail-{{i}}").exists():
        raise RuntimeError(f"element {{i}} was told to fail")
    if (run_dir / f"kill-{{i}}").exists():
        (run_dir / f"kill-{{i}}").unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    return i * 10

@wf.job()
def total(xs: Annotated[list[int], Result(step="process")]) -> int:
    return sum(xs)
"""


def job_ids(store: Any, run_id: str, n: int) -> dict[int, str]:
    return {i: store.get_task_instance_record(run_id, "process", i).job_id for i in range(n)}


def test_a_packed_array_runs_one_array_task_per_pack_with_one_log_each(
    tmp_path: Path, store: Any
) -> None:
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    mod = load_template(tmp_path, "packed", PIPELINE)
    run_dir = tmp_path / "run"
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=10)
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("process") == [i * 10 for i in range(10)]
    assert run.output("total") == 450

    [job] = job_specs(executor, "process")
    assert job["array"]["indices"] == [0, 1, 2]  # packs [0-3], [4-7], [8-9]
    ids = job_ids(store, run.run_id, 10)
    base = ids[0].split("[")[0]
    assert ids == {i: f"{base}[{i // 4}]" for i in range(10)}
    logs = sorted(p.name for p in (run_dir / "logs").iterdir() if p.name.startswith("process-"))
    assert logs == sorted(f"process-{base}_{k}.{s}" for k in range(3) for s in ("out", "err"))
    # Each element still has its own inputs, started record and result; nothing more.
    state = run_dir / ".reflow" / run.run_id
    for folder in (state / "inputs" / "process", state / "started" / "process"):
        assert sorted(p.name for p in folder.iterdir()) == sorted(f"{i}.json" for i in range(10))
    results = run_dir / "results" / run.run_id / "process"
    assert len(list(results.iterdir())) == 10
    assert len(list((state / "packs" / "process").iterdir())) == 1

    command = [sys.executable, "-m", "reflow", "logs", run.run_id, "process[5]"]
    shown = subprocess.run(
        [*command, "--store-path", str(store.path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"{marker(5, 'start')}\nprocessing 5\n{marker(5, 'end')}\n"

    # A worker loads neither the user's configuration nor the executors (cheaper workers).
    [plan] = (state / "packs" / "process").iterdir()
    worker = (
        "import runpy, sys\n"
        "sys.argv = ['reflow.job', 'work', sys.argv[1], 'process', sys.argv[2]]\n"
        "try:\n    runpy.run_module('reflow.job', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = ('reflow.config', 'reflow.executors', 'platformdirs', 'socket')\n"
        "sys.stderr.write('LOADED ' + repr([m for m in heavy if m in sys.modules]))\n"
    )
    rerun = subprocess.run(
        [sys.executable, "-c", worker, str(state / "run.json"), plan.stem],
        env={**os.environ, "REFLOW_ARRAY_INDEX": "2"},
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rerun.stderr.endswith("LOADED []"), rerun.stderr
    assert f"{marker(9, 'end')}\n" in rerun.stdout  # array task 2: elements 8 and 9

    before = len(job_specs(executor, "process"))
    again = mod.wf.submit(run_dir, store=store, executor=executor, n=10)
    assert again.wait(timeout=60) is RunState.SUCCESS
    assert len(job_specs(executor, "process")) == before  # all from the cache
    assert again.output("total") == 450


def test_a_failed_element_fails_alone_and_retry_reruns_only_it(tmp_path: Path, store: Any) -> None:
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    mod = load_template(tmp_path, "packfail", PIPELINE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "fail-5").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=10)
    assert run.wait(timeout=120) is RunState.FAILED
    failed = store.get_task_instance_record(run.run_id, "process", 5)
    assert failed.state is TaskState.FAILED
    assert "element 5 was told to fail" in failed.error_text
    assert store.task_state_summary(run.run_id)["process"] == {"SUCCESS": 9, "FAILED": 1}
    first = job_ids(store, run.run_id, 10)

    (run_dir / "fail-5").unlink()
    # process[5], and total, submitted ahead on process and cancelled with it.
    assert store.get_task_instance_record(run.run_id, "total", None).state is TaskState.CANCELLED
    assert run.retry() == 2
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("total") == 450
    retried = job_specs(executor, "process")[-1]
    assert retried["array"]["indices"] == [0]  # one array task holding element 5 alone
    now = job_ids(store, run.run_id, 10)
    assert {i: j for i, j in now.items() if i != 5} == {i: j for i, j in first.items() if i != 5}
    assert now[5] != first[5]


def test_a_pack_killed_midway_fails_the_rest_of_its_pack_with_the_reason(
    tmp_path: Path, store: Any
) -> None:
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    mod = load_template(tmp_path, "packkill", PIPELINE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "kill-5").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=10)
    assert run.wait(timeout=120) is RunState.FAILED
    states = {i: store.get_task_instance_record(run.run_id, "process", i).state for i in range(10)}
    # Element 4 ran before the kill, 5 was killed, 6 and 7 never started.
    assert [i for i, s in states.items() if s is TaskState.FAILED] == [5, 6, 7]
    assert (
        "without writing a result"
        in store.get_task_instance_record(run.run_id, "process", 6).error_text
    )
    assert run.retry() == 4  # 5, 6, 7 and total, cancelled with them
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("total") == 450
    assert job_specs(executor, "process")[-1]["array"]["indices"] == [0]  # 5, 6, 7 in one pack


def test_the_config_default_packs_tasks_without_their_own_pack() -> None:
    default = Config({"submit": {"pack": 50}}).pack
    assert pack_size(None, default, array=True) == 50
    assert pack_size(1, default, array=True) == 1  # the task's own pack= wins
    assert pack_size(None, default, array=False) == 1  # singletons are never packed
    assert Config({}).pack is None
    assert pack_size(None, Config({}).pack, array=True) == 1
    with pytest.raises(ConfigError, match=r"submit.pack .* whole number of at least 1"):
        Config({"submit": {"pack": 0}})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"array": True, "pack": 0}, r"pack=0 is not valid; give a whole number of at least 1"),
        ({"array": True, "pack": "fast"}, r"pack='fast' is not valid; .* \"auto\""),
        ({"pack": 10}, r"pack applies only to array tasks; add array=True or drop pack"),
    ],
)
def test_a_bad_pack_is_refused_in_one_line(options: dict[str, Any], message: str) -> None:
    from reflow import Workflow

    wf = Workflow("badpack")
    with pytest.raises(WorkflowDefinitionError, match=message) as info:

        @wf.job(**options)
        def task(i: int = 0) -> int:
            return i

    assert "\n" not in str(info.value)


def test_packs_cut_the_elements_submitted_in_order() -> None:
    assert pack_groups(range(10), 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert pack_groups([5, 6, 7], 4) == [[5, 6, 7]]
    log = (
        f"{marker(0, 'start')}\na\n{marker(0, 'end')}\n{marker(1, 'start')}\nb\n".encode()
    )  # a pack killed while element 1 ran: its part runs to the end
    assert element_part(log, 0) == f"{marker(0, 'start')}\na\n{marker(0, 'end')}\n".encode()
    assert element_part(log, 1) == f"{marker(1, 'start')}\nb\n".encode()
    assert element_part(log, 2) is None

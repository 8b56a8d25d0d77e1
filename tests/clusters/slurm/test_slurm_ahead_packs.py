"""Packed tasks submitted ahead on the real Slurm test cluster: aftercorr between packs or not."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from reflow import RunState
from reflow.testing.ahead import AHEAD_PIPELINE, ahead_total, submitted_by_wave
from reflow.testing.scripts import load_script


def packed(name: str, process: int, clean: int) -> str:
    """The issue's pipeline with process packed by ``process`` and clean by ``clean``."""
    source = AHEAD_PIPELINE.replace(
        '@wf.job(array=True, time="00:05:00", mem="100M")\ndef process',
        f'@wf.job(array=True, time="00:05:00", mem="100M", pack={process})\ndef process',
    ).replace(
        '@wf.job(array=True, time="00:05:00", mem="100M")\ndef clean',
        f'@wf.job(array=True, time="00:05:00", mem="100M", pack={clean})\ndef clean',
    )
    assert source.count("pack=") == 2
    return source.format(name=name)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    from reflow.stores.sqlite import SqliteStore

    st = SqliteStore(tmp_path / "manifest.db")
    st.init()
    return st


@pytest.fixture
def executor(tmp_path: Path, slurm: Any) -> Any:
    from reflow_executor_slurm import SlurmExecutor

    return SlurmExecutor(state_dir=str(tmp_path / "slurm-state"))


def array_tasks(slurm: Any, job: str, count: int) -> dict[int, tuple[datetime, datetime]]:
    """Start and end of each array task of ``job``, from ``sacct``.

    slurmctld sends job records to slurmdbd asynchronously, so an array task that ended
    moments ago may still lack its end (or its own record) in the accounting database:
    ask again until ``count`` tasks have both, for at most a minute.
    """
    deadline = time.monotonic() + 60
    while True:
        out = slurm.run("sacct", "-n", "-P", "-X", "-j", job, "-o", "JobID,Start,End")
        found = {}
        for line in out.splitlines():
            ident, start, end = line.split("|")
            match = re.fullmatch(rf"{job}_(\d+)", ident)
            if match and start[:1].isdigit() and end[:1].isdigit():
                found[int(match[1])] = (datetime.fromisoformat(start), datetime.fromisoformat(end))
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(1)


def clean_line(run_dir: Path) -> str:
    """The dispatcher's log line saying how clean was submitted ahead."""
    lines = [
        line
        for log in (run_dir / "logs").glob("dispatch.*.err")
        for line in log.read_text().splitlines()
        if "clean: " in line and "submitted ahead" in line
    ]
    assert len(lines) == 1, lines
    return lines[0]


def job_of(store: Any, run_id: str, task: str) -> str:
    [job] = {
        (i.job_id or "").split("[")[0] for i in store.list_task_instance_records(run_id, task)
    }
    return job


def test_packs_of_the_same_size_pair_with_aftercorr(
    tmp_path: Path, store: Any, executor: Any, slurm: Any
) -> None:
    mod = load_script(tmp_path, "packcorr", packed("packcorr", 5, 5))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "slow-19").write_text("")  # process's last pack takes 15 s
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=20)
    assert run.wait(timeout=600) is RunState.SUCCESS
    assert run.output("publish") == f"total={ahead_total(20)}"
    waves = [w for w in submitted_by_wave(run.run_dir) if w]
    assert waves == [["find"], ["process", "clean", "summary", "publish"]]
    process, clean = job_of(store, run.run_id, "process"), job_of(store, run.run_id, "clean")
    line = clean_line(run_dir)
    assert "20 instance(s) submitted ahead in 4 pack(s)" in line
    assert f"after_corr ['{process}']" in line and "after_ok []" in line
    for i in range(20):  # each element: its pack's array task, its own result
        inst = store.get_task_instance_record(run.run_id, "clean", i)
        assert inst.job_id == f"{clean}[{i // 5}]" and inst.output == 2 * i + 1
    ups, downs = array_tasks(slurm, process, 4), array_tasks(slurm, clean, 4)
    assert sorted(ups) == sorted(downs) == [0, 1, 2, 3]
    # Pack k waits for pack k upstream only: clean's first pack ran before process's
    # slow last pack ended.
    assert downs[0][0] < ups[3][1]
    assert all(downs[k][0] >= ups[k][1] for k in range(4))


def test_packs_of_other_sizes_wait_for_the_whole_upstream_array(
    tmp_path: Path, store: Any, executor: Any, slurm: Any
) -> None:
    mod = load_script(tmp_path, "packok", packed("packok", 5, 4))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "slow-19").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=20)
    assert run.wait(timeout=600) is RunState.SUCCESS
    assert run.output("publish") == f"total={ahead_total(20)}"
    process, clean = job_of(store, run.run_id, "process"), job_of(store, run.run_id, "clean")
    line = clean_line(run_dir)
    assert "20 instance(s) submitted ahead in 5 pack(s)" in line
    assert f"after_ok ['{process}']" in line and "after_corr []" in line
    ups, downs = array_tasks(slurm, process, 4), array_tasks(slurm, clean, 5)
    assert sorted(downs) == [0, 1, 2, 3, 4]
    assert min(start for start, _ in downs.values()) >= max(end for _, end in ups.values())


def test_a_failed_element_cancels_its_paired_pack_and_retry_completes(
    tmp_path: Path, store: Any, executor: Any, slurm: Any
) -> None:
    mod = load_script(tmp_path, "packfail", packed("packfail", 5, 5))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "fail-7").write_text("")
    run = mod.wf.submit(run_dir, store=store, executor=executor, n=20)
    assert run.wait(timeout=600) is RunState.FAILED
    states = {
        i.array_index: i.state.value for i in store.list_task_instance_records(run.run_id, "clean")
    }
    # aftercorr between packs: only the pack paired with the failed one never ran.
    assert {i for i, s in states.items() if s == "CANCELLED"} == set(range(5, 10))
    assert {i for i, s in states.items() if s == "SUCCESS"} == set(range(20)) - set(range(5, 10))
    summary = store.task_state_summary(run.run_id)
    assert summary["process"] == {"SUCCESS": 19, "FAILED": 1}
    (run_dir / "fail-7").unlink()
    assert run.retry() == 8  # process[7], clean[5-9], summary, publish
    assert run.wait(timeout=600) is RunState.SUCCESS
    assert run.output("publish") == f"total={ahead_total(20)}"

"""Dependencies on the real cell: -hold_jid_ad pairs tasks, and the qacct guard needs success."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from reflow.executors import ArraySpec, JobResources, JobSpec, JobState, element_id

if TYPE_CHECKING:  # the fixture's type; conftest.py is not importable as a module
    from conftest import SGECell

STAMP = (
    "import json, os, sys, time\n"
    "i = os.environ['REFLOW_ARRAY_INDEX']\n"
    "start = time.time()\n"
    "time.sleep(float(sys.argv[2]) * (3 - int(i)))\n"
    "open(f'{sys.argv[1]}-{i}.json', 'w').write(json.dumps([start, time.time()]))\n"
    "sys.exit(int(i == sys.argv[3]))\n"
)


def spec(
    tmp_path: Path, name: str, delay: float, fail: int = -1, after_corr: tuple[str, ...] = ()
) -> JobSpec:
    return JobSpec(
        name=name,
        command=(sys.executable, "-c", STAMP, str(tmp_path / name), str(delay), str(fail)),
        workdir=tmp_path,
        log_dir=tmp_path / "logs",
        resources=JobResources(cpus=1, time="00:05:00", mem="500M"),
        array=ArraySpec((0, 1, 2)),
        after_corr=after_corr,
    )


def test_each_element_waits_for_its_partner(tmp_path: Path, sge: SGECell) -> None:
    from reflow_executor_sge import SGEExecutor

    executor = SGEExecutor(state_dir=str(tmp_path / "state"))
    first = executor.submit(spec(tmp_path, "first", 2.0))  # element 0 is the slowest
    second = executor.submit(spec(tmp_path, "second", 0.0, after_corr=(first,)))
    deadline = time.monotonic() + 240
    while not all((tmp_path / f"second-{i}.json").exists() for i in range(3)):
        assert time.monotonic() < deadline, executor.query([first, second])
        time.sleep(0.5)
    for i in range(3):
        _, first_end = json.loads((tmp_path / f"first-{i}.json").read_text())
        second_start, _ = json.loads((tmp_path / f"second-{i}.json").read_text())
        assert second_start >= first_end, f"second[{i}] started before first[{i}] ended"
    # element 2 of 'second' did not wait for the slow element 0 of 'first'
    _, first_0_end = json.loads((tmp_path / "first-0.json").read_text())
    second_2_start, _ = json.loads((tmp_path / "second-2.json").read_text())
    assert second_2_start < first_0_end


def test_only_the_partner_of_a_failed_element_does_not_run(tmp_path: Path, sge: SGECell) -> None:
    from reflow_executor_sge import SGEExecutor

    executor = SGEExecutor(state_dir=str(tmp_path / "state"))
    first = executor.submit(spec(tmp_path, "first", 0.0, fail=1))
    second = executor.submit(spec(tmp_path, "second", 0.0, after_corr=(first,)))
    deadline = time.monotonic() + 240
    ids = [element_id(second, i) for i in range(3)]
    while True:
        found = executor.query([first, second])
        if all(found[i].state in JobState.ended() for i in ids):
            break
        assert time.monotonic() < deadline, found
        time.sleep(0.5)
    assert found[element_id(first, 1)].state is JobState.FAILED
    assert [found[i].state for i in ids] == [
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.COMPLETED,
    ]
    assert not (tmp_path / "second-1.json").exists()
    log = (tmp_path / "logs" / f"second-{second}_2.err").read_text()
    assert f"reflow: not running: dependency {first}.2 did not succeed" in log

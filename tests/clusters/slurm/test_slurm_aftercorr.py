"""aftercorr on the real cluster: element i of one array waits for element i of another."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from reflow.executors import ArraySpec, JobResources, JobSpec

STAMP = (
    "import json, os, sys, time\n"
    "i = os.environ['REFLOW_ARRAY_INDEX']\n"
    "start = time.time()\n"
    "time.sleep(float(sys.argv[2]) * (3 - int(i)))\n"
    "open(f'{sys.argv[1]}-{i}.json', 'w').write(json.dumps([start, time.time()]))\n"
)


def test_each_element_waits_for_its_partner(tmp_path: Path, slurm: Any) -> None:
    from reflow_executor_slurm import SlurmExecutor

    executor = SlurmExecutor(state_dir=str(tmp_path / "state"))
    resources = JobResources(cpus=1, time="00:05:00", mem="100M")

    def job(name: str, delay: float, after_corr: tuple[str, ...] = ()) -> JobSpec:
        return JobSpec(
            name=name,
            command=(sys.executable, "-c", STAMP, str(tmp_path / name), str(delay)),
            workdir=tmp_path,
            log_dir=tmp_path / "logs",
            resources=resources,
            array=ArraySpec((0, 1, 2)),
            after_corr=after_corr,
        )

    first = executor.submit(job("first", 2.0))  # element 0 is the slowest
    second = executor.submit(job("second", 0.0, after_corr=(first,)))
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

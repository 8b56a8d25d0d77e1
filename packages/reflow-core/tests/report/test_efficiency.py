"""The seff-like figures: walltime, memory and CPU efficiency per task."""

from __future__ import annotations

import pytest

from reflow.report.data import InstanceInfo, Requested, TaskInfo
from reflow.report.efficiency import task_efficiency


def _task(cpus: int = 4, mem: str = "1G", time: str = "00:01:00") -> TaskInfo:
    return TaskInfo(
        "work", True, [], Requested.from_config({"cpus": cpus, "mem": mem, "time": time}), {}
    )


def _ran(index: int, elapsed: float, cpu: float, rss_kb: int) -> InstanceInfo:
    return InstanceInfo(
        "work", index, "SUCCESS", "1", 0.0, elapsed, 1.0, 1.0 + elapsed, "h", cpu, rss_kb
    )


def test_figures_are_computed_the_way_seff_computes_them() -> None:
    infos = [_ran(0, 10.0, 30.0, 262144), _ran(1, 20.0, 30.0, 524288)]
    eff = task_efficiency(_task(), infos)
    assert eff.measured == 2
    assert eff.core_seconds == pytest.approx(4 * 30.0)
    assert eff.cpu_efficiency == pytest.approx(60.0 / 120.0)  # CPU time / (cpus x elapsed)
    assert eff.memory_efficiency == pytest.approx(0.5)  # 512 MiB highest peak of 1 GiB
    assert eff.time_efficiency == pytest.approx(20.0 / 60.0)  # longest run of the limit
    assert (eff.elapsed_mean, eff.elapsed_max) == (15.0, 20.0)


def test_cache_hits_and_instances_without_figures_do_not_count() -> None:
    hit = InstanceInfo("work", 2, "SUCCESS", "", 0.0, 0.0, cached_from="run-1")
    killed = InstanceInfo("work", 3, "FAILED", "7", 0.0, 5.0, start=1.0)  # no end recorded
    other = _ran(0, 100.0, 100.0, 1)
    other.task = "elsewhere"
    eff = task_efficiency(_task(), [_ran(0, 10.0, 40.0, 1024), hit, killed, other])
    assert eff.measured == 1
    assert eff.cpu_efficiency == pytest.approx(1.0)


def test_nothing_measured_gives_no_figures_rather_than_zero() -> None:
    eff = task_efficiency(_task(), [])
    assert (eff.cpu_efficiency, eff.memory_efficiency, eff.time_efficiency) == (None, None, None)


def test_an_unparsable_request_gives_no_figure_for_it() -> None:
    task = TaskInfo("work", False, [], Requested.from_config({"mem": "lots", "time": "?"}), {})
    eff = task_efficiency(task, [_ran(0, 1.0, 1.0, 1024)])
    assert task.requested.cpus == 1
    assert eff.memory_efficiency is None and eff.time_efficiency is None
    assert eff.cpu_efficiency == pytest.approx(1.0)

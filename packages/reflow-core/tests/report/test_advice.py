"""Right-sizing advice: what to ask for next time, and nothing for tasks too short to measure."""

from __future__ import annotations

from reflow.report.advice import advise, format_mem, format_walltime
from reflow.report.data import InstanceInfo, Requested, TaskInfo


def _task(mem: str = "16G", time: str = "02:00:00", cpus: int = 1) -> TaskInfo:
    return TaskInfo(
        "align", True, [], Requested.from_config({"mem": mem, "time": time, "cpus": cpus}), {}
    )


def _runs(n: int, seconds: float, peak_kb: int, cpu: float | None = None) -> list[InstanceInfo]:
    return [
        InstanceInfo(
            "align",
            i,
            "SUCCESS",
            "",
            0.0,
            0.0,
            start=100.0,
            end=100.0 + seconds,
            cpu_time=seconds if cpu is None else cpu,
            peak_rss_kb=peak_kb,
        )
        for i in range(n)
    ]


def test_over_asked_memory_and_walltime_are_cut_to_what_was_used_plus_headroom() -> None:
    advice = advise(_task(), _runs(200, 60.0, int(1.2 * 1024 * 1024)))
    edits = {c.option: c for c in advice.changes}
    assert edits["mem"].edit == 'mem="2G"'  # 1.2G peak + 25% -> the next step, 2G
    assert edits["mem"].current == '"16G"'
    assert "over 200 elements" in edits["mem"].reason
    assert edits["time"].edit == 'time="00:05:00"'  # twice the longest minute, rounded up
    assert "cpus" not in edits


def test_a_task_close_to_its_limits_is_told_to_ask_more() -> None:
    advice = advise(_task(mem="1G", time="00:10:00"), _runs(3, 570.0, 1000 * 1024))
    edits = {c.option: c.edit for c in advice.changes}
    assert edits == {"mem": 'mem="2G"', "time": 'time="00:30:00"'}


def test_idle_cpus_are_given_back() -> None:
    advice = advise(_task(cpus=8), _runs(4, 100.0, 512 * 1024 * 10, cpu=190.0))
    assert [c.edit for c in advice.changes if c.option == "cpus"] == ["cpus=2"]


def test_no_advice_for_tasks_too_short_to_measure_or_that_did_not_run() -> None:
    short = advise(_task(cpus=4), _runs(50, 0.06, 10 * 1024, cpu=0.0))
    assert short.changes == [] and "too short to measure" in short.note
    cached = _runs(2, 60.0, 1024)
    for info in cached:
        info.cached_from = "run-1"
    none = advise(_task(), cached)
    assert none.changes == [] and none.measured == 0


def test_a_request_that_fits_gets_no_edit() -> None:
    advice = advise(_task(mem="2G", time="00:05:00"), _runs(10, 100.0, 1200 * 1024))
    assert advice.changes == [] and advice.note == "the request fits what was used"


def test_sizes_and_walltimes_are_written_as_reflow_reads_them() -> None:
    assert format_mem(2 * 1024**3) == "2G" and format_mem(256 * 1024**2) == "256M"
    assert format_walltime(300) == "00:05:00" and format_walltime(90000) == "1-01:00:00"

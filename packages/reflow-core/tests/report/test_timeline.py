"""Timeline rows: one per instance, aggregated beyond the caps with a concurrency profile."""

from __future__ import annotations

from datetime import datetime, timezone

from reflow._types import RunState
from reflow.report.data import InstanceInfo, ReportData, Requested, TaskInfo
from reflow.report.timeline import TASK_CAP, TOTAL_CAP, timeline_rows, timeline_svg
from reflow.stores import RunRecord

T0 = 1_800_000_000.0


def _data(counts: dict[str, int], *, width: int = 2, failed: int = -1) -> ReportData:
    """Tasks of ``counts[task]`` instances of 1 s each, ``width`` running at a time."""
    run = RunRecord(
        "r", "wf", "me", datetime.fromtimestamp(T0, tz=timezone.utc), RunState.SUCCESS, {}
    )
    instances = []
    for task, count in counts.items():
        for i in range(count):
            start = T0 + 1 + (i // width)
            state = "FAILED" if i == failed else "SUCCESS"
            instances.append(
                InstanceInfo(task, i, state, f"1_{i}", T0, start + 1, start, start + 1, "h", 0.5)
            )
    tasks = [TaskInfo(t, True, [], Requested.from_config({}), {}) for t in counts]
    return ReportData(run, None, tasks, [], instances, T0 + 10_000)


def test_small_tasks_get_one_row_per_instance() -> None:
    rows, aggregated = timeline_rows(_data({"a": 3, "b": TASK_CAP}))
    assert len(rows) == 3 + TASK_CAP and aggregated == []
    assert rows[0].label == "a[0]" and rows[0].count == 1 and rows[0].profile == ()


def test_a_big_task_becomes_one_row_whose_profile_shows_the_throttle() -> None:
    rows, aggregated = timeline_rows(_data({"small": 2, "big": TASK_CAP + 100}, failed=7))
    assert aggregated == ["big"]
    big = rows[-1]
    assert big.label == f"big ({TASK_CAP + 100}, 1 failed)"
    assert big.state == "SUCCESS"  # the bulk's colour, the failure is in the label
    assert big.start == T0 + 1 and big.end == T0 + 1 + (TASK_CAP + 100) // 2
    assert "at most 2 running at once" in big.detail
    assert max(big.profile) == 1.0 and min(big.profile) >= 0.5  # always 1 or 2 of 2 running
    svg = timeline_svg(_data({"small": 2, "big": TASK_CAP + 100}), rows)
    assert svg.count('class="bar run profile"') == 1


def test_too_many_rows_in_all_aggregates_every_task() -> None:
    per_task = TOTAL_CAP // 4 + 1  # each under TASK_CAP? no: make them just under
    counts = {f"t{k}": min(per_task, TASK_CAP) for k in range(5)}
    assert sum(counts.values()) > TOTAL_CAP
    rows, aggregated = timeline_rows(_data(counts))
    assert aggregated == list(counts) and len(rows) == 5


def test_the_profile_of_thousands_of_millisecond_instances_is_computed_quickly() -> None:
    import time

    data = _data({"tiny": 3000}, width=4)
    for n, info in enumerate(data.instances):  # 1 ms each, back to back, at epoch scale
        info.start = T0 + 0.3 + (n // 4) * 0.001
        info.end = info.start + 0.001
    started = time.perf_counter()
    rows, aggregated = timeline_rows(data)
    assert time.perf_counter() - started < 2.0
    assert aggregated == ["tiny"] and "at most 4 running at once" in rows[0].detail
    assert min(rows[0].profile) > 0.9  # always 4 of 4 running

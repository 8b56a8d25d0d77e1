"""Progress: a live table on a terminal, a plain line per change otherwise; counts from a store."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Annotated, Any

import pytest

from reflow import Result, Workflow
from reflow.cli.live import display
from reflow.cli.live.counts import TaskCounts
from reflow.cli.live.follow import StoreCounts
from reflow.engine.local.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_table_per_task() -> None:
    stream = FakeTerminal()
    with Progress(["find", "process", "report"], stream) as progress:
        progress.add("find", total=1, done=1)
        progress.add("process", total=10, cached=3)
        progress.add("process", done=4, failed=1)
        progress.busy({"process": 2})
        progress.show(force=True)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())  # colours, cursor moves
    row = next(line for line in text.splitlines() if line.startswith("process")).split()
    at = row.index("8/10")
    assert row[at : at + 4] == ["8/10", "3", "2", "1"]  # done/total, cached, running, failed
    assert "report" in text and "ETA" in text and "elapsed" in text


def test_piped_output_is_a_plain_line_per_change_at_most_every_few_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    with Progress(["process"], stream) as progress:
        progress.add("process", total=4)
        progress.show()
        progress.add("process", done=1)
        progress.show()  # too soon after the first line
        clock[0] += display.PLAIN_EVERY
        progress.show()
        clock[0] += display.PLAIN_EVERY
        progress.show()  # nothing changed: no line
        progress.add("process", done=3)
    lines = stream.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "process 0/4 ETA ?",
        "process 1/4 ETA 15s",  # 1 done in 5 s: 3 left take 15 s
        "process 4/4",  # the last state, when the run ends
    ]
    assert "\x1b" not in stream.getvalue()  # no terminal codes in a log


def test_busy_counts_follow_the_workers_and_drop_to_zero_when_they_move_on() -> None:
    progress = Progress(["a", "b", "c"], io.StringIO())
    progress.busy({"a": 2})
    progress.busy({"b": 1})
    assert [progress.counts.tasks[n].running for n in "abc"] == [0, 1, 0]
    progress.busy({})
    assert [progress.counts.tasks[n].running for n in "abc"] == [0, 0, 0]


def test_a_turn_of_the_loop_does_not_walk_every_task_between_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """run_local calls busy() and show() each turn: a long chain must not pay O(tasks) each."""
    names = [f"t{k}" for k in range(1000)]
    walked = [0]
    original = TaskCounts.key

    def counting(self: TaskCounts) -> tuple[int, ...]:
        walked[0] += 1
        return original(self)

    monkeypatch.setattr(TaskCounts, "key", counting)
    with Progress(names, io.StringIO()) as progress:
        progress.show()  # the first line
        walked[0] = 0
        for name in names:
            progress.add(name, total=1)
            progress.busy({name: 1})
            progress.show()  # within PLAIN_EVERY of the first line: nothing drawn
            progress.add(name, done=1)
        assert walked[0] == 0
        assert sum(c.running for c in progress.counts.tasks.values()) == 1


def test_a_run_followed_in_the_store_counts_its_cache_hits(tmp_path: Path, store: Any) -> None:
    wf = Workflow("followed")

    @wf.job()
    def items() -> list[int]:
        return [1, 2, 3]

    @wf.job(array=True)
    def double(x: Annotated[int, Result(step="items")]) -> int:
        return 2 * x

    wf.run_local(tmp_path / "run", store=store)
    again = wf.run_local(tmp_path / "run", store=store)
    record = store.get_run_record(again.run_id)
    counts = StoreCounts(store, ["items", "double"]).update(record)
    assert [(c.total, c.done, c.cached) for c in counts.tasks.values()] == [(1, 0, 1), (3, 0, 3)]


def test_a_plain_line_for_a_long_chain_stays_short_and_names_what_runs() -> None:
    # A 200-task chain once printed every task's name in each line (3,000 characters).
    names = [f"t{k}" for k in range(200)]
    stream = io.StringIO()
    with Progress(names, stream) as progress:
        for name in names[:150]:
            progress.add(name, total=1, done=1)
        progress.add("t150", total=1)
        progress.busy({"t150": 1})
        progress.show(force=True)
    line = stream.getvalue().strip().splitlines()[-1]
    assert len(line) < 120, line
    assert "150/200 tasks done" in line
    assert "| t150 0/1" in line  # the one that runs is named
    assert "49 not started" in line

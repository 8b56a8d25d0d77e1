"""The garbage collector during a run_local: rare collections in the driver, the usual
ones in the workers that run the user's tasks, everything as it was after the run."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest

from reflow import Result, Workflow
from reflow.engine.local.collector import THRESHOLD, rare_collections
from reflow.stores.sqlite import SqliteStore


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(555, 7, 9)  # a program's own choice, which a run must give back
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_collections_are_rare_inside_and_as_before_after(thresholds: tuple[int, ...]) -> None:
    with rare_collections():
        assert gc.get_threshold() == (THRESHOLD, 7, 9)
        with rare_collections():  # a nested run gives back what the outer one set
            pass
        assert gc.get_threshold() == (THRESHOLD, 7, 9)
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0  # nothing frozen: a run's cycles are collected later


def test_cycles_a_run_left_are_collected_after_it(thresholds: tuple[int, ...]) -> None:
    import weakref

    class Node:
        pass

    with rare_collections():
        node = Node()
        node.self = node  # type: ignore[attr-defined]
        gone = weakref.ref(node)
        del node
    gc.collect()  # what the usual thresholds do in time
    assert gone() is None


def test_collections_turned_off_stay_off() -> None:
    before = gc.get_threshold()
    gc.set_threshold(0)
    try:
        with rare_collections():
            assert gc.get_threshold()[0] == 0
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)


def test_a_run_collects_rarely_and_its_tasks_as_the_program_did(
    tmp_path: Path, thresholds: tuple[int, ...]
) -> None:
    wf = Workflow("gcrun")

    @wf.job()
    def items() -> list[int]:
        return [0, 1]

    @wf.job(array=True)
    def seen(i: Annotated[int, Result(step="items")]) -> list[int]:
        return list(gc.get_threshold())  # in the worker that runs the task

    store = SqliteStore(tmp_path / "m.db")
    store.init()
    run = wf.run_local(tmp_path / "run", store=store)
    assert run.output("seen") == [list(thresholds)] * 2
    assert gc.get_threshold() == thresholds

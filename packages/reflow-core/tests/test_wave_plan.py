"""The wave plan: which dispatcher wave submits each task, and with which dependencies."""

from __future__ import annotations

from typing import Annotated, Any

from reflow import Result, Workflow
from reflow.engine.scheduler.ahead import (
    Dependency,
    DependencyKind,
    describe_plan,
    wave_plan,
)

OK, CORR = DependencyKind.AFTER_OK, DependencyKind.AFTER_CORR


def pipeline() -> Workflow:
    """The issue's pipeline: find -> process[array] -> clean[1:1] -> summary[gather] -> publish."""
    wf = Workflow("pipe")

    @wf.job()
    def find(n: int = 50) -> list[int]:
        return list(range(n))

    @wf.job(array=True)
    def process(x: Annotated[int, Result(step="find")]) -> int:
        return x * 2

    @wf.job(array=True)
    def clean(x: Annotated[int, Result(step="process")]) -> int:
        return x + 1

    @wf.job()
    def summary(xs: Annotated[list[int], Result(step="clean")]) -> int:
        return sum(xs)

    @wf.job(after=["summary"])
    def publish(total: Annotated[int, Result(step="summary")]) -> str:
        return str(total)

    return wf


def plan_of(
    wf: Workflow, *, element_wise: bool = True, done: tuple[str, ...] = ()
) -> dict[str, Any]:
    analysis = wf.analyse()
    plan = wave_plan(
        wf.tasks, analysis.order, analysis.wiring, element_wise=element_wise, done=done
    )
    return {p.task: p for p in plan}


def test_only_the_fan_out_over_a_returned_list_needs_a_second_wave() -> None:
    plan = plan_of(pipeline())
    assert {t: p.wave for t, p in plan.items()} == {
        "find": 1,
        "process": 2,
        "clean": 2,
        "summary": 2,
        "publish": 2,
    }
    assert plan["process"].after == ()  # find ended before wave 2 ran
    assert plan["clean"].after == (Dependency("process", CORR),)
    assert plan["summary"].after == (Dependency("clean", OK),)
    assert plan["publish"].after == (Dependency("summary", OK),)
    assert plan["clean"].sized_by == "find"


def test_without_element_wise_dependencies_a_chain_waits_for_the_whole_array() -> None:
    plan = plan_of(pipeline(), element_wise=False)
    assert plan["clean"].after == (Dependency("process", OK),)
    assert plan["clean"].wave == 2


def test_where_nothing_goes_ahead_every_level_is_a_wave() -> None:
    wf = pipeline()
    analysis = wf.analyse()
    plan = wave_plan(wf.tasks, analysis.order, analysis.wiring, element_wise=False, ahead=False)
    assert [p.wave for p in plan] == [1, 2, 3, 4, 5]
    assert all(p.after == () for p in plan)


def test_a_run_resumed_after_find_has_one_wave_left() -> None:
    plan = plan_of(pipeline(), done=("find",))
    assert "find" not in plan
    assert {p.wave for p in plan.values()} == {1}


def test_a_chain_over_two_arrays_concatenated_is_not_element_wise() -> None:
    wf = Workflow("two")

    @wf.job()
    def items() -> list[int]:
        return [1, 2]

    @wf.job(array=True)
    def a(x: Annotated[int, Result(step="items")]) -> int:
        return x

    @wf.job(array=True)
    def b(x: Annotated[int, Result(step="items")]) -> int:
        return x

    @wf.job(array=True)
    def both(x: Annotated[int, Result(steps=["a", "b"])]) -> int:
        return x

    plan = plan_of(wf)
    assert plan["both"].wave == 2
    assert set(plan["both"].after) == {Dependency("a", OK), Dependency("b", OK)}


def test_each_fan_out_over_a_returned_list_adds_one_wave() -> None:
    wf = Workflow("deep")

    @wf.job()
    def first() -> list[int]:
        return [1, 2]

    @wf.job(array=True)
    def split(x: Annotated[int, Result(step="first")]) -> list[int]:
        return [x, x]

    @wf.job(array=True)
    def leaf(x: Annotated[int, Result(step="split")]) -> int:  # chain-flatten
        return x

    @wf.job()
    def total(xs: Annotated[list[int], Result(step="leaf")]) -> int:
        return sum(xs)

    plan = plan_of(wf)
    assert [plan[t].wave for t in ("first", "split", "leaf", "total")] == [1, 2, 3, 3]
    assert plan["leaf"].after == ()


def test_the_dry_run_text_names_every_wave_and_dependency() -> None:
    wf = pipeline()
    analysis = wf.analyse()
    text = "\n".join(
        describe_plan(
            wave_plan(wf.tasks, analysis.order, analysis.wiring, element_wise=True), "pipe"
        )
    )
    assert "wave 1: dispatcher job pipe.dispatch\n  pipe.find: one job" in text
    assert "wave 2: dispatcher job pipe.dispatch" in text
    assert "pipe.clean: array sized by find; after_corr pipe.process" in text
    assert "pipe.publish: one job; after_ok pipe.summary" in text
    assert text.endswith(
        "2 wave(s) submit jobs; one more dispatcher, after every job, records the end."
    )

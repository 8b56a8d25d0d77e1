"""The Merkle cache rules of run_local (the same rules serve scheduler runs)."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

from reflow import Result, RunDir, TaskState, Workflow
from reflow.testing.calls import CallLog


def states(store: Any, run: Any, task: str) -> dict[str, int]:
    return dict(store.task_state_summary(run.run_id).get(task, {}))


def cache_status(store: Any, run: Any, task: str, index: int | None = None) -> str:
    return str(store.get_task_instance_record(run.run_id, task, index).cache_info["status"])


def counting_workflow(name: str, calls: CallLog, *, cache: bool = True) -> Workflow:
    wf = Workflow(name)

    @wf.job(cache=cache)
    def root(n: int = 2) -> list[int]:
        calls.append("root")
        return list(range(n))

    @wf.job(array=True)
    def square(i: Annotated[int, Result(step="root")]) -> int:
        calls.append(f"square{i}")
        return i * i

    @wf.job()
    def total(xs: Annotated[list[int], Result(step="square")]) -> int:
        calls.append("total")
        return sum(xs)

    return wf


def test_second_run_takes_everything_from_the_cache(tmp_path: Path, store: Any) -> None:
    calls = CallLog(tmp_path / "calls.jsonl")
    wf = counting_workflow("cached", calls)
    first = wf.run_local(tmp_path, store=store, n=3)
    assert calls == ["root", "square0", "square1", "square2", "total"]
    calls.clear()
    second = wf.run_local(tmp_path, store=store, n=3)
    assert calls == []
    assert second.output("total") == first.output("total") == 5
    assert cache_status(store, second, "root") == "hit"  # root tasks are cached too
    assert "reused the result" in second.explain("square", 1).lower()
    assert first.run_id in second.explain("total")


def test_a_changed_parameter_is_a_miss_and_explained(tmp_path: Path, store: Any) -> None:
    calls = CallLog(tmp_path / "calls.jsonl")
    wf = counting_workflow("params", calls)
    wf.run_local(tmp_path, store=store, n=2)
    calls.clear()
    run = wf.run_local(tmp_path, store=store, n=3)
    # root re-runs (n changed); elements 0 and 1 receive the same values: hits
    assert calls == ["root", "square2", "total"]
    assert cache_status(store, run, "square", 0) == "hit"
    why = run.explain("root")
    assert "cache miss" in why and "parameter 'n' changed" in why
    assert "input 'xs' changed" in run.explain("total")


def test_same_task_name_in_another_workflow_with_other_code_never_hits(
    tmp_path: Path, store: Any
) -> None:
    one = Workflow("one")
    two = Workflow("two")

    @one.job(name="compute")
    def compute_one() -> int:
        return 1

    @two.job(name="compute")
    def compute_two() -> int:
        return 2

    assert one.run_local(tmp_path, store=store).output("compute") == 1
    run = two.run_local(tmp_path, store=store)
    assert run.output("compute") == 2
    assert cache_status(store, run, "compute") == "miss"


def load(tmp_path: Path, name: str, body: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(
        textwrap.dedent(
            """
            from reflow import Workflow
            wf = Workflow("edited")

            @wf.job()
            def task(x: int = 1) -> int:
            """
        )
        + textwrap.indent(textwrap.dedent(body), "    ")
    )
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_edited_function_body_is_a_miss(tmp_path: Path, store: Any) -> None:
    v1 = load(tmp_path, "v1", "return x + 1\n")
    v1b = load(tmp_path, "v1b", "# only a comment and blank lines\n\nreturn (x +\n    1)\n")
    v2 = load(tmp_path, "v2", "return x + 2\n")
    assert v1.wf.run_local(tmp_path, store=store).output("task") == 2
    again = v1b.wf.run_local(tmp_path, store=store)
    assert cache_status(store, again, "task") == "hit"
    edited = v2.wf.run_local(tmp_path, store=store)
    assert edited.output("task") == 3
    assert cache_status(store, edited, "task") == "miss"
    assert "  - function task changed" in edited.explain("task").splitlines()


def test_version_bump_is_a_miss(tmp_path: Path, store: Any) -> None:
    def build(version: str) -> Workflow:
        wf = Workflow("versions")

        @wf.job(version=version)
        def task() -> int:
            return 1

        return wf

    build("1").run_local(tmp_path, store=store)
    run = build("2").run_local(tmp_path, store=store)
    assert cache_status(store, run, "task") == "miss"
    assert "version changed from '1' to '2'" in run.explain("task")


def test_cache_false_never_hits_and_never_serves(tmp_path: Path, store: Any) -> None:
    calls = CallLog(tmp_path / "calls.jsonl")
    wf = counting_workflow("nocache", calls, cache=False)
    wf.run_local(tmp_path, store=store, n=2)
    calls.clear()
    run = wf.run_local(tmp_path, store=store, n=2)
    assert calls == ["root"]  # root always runs; same output, so downstream hits
    assert cache_status(store, run, "root") == "disabled"
    assert store.get_task_instance_record(run.run_id, "root", None).identity == ""
    assert "cache=False" in run.explain("root")


def test_force_runs_everything(tmp_path: Path, store: Any) -> None:
    calls = CallLog(tmp_path / "calls.jsonl")
    wf = counting_workflow("force", calls)
    wf.run_local(tmp_path, store=store)
    calls.clear()
    run = wf.run_local(tmp_path, store=store, force=True)
    assert calls == ["root", "square0", "square1", "total"]
    assert cache_status(store, run, "square", 1) == "forced"
    assert "force=True" in run.explain("square", 1)


def test_force_tasks_reruns_them_and_dependants_hit_on_equal_outputs(
    tmp_path: Path, store: Any
) -> None:
    calls = CallLog(tmp_path / "calls.jsonl")
    wf = counting_workflow("force_tasks", calls)
    wf.run_local(tmp_path, store=store)
    calls.clear()
    run = wf.run_local(tmp_path, store=store, force_tasks=["root"])
    assert calls == ["root"]  # deterministic: same output, downstream unchanged
    assert cache_status(store, run, "square", 0) == "hit"
    assert "in force_tasks" in run.explain("root")


def path_workflow(calls: CallLog) -> Workflow:
    wf = Workflow("paths")

    @wf.job()
    def make(run_dir: RunDir = RunDir()) -> Path:
        calls.append("make")
        out = run_dir / "data.txt"
        out.write_text("data")
        return out

    @wf.job()
    def make_many(run_dir: RunDir = RunDir()) -> list[Path]:
        calls.append("make_many")
        outs: list[Path] = [run_dir / f"part{i}.txt" for i in range(2)]
        for p in outs:
            p.write_text("x")
        return outs

    return wf


def test_deleted_path_output_reruns_and_recreates_it(tmp_path: Path, store: Any) -> None:
    # A cached output whose file was deleted is not reused, with or without verify.
    calls = CallLog(tmp_path / "calls.jsonl")
    wf = path_workflow(calls)
    first = wf.run_local(tmp_path / "run", store=store)
    out = first.output("make")
    assert isinstance(out, Path) and out.read_text() == "data"
    out.unlink()
    (tmp_path / "run" / "part1.txt").unlink()
    calls.clear()
    again = wf.run_local(tmp_path / "run", store=store)
    assert sorted(calls) == ["make", "make_many"] and out.read_text() == "data"
    assert f"{out} (deleted); so the task ran again" in again.explain("make")
    assert cache_status(store, again, "make") == "output_changed"
    calls.clear()
    wf.run_local(tmp_path / "run", store=store, verify=True)
    assert calls == []


def test_verify_callable_decides_reuse(tmp_path: Path, store: Any) -> None:
    calls = CallLog(tmp_path / "calls.jsonl")
    allowed = {"ok": True}
    wf = Workflow("verify_fn")

    @wf.job(verify=lambda out: allowed["ok"])
    def task() -> int:
        calls.append(1)
        return 1

    wf.run_local(tmp_path, store=store)
    wf.run_local(tmp_path, store=store, verify=True)
    assert calls == [1]
    allowed["ok"] = False
    run = wf.run_local(tmp_path, store=store, verify=True)
    assert calls == [1, 1]
    assert "returned False" in run.explain("task")


def test_failed_instances_never_serve(tmp_path: Path, store: Any) -> None:
    attempts = CallLog(tmp_path / "attempts.jsonl")
    wf = Workflow("flaky")

    @wf.job()
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first time fails")
        return 7

    run = wf.run_local(tmp_path, store=store, on_error="continue")
    assert store.get_task_instance_record(run.run_id, "flaky", None).state is TaskState.FAILED
    assert wf.run_local(tmp_path, store=store).output("flaky") == 7


def test_a_fully_cached_array_is_copied_whole_and_still_explained(
    tmp_path: Path, store: Any
) -> None:
    calls = CallLog(tmp_path / "calls.jsonl")
    wf = counting_workflow("whole", calls)
    first = wf.run_local(tmp_path, store=store, n=4)
    calls.clear()
    second = wf.run_local(tmp_path, store=store, n=4)
    assert calls == []
    assert second.output("square") == [0, 1, 4, 9]
    record = store.get_task_instance_record(second.run_id, "square", 2)
    assert record.cache_info["source"]["run_id"] == first.run_id
    assert record.identity == store.get_task_instance_record(first.run_id, "square", 2).identity
    assert f"square[2] in run {first.run_id}" in second.explain("square", 2)
    # a third run that changes the code of 'total' diffs against the copied run
    calls.clear()
    third = wf.run_local(tmp_path, store=store, n=4, force_tasks=["square"])
    assert calls == ["square0", "square1", "square2", "square3"]
    assert cache_status(store, third, "total") == "hit"


def test_one_changed_element_reruns_only_that_element(tmp_path: Path, store: Any) -> None:
    calls = CallLog(tmp_path / "calls.jsonl")
    values = {"items": [1, 2, 3]}
    wf = Workflow("partial")

    @wf.job()
    def items(tag: str = "a") -> list[int]:
        return values["items"]

    @wf.job(array=True)
    def each(i: Annotated[int, Result(step="items")]) -> int:
        calls.append(f"each{i}")
        return i * 10

    wf.run_local(tmp_path, store=store, tag="a")
    values["items"] = [1, 2, 4]
    calls.clear()
    run = wf.run_local(tmp_path, store=store, tag="b")
    assert calls == ["each4"]
    assert run.output("each") == [10, 20, 40]
    why = run.explain("each", 2)
    assert "cache miss" in why and "input 'i' changed" in why


def test_an_incomplete_cached_array_is_not_copied(tmp_path: Path, store: Any) -> None:
    calls = CallLog(tmp_path / "calls.jsonl")
    wf = counting_workflow("incomplete", calls)
    first = wf.run_local(tmp_path, store=store, n=3)
    ident = store.get_task_spec_record(first.run_id, "square")  # the run is recorded
    assert ident is not None
    # Claim a bigger array under a bogus identity: copying must refuse it.
    store.record_array_identity(first.run_id, "square", "ab" * 32, 5)
    assert store.copy_cached_array("square", "ab" * 32, first.run_id) is None

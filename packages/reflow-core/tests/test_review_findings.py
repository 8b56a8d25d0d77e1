"""Review findings for run_local, the cache identity and wiring.

Each test asserts behaviour a user relies on; each was found failing by a review
and fixed, and stays as a regression test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import pytest

from reflow import Result, RunDir, TaskState, Workflow
from reflow.define.wiring import WireMode
from reflow.engine.local import TaskFailedError
from reflow.testing.calls import CallLog


def cache_status(store: Any, run: Any, task: str, index: int | None = None) -> str:
    return str(store.get_task_instance_record(run.run_id, task, index).cache_info["status"])


def load_module(tmp_path: Path, name: str, source: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- wrong cache hits ---------------------------------------------------------------


def test_gather_and_gather_flatten_of_equal_outputs_are_different_inputs(
    tmp_path: Path, store: Any
) -> None:
    def total(xs: Annotated[list[int], Result(step="each")]) -> str:
        return repr(xs)

    def build(typed_upstream: bool) -> Workflow:
        wf = Workflow("gather_modes")

        @wf.job()
        def root() -> list[int]:
            return [1, 2]

        if typed_upstream:

            @wf.job(array=True)
            def each(i: Annotated[int, Result(step="root")]) -> list[int]:
                return [i, i]

        else:

            @wf.job(array=True)
            def each(i: Annotated[int, Result(step="root")]) -> Any:
                return [i, i]

        wf.job()(total)  # the very same downstream function in both workflows
        return wf

    flat = build(True)
    nested = build(False)
    assert flat.wiring()["total"]["xs"].modes == (WireMode.GATHER_FLATTEN,)
    assert nested.wiring()["total"]["xs"].modes == (WireMode.GATHER,)
    assert flat.run_local(tmp_path, store=store).output("total") == "[1, 1, 2, 2]"
    # Only the upstream's return annotation differs: it re-runs and returns the same
    # values, but 'total' now receives a list of lists.
    run = nested.run_local(tmp_path, store=store)
    assert run.output("total") == "[[1, 1], [2, 2]]"


def test_concatenated_steps_and_a_gather_of_the_same_outputs_are_different_inputs(
    tmp_path: Path, store: Any
) -> None:
    # A workflow factory: the task source is the same whatever the steps are.
    factory = load_module(
        tmp_path,
        "factory",
        """
        from typing import Annotated, Any
        from reflow import Result, Workflow

        def build(steps):
            wf = Workflow("factory")

            @wf.job()
            def a() -> list[int]:
                return [1]

            @wf.job()
            def b() -> list[int]:
                return [2]

            @wf.job()
            def nested() -> list[list[int]]:
                return [[1], [2]]

            @wf.job(array=True)
            def parts(p: Annotated[list[int], Result(step="nested")]) -> list[int]:
                return p

            @wf.job()
            def combine(xs: Annotated[list[Any], Result(steps=steps)]) -> str:
                return repr(xs)

            return wf
        """,
    )
    concatenated = factory.build(["a", "b"])
    gathered = factory.build(["parts"])
    assert concatenated.run_local(tmp_path, store=store).output("combine") == "[1, 2]"
    run = gathered.run_local(tmp_path, store=store)
    assert run.output("combine") == "[[1], [2]]"


# Found in review, fixed in 4bf52b9: kept as a regression test.
def test_a_closure_value_is_part_of_the_identity(tmp_path: Path, store: Any) -> None:
    def build(scale: int) -> Workflow:
        wf = Workflow("scaled")

        @wf.job()
        def compute(x: int = 2) -> int:
            return x * scale

        return wf

    assert build(10).run_local(tmp_path, store=store).output("compute") == 20
    assert build(100).run_local(tmp_path, store=store).output("compute") == 200


def test_two_lambdas_on_one_line_have_different_fingerprints(tmp_path: Path, store: Any) -> None:
    ops = {"inc": lambda x=3: x + 1, "dbl": lambda x=3: x * 2}

    def build(op: str) -> Workflow:
        wf = Workflow("lambdas")
        wf.job(name="op")(ops[op])
        return wf

    assert build("inc").run_local(tmp_path, store=store).output("op") == 4
    assert build("dbl").run_local(tmp_path, store=store).output("op") == 6


def test_a_changed_non_reflow_decorator_is_a_miss(tmp_path: Path, store: Any) -> None:
    source = """
        import functools
        from reflow import Workflow
        wf = Workflow("decorated")

        def times(k):
            def deco(f):
                @functools.wraps(f)
                def wrapper(*args, **kwargs):
                    return f(*args, **kwargs) * k
                return wrapper
            return deco

        @wf.job()
        @times({k})
        def task() -> int:
            return 1
        """
    twice = load_module(tmp_path, "deco_twice", source.replace("{k}", "2"))
    thrice = load_module(tmp_path, "deco_thrice", source.replace("{k}", "3"))
    assert twice.wf.run_local(tmp_path, store=store).output("task") == 2
    assert thrice.wf.run_local(tmp_path, store=store).output("task") == 3


def test_a_file_edited_after_import_does_not_poison_the_cache(tmp_path: Path, store: Any) -> None:
    source = """
        from reflow import Workflow
        wf = Workflow("edited_on_disk")

        @wf.job()
        def edited_on_disk(x: int = 1) -> int:
            return x + {n}
        """
    old = load_module(tmp_path, "pipeline", source.replace("{n}", "1"))
    # The user edits the file while the old module is still loaded (a notebook, a REPL).
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(source.replace("{n}", "100")))
    assert old.wf.run_local(tmp_path, store=store).output("edited_on_disk") == 2  # old code
    new = load_module(tmp_path, "pipeline", source.replace("{n}", "100"))
    assert new.wf.run_local(tmp_path, store=store).output("edited_on_disk") == 101


# Found in review, fixed in 4bf52b9: kept as a regression test.
def test_an_annotation_change_with_the_same_body_changes_the_fingerprint(tmp_path: Path) -> None:
    from reflow.cache.fingerprint import code_fingerprint

    body = "def gather_total(xs: {ann}) -> str:\n    return repr(xs)\n"
    flat = load_module(tmp_path, "flat_total", body.replace("{ann}", "list[int]"))
    nested = load_module(tmp_path, "nested_total", body.replace("{ann}", "list[list[int]]"))
    # The annotation decides the wire mode (GATHER_FLATTEN or GATHER), so it must count.
    assert code_fingerprint(flat.gather_total) != code_fingerprint(nested.gather_total)


def test_editing_a_helper_called_through_its_module_is_a_miss(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    pipeline = """
        import review_helpers
        from reflow import Workflow
        wf = Workflow("module_helper")

        @wf.job()
        def calibrate(value: float = 1.5) -> float:
            return review_helpers.correct(value)
        """
    (tmp_path / "review_helpers.py").write_text("def correct(x):\n    return x * 2\n")
    old = load_module(tmp_path, "calib_old", pipeline)
    assert old.wf.run_local(tmp_path, store=store).output("calibrate") == 3.0
    (tmp_path / "review_helpers.py").write_text("def correct(x):\n    return x * 300\n")
    monkeypatch.delitem(sys.modules, "review_helpers")
    new = load_module(tmp_path, "calib_new", pipeline)
    assert new.wf.run_local(tmp_path, store=store).output("calibrate") == 450.0


def test_helpers_of_a_project_in_a_folder_named_reflow_are_fingerprinted(
    tmp_path: Path, store: Any
) -> None:
    source = """
        from reflow import Workflow
        wf = Workflow("project_in_reflow_folder")

        def helper() -> int:
            return {n}

        @wf.job()
        def uses_helper() -> int:
            return helper()
        """
    folder = tmp_path / "reflow"
    folder.mkdir()
    one = load_module(folder, "helper_one", source.replace("{n}", "1"))
    two = load_module(folder, "helper_two", source.replace("{n}", "2"))
    assert one.wf.run_local(tmp_path, store=store).output("uses_helper") == 1
    assert two.wf.run_local(tmp_path, store=store).output("uses_helper") == 2


class _Model:
    def __init__(self, factor: int) -> None:
        self.factor = factor

    def run(self, x: int = 1) -> int:
        return x * self.factor


def test_the_object_a_method_task_is_bound_to_is_part_of_the_identity(
    tmp_path: Path, store: Any
) -> None:
    def build(factor: int) -> Workflow:
        wf = Workflow("bound_method")
        wf.job(name="model")(_Model(factor).run)
        return wf

    assert build(2).run_local(tmp_path, store=store).output("model") == 2
    assert build(3).run_local(tmp_path, store=store).output("model") == 3


# Found in review, fixed in 4bf52b9: kept as a regression test.
def test_the_run_dir_a_task_receives_is_part_of_its_identity(tmp_path: Path, store: Any) -> None:
    wf = Workflow("rundir_identity")

    @wf.job()
    def write(run_dir: RunDir = RunDir()) -> Path:
        out = run_dir / "out.txt"
        out.write_text("data")
        return out

    wf.run_local(tmp_path / "one", store=store)
    run = wf.run_local(tmp_path / "two", store=store)
    assert run.output("write") == (tmp_path / "two" / "out.txt").resolve()
    assert (tmp_path / "two" / "out.txt").exists()


def test_a_changed_after_dependency_is_a_miss(tmp_path: Path, store: Any) -> None:
    wf = Workflow("after_identity")

    @wf.job()
    def produce(n: int = 1, run_dir: RunDir = RunDir()) -> int:
        (run_dir / "n.txt").write_text(str(n))
        return n

    @wf.job(after=["produce"])
    def consume(run_dir: RunDir = RunDir()) -> str:
        return (run_dir / "n.txt").read_text()

    assert wf.run_local(tmp_path, store=store, n=1).output("consume") == "1"
    assert wf.run_local(tmp_path, store=store, n=2).output("consume") == "2"


def test_a_task_that_mutates_its_input_does_not_change_another_tasks_input(
    tmp_path: Path, store: Any
) -> None:
    wf = Workflow("mutation")

    @wf.job()
    def root() -> list[int]:
        return [3, 1, 2]

    @wf.job()
    def sorter(xs: Annotated[list[int], Result(step="root")]) -> list[int]:
        xs.sort()
        return xs

    @wf.job(after=["sorter"])
    def first(xs: Annotated[list[int], Result(step="root")]) -> int:
        return xs[0]

    run = wf.run_local(tmp_path, store=store)
    assert run.output("first") == 3  # as with max_workers=2 or in a scheduler job


def test_a_dependant_receives_the_same_value_from_a_fresh_or_a_cached_upstream(
    tmp_path: Path, store: Any
) -> None:
    from dataclasses import dataclass

    @dataclass
    class Point:
        x: int
        y: int

    wf = Workflow("local_dataclass")

    @wf.job()
    def make() -> Any:
        return Point(1, 2)

    @wf.job()
    def use(p: Annotated[Any, Result(step="make")]) -> str:
        return type(p).__name__

    # Such a value could not be rebuilt from the store (a cached upstream would
    # hand its dependant a dict instead of a Point), so it is refused at once.
    with pytest.raises(TaskFailedError, match=r"defined inside a function.*module level"):
        wf.run_local(tmp_path, store=store)


# -- verify -----------------------------------------------------------------------


def test_verify_checks_paths_inside_a_dict_output(tmp_path: Path, store: Any) -> None:
    calls = CallLog(tmp_path / "calls.jsonl")
    wf = Workflow("verify_dict")

    @wf.job()
    def make(run_dir: RunDir = RunDir()) -> dict[str, Path]:
        calls.append(1)
        out = run_dir / "data.h5"
        out.write_text("x")
        return {"data": out}

    first = wf.run_local(tmp_path, store=store)
    first.output("make")["data"].unlink()
    run = wf.run_local(tmp_path, store=store, verify=True)
    assert calls == [1, 1]
    assert run.output("make")["data"].exists()


# -- failures and errors ----------------------------------------------------------


def test_sys_exit_in_a_task_fails_only_that_task(tmp_path: Path, store: Any) -> None:
    wf = Workflow("exits")

    @wf.job()
    def bad() -> int:
        sys.exit("input file missing")

    @wf.job()
    def good() -> int:
        return 1

    run = wf.run_local(tmp_path, store=store, on_error="continue")
    summary = store.task_state_summary(run.run_id)
    assert summary["bad"] == {"FAILED": 1}
    assert summary["good"] == {"SUCCESS": 1}


# Found in review, fixed in 4bf52b9: kept as a regression test.
def test_a_dead_worker_fails_only_its_own_element(tmp_path: Path, store: Any) -> None:
    wf = Workflow("worker_dies")

    @wf.job()
    def items() -> list[int]:
        return list(range(6))

    @wf.job(array=True)
    def each(i: Annotated[int, Result(step="items")]) -> int:
        if i == 0:
            os._exit(3)  # a segfault, or the OOM killer
        time.sleep(0.2)
        return i

    run = wf.run_local(tmp_path, store=store, max_workers=2, on_error="continue")
    assert store.task_state_summary(run.run_id)["each"] == {"FAILED": 1, "SUCCESS": 5}
    assert store.get_task_instance_record(run.run_id, "each", 0).state is TaskState.FAILED


# Found in review, fixed in 4bf52b9: kept as a regression test.
def test_on_error_stop_runs_nothing_after_the_first_failure(tmp_path: Path, store: Any) -> None:
    calls = CallLog(tmp_path / "calls.jsonl")
    wf = Workflow("stopper")

    @wf.job()
    def items() -> list[int]:
        return list(range(5))

    @wf.job(array=True)
    def each(i: Annotated[int, Result(step="items")]) -> int:
        calls.append(i)
        if i == 0:
            raise RuntimeError("boom")
        return i

    with pytest.raises(TaskFailedError) as info:
        wf.run_local(tmp_path, store=store)
    assert calls == [0]
    assert store.task_state_summary(info.value.run_id)["each"] == {"FAILED": 1, "CANCELLED": 4}


# -- parameters -------------------------------------------------------------------


def test_passing_the_default_of_a_float_parameter_is_the_same_run(
    tmp_path: Path, store: Any
) -> None:
    wf = Workflow("float_default")

    @wf.job()
    def scale(factor: float = 1) -> str:
        return repr(factor)

    defaulted = wf.run_local(tmp_path, store=store)
    explicit = wf.run_local(tmp_path, store=store, factor=1)
    assert defaulted.output("scale") == explicit.output("scale") == "1.0"
    assert cache_status(store, explicit, "scale") == "hit"


# -- signals ----------------------------------------------------------------------

STUBBORN = textwrap.dedent(
    """
    import sys, time
    from reflow import RunDir, Workflow
    from reflow.stores.sqlite import SqliteStore

    wf = Workflow("stubborn")

    @wf.job()
    def stubborn(run_dir: RunDir = RunDir()) -> int:
        (run_dir / "started").write_text("")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                time.sleep(0.1)
            except Exception:  # user code that swallows TaskInterrupted
                pass
        return 1

    if __name__ == "__main__":
        try:
            wf.run_local(sys.argv[2], store=SqliteStore(sys.argv[1]), max_workers=2)
        except BaseException as exc:
            print("RAISED", type(exc).__name__, flush=True)
            raise SystemExit(3)
    """
)


@pytest.mark.slow
def test_sigterm_does_not_wait_for_a_worker_that_ignores_it(tmp_path: Path) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "m.db"), str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (run_dir / "started").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.05)
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:  # hung: never leave this test's processes behind
        out = ""
        for pid in [*children, str(proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        proc.communicate()
    elapsed = time.monotonic() - start
    assert "RAISED" in out, "run_local did not stop within 20 s of SIGTERM"
    assert elapsed < 5, f"run_local took {elapsed:.1f} s to stop after SIGTERM"

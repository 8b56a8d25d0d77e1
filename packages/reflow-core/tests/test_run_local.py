"""run_local: wiring at run time, parallelism, failures, bad input."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Annotated, Any

import pytest

from reflow import Result, RunDir, TaskState, Workflow
from reflow.engine.local import TaskFailedError
from reflow.errors import ParameterError


def user_guide(calls: list[str] | None = None) -> Workflow:
    wf = Workflow("guide")

    @wf.job()
    def find_files(n: int = 3) -> list[str]:
        return [f"f{i}.txt" for i in range(n)]

    @wf.job()
    def load_config() -> dict[str, Any]:
        return {"method": "upper"}

    @wf.job(array=True, array_parallelism=2)
    def process(
        path: Annotated[str, Result(step="find_files")],
        config: Annotated[dict[str, Any], Result(step="load_config", broadcast=True)],
    ) -> str:
        return path.upper() if config["method"] == "upper" else path

    @wf.job(array=True)
    def measure(item: Annotated[str, Result(step="process")]) -> list[int]:
        return [len(item), 0]

    @wf.job()
    def report(
        results: Annotated[list[str], Result(step="process")],
        sizes: Annotated[list[int], Result(step="measure")],
    ) -> str:
        return f"{len(results)} files, {sum(sizes)} chars"

    return wf


def test_every_wire_mode_delivers_the_right_values(tmp_path: Path, store: Any) -> None:
    run = user_guide().run_local(tmp_path / "run", store=store, n=3)
    assert run.output("find_files") == ["f0.txt", "f1.txt", "f2.txt"]
    assert run.output("process") == ["F0.TXT", "F1.TXT", "F2.TXT"]
    assert run.output("measure") == [[6, 0], [6, 0], [6, 0]]
    assert run.output("report") == "3 files, 18 chars"
    info = run.status(as_dict=True)
    assert info is not None
    assert info["run"]["status"] == "SUCCESS"
    assert info["summary"]["process"] == {"SUCCESS": 3}


def test_steps_concatenate_and_chain_flatten(tmp_path: Path, store: Any) -> None:
    wf = Workflow("concat")

    @wf.job()
    def a() -> list[str]:
        return ["x", "y"]

    @wf.job()
    def b() -> list[str]:
        return ["z"]

    @wf.job(array=True)
    def each(item: Annotated[str, Result(steps=["a", "b"])]) -> list[str]:
        return [item, item + "!"]

    @wf.job(array=True)
    def flat(word: Annotated[str, Result(step="each")]) -> str:
        return word.upper()

    @wf.job()
    def everything(words: Annotated[list[str], Result(step="each")]) -> list[str]:
        return words

    run = wf.run_local(tmp_path, store=store)
    assert run.output("each") == [["x", "x!"], ["y", "y!"], ["z", "z!"]]
    assert run.output("flat") == ["X", "X!", "Y", "Y!", "Z", "Z!"]
    assert run.output("everything") == ["x", "x!", "y", "y!", "z", "z!"]


def test_empty_fan_out_gives_an_empty_array_and_an_empty_gather(
    tmp_path: Path, store: Any
) -> None:
    wf = Workflow("empty")

    @wf.job()
    def nothing() -> list[str]:
        return []

    @wf.job(array=True)
    def each(item: Annotated[str, Result(step="nothing")]) -> str:
        return item

    @wf.job()
    def gather(items: Annotated[list[str], Result(step="each")]) -> int:
        return len(items) + 100

    run = wf.run_local(tmp_path, store=store)
    assert run.output("each") == []
    assert run.output("gather") == 100
    assert store.get_run_record(run.run_id).status.value == "SUCCESS"


def test_run_dir_is_injected_and_created(tmp_path: Path, store: Any) -> None:
    wf = Workflow("rd")

    @wf.job()
    def write(run_dir: RunDir = RunDir()) -> str:
        (run_dir / "out.txt").write_text("hi")
        return str(run_dir)

    run = wf.run_local(tmp_path / "deep" / "run", store=store)
    assert run.output("write") == str((tmp_path / "deep" / "run").resolve())
    assert (tmp_path / "deep" / "run" / "out.txt").read_text() == "hi"


def sleepy() -> Workflow:
    wf = Workflow("sleepy")

    @wf.job()
    def items() -> list[int]:
        return [1, 2, 3, 4]

    @wf.job(array=True)
    def nap(i: Annotated[int, Result(step="items")]) -> int:
        time.sleep(0.5)
        return i

    @wf.job()
    def other() -> int:
        time.sleep(0.5)
        return 0

    return wf


def test_max_workers_runs_tasks_and_elements_at_the_same_time(tmp_path: Path, store: Any) -> None:
    start = time.perf_counter()
    run = sleepy().run_local(tmp_path, store=store, max_workers=2, force=True)
    elapsed = time.perf_counter() - start
    assert run.output("nap") == [1, 2, 3, 4]
    # five half-second jobs: 2.5 s one at a time, about 1.5 s two at a time
    assert elapsed < 2.1, elapsed


def test_array_parallelism_caps_concurrent_elements(tmp_path: Path, store: Any) -> None:
    wf = Workflow("capped")

    @wf.job()
    def items() -> list[int]:
        return list(range(6))

    @wf.job(array=True, array_parallelism=1)
    def one_at_a_time(i: Annotated[int, Result(step="items")], run_dir: RunDir = RunDir()) -> int:
        marker = run_dir / "active"
        assert not marker.exists(), "two elements ran at once"
        marker.write_text(str(i))
        time.sleep(0.05)
        marker.unlink()
        return i

    run = wf.run_local(tmp_path, store=store, max_workers=2)
    assert run.output("one_at_a_time") == list(range(6))


def test_nested_functions_and_lambdas_run_in_worker_processes(tmp_path: Path, store: Any) -> None:
    wf = Workflow("nested")
    factor = 7
    wf.job(name="base")(lambda: [1, 2])

    @wf.job(array=True)
    def times(i: Annotated[int, Result(step="base")]) -> int:
        return i * factor

    run = wf.run_local(tmp_path, store=store, max_workers=2)
    assert run.output("times") == [7, 14]


def failing(flag_dir: Path | None = None) -> Workflow:
    wf = Workflow("failing")

    @wf.job()
    def items() -> list[int]:
        return [0, 1, 2]

    @wf.job(array=True)
    def risky(i: Annotated[int, Result(step="items")]) -> int:
        if i == 1:
            raise ValueError(f"element {i} is bad")
        return i

    @wf.job()
    def after_risky(xs: Annotated[list[int], Result(step="risky")]) -> int:
        return sum(xs)

    @wf.job()
    def independent() -> str:
        return "fine"

    return wf


def test_on_error_stop_raises_naming_task_index_and_cause(tmp_path: Path, store: Any) -> None:
    with pytest.raises(TaskFailedError) as info:
        failing().run_local(tmp_path, store=store)
    err = info.value
    assert (err.task, err.index) == ("risky", 1)
    assert "risky[1]" in str(err) and "element 1 is bad" in str(err)
    assert isinstance(err.__cause__, ValueError)
    run = store.get_run_record(err.run_id)
    assert run.status.value == "FAILED"
    states = {r.state for r in store.list_task_instance_records(err.run_id)}
    assert not states & {TaskState.PENDING, TaskState.RUNNING, TaskState.SUBMITTED}
    failed = store.get_task_instance_record(err.run_id, "risky", 1)
    assert failed.state is TaskState.FAILED and "ValueError: element 1 is bad" in failed.error_text


def test_on_error_continue_skips_dependants_and_finishes_the_rest(
    tmp_path: Path, store: Any
) -> None:
    run = failing().run_local(tmp_path, store=store, on_error="continue", max_workers=2)
    summary = store.task_state_summary(run.run_id)
    assert summary["risky"] == {"SUCCESS": 2, "FAILED": 1}
    assert summary["after_risky"] == {"SKIPPED": 1}
    assert summary["independent"] == {"SUCCESS": 1}
    skipped = store.get_task_instance_record(run.run_id, "after_risky", None)
    assert "upstream task 'risky' failed" in skipped.error_text
    assert store.get_run_record(run.run_id).status.value == "FAILED"
    assert run.output("independent") == "fine"


def test_fan_out_over_a_non_list_fails_that_task_clearly(tmp_path: Path, store: Any) -> None:
    wf = Workflow("notalist")

    @wf.job()
    def source():  # type: ignore[no-untyped-def]
        return 5

    @wf.job(array=True)
    def each(i: Annotated[int, Result(step="source")]) -> int:
        return i

    with pytest.raises(TaskFailedError, match=r"returned int 5, not a list"):
        wf.run_local(tmp_path, store=store)


def test_an_output_that_cannot_be_stored_is_a_clear_failure(tmp_path: Path, store: Any) -> None:
    wf = Workflow("unstorable")

    @wf.job()
    def bad() -> object:
        return object()

    with pytest.raises(TaskFailedError, match=r"bad returned a value reflow cannot store"):
        wf.run_local(tmp_path, store=store)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({}, r"Missing required parameter 'n' \(--n"),
        ({"n": 1, "m": 2}, r"Unknown parameter 'm'"),
        ({"n": "one"}, r"'n' \(--n\) expects int, got str"),
    ],
)
def test_bad_parameters_fail_before_anything_runs(
    tmp_path: Path, store: Any, params: dict[str, Any], match: str
) -> None:
    wf = Workflow("params")
    ran: list[int] = []

    @wf.job()
    def task(n: int) -> int:
        ran.append(n)
        return n

    with pytest.raises(ParameterError, match=match):
        wf.run_local(tmp_path / "run", store=store, **params)
    assert ran == [] and store.list_run_records() == []
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_workers": 0}, "max_workers=0"),
        ({"on_error": "ignore"}, "on_error='ignore'"),
        ({"force_tasks": ["nope"]}, "unknown task 'nope'"),
    ],
)
def test_bad_options_are_refused(
    tmp_path: Path, store: Any, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ParameterError, match=match):
        user_guide().run_local(tmp_path, store=store, **kwargs)


def test_outputs_of_unknown_or_failed_tasks_are_clear_errors(tmp_path: Path, store: Any) -> None:
    run = failing().run_local(tmp_path, store=store, on_error="continue")
    with pytest.raises(Exception, match=r"no task 'riskyy'.*Did you mean 'risky'"):
        run.output("riskyy")
    with pytest.raises(Exception, match=r"risky\[1\] is FAILED"):
        run.output("risky")


def test_a_worker_killed_mid_batch_fails_only_its_own_element(tmp_path: Path, store: Any) -> None:
    import os
    import signal as signals

    wf = Workflow("killer")

    @wf.job()
    def items() -> list[int]:
        return list(range(40))

    @wf.job(array=True)
    def maybe_die(i: Annotated[int, Result(step="items")]) -> int:
        if i == 7:
            os.kill(os.getpid(), signals.SIGKILL)
        return i

    @wf.job()
    def independent() -> str:
        return "ok"

    run = wf.run_local(tmp_path, store=store, max_workers=2, on_error="continue")
    summary = store.task_state_summary(run.run_id)
    assert summary["maybe_die"] == {"SUCCESS": 39, "FAILED": 1}
    dead = store.get_task_instance_record(run.run_id, "maybe_die", 7)
    assert dead.error_text == (
        "the worker process was killed by SIGKILL (killed, or out of memory) before "
        "returning a result (while running maybe_die[7])"
    )
    assert run.output("independent") == "ok"


def test_stop_runs_no_further_element(tmp_path: Path, store: Any) -> None:
    wf = Workflow("stopper")

    @wf.job()
    def items() -> list[int]:
        return list(range(100))

    @wf.job(array=True)
    def each(i: Annotated[int, Result(step="items")], run_dir: RunDir = RunDir()) -> int:
        (run_dir / f"ran-{i}").write_text("")  # tasks run in a worker process
        if i == 3:
            raise ValueError("three")
        return i

    with pytest.raises(TaskFailedError, match=r"each\[3\].*ValueError: three\."):
        wf.run_local(tmp_path, store=store)
    assert sorted(p.name for p in tmp_path.glob("ran-*")) == ["ran-0", "ran-1", "ran-2", "ran-3"]


def test_the_store_does_its_upkeep_while_the_driver_waits_for_workers(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    wf = Workflow("idle")

    @wf.job()
    def items() -> list[int]:
        return list(range(6))

    @wf.job(array=True)
    def slow(i: Annotated[int, Result(step="items")]) -> int:
        time.sleep(0.3)
        return i

    calls: list[float] = []
    ends: list[float] = []
    idle, update = store.idle, store.update_run_status

    def spy_idle() -> None:
        calls.append(time.monotonic())
        idle()

    def spy_update(*args: Any) -> None:
        ends.append(time.monotonic())
        update(*args)

    monkeypatch.setattr(store, "idle", spy_idle)
    monkeypatch.setattr(store, "update_run_status", spy_update)
    begun = time.monotonic()
    wf.run_local(tmp_path / "run", store=store)
    elapsed = time.monotonic() - begun
    # From the first wait on, at most once a second: the 1.8 s of elements give
    # two calls or more, the first long before the run ends.
    assert 2 <= len(calls) <= int(elapsed) + 1
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(calls))
    assert calls[0] < ends[-1] - 1.5 and calls[-1] < ends[-1]

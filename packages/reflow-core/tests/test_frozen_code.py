"""A job runs the code its identity names; nothing from a result file is trusted for identity.

The user edits the workflow (its script, a module beside it, a module
elsewhere) while a submitted run's jobs wait in the queue, or before
``retry``.  Whatever they edit, an output is only ever recorded and served
from the cache under the identity of the code that produced it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest

from reflow import RunState, TaskState
from reflow.cache.explain import explain_instance
from reflow.cache.identity import value_hash
from reflow.executors.base import Executor
from reflow.executors.jobs import ARRAY_INDEX_ENV, JobSpec, JobState, JobStatus
from reflow.executors.local.executor import LocalExecutor
from reflow.runs.layout import RunLayout

SCRIPT = """
import sys
import time
from typing import Annotated
from reflow import Result, RunDir, Workflow

sys.path.insert(0, {outside!r})
import ext  # a module outside the script's directory: not frozen
import helpers  # a module beside the script: frozen with it

FACTOR = {factor}

wf = Workflow("{name}")


@wf.job()
def gate(run_dir: RunDir = RunDir()) -> int:
    while not (run_dir / "go").exists():  # the test lets the run go on
        time.sleep(0.05)
    return 4


@wf.job()
def scale(n: Annotated[int, Result(step="gate")]) -> list[int]:
    {body}


if __name__ == "__main__":
    raise SystemExit(wf.cli())
"""

WORKS = "return [i * FACTOR * helpers.mult() * ext.unit() for i in range(n)]"
BROKEN = 'raise RuntimeError("a bug in scale")'


class Project:
    """A user's project: the workflow script and helpers beside it, and one elsewhere."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.dir = root / "project"
        self.outside = root / "lib"
        self.dir.mkdir()
        self.outside.mkdir()
        self.script = self.dir / f"{name}.py"
        self.write(factor=10, mult=1, unit=1, body=WORKS)
        self.run_dir = root / "run"

    def write(self, *, factor: int, mult: int, unit: int, body: str) -> None:
        """Write the three files as the user's editor would."""
        text = SCRIPT.format(outside=str(self.outside), factor=factor, name=self.name, body=body)
        self.script.write_text(textwrap.dedent(text))
        (self.dir / "helpers.py").write_text(f"def mult() -> int:\n    return {mult}\n")
        (self.outside / "ext.py").write_text(f"def unit() -> int:\n    return {unit}\n")

    def load(self, module_name: str) -> ModuleType:
        """Import the files as they are now, as a fresh process would."""
        for name in ("helpers", "ext"):
            sys.modules.pop(name, None)
        spec = importlib.util.spec_from_file_location(module_name, self.script)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def go(self) -> None:
        self.run_dir.mkdir(exist_ok=True)
        (self.run_dir / "go").write_text("")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    proj = Project(tmp_path, "frozen_wf")
    # ``python pipeline.py`` puts the script's directory first on sys.path.
    monkeypatch.syspath_prepend(str(proj.dir))
    yield proj
    proj.go()  # never leave a gate job waiting
    for name in ("helpers", "ext"):
        sys.modules.pop(name, None)
    while str(proj.outside) in sys.path:
        sys.path.remove(str(proj.outside))


@pytest.fixture
def executor(tmp_path: Path) -> LocalExecutor:
    return LocalExecutor(state_dir=tmp_path / "jobs")


def scale_record(store: Any, run_id: str) -> Any:
    record = store.get_task_instance_record(run_id, "scale", None)
    assert record is not None
    return record


def test_script_and_module_beside_it_edited_while_queued_run_as_submitted(
    project: Project, store: Any, executor: LocalExecutor
) -> None:
    original = project.load(project.name)
    run = original.wf.submit(project.run_dir, store=store, executor=executor)
    # While the run waits, the user edits the script and the helper beside it.
    project.write(factor=1000, mult=7, unit=1, body=WORKS)
    project.go()
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("scale") == [0, 10, 20, 30]  # the code the run was planned with
    assert "ran edited code" not in explain_instance(store, run.run_id, "scale", None)

    # The original code (still what ``original`` holds) is served the right values.
    again = original.wf.run_local(project.run_dir, store=store)
    assert again.output("scale") == [0, 10, 20, 30]
    assert explain_instance(store, again.run_id, "scale", None).startswith("scale: cache hit")
    # The edited code is a miss, never the old values.
    edited = project.load(f"{project.name}_edited")
    third = edited.wf.run_local(project.run_dir, store=store)
    assert third.output("scale") == [0, 7000, 14000, 21000]
    assert "cache miss" in explain_instance(store, third.run_id, "scale", None)


def test_module_outside_the_script_dir_edited_while_queued_is_recorded_as_what_ran(
    project: Project, store: Any, executor: LocalExecutor
) -> None:
    original = project.load(project.name)
    run = original.wf.submit(project.run_dir, store=store, executor=executor)
    project.write(factor=10, mult=1, unit=3, body=WORKS)  # ext.py is not frozen
    project.go()
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("scale") == [0, 30, 60, 90]  # what the job actually ran
    why = explain_instance(store, run.run_id, "scale", None)
    assert "ran edited code: planned fingerprint" in why, why

    # A run of the original code must not get the edited code's values...
    again = original.wf.run_local(project.run_dir, store=store)
    assert again.output("scale") == [0, 10, 20, 30]
    assert "cache miss" in explain_instance(store, again.run_id, "scale", None)
    # ...and the edited code finds its result under its own identity.
    edited = project.load(f"{project.name}_edited")
    third = edited.wf.run_local(project.run_dir, store=store)
    assert third.output("scale") == [0, 30, 60, 90]
    hit = explain_instance(store, third.run_id, "scale", None)
    assert hit.startswith("scale: cache hit") and run.run_id in hit


def test_retry_runs_the_fixed_code_and_records_it_under_the_fixed_identity(
    project: Project, store: Any, executor: LocalExecutor, tmp_path: Path
) -> None:
    project.write(factor=10, mult=1, unit=1, body=BROKEN)
    project.go()
    broken = project.load(project.name)
    run = broken.wf.submit(project.run_dir, store=store, executor=executor)
    assert run.wait(timeout=120) is RunState.FAILED
    failed = scale_record(store, run.run_id)
    assert failed.state is TaskState.FAILED and "a bug in scale" in (failed.error_text or "")

    # The user fixes the bug and retries from the command line.
    project.write(factor=10, mult=1, unit=1, body=WORKS)
    env = {**os.environ, "REFLOW_STORE_PATH": str(store.path)}
    done = subprocess.run(
        [sys.executable, str(project.script), "retry", run.run_id],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("scale") == [0, 10, 20, 30]
    fixed_record = scale_record(store, run.run_id)
    assert fixed_record.identity != failed.identity  # the fixed code's identity
    assert "as it was at retry" in explain_instance(store, run.run_id, "scale", None)

    fixed = project.load(f"{project.name}_fixed")
    cached = fixed.wf.run_local(project.run_dir, store=store)
    assert explain_instance(store, cached.run_id, "scale", None).startswith("scale: cache hit")
    assert scale_record(store, cached.run_id).identity == fixed_record.identity
    forced = fixed.wf.run_local(project.run_dir, store=store, force=True)
    assert forced.output("scale") == cached.output("scale") == [0, 10, 20, 30]
    # The broken code's identity was never given a result.
    assert store.find_cached("scale", failed.identity) is None


def test_run_local_with_two_workers_runs_the_code_it_planned(project: Project, store: Any) -> None:
    original = project.load(project.name)

    def edit_then_go() -> None:  # while the run is going on
        project.write(factor=1000, mult=7, unit=3, body=WORKS)
        project.go()

    editor = threading.Timer(0.2, edit_then_go)
    editor.start()
    try:
        run = original.wf.run_local(project.run_dir, store=store, max_workers=2)
    finally:
        editor.join()
    # Workers are forked from the run's process: they hold the planned code.
    assert run.output("scale") == [0, 10, 20, 30]


# -- result files are data, not instructions --------------------------------------------

TINY = """
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")


@dataclass
class Point:
    x: int
    y: int


@wf.job()
def make() -> int:
    return 5


@wf.job()
def point() -> Point:
    return Point(1, 2)


@wf.job()
def beside() -> str:
    return (Path(__file__).parent / "data.txt").read_text()


@wf.job(array=True)
def square(x: Annotated[int, Result(step="numbers")]) -> int:
    return x * x


@wf.job()
def numbers() -> list[int]:
    return [2, 3]
"""


class Held(Executor):
    """A scheduler that holds every job until the test runs it."""

    name: ClassVar[str] = "held"

    def __init__(self) -> None:
        self.jobs: list[JobSpec] = []
        self.done: set[str] = set()

    def _submit(self, job: JobSpec) -> str:
        self.jobs.append(job)
        return str(len(self.jobs))

    def cancel(self, job_ids: Sequence[str]) -> None:
        self.done.update(job_ids)

    def query(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        return {
            i: JobStatus(JobState.COMPLETED if i in self.done else JobState.PENDING)
            for i in job_ids
        }

    def run(self, task: str, run_id: str) -> None:
        """Run the worker job of ``task`` now, as the scheduler would."""
        number, job = next(
            (n, j) for n, j in enumerate(self.jobs, 1) if j.name.endswith(f".{task}")
        )
        env = {**os.environ, **job.env, "REFLOW_RUN_ID": run_id}
        for index in job.array.indices if job.array else [None]:
            if index is not None:
                env[ARRAY_INDEX_ENV] = str(index)
            subprocess.run(job.command, env=env, check=True, cwd=job.workdir, timeout=120)
        self.done.add(str(number))


def held_run(
    tmp_path: Path,
    store: Any,
    name: str,
    *,
    unfrozen: bool = False,
    script: str = TINY,
    **params: Any,
) -> tuple[Held, Any]:
    from reflow.engine.scheduler.dispatcher import dispatch_once
    from reflow.testing.scripts import load_script

    executor = Held()
    (tmp_path / "data.txt").write_text("next to the script")
    mod = load_script(tmp_path, name, script.format(name=name))
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, **params)
    if unfrozen:  # as a run submitted before reflow froze code
        state = tmp_path / "run" / ".reflow" / run.run_id
        (state / "code.json").unlink()
        shutil.rmtree(state / "code")
    assert dispatch_once(store, run.run_id, executor) is RunState.RUNNING
    return executor, run


def edit_result(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_a_wrong_output_hash_in_a_result_file_does_not_reach_the_cache(
    tmp_path: Path, store: Any
) -> None:
    from reflow.engine.scheduler.dispatcher import dispatch_once

    executor, run = held_run(tmp_path, store, "tampered_hash")
    executor.run("make", run.run_id)
    path = RunLayout(run.run_dir, run.run_id).result_file("make", None)
    edit_result(path, output_hash=value_hash(6))  # claims another value's hash
    dispatch_once(store, run.run_id, executor)
    record = store.get_task_instance_record(run.run_id, "make", None)
    assert record.state is TaskState.SUCCESS and record.output == 5
    assert record.output_hash == value_hash(5)


def test_a_result_that_names_no_code_is_never_served_from_the_cache(
    tmp_path: Path, store: Any
) -> None:
    from reflow.engine.scheduler.dispatcher import dispatch_once

    executor, run = held_run(tmp_path, store, "no_code")
    executor.run("make", run.run_id)
    path = RunLayout(run.run_dir, run.run_id).result_file("make", None)
    data = json.loads(path.read_text())
    del data["code"]
    path.write_text(json.dumps(data))
    planned = store.get_task_instance_record(run.run_id, "make", None).identity
    dispatch_once(store, run.run_id, executor)
    record = store.get_task_instance_record(run.run_id, "make", None)
    assert (record.state, record.output, record.identity) == (TaskState.SUCCESS, 5, "")
    assert store.find_cached("make", planned) is None
    assert "did not say which code" in explain_instance(store, run.run_id, "make", None)


def test_a_result_naming_a_class_outside_the_workflow_is_refused(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflow.engine.scheduler.dispatcher import dispatch_once

    # An installed package, imported, with a dataclass whose construction acts.
    site = tmp_path / "venv" / "lib" / "site-packages"
    site.mkdir(parents=True)
    (site / "acting_pkg.py").write_text(
        textwrap.dedent(
            f"""
            from dataclasses import dataclass
            from pathlib import Path

            @dataclass
            class Acting:
                x: int

                def __post_init__(self) -> None:
                    Path({str(tmp_path / "acted")!r}).write_text("")
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    import acting_pkg  # type: ignore[import-not-found]  # noqa: F401

    monkeypatch.setitem(sys.modules, "acting_pkg", sys.modules["acting_pkg"])
    executor, run = held_run(tmp_path, store, "foreign_class")
    executor.run("make", run.run_id)
    executor.run("point", run.run_id)
    foreign = {"__reflow__": True, "type": "dataclass", "class": "acting_pkg:Acting"}
    edit_result(
        RunLayout(run.run_dir, run.run_id).result_file("make", None),
        output=json.dumps({**foreign, "fields": {"x": 1}}),
    )
    dispatch_once(store, run.run_id, executor)
    refused = store.get_task_instance_record(run.run_id, "make", None)
    assert refused.state is TaskState.FAILED
    assert "is refused" in refused.error_text and "acting_pkg:Acting" in refused.error_text
    assert not (tmp_path / "acted").exists()  # never constructed
    # The workflow's own dataclass is rebuilt.
    point = store.get_task_instance_record(run.run_id, "point", None)
    assert point.state is TaskState.SUCCESS
    assert (type(point.output).__name__, point.output.x, point.output.y) == ("Point", 1, 2)


@pytest.mark.parametrize("unfrozen", [False, True], ids=["frozen", "submitted-before-freezing"])
def test_files_beside_the_script_are_found_through_file_and_old_runs_still_run(
    tmp_path: Path, store: Any, unfrozen: bool
) -> None:
    from reflow.engine.scheduler.code import code_record, job_script
    from reflow.engine.scheduler.dispatcher import dispatch_once
    from reflow.runs.context import read_context

    executor, run = held_run(tmp_path, store, f"beside_{unfrozen}", unfrozen=unfrozen)
    (beside_job,) = [j for j in executor.jobs if j.name.endswith(".beside")]
    frozen_dir = tmp_path / "run" / ".reflow" / run.run_id / "code" / "1"
    # The worker job names the run's run.json; it loads the script job_script gives.
    assert beside_job.command[2:4] == ("reflow.job", "work")
    context = read_context(Path(beside_job.command[4]))
    script = job_script(context, code_record(context.run_dir, context.run_id))
    assert (script.parent == frozen_dir) is not unfrozen
    executor.run("beside", run.run_id)
    dispatch_once(store, run.run_id, executor)
    record = store.get_task_instance_record(run.run_id, "beside", None)
    assert (record.state, record.output) == (TaskState.SUCCESS, "next to the script")


def test_an_element_that_ran_other_code_moves_to_that_codes_identity_and_is_explained(
    tmp_path: Path, store: Any
) -> None:
    from reflow.cli.commands.explain import _array_summary
    from reflow.engine.scheduler.dispatcher import dispatch_once

    executor, run = held_run(tmp_path, store, "other_code")
    executor.run("numbers", run.run_id)
    dispatch_once(store, run.run_id, executor)
    executor.run("square", run.run_id)
    planned = store.get_task_instance_record(run.run_id, "square", 1)
    ran = "f" * 64  # as a worker that loaded edited code reports it
    edit_result(RunLayout(run.run_dir, run.run_id).result_file("square", 1), code=ran)
    dispatch_once(store, run.run_id, executor)

    moved = store.get_task_instance_record(run.run_id, "square", 1)
    assert (moved.state, moved.output) == (TaskState.SUCCESS, 9)
    assert moved.identity not in ("", planned.identity)
    assert store.find_cached("square", planned.identity) is None  # never the planned one
    assert store.find_cached("square", moved.identity)["output"] == 9
    assert moved.cache_info["code"] == ran
    why = explain_instance(store, run.run_id, "square", 1)
    assert f"ran edited code: planned fingerprint {moved.cache_info['planned_code'][:12]}" in why
    assert f"ran {ran[:12]}" in why
    summary = _array_summary(store, run.run_id, "square")
    assert summary["counts"] == {"miss": 1, "miss (ran edited code)": 1}
    kept = store.get_task_instance_record(run.run_id, "square", 0)
    assert "code" not in kept.cache_info and store.find_cached("square", kept.identity)


# -- a job reads the files as they are when it runs ------------------------------------

FILES = """
import time
from pathlib import Path
from typing import Annotated
from reflow import Result, RunDir, Workflow

wf = Workflow("{name}")


@wf.job(cache_inputs="content")
def read(source: Path) -> str:
    return source.read_text()


@wf.job()
def write(run_dir: RunDir = RunDir()) -> Path:
    made = run_dir / "made.txt"
    made.write_text("made")
    return made


@wf.job(cache_inputs="content")
def consume(made: Annotated[Path, Result(step="write")]) -> str:
    return made.read_text()


@wf.job()
def gate(run_dir: RunDir = RunDir()) -> int:
    (run_dir / "waiting").write_text("")
    while not (run_dir / "go").exists():  # the test lets the run go on
        time.sleep(0.05)
    return 1


@wf.job(after=["gate"], cache_inputs="content")
def late(source: Path) -> str:
    return source.read_text()
"""


def opened(run_dir: Path) -> Path:
    """A run directory whose `gate` does not wait."""
    run_dir.mkdir()
    (run_dir / "go").write_text("")
    return run_dir


def test_a_parameter_file_edited_while_the_job_waits_never_gives_a_stale_hit(
    tmp_path: Path, store: Any
) -> None:
    from reflow.engine.scheduler.dispatcher import dispatch_once

    source = tmp_path / "in.txt"
    source.write_text("original")
    executor, run = held_run(tmp_path, store, "queued_param", script=FILES, source=source)
    planned = store.get_task_instance_record(run.run_id, "read", None)
    source.write_text("edited while queued")  # the job waits in the queue; the user edits
    executor.run("read", run.run_id)
    dispatch_once(store, run.run_id, executor)

    ran = store.get_task_instance_record(run.run_id, "read", None)
    assert (ran.state, ran.output) == (TaskState.SUCCESS, "edited while queued")
    assert ran.identity not in ("", planned.identity)
    assert store.find_cached("read", planned.identity) is None  # never the planned files
    why = explain_instance(store, run.run_id, "read", None)
    assert (
        f"ran with changed files: parameter 'source' file {source} changed "
        "(size 8 -> 19, content differs) while the job waited" in why
    ), why
    assert "recorded under the identity of the files it read" in why

    # The old content put back: a later run must read it, not get the edited result.
    source.write_text("original")
    again = run.workflow.run_local(opened(tmp_path / "again"), store=store, source=source)
    assert again.output("read") == "original"
    # The edited content again: the queued job's result is served under its own identity.
    source.write_text("edited while queued")
    third = run.workflow.run_local(opened(tmp_path / "third"), store=store, source=source)
    assert third.output("read") == "edited while queued"
    hit = explain_instance(store, third.run_id, "read", None)
    assert hit.startswith("read: cache hit") and run.run_id in hit


def test_an_input_file_edited_while_the_job_waits_is_kept_but_never_served(
    tmp_path: Path, store: Any
) -> None:
    from reflow.engine.scheduler.dispatcher import dispatch_once

    source = tmp_path / "in.txt"
    source.write_text("original")
    executor, run = held_run(tmp_path, store, "queued_input", script=FILES, source=source)
    executor.run("write", run.run_id)
    dispatch_once(store, run.run_id, executor)  # plans `consume` with made.txt as written
    made = run.run_dir / "made.txt"
    made.write_text("edited while queued")
    executor.run("consume", run.run_id)
    dispatch_once(store, run.run_id, executor)

    ran = store.get_task_instance_record(run.run_id, "consume", None)
    assert (ran.state, ran.output) == (TaskState.SUCCESS, "edited while queued")
    assert ran.identity == ""  # an input's Merkle hash cannot be redone from its files
    why = explain_instance(store, run.run_id, "consume", None)
    assert f"ran with changed files: input 'made' file {made} changed" in why, why
    assert "never reused from the cache" in why
    # The run directory a task receives is not hashed: a Path-free call reports nothing.
    written = json.loads(RunLayout(run.run_dir, run.run_id).result_file("write", None).read_text())
    assert "files" not in written


def test_run_local_records_a_late_task_under_the_files_it_read(tmp_path: Path, store: Any) -> None:
    from reflow.testing.scripts import load_script

    source = tmp_path / "in.txt"
    source.write_text("original")
    mod = load_script(tmp_path, "late_param", FILES.format(name="late_param"))
    run_dir = tmp_path / "run"

    def edit_then_go() -> None:  # while `gate` holds the run, after it started
        while not (run_dir / "waiting").exists():
            time.sleep(0.02)
        source.write_text("edited during the run")
        (run_dir / "go").write_text("")

    editor = threading.Thread(target=edit_then_go, daemon=True)
    editor.start()
    run = mod.wf.run_local(run_dir, store=store, source=source)
    editor.join(timeout=60)
    assert run.output("late") == "edited during the run"
    why = explain_instance(store, run.run_id, "late", None)
    assert f"ran with changed files: parameter 'source' file {source} changed" in why, why

    # The old content put back: the late task must read it again, not reuse.
    source.write_text("original")
    again = mod.wf.run_local(run_dir, store=store, source=source)
    assert again.output("late") == "original"
    # A Path-free task is not looked at: `gate` stays a plain hit.
    assert explain_instance(store, again.run_id, "gate", None).startswith("gate: cache hit")

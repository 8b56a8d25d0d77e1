"""Code written for the published reflow-hpc keeps working: its names, attributes and calls.

Each test is written from reflow-hpc's documented API (the reference documents) and
issue 20's list of what was missing; the docs page is ``docs/moving-from-reflow-hpc.md``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import reflow
from reflow import (
    Config,
    JobConfig,
    JobResources,
    LocalExecutor,
    RunState,
    TaskState,
    Workflow,
    config_path,
    load_config,
    write_example_config,
)
from reflow.errors import ConfigError, PluginNotFoundError, ReflowError
from reflow.executors.jobs import ArraySpec, JobState

# -- top-level names -------------------------------------------------------------------


def test_every_public_name_resolves_from_the_top_level() -> None:
    for name in ("JobResources", "write_example_config", "config_path", "LocalExecutor"):
        assert name in reflow.__all__
        assert getattr(reflow, name) is not None
    for name in ("SlurmExecutor", "PBSExecutor", "LSFExecutor", "SGEExecutor", "FluxExecutor"):
        assert name in reflow.__all__


@pytest.mark.parametrize(
    ("name", "package"),
    [
        ("SlurmExecutor", "slurm"),
        ("PBSExecutor", "pbs"),
        ("LSFExecutor", "lsf"),
        ("SGEExecutor", "sge"),
        ("FluxExecutor", "flux"),
    ],
)
def test_a_missing_executor_plugin_gives_the_pip_line(
    monkeypatch: pytest.MonkeyPatch, name: str, package: str
) -> None:
    # As if the plugin package were not installed (the core test session installs none).
    monkeypatch.setitem(sys.modules, f"reflow_executor_{package}", None)
    monkeypatch.delitem(sys.modules, f"reflow.executors.{package}", raising=False)
    monkeypatch.delitem(vars(reflow), name, raising=False)
    with pytest.raises(PluginNotFoundError) as info:
        exec(f"from reflow import {name}", {})
    assert isinstance(info.value, ImportError)
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith(f"Install it with: pip install reflow-executor-{package}")


def test_import_reflow_does_not_import_the_executor_plugins() -> None:
    # Lazy: the top-level names cost nothing until used.
    code = "import sys, reflow; print(any(m.startswith('reflow_executor_') for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# -- Config ------------------------------------------------------------------------------


def test_config_has_the_attributes_reflow_hpc_documents(tmp_path: Path) -> None:
    config = Config(
        {
            "executor": {
                "name": "slurm",
                "mode": "dry-run",
                "python": "/opt/py/bin/python3",
                "submit_options": {"queue": "compute", "account": "proj42"},
            },
            "dispatch": {"submit_options": {"partition": "short"}},
            "store": {"path": str(tmp_path / "m.db")},
        },
        environ={},
    )
    assert config.executor_submit_options == {"partition": "compute", "account": "proj42"}
    assert config.dispatch_submit_options == {"partition": "short"}
    assert config.executor_partition == "compute"
    assert config.executor_mode == "dry-run"
    assert config.executor_python == "/opt/py/bin/python3"
    assert config.default_store_path == tmp_path / "m.db"


def test_config_attributes_are_none_when_unset_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("REFLOW_STORE_PATH")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    empty = Config({}, environ={})
    assert (empty.executor_mode, empty.executor_partition, empty.executor_python) == (
        None,
        None,
        None,
    )
    assert empty.default_store_path == tmp_path / "cache" / "reflow" / "manifest.db"
    overridden = Config(
        {"executor": {"mode": "submit"}},
        environ={"REFLOW_MODE": "dry-run", "REFLOW_PARTITION": "gpu"},
    )
    assert overridden.executor_mode == "dry-run"
    assert overridden.executor_partition == "gpu"


def test_config_path_honours_xdg_config_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "reflow" / "config.toml"
    assert not (tmp_path / "xdg").exists()


def test_write_example_config_writes_a_file_load_config_reads(tmp_path: Path) -> None:
    target = tmp_path / "new" / "config.toml"
    assert write_example_config(target) == target
    config = load_config(target, environ={})
    assert config.source == target
    assert config.executor_name == "local"  # everything in the example is commented out
    assert "[executor.submit_options]" in target.read_text()


def test_write_example_config_defaults_to_config_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    written = write_example_config()
    assert written == tmp_path / "xdg" / "reflow" / "config.toml"
    assert written.is_file()


def test_write_example_config_never_overwrites_without_being_asked(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    target.write_text('[executor]\nname = "slurm"\n')
    assert write_example_config(target) == target
    assert target.read_text() == '[executor]\nname = "slurm"\n'
    write_example_config(target, overwrite=True)
    assert "# name = " in target.read_text()


def test_write_example_config_to_an_impossible_place_is_one_line_and_writes_nothing(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    with pytest.raises(ConfigError) as info:
        write_example_config(blocker / "config.toml")
    assert str(info.value) == (
        f"Cannot write the example configuration {blocker / 'config.toml'}: {blocker} is not "
        "a directory. Name a file in a directory you can write."
    )
    assert blocker.read_text() == "keep"


# -- JobResources and JobConfig -------------------------------------------------------------


def test_job_resources_takes_reflow_hpc_keywords() -> None:
    res = JobResources(
        job_name="convert",
        cpus=4,
        time_limit="02:00:00",
        mem="16G",
        array="0-9%3",
        submit_options={"partition": "gpu", "account": "proj42", "mail-user": "me@x.org"},
    )
    assert (res.job_name, res.cpus, res.time, res.time_limit, res.mem) == (
        "convert",
        4,
        "02:00:00",
        "02:00:00",
        "16G",
    )
    assert res.array == ArraySpec(tuple(range(10)), 3)
    assert res.partition == "gpu"
    assert res.account == "proj42"
    assert res.mail_user == "me@x.org"
    assert res.mail_type is None
    assert res.signal is None
    assert res.extra == res.submit_options == dict(res.options)


def test_job_resources_reflow_form_is_unchanged() -> None:
    res = JobResources(cpus=2, time="00:10:00", mem="1G", options={"queue": "short"})
    assert (res.cpus, res.time, res.mem, dict(res.options)) == (
        2,
        "00:10:00",
        "1G",
        {"queue": "short"},
    )
    assert res.partition == "short"  # queue is another spelling of partition
    assert res.job_name == "" and res.array is None


@pytest.mark.parametrize(
    ("text", "spec"),
    [("3", ArraySpec((3,))), ("1,3,5", ArraySpec((1, 3, 5))), ([2, 0, 1], ArraySpec((0, 1, 2)))],
)
def test_job_resources_array_forms(text: str | list[int], spec: ArraySpec) -> None:
    assert JobResources(array=text).array == spec


@pytest.mark.parametrize("text", ["0-x", "5-2", "0-3%0", ""])
def test_a_bad_array_is_one_line_naming_it(text: str) -> None:
    with pytest.raises(ValueError) as info:
        JobResources(array=text)
    assert str(info.value) == (
        f"invalid array {text!r}: write a range such as '0-9', '0-9%4' or '1,3,5'"
    )


def test_job_config_has_the_same_views() -> None:
    config = JobConfig(
        submit_options={"partition": "gpu"},
        account="proj42",
        mail_type="END",
        signal="B:USR1@60",
    )
    assert config.partition == "gpu"
    assert config.account == "proj42"
    assert config.mail_type == "END"
    assert config.signal == "B:USR1@60"
    assert config.mail_user is None
    assert config.extra is config.submit_options


@pytest.mark.parametrize("key", ["partition", "queue"])
def test_job_partition_or_queue_is_kept_as_given(key: str) -> None:
    wf = Workflow("compat_partition")

    @wf.job(**{key: "gpu"})  # type: ignore[arg-type]
    def step() -> int:
        return 1

    wf.validate()
    config = wf.tasks["step"].config
    assert config.submit_options == {key: "gpu"}
    assert config.partition == "gpu"


def test_job_partition_and_queue_together_are_kept_when_they_agree() -> None:
    wf = Workflow("compat_both")

    @wf.job(partition="gpu", queue="gpu")
    def step() -> int:
        return 1

    wf.validate()
    assert wf.tasks["step"].config.submit_options == {"partition": "gpu", "queue": "gpu"}


# -- executors (the local one here; the schedulers in tests/test_compat_executors.py) ------------


def test_local_executor_reads_the_mode_from_the_environment(tmp_path: Path) -> None:
    assert LocalExecutor.array_index_env_var == "REFLOW_ARRAY_INDEX"
    exc = LocalExecutor.from_environment(Config({}, environ={"REFLOW_MODE": "dry-run"}))
    assert exc.mode == "dry-run"
    assert LocalExecutor.from_environment(Config({}, environ={})).mode is None


def test_an_unknown_mode_is_one_line_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        LocalExecutor.from_environment(Config({}, environ={"REFLOW_MODE": "bogus"}))
    assert str(info.value) == (
        "Executor mode 'bogus' (from REFLOW_MODE or [executor] mode) is not known; "
        "use one of submit, dry-run."
    )
    with pytest.raises(ConfigError, match=r"^Executor mode 'fast' \(from LocalExecutor\(mode"):
        LocalExecutor(state_dir=tmp_path / "s", mode="fast")
    assert not (tmp_path / "s").exists()


def test_submit_takes_resources_and_a_command_in_dry_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    exc = LocalExecutor(state_dir=tmp_path / "state", mode="dry-run")
    res = JobResources(
        job_name="hello", array="0-2", submit_options=exc.dependency_options(["7", "8"])
    )
    assert exc.submit(res, "echo 'hi there'") == "DRYRUN"
    assert capsys.readouterr().out == (
        "[local dry-run] hello array [0, 1, 2] after ['7', '8']: echo hi there\n"
    )
    assert not (tmp_path / "state").exists()


def test_submit_with_resources_but_no_command_is_refused(tmp_path: Path) -> None:
    exc = LocalExecutor(state_dir=tmp_path / "state", mode="dry-run")
    with pytest.raises(ReflowError) as info:
        exc.submit(JobResources(job_name="x"))
    assert str(info.value) == (
        "submit(resources, command) needs a command: give a list such as "
        "['python', 'job.py'] or a string."
    )


def test_submit_of_a_job_spec_with_a_command_is_refused(tmp_path: Path) -> None:
    from reflow.executors.jobs import JobSpec

    exc = LocalExecutor(state_dir=tmp_path / "state", mode="dry-run")
    spec = JobSpec("x", ("true",), tmp_path, tmp_path)
    with pytest.raises(ReflowError) as info:
        exc.submit(spec, ["false"])
    assert str(info.value) == (
        "submit() takes a command only with a JobResources; a JobSpec carries its own."
    )


def test_a_dependency_option_another_scheduler_wrote_is_refused(tmp_path: Path) -> None:
    exc = LocalExecutor(state_dir=tmp_path / "state", mode="dry-run")
    with pytest.raises(ConfigError) as info:
        exc.submit(JobResources(submit_options={"dependency": "afterok:1"}), ["true"])
    assert str(info.value) == (
        "Submit option dependency='afterok:1' is not one local can read; "
        "build it with executor.dependency_options(job_ids)."
    )


def test_dependency_options_default_form() -> None:
    exc = LocalExecutor.__new__(LocalExecutor)
    assert exc.dependency_options(["1", "2"]) == {"dependency": "afterany:1:2"}
    assert exc.dependency_options([]) == {}


def test_submit_runs_a_reflow_hpc_job_and_job_state_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    exc = LocalExecutor(state_dir=tmp_path / "state", slots=1)
    assert exc.job_state("12345") is None
    job_id = exc.submit(JobResources(job_name="touch"), ["touch", str(tmp_path / "done")])
    deadline = time.monotonic() + 60
    while exc.job_state(job_id) not in JobState.ended():
        assert time.monotonic() < deadline, exc.job_state(job_id)
        time.sleep(0.1)
    assert exc.job_state(job_id) is JobState.COMPLETED
    assert (tmp_path / "done").exists()
    assert list((tmp_path / "logs").glob("touch-*.out"))


# -- the store and the run --------------------------------------------------------------


def _runs(store: object, statuses: list[RunState]) -> list[str]:
    ids = []
    for number, status in enumerate(statuses):
        run_id = f"wf-{number}"
        store.insert_run(run_id, "wf", "ada", {"run_dir": "/tmp"})  # type: ignore[attr-defined]
        store.update_run_status(run_id, status)  # type: ignore[attr-defined]
        ids.append(run_id)
    return ids


def test_list_runs_filters_by_status_limit_and_time(store: object) -> None:
    ids = _runs(store, [RunState.SUCCESS, RunState.FAILED, RunState.RUNNING, RunState.FAILED])
    list_runs = store.list_runs  # type: ignore[attr-defined]
    assert [r["run_id"] for r in list_runs()] == ids[::-1]
    assert [r["run_id"] for r in list_runs(status="failed")] == [ids[3], ids[1]]
    assert [r["run_id"] for r in list_runs(status=[RunState.RUNNING, "SUCCESS"])] == [
        ids[2],
        ids[0],
    ]
    assert [r["run_id"] for r in list_runs(limit=2)] == [ids[3], ids[2]]
    assert list_runs(limit=0) == []
    assert len(list_runs(since="1h")) == 4
    assert list_runs(until="2000-01-01") == []
    future = datetime.now(timezone.utc) + timedelta(days=1)
    assert list_runs(since=future) == []
    assert len(list_runs(until=future.replace(tzinfo=None))) == 4
    assert list_runs(graph_name="other") == []
    assert len(list_runs(graph_name="wf", user_id="ada", status="FAILED", limit=1)) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"status": "DONE"},
            "list_runs(status='DONE'): not a run state; use one of "
            + ", ".join(s.value for s in RunState)
            + ".",
        ),
        ({"limit": -1}, "list_runs(limit=-1): give a whole number of at least 0."),
        (
            {"since": "yesterday"},
            "list_runs(since=...) 'yesterday' is neither a date (2026-11-01, 2026-11-01T08:00) "
            "nor a duration ago (12h, 2d).",
        ),
    ],
)
def test_list_runs_refuses_a_bad_filter_in_one_line(
    store: object, kwargs: dict[str, object], message: str
) -> None:
    _runs(store, [RunState.SUCCESS])
    with pytest.raises(ReflowError) as info:
        store.list_runs(**kwargs)  # type: ignore[attr-defined]
    assert str(info.value) == message


FAILING = """
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job()
def items() -> list[int]:
    return [0, 1, 2]

@wf.job(array=True)
def check(x: Annotated[int, Result(step="items")]) -> int:
    if x == 1:
        raise ValueError(f"element {{x}} is bad")
    return x
"""


def _load(tmp_path: Path, name: str, source: str) -> Workflow:
    path = tmp_path / f"{name}.py"
    path.write_text(source.format(name=name))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    wf: Workflow = module.wf
    return wf


def test_status_lists_failed_instances_with_their_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wf = _load(tmp_path, "compat_failing", FAILING)
    run = wf.run_local(tmp_path / "run", on_error="continue")
    info = run.status(as_dict=True)
    assert info is not None
    [failed] = info["failed_instances"]
    assert (failed["task"], failed["index"]) == ("check", 1)
    assert "ValueError: element 1 is bad" in failed["error"]
    capsys.readouterr()
    assert run.status(errors=True) is None
    out = capsys.readouterr().out
    assert "\ncheck[1] (job -):\n" in out
    assert "    ValueError: element 1 is bad" in out


PIPELINE = """
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job()
def prepare() -> list[str]:
    return ["a", "b", "c"]

@wf.job(array=True)
def process(item: Annotated[str, Result(step="prepare")]) -> str:
    return item.upper()
"""


def test_dispatch_of_a_dry_run_run_submits_singletons_then_arrays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reflow.stores import StateUpdate

    wf = _load(tmp_path, "compat_dry", PIPELINE)
    exc = LocalExecutor(state_dir=tmp_path / "state", mode="dry-run")
    run = wf.submit(tmp_path / "run", executor=exc)
    record = run.store.get_run_record(run.run_id)
    assert record is not None and record.status is RunState.CANCELLED  # as documented
    capsys.readouterr()

    assert wf.dispatch(run.run_id, run.store, run_dir=tmp_path / "run") is RunState.RUNNING
    out = capsys.readouterr().out
    assert "[local dry-run] compat_dry.prepare: " in out
    assert "compat_dry.process" not in out  # its elements come from prepare's output
    assert run.status(as_dict=True)["summary"] == {"prepare": {"SUBMITTED": 1}}  # type: ignore[index]

    # What prepare's worker would record, then the next wave fans out over it.
    [inst] = run.store.list_task_instance_records(run.run_id, task_name="prepare")
    run.store.apply_state_updates([StateUpdate(inst.id, TaskState.RUNNING)])
    run.store.update_task_success(inst.id, ["a", "b", "c"])
    assert wf.dispatch(run.run_id) is RunState.RUNNING
    out = capsys.readouterr().out
    assert "[local dry-run] compat_dry.process array [0, 1, 2]: " in out
    assert run.status(as_dict=True)["summary"] == {  # type: ignore[index]
        "prepare": {"SUCCESS": 1},
        "process": {"SUBMITTED": 3},
    }
    assert not (tmp_path / "state").exists()  # nothing was really submitted


def test_dispatch_refuses_another_run_dir_and_an_unknown_run(tmp_path: Path) -> None:
    wf = _load(tmp_path, "compat_dry2", PIPELINE)
    run = wf.submit(
        tmp_path / "run", executor=LocalExecutor(state_dir=tmp_path / "state", mode="dry-run")
    )
    with pytest.raises(ReflowError) as info:
        wf.dispatch(run.run_id, run_dir=tmp_path / "elsewhere")
    assert str(info.value) == (
        f"Run {run.run_id!r} lives in {tmp_path / 'run'}, not {tmp_path / 'elsewhere'}; "
        f"pass run_dir={str(tmp_path / 'run')!r} or leave it out."
    )
    with pytest.raises(ReflowError) as info:
        wf.dispatch("compat_dry2-nope")
    assert str(info.value) == (
        "Run 'compat_dry2-nope' is not in the manifest store; nothing was dispatched."
    )
    record = run.store.get_run_record(run.run_id)
    assert record is not None and record.status is RunState.CANCELLED  # untouched


def test_cancel_runs_cancels_each_run_and_a_typo_cancels_nothing(tmp_path: Path) -> None:
    wf = _load(tmp_path, "compat_cancel", PIPELINE)
    exc = LocalExecutor(state_dir=tmp_path / "state", mode="dry-run")
    runs = [wf.submit(tmp_path / f"run{i}", executor=exc) for i in range(2)]
    for run in runs:
        wf.dispatch(run.run_id)  # prepare SUBMITTED, the run RUNNING
    ids = [run.run_id for run in runs]
    with pytest.raises(ReflowError) as info:
        wf.cancel_runs([ids[0], "compat_cancel-typo"])
    assert str(info.value) == (
        "Run 'compat_cancel-typo' is not in the manifest store; nothing was cancelled. "
        "List the runs with: reflow runs"
    )
    store = runs[0].store
    assert [getattr(store.get_run_record(i), "status", None) for i in ids] == [
        RunState.RUNNING
    ] * 2
    assert wf.cancel_runs(ids) == 2
    assert [getattr(store.get_run_record(i), "status", None) for i in ids] == [
        RunState.CANCELLED
    ] * 2
    for run_id in ids:
        summary = store.task_state_summary(run_id)
        assert summary == {"prepare": {"CANCELLED": 1}}


def test_every_exported_name_is_in_the_lazy_table() -> None:
    lazy = vars(reflow)["_LAZY"]
    assert [n for n in reflow.__all__ if n != "__version__" and n not in lazy] == []

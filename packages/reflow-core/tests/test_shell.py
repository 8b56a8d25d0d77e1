"""reflow.shell runs programs in strict bash; a task receives its resources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest

import reflow
from reflow import Resources, Result, ShellError, Workflow, shell
from reflow.engine.local import TaskFailedError


def test_values_are_quoted_so_a_file_name_stays_one_argument(tmp_path: Path) -> None:
    target = tmp_path / "a b; touch pwned"
    shell("printf x > {out}", out=target)
    assert target.read_text() == "x"
    assert not (Path.cwd() / "pwned").exists()
    done = shell("printf '%s|' {items}", items=["one two", 3, tmp_path], capture=True)
    assert done.stdout == f"one two|3|{tmp_path}|"


def test_a_program_failing_inside_a_pipe_fails_the_command() -> None:
    with pytest.raises(ShellError) as caught:
        shell("echo 'bwa: cannot open reads.fq' >&2; false | cat")
    assert caught.value.returncode == 1
    assert "bwa: cannot open reads.fq" in str(caught.value)


def test_the_command_and_its_stderr_go_to_the_tasks_log(capfd: pytest.CaptureFixture[str]) -> None:
    shell("echo to-err >&2; echo to-out")
    out, err = capfd.readouterr()
    assert out == "to-out\n"
    assert err == "+ echo to-err >&2; echo to-out\nto-err\n"


def test_an_unset_variable_fails_and_a_field_without_value_is_named() -> None:
    with pytest.raises(ShellError, match="unbound variable"):
        shell("echo $REFLOW_SURELY_NOT_SET")
    with pytest.raises(ValueError, match=r"\{ref\} in the command has no value; pass ref="):
        shell("bwa index {ref}")
    assert shell("echo {{literal}}", capture=True).stdout == "{literal}\n"


def test_the_stderr_tail_is_bounded() -> None:
    with pytest.raises(ShellError) as caught:
        shell("for i in $(seq 1 100); do echo line$i >&2; done; exit 4")
    tail = caught.value.stderr_tail.splitlines()
    assert tail[-1] == "line100" and len(tail) == reflow.programs.TAIL_LINES


def test_a_task_receives_its_resources_and_a_failing_pipe_fails_it(tmp_path: Path) -> None:
    wf = Workflow("given")

    @wf.job(cpus=2, mem="1500M", gpus=0)
    def count(res: Resources) -> str:
        return shell("echo {cpus} {mem}", cpus=res.cpus, mem=res.mem_mb, capture=True).stdout

    @wf.job()
    def broken(text: Annotated[str, Result(step="count")], res: Resources = Resources()) -> None:  # noqa: B008
        shell("printf {text} | grep -q nothing-like-this | cat", text=text)

    from reflow.stores.sqlite import SqliteStore

    assert "res" not in {p.name for p in wf.cli_params()}  # not on the command line
    store = SqliteStore(tmp_path / "m.db")
    with pytest.raises(TaskFailedError) as caught:
        wf.run_local(tmp_path / "run", store=store)
    assert caught.value.task == "broken"
    (run,) = store.list_runs()
    (failed,) = [
        i for i in store.list_task_instance_records(run["run_id"]) if i.task_name == "broken"
    ]
    assert "ShellError: command failed with exit status 1" in (failed.error_text or "")
    assert store.get_singleton_output(run["run_id"], "count") == "2 1500\n"

"""One naming rule for workflows, flows, tasks and prefixes, checked at definition."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reflow import Flow, Workflow
from reflow.errors import WorkflowDefinitionError


@pytest.mark.parametrize("name", ["team/x", ".hidden", "-flag", "a b", "x%j", "", "é", "a" * 101])
def test_a_workflow_name_that_would_break_a_path_is_refused_in_one_line(name: str) -> None:
    with pytest.raises(WorkflowDefinitionError) as info:
        Workflow(name)
    message = str(info.value)
    assert "letters, digits, '_', '-' and '.'" in message and "\n" not in message


@pytest.mark.parametrize("name", ["rna-seq", "v2.1", "_x", "2024_batch", "a" * 100])
def test_names_of_letters_digits_dash_dot_underscore_are_accepted(name: str) -> None:
    assert Workflow(name).name == name
    assert Flow(name).name == name


@pytest.mark.parametrize("name", ["bad name", "a-b", "a.b", "1st", "x/y"])
def test_a_task_name_given_with_name_is_refused(name: str) -> None:
    wf = Workflow("names")
    with pytest.raises(WorkflowDefinitionError, match=rf"Task name {name!r} is not valid"):

        @wf.job(name=name)
        def t() -> int:
            return 1


def test_a_flow_prefix_is_checked_and_so_is_the_task_name_it_makes() -> None:
    flow = Flow("lib")

    @flow.job()
    def step() -> int:
        return 1

    wf = Workflow("host")
    with pytest.raises(WorkflowDefinitionError, match=r"Flow 'lib' prefix name 'a/b'"):
        wf.include(flow, prefix="a/b")
    with pytest.raises(WorkflowDefinitionError, match=r"at most 100 characters"):
        wf.include(flow, prefix="p" * 97)
    wf.include(flow, prefix="ok")
    assert list(wf.tasks) == ["ok_step"]


def test_reflow_dag_of_a_script_with_a_bad_name_exits_2_with_one_line(tmp_path: Path) -> None:
    script = tmp_path / "bad.py"
    script.write_text("from reflow import Workflow\nwf = Workflow('team/x')\n")
    done = subprocess.run(
        [sys.executable, "-m", "reflow", "dag", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'team/x' is not valid" in lines[0], done.stderr

"""The workflow script's own command line: run, describe, dag, errors."""

from __future__ import annotations

import enum
import json
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import pytest

from reflow import Param, Result, Workflow
from reflow.errors import WorkflowDefinitionError


class Band(enum.Enum):
    LOW = 1


def pipeline() -> Workflow:
    wf = Workflow("clipipe")

    @wf.job()
    def make(count: Annotated[int, Param(help="How many", short="-n")] = 2) -> list[int]:
        return list(range(count))

    @wf.job(array=True)
    def double(i: Annotated[int, Result(step="make")]) -> int:
        if i == 99:
            raise RuntimeError("ninety-nine")
        return 2 * i

    @wf.job()
    def total(xs: Annotated[list[int], Result(step="double")]) -> int:
        return sum(xs)

    return wf


def test_run_executes_locally_and_prints_status_and_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = pipeline().cli(
        [
            "run",
            "--run-dir",
            str(tmp_path / "r"),
            "--store-path",
            str(tmp_path / "m.db"),
            "-n",
            "4",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    # The end-of-run summary: per task what ran, came from the cache, failed, was skipped.
    assert "SUCCESS after" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line[:1].isalpha()}
    assert rows["TASK"] == ["RAN", "CACHED", "FAILED", "SKIPPED"]
    assert rows["double"] == ["4", "0", "0", "0"]
    assert "total: 12" in out


def test_run_failure_is_exit_status_one_with_the_task_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = pipeline().cli(
        [
            "run",
            "--run-dir",
            str(tmp_path / "r"),
            "--store-path",
            str(tmp_path / "m.db"),
            "--count",
            "100",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "double[99] failed" in err and "ninety-nine" in err
    assert "Traceback" not in err


def test_bad_parameter_value_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        pipeline().cli(["run", "--run-dir", str(tmp_path), "--count", "many"])
    assert info.value.code == 2
    assert "--count" in capsys.readouterr().err


def test_debug_is_accepted_after_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert pipeline().cli(["describe", "--debug", "--json"]) == 0
    desc = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in desc["tasks"]] == ["make", "double", "total"]
    assert desc["tasks"][1]["result_deps"]["i"]["modes"] == ["fan_out"]


def test_invalid_workflow_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    wf = Workflow("broken")

    @wf.job(array=True)
    def lonely(x: Annotated[int, Result(step="nowhere")]) -> int:
        return x

    assert wf.cli(["describe"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("broken: error:") and "'nowhere'" in err and "\n" not in err


def test_describe_text_shows_defaults_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    wf = Workflow("plain")

    @wf.job()
    def t(
        band: Band = Band.LOW,
        day: date = date(2025, 3, 1),
        mode: Literal["a", "b"] = "a",
    ) -> None: ...

    assert wf.cli(["describe"]) == 0
    out = capsys.readouterr().out
    assert "default LOW" in out and "default 2025-03-01" in out
    assert "Literal['a', 'b'], default 'a'" in out and "-> None" in out


def test_dag_formats(capsys: pytest.CaptureFixture[str]) -> None:
    wf = pipeline()
    assert wf.cli(["dag", "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert '"make" -> "double" [label="i: fan_out"];' in dot
    assert wf.cli(["dag", "--format", "mermaid"]) == 0
    assert "double -->|xs: gather| total" in capsys.readouterr().out


def test_conflicting_submit_options_are_refused_at_registration() -> None:
    wf = Workflow("opts")
    with pytest.raises(WorkflowDefinitionError, match=r"task 'a' submit options.*queue"):

        @wf.job(queue="short", partition="long")
        def a() -> None: ...


def test_dict_flags_take_a_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    from reflow.cli.script.parser import build_parameter_parser

    wf = Workflow("dicts")

    @wf.job()
    def t(settings: dict[str, int] | None = None) -> None: ...

    parser = build_parameter_parser(wf)
    assert parser.parse_args(["--settings", '{"a": 1}']).settings == {"a": 1}
    with pytest.raises(SystemExit):
        parser.parse_args(["--settings", "[1, 2]"])
    assert "invalid JSON object value" in capsys.readouterr().err

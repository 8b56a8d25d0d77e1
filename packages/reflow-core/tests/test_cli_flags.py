"""The argparse flags generated from task signatures."""

from __future__ import annotations

import enum
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal, Optional

import pytest

from reflow import Param, Workflow
from reflow.cli.script.parser import build_parameter_parser, parameters_from_namespace
from reflow.errors import ParameterError, WorkflowDefinitionError


class Colour(enum.Enum):
    RED = "r"
    BLUE = "b"


def typed_workflow() -> Workflow:
    wf = Workflow("typed")

    @wf.job()
    def task(
        input_file: Path,
        n_items: int,
        ratio: float = 0.5,
        tags: list[str] = [],  # noqa: B006 - a default the CLI must show, never mutated
        sizes: list[int] | None = None,
        dry: bool = False,
        start: date = date(2025, 1, 1),
        stamp: Optional[datetime] = None,  # noqa: UP045 - the older spelling must work too
        colour: Colour = Colour.RED,
        mode: Literal["fast", "slow"] = "fast",
        label: str | None = None,
        settings: dict[str, int] | None = None,
    ) -> None: ...

    return wf


def test_flags_are_kebab_case_with_types() -> None:
    wf = typed_workflow()
    flags = [rp.cli_flag() for rp in wf.cli_params()]
    assert flags == [
        "--input-file",
        "--n-items",
        "--ratio",
        "--tags",
        "--sizes",
        "--dry",
        "--start",
        "--stamp",
        "--colour",
        "--mode",
        "--label",
        "--settings",
    ]
    parser = build_parameter_parser(wf)
    ns = parser.parse_args(
        [
            "--input-file",
            "in.csv",
            "--n-items",
            "3",
            "--ratio",
            "2",
            "--tags",
            "a",
            "b",
            "--sizes",
            "1",
            "2",
            "--dry",
            "--start",
            "2024-02-29",
            "--stamp",
            "2024-01-01T10:00:00",
            "--colour",
            "BLUE",
            "--mode",
            "slow",
            "--label",
            "x",
            "--settings",
            '{"k": 1}',
        ]
    )
    values = parameters_from_namespace(ns, wf.cli_params())
    assert values == {
        "input_file": Path("in.csv"),
        "n_items": 3,
        "ratio": 2.0,
        "tags": ["a", "b"],
        "sizes": [1, 2],
        "dry": True,
        "start": date(2024, 2, 29),
        "stamp": datetime(2024, 1, 1, 10, 0),
        "colour": Colour.BLUE,
        "mode": "slow",
        "label": "x",
        "settings": {"k": 1},
    }


def test_defaults_and_required() -> None:
    wf = typed_workflow()
    parser = build_parameter_parser(wf)
    ns = parser.parse_args(["--input-file", "f", "--n-items", "1", "--no-dry"])
    values = parameters_from_namespace(ns, wf.cli_params())
    assert values["ratio"] == 0.5 and values["tags"] == [] and values["sizes"] is None
    assert values["dry"] is False and values["colour"] is Colour.RED
    assert values["stamp"] is None and values["label"] is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--input-file", "f"])  # --n-items is required


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--n-items", "three"], "--n-items"),
        (["--ratio", "x"], "--ratio"),
        (["--start", "yesterday"], "--start"),
        (["--colour", "GREEN"], "--colour"),
        (["--mode", "medium"], "--mode"),
    ],
)
def test_bad_values_name_the_flag(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parameter_parser(typed_workflow())
    base = ["--input-file", "f", "--n-items", "1"]
    with pytest.raises(SystemExit):
        parser.parse_args(base + argv)
    assert fragment in capsys.readouterr().err


def test_help_shows_every_flag_with_its_default() -> None:
    help_text = build_parameter_parser(typed_workflow()).format_help()
    assert "--dry, --no-dry" in help_text
    assert "(default: 0.5)" in help_text
    assert "(default: RED)" in help_text
    assert "(default: 2025-01-01)" in help_text
    assert "{fast,slow}" in help_text
    assert help_text.count("(required)") == 2


def test_global_parameters_of_the_same_name_merge() -> None:
    wf = Workflow("merge")

    @wf.job()
    def a(date_: Annotated[str, Param(help="The day")] = "today") -> None: ...

    @wf.job()
    def b(date_: str = "today") -> None: ...

    params = wf.cli_params()
    assert len(params) == 1
    assert params[0].tasks == ("a", "b") and params[0].help_text == "The day"


def test_conflicting_types_of_a_shared_parameter_are_an_error() -> None:
    wf = Workflow("clash")

    @wf.job()
    def a(chunk: int = 1) -> None: ...

    @wf.job()
    def b(chunk: str = "1") -> None: ...

    with pytest.raises(WorkflowDefinitionError) as info:
        wf.validate()
    msg = str(info.value)
    assert "'chunk'" in msg and "'a'" in msg and "'b'" in msg and "namespace='local'" in msg


def test_conflicting_defaults_of_a_shared_parameter_are_an_error() -> None:
    wf = Workflow("clash")

    @wf.job()
    def a(chunk: int = 1) -> None: ...

    @wf.job()
    def b(chunk: int = 2) -> None: ...

    with pytest.raises(WorkflowDefinitionError, match=r"'chunk' defaults to 1 in task 'a' but 2"):
        wf.validate()


def test_duplicate_short_flags_are_an_error() -> None:
    wf = Workflow("short")

    @wf.job()
    def a(source: Annotated[str, Param(short="-s")] = "") -> None: ...

    @wf.job()
    def b(size: Annotated[int, Param(short="-s")] = 1) -> None: ...

    with pytest.raises(
        WorkflowDefinitionError, match=r"Short flag -s of task 'b' parameter 'size'"
    ):
        wf.validate()


def test_bad_default_for_its_type_is_an_error() -> None:
    wf = Workflow("bad")

    @wf.job()
    def a(n: int = "3") -> None: ...  # type: ignore[assignment]

    with pytest.raises(WorkflowDefinitionError, match=r"'a' parameter 'n': default '3'"):
        wf.validate()


def test_param_marker_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="namespace='module'"):
        Param(namespace="module")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="short='--s'"):
        Param(short="--s")


def test_check_parameters_from_python() -> None:
    wf = typed_workflow()
    values = wf.check_parameters({"input_file": "in.csv", "n_items": 2, "ratio": 1})
    # A relative path is made absolute here, before it is recorded (jobs start elsewhere).
    assert values["input_file"] == Path.cwd() / "in.csv" and values["ratio"] == 1.0
    assert values["mode"] == "fast"
    with pytest.raises(ParameterError, match=r"Missing required parameter 'n_items' \(--n-items"):
        wf.check_parameters({"input_file": "x"})
    with pytest.raises(
        ParameterError, match=r"Unknown parameter 'n_item'.*Did you mean 'n_items'"
    ):
        wf.check_parameters({"input_file": "x", "n_items": 1, "n_item": 2})
    with pytest.raises(ParameterError, match=r"'n_items' \(--n-items\) expects int, got str"):
        wf.check_parameters({"input_file": "x", "n_items": "2"})
    with pytest.raises(ParameterError, match=r"'mode' must be one of \['fast', 'slow'\]"):
        wf.check_parameters({"input_file": "x", "n_items": 1, "mode": "medium"})
    with pytest.raises(ParameterError, match=r"'tags' \(--tags\) expects a list of str"):
        wf.check_parameters({"input_file": "x", "n_items": 1, "tags": "a"})

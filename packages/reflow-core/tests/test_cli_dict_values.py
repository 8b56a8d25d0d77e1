"""``dict[K, V]`` parameters are type-checked like ``list[V]`` ones, on the CLI and in Python."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from reflow import Workflow
from reflow.errors import ParameterError


def workflow() -> Workflow:
    wf = Workflow("dicts")

    @wf.job()
    def t(
        settings: dict[str, int] | None = None,
        sizes: list[int] | None = None,
        weights: dict[int, float] | None = None,
    ) -> int:
        return len(settings or {}) + len(weights or {})

    return wf


def refused(wf: Workflow, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The error line of a command line argparse refuses with status 2."""
    with pytest.raises(SystemExit) as exit_:
        wf.cli(list(argv))
    assert exit_.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize(
    ("flag", "value", "problem"),
    [
        ("--settings", '{"a": 1, "b": "x"}', "the value of 'b' is str 'x', not int"),
        ("--settings", '{"a": true}', "the value of 'a' is bool True, not int"),
        ("--weights", '{"3": 1, "x": 2}', "the key 'x' is str, not int"),
        ("--weights", '{"3": "1"}', "the value of 3 is str '1', not float"),
    ],
)
def test_a_wrong_entry_is_refused_naming_the_flag(
    flag: str, value: str, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wf = workflow()
    run_dir = tmp_path / "run"
    line = refused(wf, capsys, "run", "--run-dir", str(run_dir), flag, value)
    kind = "dict[str, int]" if flag == "--settings" else "dict[int, float]"
    prog = Path(sys.argv[0]).name
    assert line == f"{prog} run: error: argument {flag}: invalid {kind} value {value!r}: {problem}"
    # the same way a list[int] element is refused
    assert refused(wf, capsys, "run", "--run-dir", str(run_dir), "--sizes", "1", "x") == (
        f"{prog} run: error: argument --sizes: invalid int value: 'x'"
    )
    assert not run_dir.exists()  # nothing was run or recorded
    assert not Path(tmp_path / "default-store" / "manifest.db").exists()


def test_good_values_pass_with_int_keys_from_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reflow.cli.script.parser import build_parameter_parser

    parser = build_parameter_parser(workflow())
    args = parser.parse_args(["--settings", '{"a": 1}', "--weights", '{"3": 1, "4": 2.5}'])
    assert args.settings == {"a": 1}
    assert args.weights == {3: 1, 4: 2.5}  # an int accepted as a float, as in a list[float]


def test_python_values_are_checked_the_same_way(tmp_path: Path) -> None:
    wf = workflow()
    with pytest.raises(ParameterError) as caught:
        wf.run_local(tmp_path / "run", settings={"a": "x"})
    assert str(caught.value) == (
        "Parameter 'settings' (--settings) expects dict[str, int] | None: "
        "the value of 'a' is str 'x', not int."
    )
    assert not (tmp_path / "run").exists()

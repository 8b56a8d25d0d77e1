"""Tests of the single registry of REFLOW_* environment variables."""

from __future__ import annotations

import ast
import inspect
import itertools

import pytest

from reflow import env


def _constants() -> dict[str, object]:
    return {name: value for name, value in vars(env).items() if name.startswith("REFLOW_")}


def test_every_constant_is_its_own_name_and_listed() -> None:
    constants = _constants()
    assert len(constants) >= 10
    for name, value in constants.items():
        assert value == name
        assert name in env.VARIABLES
        assert name in env.__all__


def test_variables_lists_only_defined_constants_with_descriptions() -> None:
    assert set(env.VARIABLES) == set(_constants())
    for description in env.VARIABLES.values():
        assert description.strip()


def test_every_constant_has_a_docstring_with_default_and_example() -> None:
    tree = ast.parse(inspect.getsource(env))
    documented: dict[str, str] = {}
    body = tree.body
    for statement, following in itertools.pairwise(body):
        if (
            isinstance(statement, ast.Assign)
            and isinstance(statement.targets[0], ast.Name)
            and statement.targets[0].id.startswith("REFLOW_")
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            documented[statement.targets[0].id] = following.value.value
    assert set(documented) == set(_constants())
    for name, doc in documented.items():
        assert "Default" in doc, name
        assert f"Example: ``{name}=" in doc, name


def test_get_reads_the_given_environment() -> None:
    assert env.get(env.REFLOW_EXECUTOR, {"REFLOW_EXECUTOR": "slurm"}) == "slurm"
    assert env.get(env.REFLOW_EXECUTOR, {}) is None


@pytest.mark.parametrize("value", ["", "   "])
def test_get_treats_empty_as_unset(value: str) -> None:
    assert env.get(env.REFLOW_PARTITION, {"REFLOW_PARTITION": value}) is None


def test_get_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLOW_QOS", "high")
    assert env.get(env.REFLOW_QOS) == "high"


def test_get_rejects_undeclared_variable() -> None:
    with pytest.raises(KeyError, match=r"REFLOW_TYPO.*reflow\.env"):
        env.get("REFLOW_TYPO", {"REFLOW_TYPO": "x"})


@pytest.mark.parametrize(
    ("variable", "value", "fix"),
    [
        ("REFLOW_MODE", "bogus", "use one of dry-run, submit, or unset it to submit for real"),
        (
            "REFLOW_LOG_LEVEL",
            "chatty",
            "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL, or unset it for WARNING",
        ),
        ("REFLOW_LOCAL_SLOTS", "0", "use a whole number of at least 1"),
        ("REFLOW_DISPATCH_FORGET_AFTER", "ten", "use a number of seconds of at least 0"),
    ],
)
def test_check_names_the_variable_and_what_it_takes(variable: str, value: str, fix: str) -> None:
    from reflow.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        env.check({variable: value})

    assert str(caught.value) == f"{variable}={value!r} is not valid: {fix}."


def test_check_accepts_valid_values_in_any_case() -> None:
    env.check(
        {
            "REFLOW_MODE": "DRY-RUN",
            "REFLOW_LOG_LEVEL": "debug",
            "REFLOW_LOCAL_SLOTS": "4",
            "REFLOW_DISPATCH_FORGET_AFTER": "0",
            "REFLOW_PARTITION": "anything goes",
        }
    )


def test_every_checked_variable_is_a_known_one() -> None:
    assert set(env._RULES) <= set(env.VARIABLES)

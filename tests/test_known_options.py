"""Each shipped executor declares its submit options, so a typo is refused before a run."""

from __future__ import annotations

import pytest

from reflow.config import SUBMIT_OPTION_KEYS
from reflow.errors import ConfigError
from reflow.executors import load_executor

SCHEDULERS = ["slurm", "pbs", "lsf", "sge", "flux"]


@pytest.mark.parametrize("name", SCHEDULERS)
def test_every_option_the_executor_maps_to_is_known(name: str) -> None:
    cls = load_executor(name)

    assert cls.known_options is not None
    assert set(cls._KEY_ALIASES.values()) <= cls.known_options


@pytest.mark.parametrize("name", SCHEDULERS)
def test_scheduler_agnostic_keys_pass_everywhere(name: str) -> None:
    load_executor(name).check_options(dict.fromkeys(SUBMIT_OPTION_KEYS, "x"), "task 't'")


def test_flux_refuses_an_option_that_would_become_the_command() -> None:
    # flux submit would take "--my-option=a b" apart and run "b" as the job.
    with pytest.raises(ConfigError, match=r"^Submit option 'my_option' of task 't' is not a flux"):
        load_executor("flux").check_options({"my_option": "a b"}, "task 't'")


def test_site_options_are_accepted() -> None:
    load_executor("slurm").check_options({"site_flag": 1}, "task 't'", ["site_flag"])


def test_local_checks_nothing() -> None:
    load_executor("local").check_options({"anything": 1}, "task 't'")

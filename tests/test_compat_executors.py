"""The scheduler executors answer reflow-hpc's calls, with every plugin installed.

Written from reflow-hpc's API: ``from reflow import SlurmExecutor``, the class attribute
``array_index_env_var``, ``from_environment()`` with ``REFLOW_MODE`` and the command
overrides (``REFLOW_SBATCH`` ...) readable as attributes (``exc.sbatch``),
``submit(JobResources, command)`` and ``dependency_options(job_ids)``.  Every submission
here is a dry run: nothing reaches a scheduler and no file is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import reflow
from reflow import Config, JobResources
from reflow.errors import ConfigError


@dataclass(frozen=True)
class Case:
    """What one scheduler's executor should answer."""

    name: str
    index_variable: str
    commands: dict[str, str]  # attribute -> the REFLOW_* variable replacing it
    dependency: dict[str, Any]  # dependency_options(["1", "2"])
    waits: tuple[str, ...]  # what the dry run shows for dependencies on 11 and 12
    partition: str  # what the dry run shows for partition="gpu" (or queue="gpu")
    site: dict[str, Any] = field(default_factory=dict)  # constructor options: no site probe


CASES = [
    Case(
        "SlurmExecutor",
        "SLURM_ARRAY_TASK_ID",
        {"sbatch": "REFLOW_SBATCH", "scancel": "REFLOW_SCANCEL", "sacct": "REFLOW_SACCT"},
        {"dependency": "afterany:1:2"},
        ("#SBATCH --dependency=afterany:11:12",),
        "#SBATCH --partition=gpu",
        {"max_array_size": 1001},
    ),
    Case(
        "PBSExecutor",
        "PBS_ARRAY_INDEX",
        {"qsub": "REFLOW_QSUB"},
        {"depend": "afterany:1:2"},
        ("-W depend=afterany:11:12",),
        "#PBS -q gpu",
        {"flavor": "pbspro"},
    ),
    Case(
        "LSFExecutor",
        "LSB_JOBINDEX",
        {"bsub": "REFLOW_BSUB"},
        {"w": "ended(1) && ended(2)"},
        ('#BSUB -w "ended(11) && ended(12)"',),
        "#BSUB -q gpu",
        {"mem_unit": "MB"},
    ),
    Case(
        "SGEExecutor",
        "SGE_TASK_ID",
        {"qsub": "REFLOW_QSUB"},
        {"hold_jid": "1,2"},
        ("#$ -hold_jid 11,12",),
        "#$ -q gpu",
        {"max_array_tasks": 75000},
    ),
    Case(
        "FluxExecutor",
        "FLUX_JOB_CC",
        {"flux": "REFLOW_FLUX"},
        {"dependency": ["afterany:1", "afterany:2"]},
        ("--dependency=afterany:11", "--dependency=afterany:12"),
        "--queue=gpu",
    ),
]


@pytest.fixture(autouse=True)
def _quiet_site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real command override or mode from the developer's shell; run in a scratch dir."""
    for variable in ("REFLOW_MODE", *{v for c in CASES for v in c.commands.values()}):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)


def _executor(case: Case, environ: dict[str, str] | None = None, **options: Any) -> Any:
    cls = getattr(reflow, case.name)
    config = Config({}, environ={"REFLOW_MODE": "dry-run"} if environ is None else environ)
    return cls.from_environment(config, state_dir="state", **case.site, **options)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_array_index_env_var_names_the_schedulers_variable(case: Case) -> None:
    cls = getattr(reflow, case.name)
    assert cls.array_index_env_var == case.index_variable


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_commands_are_attributes_and_the_environment_replaces_them(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _executor(case)
    assert plain.mode == "dry-run"
    for attribute in case.commands:
        assert getattr(plain, attribute) == attribute
    for attribute, variable in case.commands.items():
        monkeypatch.setenv(variable, f"/opt/site/bin/{attribute}-wrapper")
    replaced = _executor(case)
    for attribute in case.commands:
        assert getattr(replaced, attribute) == f"/opt/site/bin/{attribute}-wrapper"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_dependency_options_are_the_schedulers_own(case: Case) -> None:
    exc = _executor(case)
    assert exc.dependency_options(["1", "2"]) == case.dependency
    assert exc.dependency_options([]) == {}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("keys", [("partition",), ("queue",), ("partition", "queue")])
def test_submit_of_resources_in_dry_run_renders_partition_and_dependencies(
    case: Case,
    keys: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = next(iter(case.commands))
    monkeypatch.setenv(case.commands[first], f"/opt/site/bin/{first}")
    exc = _executor(case)
    resources = JobResources(
        job_name="compat",
        cpus=2,
        time_limit="00:10:00",
        mem="1G",
        submit_options={**dict.fromkeys(keys, "gpu"), **exc.dependency_options(["11", "12"])},
    )
    assert exc.submit(resources, ["echo", "hello"]) == "DRYRUN"
    out = capsys.readouterr().out
    assert out.startswith(f"[{exc.name} dry-run] compat: 1 submission(s)\n")
    assert out.count(case.partition) == 1  # both spellings agreeing: one option
    for wait in case.waits:
        assert wait in out
    assert f"/opt/site/bin/{first}" in out  # the override is the command that would run
    assert list(Path().iterdir()) == []  # a dry run writes nothing


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_an_unknown_mode_is_refused_in_one_line(case: Case) -> None:
    with pytest.raises(ConfigError) as info:
        _executor(case, environ={"REFLOW_MODE": "dryrun"})
    assert str(info.value) == (
        "Executor mode 'dryrun' (from REFLOW_MODE or [executor] mode) is not known; "
        "use one of submit, dry-run."
    )
    cls = getattr(reflow, case.name)
    with pytest.raises(
        ConfigError, match=rf"^Executor mode 'x' \(from {case.name}\(mode=\.\.\.\)\)"
    ):
        cls(state_dir="state", mode="x", **case.site)
    assert list(Path().iterdir()) == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_dry_run_mode_is_recorded_for_the_runs_later_dispatchers(case: Case) -> None:
    exc = _executor(case)
    assert exc.recorded_options()["mode"] == "dry-run"
    again = type(exc)(**exc.recorded_options())
    assert again.mode == "dry-run"

"""BatchSettings and the code every batch backend shares through BatchExecutor.

The backends rely on these: their constructor keywords and recorded options,
``REFLOW_<NAME>_BIN``, command paths, the chunk ids of split arrays and the
refusals of after_corr and option values.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

import pytest

from reflow import env
from reflow.executors import (
    ArrayChunk,
    ArrayMap,
    ArraySpec,
    BatchExecutor,
    BatchExecutorError,
    BatchSettings,
    JobSpec,
    JobStatus,
    SchedulerCommand,
    known_options,
    option_value,
)


class Colour(str, Enum):
    RED = "red"


class Acme(BatchExecutor):
    """A backend whose scheduler is faked by :meth:`run`: submissions print 100, 101 ..."""

    name: ClassVar[str] = "slurm"  # so that REFLOW_SLURM_BIN is its variable
    task_id_variable: ClassVar[str] = "ACME_TASK"
    bin_keyword: ClassVar[str] = "acme_bin"
    max_array_keyword: ClassVar[str | None] = "max_tasks"
    recorded_attributes: ClassVar[tuple[str, ...]] = ("colour",)
    acme_submit = SchedulerCommand(env.REFLOW_SBATCH)

    def __init__(
        self,
        state_dir: str | None = None,
        *,
        acme_bin: str | None = None,
        max_tasks: int | None = None,
        colour: Colour | str = Colour.RED,
        **options: Any,
    ) -> None:
        super().__init__(state_dir, bin_dir=acme_bin, max_array_size=max_tasks, **options)
        self.colour = Colour(colour)
        self.submitted = 100
        self.rendered: list[str] = []

    def max_array_index(self) -> int | None:
        return self.settings.max_array_size

    def render_script(self, job: JobSpec, chunk: ArrayChunk | None) -> str:
        self.rendered.append(job.name)
        return "#!/bin/bash\n" + self.script_body(job, chunk)

    def submit_argv(self, script_path: Path, job: JobSpec, chunk: ArrayChunk | None) -> list[str]:
        return [self.command("acme_submit"), str(script_path)]

    def parse_job_id(self, stdout: str) -> str:
        return stdout.strip()

    def query_argv(self, job_ids: Sequence[str]) -> list[list[str]]:
        return [["acme-status", *job_ids]]

    def parse_states(self, outputs: Sequence[str], job_ids: Sequence[str]) -> dict[str, JobStatus]:
        return {}

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["acme-cancel", *job_ids]

    def run(
        self, argv: Sequence[str], *, input: str | None = None, retry_timeouts: bool = True
    ) -> subprocess.CompletedProcess[str]:
        self.submitted += 1
        return subprocess.CompletedProcess(list(argv), 0, f"{self.submitted}\n", "")


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (env.REFLOW_SLURM_BIN, env.REFLOW_SBATCH):
        monkeypatch.delenv(variable, raising=False)


def _job(tmp_path: Path, **fields: Any) -> JobSpec:
    return JobSpec("j", ("true",), tmp_path, tmp_path / "logs", **fields)


def test_bin_dir_comes_from_the_keyword_then_reflow_name_bin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFLOW_SLURM_BIN", "/site/slurm/bin")

    assert BatchSettings.build("slurm", tmp_path).bin_dir == "/site/slurm/bin"
    assert BatchSettings.build("slurm", tmp_path, bin_dir="/mine").bin_dir == "/mine"
    assert BatchSettings.build("toy", tmp_path).bin_dir is None  # no variable for toy


def test_every_shipped_scheduler_has_a_bin_variable() -> None:
    for name in ("slurm", "pbs", "lsf", "sge", "flux"):
        assert env.bin_variable(name) == f"REFLOW_{name.upper()}_BIN"
        assert f"REFLOW_{name.upper()}_BIN" in env.VARIABLES


def test_settings_are_frozen_and_the_state_dir_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = BatchSettings.build("toy", "state", retries="2")  # type: ignore[arg-type]

    assert settings.state_dir == tmp_path / "state"
    assert settings.retries == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.retries = 5  # type: ignore[misc]


def test_a_command_override_wins_over_the_bin_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Acme(str(tmp_path)).command("acme_submit") == "acme_submit"
    assert Acme(str(tmp_path), acme_bin="/b").command("acme_submit") == "/b/acme_submit"
    monkeypatch.setenv("REFLOW_SBATCH", "/override/sbatch")
    executor = Acme(str(tmp_path), acme_bin="/b")

    assert executor.acme_submit == "/override/sbatch"
    assert executor.command("acme_cancel") == "/b/acme_cancel"


def test_recorded_options_use_the_backend_keywords_and_rebuild_it(tmp_path: Path) -> None:
    executor = Acme(str(tmp_path), acme_bin="/b", max_tasks=4, retries=1, mode="dry-run")

    recorded = executor.recorded_options()

    assert recorded == {
        "state_dir": str(tmp_path),
        "command_timeout": 60.0,
        "retries": 1,
        "backoff": 1.0,
        "acme_bin": "/b",
        "max_tasks": 4,
        "colour": "red",
        "mode": "dry-run",
    }
    assert Acme(**recorded).recorded_options() == recorded
    assert executor.acme_bin == "/b"  # type: ignore[attr-defined]
    assert executor.max_tasks == 4  # type: ignore[attr-defined]


def test_chunk_ids_name_a_split_array_only_when_the_backend_says_so(tmp_path: Path) -> None:
    job = _job(tmp_path, array=ArraySpec((0, 1, 2, 3, 4)))
    plain = Acme(str(tmp_path / "plain"), max_tasks=1)  # tasks 0-1 per chunk

    assert plain.submit(job) == "101+102+103"
    assert plain.arrays.load("102") is None

    class Aliasing(Acme):
        chunk_ids_name_array: ClassVar[bool] = True

    aliasing = Aliasing(str(tmp_path / "aliasing"), max_tasks=1)
    assert aliasing.submit(job) == "101+102+103"
    assert aliasing.arrays.load("102") == ArrayMap("102", aliasing.arrays.load("101").chunks)  # type: ignore[union-attr]
    assert aliasing.native_ids("102[2]") == ["102[0]"]


def test_precheck_refuses_before_any_file_is_written(tmp_path: Path) -> None:
    class Picky(Acme):
        def precheck(self, job: JobSpec) -> None:
            raise BatchExecutorError("no")

    with pytest.raises(BatchExecutorError, match="no"):
        Picky(str(tmp_path / "state")).submit(_job(tmp_path))
    assert not (tmp_path / "logs").exists()


def test_after_corr_needs_one_array_of_the_same_indices(tmp_path: Path) -> None:
    executor = Acme(str(tmp_path), max_tasks=9)
    first = executor.submit(_job(tmp_path, array=ArraySpec((0, 1))))
    chunk = ArrayChunk(0, (0, 1))

    assert executor.paired_arrays(_job(tmp_path, after_corr=(first,)), chunk, "aftercorr") == [
        first
    ]
    with pytest.raises(BatchExecutorError, match=r"after_corr on '101': aftercorr pairs"):
        executor.paired_arrays(
            _job(tmp_path, after_corr=(first,)), ArrayChunk(0, (0,)), "aftercorr"
        )


def test_option_value_names_the_job_and_option(tmp_path: Path) -> None:
    assert option_value("acme", _job(tmp_path), "gres", ["gpu", 2], ",") == "gpu,2"
    with pytest.raises(BatchExecutorError, match=r"^Cannot submit acme job 'j': submit option "):
        option_value("acme", _job(tmp_path), "gres", {"a": 1}, ",")


def test_known_options_is_the_union_of_its_groups() -> None:
    assert known_options(["a"], {"b": "-b"}, ("a", "c")) == frozenset("abc")

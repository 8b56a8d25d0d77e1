"""The bwa/samtools/bcftools example runs to SUCCESS; a program failing in a pipe fails its task.

Needs Debian's ``bwa``, ``samtools`` and ``bcftools`` (``.ci/run`` installs them); where they are
missing the tests skip, saying so, unless REFLOW_REQUIRE_PROGRAMS=1 (set by ``.ci/run``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from reflow import RunState
from reflow.engine.local import TaskFailedError
from reflow.stores.sqlite import SqliteStore

EXAMPLE = Path(__file__).parents[1] / "examples" / "variants" / "variants.py"
PROGRAMS = ("bwa", "samtools", "bcftools")


@pytest.fixture(scope="module")
def example() -> ModuleType:
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (apt-get install bwa samtools bcftools)"
        if os.environ.get("REFLOW_REQUIRE_PROGRAMS") == "1":
            pytest.fail(f"{message}, and REFLOW_REQUIRE_PROGRAMS=1")
        pytest.skip(message)
    spec = importlib.util.spec_from_file_location("variants_example", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_calls_every_simulated_snp(example: ModuleType, tmp_path: Path) -> None:
    run = example.wf.run_local(tmp_path / "run", store=SqliteStore(tmp_path / "m.db"))
    assert run.wait(timeout=10) is RunState.SUCCESS
    result = run.output("call")
    assert result["called"] == result["true_snps_called"] == 10
    assert Path(result["vcf"]).stat().st_size > 0


def test_bwa_failing_inside_the_pipe_fails_align(example: ModuleType, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "m.db")
    data = tmp_path / "run" / "data"
    data.mkdir(parents=True)
    example.wf.run_local(tmp_path / "run", store=store, samples=1, length=2000)
    for index_file in data.glob("ref.fa.bwt"):
        index_file.unlink()  # bwa mem now fails; samtools sort, after it in the pipe, would not
    (data / "sample0.bam").unlink()
    with pytest.raises(TaskFailedError) as caught:
        example.wf.run_local(
            tmp_path / "run", store=store, samples=1, length=2000, force_tasks=["align"]
        )
    assert caught.value.task == "align"
    failed = [
        inst
        for run in store.list_runs()
        for inst in store.list_task_instance_records(run["run_id"])
        if inst.task_name == "align" and inst.error_text
    ]
    assert "fail to locate the index" in (failed[0].error_text or "")

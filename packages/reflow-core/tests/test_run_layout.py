"""``RunLayout``: where each file of a run lives in its run directory.

The on-disk layout is what runs made by earlier versions left behind, so the
table below is pinned: ``reflow gc``, ``reflow logs`` and ``reflow report``
read old run directories through the same paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from reflow.executors.batch import BatchExecutor
from reflow.executors.jobs import JobSpec
from reflow.runs.layout import RunLayout, instance_file_name, task_log_parts

RUN = "demo-20261206-120000-0badcafe"


def _per_run(layout: RunLayout) -> dict[str, Path]:
    """Every file and folder the layout gives one run, by what it is."""
    return {
        "results_dir": layout.results_dir,
        "state_dir": layout.state_dir,
        "context_file": layout.context_file,
        "input_file": layout.input_file("square", 3),
        "started_file": layout.started_file("square", 3),
        "result_file": layout.result_file("square", 3),
        "input_single": layout.input_file("report", None),
        "started_single": layout.started_file("report", None),
        "result_single": layout.result_file("report", None),
        "dispatcher_file": layout.dispatcher_file,
        "dispatch_lock": layout.dispatch_lock,
        "planned_file": layout.planned_file,
        "unknown_file": layout.unknown_file,
        "code_file": layout.code_file,
        "code_dir": layout.code_dir(2),
        "usage_file": layout.usage_file,
    }


def _shared(layout: RunLayout) -> dict[str, Path]:
    """The folders every run of the run directory shares."""
    return {
        "logs_dir": layout.logs_dir,
        "results_root": layout.results_root,
        "state_root": layout.state_root,
        "scripts_dir": layout.scripts_dir,
    }


def test_the_layout_on_disk_is_the_one_earlier_runs_left() -> None:
    layout = RunLayout(Path("/scratch/run"), RUN)
    relative = {
        name: path.relative_to("/scratch/run").as_posix()
        for name, path in {**_per_run(layout), **_shared(layout)}.items()
    }
    assert relative == {
        "results_dir": f"results/{RUN}",
        "state_dir": f".reflow/{RUN}",
        "context_file": f".reflow/{RUN}/run.json",
        "input_file": f".reflow/{RUN}/inputs/square/3.json",
        "started_file": f".reflow/{RUN}/started/square/3.json",
        "result_file": f"results/{RUN}/square/3.json",
        "input_single": f".reflow/{RUN}/inputs/report/single.json",
        "started_single": f".reflow/{RUN}/started/report/single.json",
        "result_single": f"results/{RUN}/report/single.json",
        "dispatcher_file": f".reflow/{RUN}/dispatcher.json",
        "dispatch_lock": f".reflow/{RUN}/dispatch.lock",
        "planned_file": f".reflow/{RUN}/planned.json",
        "unknown_file": f".reflow/{RUN}/unknown.json",
        "code_file": f".reflow/{RUN}/code.json",
        "code_dir": f".reflow/{RUN}/code/2",
        "usage_file": f".reflow/{RUN}/usage.jsonl",
        "logs_dir": "logs",
        "results_root": "results",
        "state_root": ".reflow",
        "scripts_dir": ".reflow-scripts",
    }
    assert layout.task_log("square", "41", 3).relative_to("/scratch/run").as_posix() == (
        "logs/square-41_3.out"
    )
    assert layout.task_log("sub/task", "7", None, "err").name == "sub_task-7.err"
    assert layout.dispatcher_log_name == f"dispatch.{RUN}"


def test_every_per_run_path_lies_in_a_folder_named_by_the_run_id(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path, RUN)
    assert layout.own_dirs == (tmp_path / "results" / RUN, tmp_path / ".reflow" / RUN)
    for name, path in _per_run(layout).items():
        assert any(path == d or d in path.parents for d in layout.own_dirs), name
    for name, path in _shared(layout).items():
        assert path.parent == tmp_path and RUN not in path.parts, name


def test_two_runs_in_one_run_dir_share_no_file_of_their_own(tmp_path: Path) -> None:
    one, two = RunLayout(tmp_path, RUN), RunLayout(tmp_path, "demo-20261206-120000-0badcaff")
    ones, twos = set(_per_run(one).values()), set(_per_run(two).values())
    assert len(ones) == len(_per_run(one)) and not ones & twos
    assert not any(a in b.parents or b in a.parents for a in ones for b in twos)
    assert _shared(one) == _shared(two)
    assert one.dispatcher_log_name != two.dispatcher_log_name


def test_a_runs_dispatcher_logs_are_found_by_name_and_no_others(tmp_path: Path) -> None:
    one, two = RunLayout(tmp_path, RUN), RunLayout(tmp_path, f"{RUN}0")  # one id a prefix
    one.logs_dir.mkdir()
    assert one.dispatcher_logs() == []
    names = [
        f"{one.dispatcher_log_name}-5.out",
        f"{one.dispatcher_log_name}-5.err",
        f"{one.dispatcher_log_name}-9.err",
        f"{two.dispatcher_log_name}-6.out",
        "demo.dispatch-4.err",  # a run's from before the names held the run id
        "process-5_0.out",
    ]
    for name in names:
        (one.logs_dir / name).write_text("")
    assert [p.name for p in one.dispatcher_logs()] == sorted(names[:3])
    assert [p.name for p in two.dispatcher_logs()] == [names[3]]
    assert RunLayout(tmp_path / "nowhere", RUN).dispatcher_logs() == []


def test_task_log_names_read_back() -> None:
    layout = RunLayout(Path("/r"), RUN)
    assert task_log_parts(layout.task_log("process", "41", 3, "err").name) == ("process", "41")
    assert task_log_parts(layout.task_log("a/b", "7", None).name) == ("a_b", "7")
    assert task_log_parts("notes.txt") is None
    assert instance_file_name(None) == "single.json"


@pytest.mark.parametrize("run_id", ["", ".", "..", "a/b", "a\\b"])
def test_a_run_id_that_could_leave_its_folders_owns_none(run_id: str) -> None:
    """``reflow gc`` deletes ``own_dirs``: they must never reach another run's files."""
    assert RunLayout(Path("/r"), run_id).own_dirs == ()


def test_batch_executors_write_job_scripts_where_the_layout_says(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path, RUN)
    job = JobSpec("demo.dispatch", ("true",), workdir=tmp_path, log_dir=layout.logs_dir)
    # scripts_dir reads only the job; no scheduler is needed to ask it
    assert BatchExecutor.scripts_dir(cast("BatchExecutor", None), job) == layout.scripts_dir

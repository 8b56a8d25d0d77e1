"""``reflow runs``: one line per run, filters, JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import Demo, Outcome


def test_every_run_is_listed_newest_first_with_status_progress_and_executor(demo: Demo) -> None:
    done = demo.cli("runs")
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[0].split() == ["RUN", "WORKFLOW", "STATUS", "PROGRESS", "AGE", "EXECUTOR"]
    rows = [line.split() for line in lines[1:]]
    assert [row[0] for row in rows] == [demo.sched, demo.failed, demo.ok]
    by_id = {row[0]: row for row in rows}
    assert by_id[demo.sched][1:4] == ["demo", "SUCCESS", "7/7"]
    assert by_id[demo.sched][5] == "local"
    # the failed run: find_inputs and three process elements succeeded, report never planned
    assert by_id[demo.failed][2:4] == ["FAILED", "4/6"]
    assert by_id[demo.failed][5] == "run_local"
    assert by_id[demo.ok][2:4] == ["SUCCESS", "6/6"]


def test_filters_and_json(demo: Demo) -> None:
    failed = json.loads(demo.cli("runs", "--status", "failed", "--json").out)
    assert [(r["run_id"], r["done"], r["total"]) for r in failed] == [(demo.failed, 4, 6)]
    assert failed[0]["run_dir"] == str(demo.run_dir())
    assert json.loads(demo.cli("runs", "--workflow", "other", "--json").out) == []
    assert len(json.loads(demo.cli("runs", "--last", "1", "--json").out)) == 1
    assert json.loads(demo.cli("runs", "--since", "2999-01-01", "--json").out) == []
    assert len(json.loads(demo.cli("runs", "--since", "1h", "--json").out)) == 3


def test_bad_filters_are_one_line_errors_with_status_2(demo: Demo) -> None:
    for argv, words in (
        (("runs", "--status", "DONE"), "not a run state"),
        (("runs", "--since", "yesterday"), "--since 'yesterday'"),
    ):
        done = demo.cli(*argv)
        assert done.code == 2
        assert done.out == ""
        assert done.err.startswith("reflow: error: ") and words in done.err
        assert done.err.count("\n") == 1


def test_a_store_path_that_does_not_exist_is_an_error_and_creates_nothing(
    tmp_path: Path, reflow_cli: Callable[..., Outcome]
) -> None:
    typo = tmp_path / "nowhere" / "manifest.db"
    for argv in (("runs",), ("status", "latest"), ("gc", "--dry-run")):
        done = reflow_cli(*argv, "--store-path", str(typo))
        assert done.code == 2, (argv, done.out)
        assert done.err.startswith("reflow: error: No manifest store at ")
        assert done.err.count("\n") == 1 and done.out == ""
    assert not (tmp_path / "nowhere").exists()


def test_an_age_reaching_before_year_one_is_a_one_line_error(demo: Demo) -> None:
    for argv in (("runs", "--since", "1000000w"), ("gc", "--older-than", "99999999999d")):
        done = demo.cli(*argv)
        assert done.code == 2, (argv, done.err)
        why = f"{argv[1]} {argv[2]!r} reaches back before year 1; give a shorter duration."
        assert done.err == f"reflow: error: {why}\n"


def test_runs_left_out_by_last_are_counted(demo: Demo) -> None:
    lines = demo.cli("runs", "--last", "2").out.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == [demo.sched, demo.failed]
    assert lines[3:] == ["The 2 newest of 3 runs; --last 3 shows all."]
    assert len(demo.cli("runs").out.splitlines()) == 4  # all shown: no such line

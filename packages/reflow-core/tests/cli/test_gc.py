"""``reflow gc``: old runs go with their files; active runs never do; the database shrinks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reflow import RunState
from reflow.runs.layout import RunLayout

if TYPE_CHECKING:
    from conftest import Demo


def _files(root: Path, run_id: str) -> list[Path]:
    return [p for p in RunLayout(root, run_id).own_dirs if p.exists()]


def _tree(root: Path) -> set[Path]:
    """Every file under ``root``."""
    return {p for p in root.rglob("*") if p.is_file()}


def _keep_running(demo: Demo, run_id: str) -> None:
    """Mark ``run_id`` RUNNING with a dispatcher just queued: active, and not LOST."""
    from reflow.stores import RunOwner
    from reflow.stores.sqlite import SqliteStore

    store = SqliteStore(demo.store_path)
    store.update_run_status(run_id, RunState.RUNNING)
    # a retry going on: its dispatcher was just queued (the scheduler does not
    # report it yet), so it is not LOST
    store.set_run_owner(run_id, RunOwner(job_id="424242", executor="local"))
    store.close()


def _submit_again(demo: Demo, state_dir: Path) -> str:
    """Submit the demo workflow once more into the same run directory; its run id."""
    import importlib.util

    from reflow.executors.local.executor import LocalExecutor
    from reflow.stores.sqlite import SqliteStore

    spec = importlib.util.spec_from_file_location(demo.script.stem, demo.script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    store = SqliteStore(demo.store_path)
    again = module.wf.submit(
        demo.run_dir(),
        store=store,
        executor=LocalExecutor(state_dir=state_dir),
        count=5,
        force=True,
    )
    assert again.wait(timeout=120) is RunState.SUCCESS
    store.close()
    _keep_running(demo, again.run_id)
    return str(again.run_id)


def test_gc_deletes_old_runs_and_their_files_but_never_an_active_run(
    gc_demo: Demo,
) -> None:
    from reflow.stores.sqlite import SqliteStore

    demo = gc_demo
    run_dir = demo.run_dir()
    logs_before = sorted(p.name for p in (run_dir / "logs").iterdir())
    assert any(name.startswith("process-") for name in logs_before)
    assert _files(run_dir, demo.sched)

    preview = demo.cli("gc", "--older-than", "0s", "--dry-run")
    assert preview.code == 0, preview.err
    assert f"Kept 1 old run(s) still active: {demo.ok} (RUNNING)" in preview.out
    assert "Would delete 2 run(s)" in preview.out
    assert len(json.loads(demo.cli("runs", "--json").out)) == 3  # nothing deleted
    assert _files(run_dir, demo.sched)

    nothing = json.loads(demo.cli("gc", "--json").out)  # default: older than 30 days
    assert nothing["deleted"] == [] and nothing["older_than"] == "30d"

    done = demo.cli("gc", "--older-than", "0s", "--json")
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert sorted(e["run_id"] for e in report["deleted"]) == sorted([demo.failed, demo.sched])
    assert [e["run_id"] for e in report["kept_active"]] == [demo.ok]
    sched = next(e for e in report["deleted"] if e["run_id"] == demo.sched)
    assert sched["instances"] == 7 and sched["files"] > 0
    assert report["database"]["bytes_after"] <= report["database"]["bytes_before"]

    store = SqliteStore(demo.store_path)
    assert [r.run_id for r in store.list_run_records()] == [demo.ok]
    assert store.list_task_instance_records(demo.sched) == []
    record = store.get_run_record(demo.ok)
    assert record is not None and record.status is RunState.RUNNING
    assert len(store.list_task_instance_records(demo.ok)) == 6
    store.close()
    assert _files(run_dir, demo.sched) == [] and _files(run_dir, demo.failed) == []
    assert _files(run_dir, demo.ok)  # the active run keeps its files
    logs_after = sorted(p.name for p in (run_dir / "logs").iterdir())
    assert not any(name.startswith(("process-", "report-", "find_inputs-")) for name in logs_after)
    dispatchers = f"{RunLayout(run_dir, demo.sched).dispatcher_log_name}-"
    assert any(name.startswith(dispatchers) for name in logs_before)
    assert not any(name.startswith(dispatchers) for name in logs_after)
    assert (run_dir / "logs").is_dir()


def test_bad_age_is_a_one_line_error(gc_demo: Demo) -> None:
    done = gc_demo.cli("gc", "--older-than", "a month")
    assert done.code == 2
    assert "--older-than 'a month' is not a duration" in done.err


def test_gc_keeps_log_files_a_remaining_run_also_claims(gc_demo: Demo) -> None:
    """Two local executors (another user's, or an emptied cache) count job ids from 1 in
    the same run directory: the log files then carry the same names, and the newer run's
    must survive the old run's deletion."""
    demo = gc_demo
    again = _submit_again(demo, demo.root / "other-jobs")
    path = demo.cli("logs", again, "process[4]", "--path").out.strip()
    old = demo.cli("logs", demo.sched, "process[4]", "--path").out.strip()
    assert path == old  # the same job id, so the same file name

    done = demo.cli("gc", "--older-than", "0s", "--json")
    assert done.code == 0, done.err
    assert demo.sched in [e["run_id"] for e in json.loads(done.out)["deleted"]]
    assert Path(path).is_file(), "gc deleted a log file of the run still active"
    assert demo.cli("logs", again, "process[4]").code == 0


def test_gc_removes_exactly_the_runs_files_and_keeps_another_runs_in_the_same_run_dir(
    gc_demo: Demo,
) -> None:
    """Two submitted runs share one run directory (and its logs folder): deleting one
    takes its results, bookkeeping, task logs and dispatcher logs, and not one file of
    the other."""
    demo = gc_demo
    run_dir = demo.run_dir()
    old = _tree(run_dir)  # the files of ok, failed and sched
    ok_files = {
        p for p in old if any(d in p.parents for d in RunLayout(run_dir, demo.ok).own_dirs)
    }
    again = _submit_again(demo, demo.root / "jobs")  # the same executor: job ids go on
    mine = _tree(run_dir) - old
    layout = RunLayout(run_dir, again)
    assert layout.dispatcher_logs() and set(layout.dispatcher_logs()) <= mine
    assert any(p.name.startswith("process-") for p in mine)  # its task jobs' logs
    assert layout.result_file("process", 4) in mine and layout.input_file("process", 4) in mine

    done = demo.cli("gc", "--older-than", "0s", "--json")
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert sorted(e["run_id"] for e in report["deleted"]) == sorted([demo.failed, demo.sched])
    assert _tree(run_dir) == mine | ok_files
    assert RunLayout(run_dir, demo.sched).dispatcher_logs() == []


def test_gc_finds_the_dispatcher_logs_of_runs_made_before_they_held_the_run_id(
    gc_demo: Demo,
) -> None:
    """Older runs named their dispatcher logs for the workflow only; gc still finds
    them, by the run id their last line names, and leaves another run's alone."""
    demo = gc_demo
    logs = demo.run_dir() / "logs"
    for path in RunLayout(demo.run_dir(), demo.sched).dispatcher_logs():
        job = path.name.rsplit("-", 1)[1]
        path.rename(logs / f"demo.dispatch-{job}")  # the name before (the workflow is "demo")
    legacy = sorted(p.name for p in logs.glob("demo.dispatch-*"))
    assert legacy
    other = logs / "demo.dispatch-999.err"
    other.write_text("2026-01-01 00:00:00,000 INFO run demo-19990101-000000-0000abcd: SUCCESS\n")

    done = demo.cli("gc", "--older-than", "0s", "--json")
    assert done.code == 0, done.err
    assert demo.sched in [e["run_id"] for e in json.loads(done.out)["deleted"]]
    assert sorted(p.name for p in logs.glob("demo.dispatch-*")) == [other.name]


def test_a_run_whose_files_cannot_be_read_is_kept_and_the_others_go(
    gc_demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a shared store, another user's run directory may be closed to this user."""
    demo = gc_demo
    private = demo.run_dir() / "results" / demo.failed
    exists = Path.exists

    def closed(path: Path) -> bool:  # what Path.exists does under a 0700 folder (not root)
        if path == private:
            raise PermissionError(13, "Permission denied", str(path))
        return exists(path)

    monkeypatch.setattr(Path, "exists", closed)
    done = demo.cli("gc", "--older-than", "0s")
    assert done.code == 0, done.err
    assert "Deleted 1 run(s)" in done.out
    assert f"cannot be read: {demo.failed} (Permission denied: {private})" in done.out
    monkeypatch.undo()
    listed = [r["run_id"] for r in json.loads(demo.cli("runs", "--json").out)]
    assert sorted(listed) == sorted([demo.ok, demo.failed])

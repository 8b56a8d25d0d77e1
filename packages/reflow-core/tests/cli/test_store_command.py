"""``reflow store copy`` and ``reflow store info``: every record survives a copy, the cache too."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from reflow import RunState, TaskState, Workflow
from reflow.stores import NewTaskInstance, RunOwner, StateUpdate, Store
from reflow.stores.sqlite import SqliteStore
from reflow.testing.workflows import THREE_STEPS_JOINED, three_steps

if TYPE_CHECKING:
    from conftest import Demo, Outcome


def _url(path: Path) -> str:
    return f"sqlite://{path}"


def _add_hand_run(store: Store) -> None:
    """A run whose instances sit in every state a real run leaves them in, job ids included."""
    store.insert_run("hand", "demo", "bob", {"count": 2}, executor="slurm")
    store.set_run_owner("hand", RunOwner(job_id="99", executor="slurm"))
    store.insert_task_spec("hand", "a", True, {"cpus": 2}, [])
    store.insert_task_spec("hand", "b", False, {}, ["a"])
    states = [
        TaskState.PENDING,
        TaskState.SUBMITTED,
        TaskState.RUNNING,
        TaskState.RETRYING,
        TaskState.CANCELLED,
        TaskState.SKIPPED,
        TaskState.FAILED,
        TaskState.SUCCESS,
    ]
    ids = store.insert_task_instances(
        "hand",
        [
            NewTaskInstance("a", i, input={"i": i}, identity=f"{i:064x}", input_hash=f"{i:064x}")
            for i in range(len(states))
        ],
    )
    updates = []
    for i, (state, ident) in enumerate(zip(states, ids, strict=True)):
        if state in (TaskState.PENDING, TaskState.SKIPPED):
            pass
        elif state is TaskState.RETRYING:
            updates += [StateUpdate(ident, TaskState.FAILED, error_text="x")]
        else:
            updates += [StateUpdate(ident, TaskState.SUBMITTED, job_id=f"77_{i}")]
        if state not in (TaskState.PENDING, TaskState.SUBMITTED):
            updates += [
                StateUpdate(
                    ident,
                    state,
                    job_id=f"77_{i}" if state is TaskState.RUNNING else None,
                    output={"value": i} if state is TaskState.SUCCESS else None,
                    output_hash=f"{i + 100:064x}" if state is TaskState.SUCCESS else "",
                    error_text=f"reason {i}" if state is not TaskState.SUCCESS else None,
                )
            ]
    store.apply_state_updates(updates)
    store.set_cache_info(ids[-1], {"status": "miss", "inputs": {"i": "00"}})
    store.record_array_identity("hand", "a", "ab" * 32, len(states))
    store.update_run_status("hand", RunState.FAILED)


@pytest.fixture
def source(demo: Demo, tmp_path: Path) -> Path:
    """The demo store's three real runs, plus :func:`_add_hand_run`, in a file of this test's."""
    path = tmp_path / "src" / "manifest.db"
    path.parent.mkdir()
    shutil.copy(demo.store_path, path)
    store = SqliteStore(path)
    _add_hand_run(store)
    store.close()
    return path


def _contents(path: Path) -> dict[str, Any]:
    """Every record of a store, times included, without the ids a destination assigns."""
    store = SqliteStore(path)
    contents: dict[str, Any] = {}
    try:
        for record in store.list_run_records():
            run_id = record.run_id
            public = record.to_public_dict()
            context = record.context
            instances = []
            for instance in store.list_task_instance_records(run_id):
                fields = instance.to_public_dict()
                fields.pop("id")
                instances.append(fields)
            contents[run_id] = {
                "run": public,
                # the copied context names the store the run is in now
                "context": None if context is None else replace(context, store_url=""),
                "specs": [s.to_public_dict() for s in store.list_task_spec_records(run_id)],
                "instances": instances,
                "arrays": store.list_array_identities(run_id),
            }
    finally:
        store.close()
    return contents


def test_copy_preserves_every_record(source: Path, tmp_path: Path, reflow_cli: Any) -> None:
    target = tmp_path / "dst" / "manifest.db"
    done: Outcome = reflow_cli("store", "copy", _url(source), _url(target))
    assert done.code == 0, done.err
    assert done.out.startswith("Copied 4 run(s), ")
    assert done.err == ""  # no progress when stderr is no terminal
    copied, original = _contents(target), _contents(source)
    assert set(copied) == set(original)
    for run_id, expected in original.items():
        assert copied[run_id] == expected, run_id
    assert {i["state"] for i in copied["hand"]["instances"]} == {s.value for s in TaskState}
    assert copied["hand"]["arrays"] == [("a", "ab" * 32, 8)]
    store = SqliteStore(target)
    try:
        for record in store.list_run_records():
            if record.context is not None:  # its jobs reopen the store it is in now
                assert record.context.store_url == _url(target)
    finally:
        store.close()


def test_copying_again_adds_nothing(source: Path, tmp_path: Path, reflow_cli: Any) -> None:
    target = tmp_path / "dst" / "manifest.db"
    assert reflow_cli("store", "copy", _url(source), _url(target)).code == 0
    first = _contents(target)
    again: Outcome = reflow_cli("store", "copy", _url(source), _url(target))
    assert again.code == 0, again.err
    assert again.out.startswith("Copied 0 run(s), 0 task instance(s)")
    assert "skipped 4 run(s) already there" in again.out
    assert _contents(target) == first


def pipeline() -> Workflow:
    return three_steps("copied")


def test_a_copied_cache_serves_hits(tmp_path: Path, reflow_cli: Any) -> None:
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    with SqliteStore(src) as store:
        first = pipeline().run_local(tmp_path / "run", store=store)
        assert first.output("join") == THREE_STEPS_JOINED
    assert reflow_cli("store", "copy", _url(src), _url(dst)).code == 0
    with SqliteStore(dst) as store:
        again = pipeline().run_local(tmp_path / "run", store=store)
        infos = [i.cache_info for i in store.list_task_instance_records(again.run_id)]
        assert again.output("join") == THREE_STEPS_JOINED
    assert len(infos) == 5
    assert all(info["status"] == "hit" for info in infos), infos


def test_info_tells_backend_schema_counts_and_size(
    source: Path, reflow_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: Outcome = reflow_cli("store", "info", _url(source), "--json")
    assert shown.code == 0, shown.err
    facts = json.loads(shown.out)
    store = SqliteStore(source)
    instances = sum(
        len(store.list_task_instance_records(r.run_id)) for r in store.list_run_records()
    )
    version = store.describe()["schema_version"]
    store.close()
    assert facts["backend"] == "sqlite"
    assert facts["url"] == _url(source)
    assert facts["schema_version"] == version >= 1
    assert (facts["runs"], facts["instances"], facts["users"]) == (4, instances, 2)
    assert facts["size_bytes"] >= source.stat().st_size > 0
    monkeypatch.setenv("REFLOW_STORE", _url(source))  # without a URL: the configured store
    table: Outcome = reflow_cli("store", "info")
    assert table.code == 0, table.err
    assert "sqlite" in table.out and f"{instances}" in table.out
    assert "4 (of 2 user(s))" in table.out
    monkeypatch.setattr(SqliteStore, "describe", lambda self: {})  # a store that tells nothing
    counted: Outcome = reflow_cli("store", "info", "--json")
    assert counted.code == 0, counted.err
    assert json.loads(counted.out) == {
        **facts,
        "schema_version": None,
        "size_bytes": None,
    }  # counted run by run; what the store cannot tell is null


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["copy", "relative/manifest.db", "sqlite:///tmp/x.db"], "SRC_URL 'relative/manifest.db'"),
        (["copy", "{src}", "nosuchstore://host/db"], "nosuchstore"),
        (["copy", "{src}", "{src}"], "the same store"),
        (["copy", "sqlite://{tmp}/missing.db", "sqlite://{tmp}/dst.db"], "no manifest database"),
        (["info", "sqlite://{tmp}/missing.db"], "no manifest database"),
        (["info", "memtest://alice:s3cret@host/db"], "embeds a password"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], words: str, source: Path, tmp_path: Path, reflow_cli: Any
) -> None:
    args = [a.format(src=_url(source), tmp=tmp_path) for a in argv]
    failed: Outcome = reflow_cli("store", *args)
    assert failed.code == 2
    assert failed.out == ""
    lines = failed.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("reflow: error: ")
    assert words.lower() in lines[0].lower()
    assert "s3cret" not in failed.err
    assert not (tmp_path / "dst.db").exists()  # nothing created on the way to an error

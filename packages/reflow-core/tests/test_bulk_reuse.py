"""A rerun with some elements changed: the unchanged ones reused inside the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest

from reflow import Result, Workflow
from reflow.stores import NewTaskInstance
from reflow.stores.sqlite import SqliteStore
from reflow.testing.calls import CallLog


def partial_workflow(calls: CallLog, values: dict[str, list[int]]) -> Workflow:
    wf = Workflow("partial")

    @wf.job()
    def items(tag: str = "a") -> list[int]:
        return values["items"]

    @wf.job(array=True)
    def each(i: Annotated[int, Result(step="items")]) -> dict[str, Any]:
        calls.append(f"each{i}")
        return {"i": i, "t": (i, "x")}  # a tagged value: copied as stored

    @wf.job()
    def total(xs: Annotated[list[dict[str, Any]], Result(step="each")]) -> int:
        return sum(x["i"] for x in xs)

    return wf


@pytest.mark.parametrize("element_copies", [True, False])
def test_reused_elements_keep_outputs_status_and_explain(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch, element_copies: bool
) -> None:
    if not element_copies:  # every element looked up by identity (insert_cache_hits)
        monkeypatch.setattr(store, "find_cached_array", lambda *args, **kwargs: None)
    calls = CallLog(tmp_path / "calls.jsonl")
    values = {"items": [1, 2, 3]}
    wf = partial_workflow(calls, values)
    first = wf.run_local(tmp_path, store=store, tag="a")
    values["items"] = [1, 2, 4]
    calls.clear()
    run = wf.run_local(tmp_path, store=store, tag="b")
    assert calls == ["each4"]
    assert run.output("each") == [{"i": i, "t": (i, "x")} for i in (1, 2, 4)]
    assert run.output("total") == 7
    status = run.status(as_dict=True)
    assert status is not None
    assert status["summary"]["each"] == {"SUCCESS": 3}
    reused = store.get_task_instance_record(run.run_id, "each", 0)
    source = store.get_task_instance_record(first.run_id, "each", 0)
    assert reused.cache_info["status"] == "hit"
    if element_copies:  # copied with the elements unchanged since the first run
        assert reused.cache_info["source"] == {"run_id": first.run_id}
    else:
        assert reused.cache_info["source"]["instance_id"] == source.id
    assert (reused.output, reused.output_hash) == (source.output, source.output_hash)
    assert f"each[0] in run {first.run_id}" in run.explain("each", 0)
    assert "cache miss" in run.explain("each", 2)


class _SourcesGone(SqliteStore):
    """Deletes the runs a hit comes from between the look-up and the insert.

    It copies no unchanged elements (``find_cached_array``): each element is
    looked up by identity, and the tagged outputs come back to the planner.
    """

    def find_cached_array(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def insert_reused_instances(
        self, run_id: str, instances: Any, sources: Any
    ) -> list[int | None]:
        found = [self.get_task_instance_record_by_id(s) for s in sources]
        for run in {record.run_id for record in found if record is not None}:
            self.delete_run(run)
        return super().insert_reused_instances(run_id, instances, sources)


def test_a_hit_whose_source_went_runs_again(tmp_path: Path) -> None:
    store = _SourcesGone(tmp_path / "store" / "m.db")
    store.init()
    calls = CallLog(tmp_path / "calls.jsonl")
    values = {"items": [1, 2, 3]}
    wf = partial_workflow(calls, values)
    wf.run_local(tmp_path, store=store, tag="a")
    values["items"] = [1, 2, 4]
    calls.clear()
    run = wf.run_local(tmp_path, store=store, tag="b")
    assert sorted(calls) == ["each1", "each2", "each4"]
    assert run.output("total") == 7
    record = store.get_task_instance_record(run.run_id, "each", 0)
    assert record is not None
    assert record.cache_info["status"] == "miss"
    assert "source" not in record.cache_info
    store.close()


def test_reuse_returns_none_for_gone_sources_only(tmp_path: Path, store: Any) -> None:
    store.insert_run("r1", "wf", "u", {})
    store.insert_run("r2", "wf", "u", {})
    [ok] = store.insert_task_instances("r1", [NewTaskInstance("t", 0)])
    store.update_task_success(ok, 5, output_hash="ab" * 32)
    ids = store.insert_reused_instances(
        "r2", [NewTaskInstance("t", 0), NewTaskInstance("t", 1)], [ok, ok + 999]
    )
    assert ids[1] is None and ids[0] is not None
    assert store.get_array_outputs("r2", "t") == [5]


class _CountsLookups(SqliteStore):
    """Counts the planner's look-ups that decode hits in Python; copies no elements.

    Without element copies (:mod:`reflow.cache.elements`) every element is
    looked up by its identity: the hits are the store's ``insert_cache_hits``.
    """

    decoded = 0

    def find_cached_array(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def find_cached_outputs(self, *args: Any, **kwargs: Any) -> Any:
        self.decoded += 1
        return super().find_cached_outputs(*args, **kwargs)


def plain_workflow(calls: CallLog, values: dict[str, list[int]]) -> Workflow:
    wf = Workflow("plain")

    @wf.job()
    def items(tag: str = "a") -> list[int]:
        return values["items"]

    @wf.job(array=True)
    def each(i: Annotated[int, Result(step="items")]) -> int:
        calls.append(f"each{i}")
        return i * 10

    @wf.job()
    def total(xs: Annotated[list[int], Result(step="each")]) -> int:
        return sum(xs)

    return wf


def test_plain_hits_are_inserted_by_the_store_and_read_by_the_gather(tmp_path: Path) -> None:
    store = _CountsLookups(tmp_path / "store" / "m.db")
    store.init()
    calls = CallLog(tmp_path / "calls.jsonl")
    values = {"items": [1, 2, 3, 4]}
    wf = plain_workflow(calls, values)
    first = wf.run_local(tmp_path, store=store, tag="a")
    values["items"] = [1, 2, 5, 4]
    calls.clear()
    run = wf.run_local(tmp_path, store=store, tag="b")
    assert calls == ["each5"]
    assert store.decoded == 0  # no hit went through Python
    assert run.output("each") == [10, 20, 50, 40]
    assert run.output("total") == 120  # the reused values read back from the store
    for i in (0, 1, 3):
        reused = store.get_task_instance_record(run.run_id, "each", i)
        source = store.get_task_instance_record(first.run_id, "each", i)
        assert reused is not None and source is not None
        assert reused.cache_info["status"] == "hit"
        assert reused.cache_info["inputs"] == source.cache_info["inputs"]
        assert reused.cache_info["source"] == {
            "run_id": first.run_id,
            "instance_id": source.id,
            "array_index": i,
        }
        assert f"each[{i}] in run {first.run_id}" in run.explain("each", i)
    assert "cache miss" in run.explain("each", 2)
    store.close()


def test_a_singleton_hit_left_in_the_store_feeds_its_dependant(tmp_path: Path, store: Any) -> None:
    calls = CallLog(tmp_path / "calls.jsonl")
    wf = Workflow("single")

    @wf.job()
    def base(n: int = 3) -> dict[str, int]:
        calls.append("base")
        return {"n": n}

    @wf.job()
    def scaled(b: Annotated[dict[str, int], Result(step="base")], k: int = 1) -> int:
        calls.append(f"scaled{k}")
        return b["n"] * k

    wf.run_local(tmp_path, store=store, k=1)
    calls.clear()
    run = wf.run_local(tmp_path, store=store, k=5)
    assert calls == ["scaled5"]
    assert run.output("scaled") == 15

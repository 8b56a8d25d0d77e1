"""A rerun whose fanned-out list changed in places copies the unchanged elements in one step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest

from reflow import Result, Workflow
from reflow.cache.elements import element_key, same_hashes, same_values, spans
from reflow.cache.expand import UpstreamOutput, expand
from reflow.define.wiring import ParamWiring, WireMode
from reflow.stores.sqlite import SqliteStore
from reflow.testing.calls import CallLog

# -- what counts as the same element --------------------------------------------------


def test_equal_values_of_one_canonical_text_are_the_same() -> None:
    new = [1, "a", True, None, 2.5, 7, "b", 3]
    old = [1, "a", True, None, 2.5, 8, "c"]
    assert same_values(new, old) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("new", "old"),
    [
        (1, True),  # equal in Python, "1" and "true" in the store
        (True, 1),
        (1, 1.0),
        (0.0, -0.0),
        (float("nan"), float("nan")),
        ([1], [1]),  # not compared here: looked up by identity
        ({"a": 1}, {"a": 1}),
        (Path("/x"), Path("/x")),  # a file: always checked
        ("1", 1),
    ],
)
def test_values_that_may_hash_apart_or_hold_files_are_never_the_same(new: Any, old: Any) -> None:
    assert same_values([new], [old]) == []


def test_plain_lists_compared_in_one_pass_agree_with_hashing_each_element() -> None:
    import random

    from reflow.cache.identity import values_hashes

    pool: list[Any] = [0, 1, 2, True, False, None, "", "1", "a", 10**30, -1]
    rng = random.Random(7)
    for _ in range(200):
        new = [rng.choice(pool) for _ in range(rng.randint(0, 12))]
        old = [rng.choice(pool) for _ in range(rng.randint(0, 12))]
        pairs = zip(values_hashes(new), values_hashes(old), strict=False)
        hashed = [i for i, (a, b) in enumerate(pairs) if a == b]
        assert same_values(new, old) == hashed
        mixed = [*new, 0.5]  # a float: compared one element at a time
        assert same_values(mixed, [*old, 0.5])[: len(hashed)] == hashed


def test_hashes_agree_only_where_both_have_one() -> None:
    assert same_hashes(["a", "b", "", "d"], ["a", "x", "", "d", "e"]) == [0, 3]


def test_spans_cover_runs_of_consecutive_indices() -> None:
    assert spans([]) == []
    assert spans([0]) == [(0, 0)]
    assert spans([0, 1, 2, 4, 6, 7]) == [(0, 2), (4, 4), (6, 7)]
    assert spans(list(range(3, 10_000))) == [(3, 9_999)]


def _key(wiring: dict[str, ParamWiring], upstream: dict[str, UpstreamOutput]) -> str:
    import hashlib

    exp = expand("t", True, wiring, upstream)
    return element_key(hashlib.sha256(b"prefix"), wiring, exp)


def _single(name: str, value: Any, digest: str) -> UpstreamOutput:
    return UpstreamOutput(name, False, [value], [digest])


def test_the_element_key_ignores_the_fanned_list_but_not_a_whole_input() -> None:
    fan = ParamWiring("x", ("items",), (WireMode.FAN_OUT,))
    whole = ParamWiring("k", ("conf",), (WireMode.BROADCAST,))
    wiring = {"x": fan, "k": whole}

    def key(items: list[int], conf: str) -> str:
        return _key(
            wiring,
            {
                "items": _single("items", items, "h" + str(items)),
                "conf": _single("conf", conf, conf),
            },
        )

    assert key([1, 2], "a") == key([1, 3, 4], "a") != ""
    assert key([1, 2], "a") != key([1, 2], "b")


def test_no_element_key_for_drives_of_several_steps_or_flattened_chains() -> None:
    two = ParamWiring("x", ("a", "b"), (WireMode.FAN_OUT, WireMode.FAN_OUT))
    ups = {"a": _single("a", [1], "ha"), "b": _single("b", [2], "hb")}
    assert _key({"x": two}, ups) == ""
    flat = ParamWiring("x", ("a",), (WireMode.CHAIN_FLATTEN,))
    arr = {"a": UpstreamOutput("a", True, [[1], [2]], ["h1", "h2"])}
    assert _key({"x": flat}, arr) == ""
    chain = ParamWiring("x", ("a",), (WireMode.CHAIN,))
    assert _key({"x": chain}, arr) != ""


# -- runs ---------------------------------------------------------------------------


def fan_workflow(calls: CallLog, values: dict[str, Any]) -> Workflow:
    wf = Workflow("elements")

    @wf.job()
    def items(tag: str = "a") -> list[Any]:
        return list(values["items"])

    @wf.job(array=True)
    def each(x: Annotated[Any, Result(step="items")], k: int = 1) -> Any:
        calls.append(f"each {x!r}")
        return [x, k]

    @wf.job(array=True)
    def after(y: Annotated[Any, Result(step="each")]) -> str:
        calls.append(f"after {y[0]!r}")
        return repr(y)

    @wf.job()
    def total(ys: Annotated[list[str], Result(step="after")]) -> str:
        return "|".join(ys)

    return wf


def _ran_once(
    tmp_path: Path, store: Any, items: list[Any]
) -> tuple[CallLog, dict[str, Any], Workflow, Any]:
    """The workflow fanning out ``items``, its calls, its list (to change) and its first run."""
    calls = CallLog(tmp_path / "calls.jsonl")
    values: dict[str, Any] = {"items": items}
    wf = fan_workflow(calls, values)
    return calls, values, wf, wf.run_local(tmp_path, store=store, tag="a")


def _rerun(wf: Workflow, tmp_path: Path, store: Any, calls: CallLog, **params: Any) -> Any:
    calls.clear()
    return wf.run_local(tmp_path, store=store, **params)


def test_only_the_changed_elements_run_and_the_results_are_a_forced_runs(
    tmp_path: Path, store: Any
) -> None:
    calls, values, wf, first = _ran_once(tmp_path, store, list(range(20)))
    values["items"] = [*range(5), -5, *range(6, 20)]
    run = _rerun(wf, tmp_path, store, calls, tag="b")
    assert sorted(calls) == ["after -5", "each -5"]  # the chained array too: one element
    forced = _rerun(wf, tmp_path, store, calls, tag="b", force=True)
    assert len(calls) == 40
    for task in ("each", "after", "total"):
        assert run.output(task) == forced.output(task)
    for task in ("each", "after"):
        copied = store.get_task_instance_record(run.run_id, task, 0)
        source = store.get_task_instance_record(first.run_id, task, 0)
        assert copied.cache_info == {"status": "hit", "source": {"run_id": first.run_id}}
        assert (copied.identity, copied.output_hash) == (source.identity, source.output_hash)
        assert f"{task}[0] in run {first.run_id}" in run.explain(task, 0)
    assert "cache miss" in run.explain("each", 5)
    status = run.status(as_dict=True)
    assert status is not None
    assert status["summary"]["each"] == {"SUCCESS": 20}


def test_each_changed_run_copies_from_the_last_one(tmp_path: Path, store: Any) -> None:
    calls, values, wf, _ = _ran_once(tmp_path, store, list(range(10)))
    for change in range(1, 4):
        values["items"] = [-i if i == change else i for i in range(10)]
        run = _rerun(wf, tmp_path, store, calls, tag=str(change))
        # The element changed in the last run is back to the first run's value: a hit.
        assert sorted(calls) == [f"after {-change}", f"each {-change}"]
        assert run.output("each") == [[x, 1] for x in values["items"]]


def test_values_equal_in_python_but_not_in_the_store_run_again(tmp_path: Path, store: Any) -> None:
    calls, values, wf, _ = _ran_once(tmp_path, store, [1, 0.0, 3, "s", None, 2.5])
    values["items"] = [True, -0.0, 3.0, "s", None, 2.5]
    run = _rerun(wf, tmp_path, store, calls, tag="b")
    assert sorted(c for c in calls if c.startswith("each")) == [
        "each -0.0",
        "each 3.0",
        "each True",
    ]
    assert run.output("each") == [[x, 1] for x in values["items"]]


def test_a_longer_or_shorter_list_copies_the_common_elements(tmp_path: Path, store: Any) -> None:
    calls, values, wf, _ = _ran_once(tmp_path, store, [1, 2, 3])
    values["items"] = [1, 2, 3, 4, 5]
    run = _rerun(wf, tmp_path, store, calls, tag="b")
    assert sorted(calls) == ["after 4", "after 5", "each 4", "each 5"]
    assert run.output("total") == "|".join(repr([x, 1]) for x in (1, 2, 3, 4, 5))
    values["items"] = [1, 2]
    run = _rerun(wf, tmp_path, store, calls, tag="c")
    assert calls == []
    assert run.output("each") == [[1, 1], [2, 1]]


def test_a_changed_whole_input_copies_nothing(tmp_path: Path, store: Any) -> None:
    calls, values, wf, _ = _ran_once(tmp_path, store, [1, 2, 3])
    values["items"] = [1, 2, 4]
    run = _rerun(wf, tmp_path, store, calls, tag="b", k=2)
    assert sorted(c for c in calls if c.startswith("each")) == ["each 1", "each 2", "each 4"]
    assert run.output("each") == [[1, 2], [2, 2], [4, 2]]


class _SourceGoes(SqliteStore):
    """Deletes the run it copies from between finding it and copying its elements."""

    def copy_array_elements(self, task_name: str, source: str, run_id: str, spans: Any) -> Any:
        self.delete_run(source)
        return super().copy_array_elements(task_name, source, run_id, spans)


def test_elements_whose_source_run_went_are_looked_up_and_run(tmp_path: Path) -> None:
    store = _SourceGoes(tmp_path / "store" / "m.db")
    store.init()
    calls, values, wf, _ = _ran_once(tmp_path, store, [1, 2, 3])
    values["items"] = [1, 2, 4]
    run = _rerun(wf, tmp_path, store, calls, tag="b")
    assert sorted(c for c in calls if c.startswith("each")) == ["each 1", "each 2", "each 4"]
    assert run.output("each") == [[1, 1], [2, 1], [4, 1]]
    store.close()


def test_verify_and_force_copy_nothing(tmp_path: Path, store: Any) -> None:
    calls, values, wf, _ = _ran_once(tmp_path, store, [1, 2, 3])
    values["items"] = [1, 2, 4]
    _rerun(wf, tmp_path, store, calls, tag="b", force_tasks=["each"])
    assert sorted(c for c in calls if c.startswith("each")) == ["each 1", "each 2", "each 4"]
    values["items"] = [1, 2, 5]
    run = _rerun(wf, tmp_path, store, calls, tag="c", verify=True)
    assert sorted(c for c in calls if c.startswith("each")) == ["each 5"]  # looked up, verified
    copied = store.get_task_instance_record(run.run_id, "each", 0)
    assert "instance_id" in copied.cache_info["source"]  # a hit found by its identity

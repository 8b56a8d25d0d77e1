"""The batched expansion (values_many, hashes_many) gives what the per-index one gives."""

from __future__ import annotations

import pytest

from reflow.cache.expand import UpstreamOutput, expand
from reflow.cache.identity import value_hash
from reflow.define.wiring import ParamWiring, WireMode

FAN = UpstreamOutput("items", False, [[3, "a", None, 7.5, [1, 2], {"k": 1}]], ["h-items"])
CHAIN = UpstreamOutput("prev", True, [10, 11, 12], ["c0", "c1", "c2"])
NESTED = UpstreamOutput("lists", True, [[1, 2], [3], [4, 5, 6]], ["n0", "n1", "n2"])
ONE = UpstreamOutput("one", False, [{"cfg": 1}], ["h-one"])


def wire(param: str, steps: tuple[str, ...], modes: tuple[WireMode, ...]) -> ParamWiring:
    return ParamWiring(param, steps, modes)


CASES = {
    "one fanned-out parameter": (
        {"x": wire("x", ("items",), (WireMode.FAN_OUT,))},
        {"items": FAN},
        (),
    ),
    "fan-out beside a broadcast": (
        {
            "x": wire("x", ("items",), (WireMode.FAN_OUT,)),
            "cfg": wire("cfg", ("one",), (WireMode.BROADCAST,)),
        },
        {"items": FAN, "one": ONE},
        (),
    ),
    "fan-out after another task": (
        {"x": wire("x", ("items",), (WireMode.FAN_OUT,))},
        {"items": FAN, "one": ONE},
        ("one",),
    ),
    "a chain": ({"x": wire("x", ("prev",), (WireMode.CHAIN,))}, {"prev": CHAIN}, ()),
    "a flattened chain of two steps": (
        {"x": wire("x", ("lists", "prev"), (WireMode.CHAIN_FLATTEN, WireMode.CHAIN))},
        {"lists": NESTED, "prev": CHAIN},
        (),
    ),
    "two parameters driving together": (
        {
            "x": wire("x", ("prev",), (WireMode.CHAIN,)),
            "y": wire("y", ("lists",), (WireMode.CHAIN,)),
        },
        {"prev": CHAIN, "lists": NESTED},
        (),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_batched_expansion_equals_the_per_index_one(case: str) -> None:
    wiring, upstream, after = CASES[case]
    exp = expand("task", True, wiring, upstream, after)
    indices = list(range(exp.count))[::-1]  # any order, as the engine's queue gives
    assert exp.count > 0
    assert exp.values_many(indices) == [exp.values(i) for i in indices]
    assert exp.hashes_many(indices) == [exp.hashes(i) for i in indices]
    many = exp.values_many(indices)
    assert len({id(v) for v in many}) == len(many)  # each instance its own dictionary


def test_a_fanned_out_element_hash_is_its_value_hash() -> None:
    wiring, upstream, after = CASES["one fanned-out parameter"]
    exp = expand("task", True, wiring, upstream, after)
    assert exp.hashes_many([0, 1]) == [{"x": value_hash(3)}, {"x": value_hash("a")}]
    assert exp.values_many([4]) == [{"x": [1, 2]}]


def test_a_singleton_gets_its_whole_inputs() -> None:
    wiring = {"cfg": wire("cfg", ("one",), (WireMode.DIRECT,))}
    exp = expand("task", False, wiring, {"one": ONE})
    assert exp.values_many([0]) == [exp.values(0)] == [{"cfg": {"cfg": 1}}]
    assert exp.hashes_many([0]) == [exp.hashes(0)]

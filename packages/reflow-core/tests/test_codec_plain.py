"""The codec's plain-JSON fast path writes the same text as the checked walk."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reflow.manifest import CODEC

_plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _walked(value: Any) -> str:
    return json.dumps(CODEC.dump_value(value), sort_keys=True, separators=(",", ":"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_plain)
def test_plain_values_encode_as_the_walk_does(value: Any) -> None:
    assert CODEC.dumps(value) == _walked(value)
    assert CODEC.loads(CODEC.dumps(value)) == value


class Colour(str, Enum):
    RED = "red"


def test_values_needing_tags_still_get_them() -> None:
    for value in (
        {"a": [1, (2, 3)]},
        {"k": Colour.RED},
        [Path("/x")],
        {"__reflow__": True, "type": "path"},  # a user dict that looks like a tag
    ):
        assert CODEC.dumps(value) == _walked(value)
        assert CODEC.loads(CODEC.dumps(value)) == value


def test_a_deep_plain_value_round_trips() -> None:
    value: Any = 1
    for _ in range(60):
        value = [value]
    assert CODEC.loads(CODEC.dumps(value)) == value

"""The spliced cache_info text is the codec's text of the whole dictionary, always."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reflow.cache.infotext import info_encoder
from reflow.manifest import CODEC

names = st.text(min_size=1, max_size=8)
scalars = st.one_of(st.text(max_size=12), st.integers(), st.none())
fixed_values = st.one_of(
    scalars, st.booleans(), st.floats(allow_nan=False), st.lists(st.integers(), max_size=3)
)


@given(
    fixed=st.dictionaries(names, fixed_values, max_size=4),
    inputs=st.dictionaries(names, st.text(max_size=70), max_size=4),
    source=st.dictionaries(names, scalars, max_size=3),
)
def test_spliced_text_is_the_codec_text(
    fixed: dict[str, Any], inputs: dict[str, str], source: dict[str, Any]
) -> None:
    fixed.pop("inputs", None)
    fixed.pop("source", None)
    encode = info_encoder(fixed, [("inputs", tuple(inputs)), ("source", tuple(source))])
    assert encode(inputs, source) == CODEC.dumps({**fixed, "inputs": inputs, "source": source})


@given(other=st.dictionaries(names, st.one_of(scalars, st.floats(), st.lists(st.integers()))))
def test_values_of_another_shape_are_encoded_whole(other: dict[str, Any]) -> None:
    # Keys or value types other than the encoder's: the codec encodes the whole.
    encode = info_encoder({"status": "miss"}, [("inputs", ("x",))])
    assert encode(other) == CODEC.dumps({"status": "miss", "inputs": other})


def test_a_fixed_part_that_holds_the_inner_key_is_encoded_whole() -> None:
    encode = info_encoder({"inputs": 1, "status": "hit"}, [("inputs", ("x",))])
    assert encode({"x": "h"}) == CODEC.dumps({"status": "hit", "inputs": {"x": "h"}})


@given(
    fixed=st.dictionaries(names, fixed_values, max_size=4),
    key=names,
    value=st.one_of(scalars, st.booleans(), st.floats(allow_nan=False), st.lists(st.integers())),
)
def test_one_input_of_one_parameter_is_spliced_as_the_codec_would(
    fixed: dict[str, Any], key: str, value: Any
) -> None:
    # The common shape (a one-parameter task's inputs) has its own shorter path.
    fixed.pop("inputs", None)
    encode = info_encoder(fixed, [("inputs", (key,))])
    assert encode({key: value}) == CODEC.dumps({**fixed, "inputs": {key: value}})
    other = {f"{key}-other": value}
    assert encode(other) == CODEC.dumps({**fixed, "inputs": other})

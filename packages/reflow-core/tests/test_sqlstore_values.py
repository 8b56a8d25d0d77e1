"""Outputs decoded many at once read back as each one decoded alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reflow.stores import sqlstore

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_values = st.recursive(
    _scalars | st.builds(Path, st.text(min_size=1)),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.lists(_values, max_size=8))
def test_values_from_db_is_value_from_db_of_each(values: list[Any]) -> None:
    stored = [sqlstore.value_to_db(v) for v in values]
    assert sqlstore.values_from_db(stored) == [sqlstore.value_from_db(s) for s in stored]
    assert sqlstore.values_from_db(stored) == values

"""The records the engine makes per element without the frozen dataclass's __init__
are the very objects the constructor makes: equal, frozen, replaceable, picklable."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import datetime, timezone
from typing import Any

import pytest

from reflow import TaskState
from reflow.stores import CacheCandidate, NewTaskInstance, ReusedHit, StateUpdate, sqlstore
from reflow.stores.records import (
    cache_candidate,
    planned_instance,
    reused_hit,
    success_update,
)

WHEN = datetime(2026, 12, 7, tzinfo=timezone.utc)

PAIRS: list[tuple[Any, Any]] = [
    (
        planned_instance("work", 3, "ab" * 32, {"inputs": {"i": "cd"}}, '{"x":1}', WHEN),
        NewTaskInstance(
            "work",
            3,
            TaskState.PENDING,
            {},
            identity="ab" * 32,
            cache_info={"inputs": {"i": "cd"}},
            cache_info_text='{"x":1}',
            created_at=WHEN,
        ),
    ),
    (planned_instance("one", None, "", {}, None, None), NewTaskInstance("one")),
    (
        success_update([1, 2], "ef" * 32, "[1,2]"),
        StateUpdate(
            0, TaskState.SUCCESS, output=[1, 2], output_hash="ef" * 32, output_text="[1,2]"
        ),
    ),
    (
        cache_candidate(7, "12" * 32, {"inputs": {}}, "{}"),
        CacheCandidate(7, "12" * 32, {"inputs": {}}, "{}"),
    ),
    (reused_hit(42, "34" * 32), ReusedHit(42, "34" * 32)),
    (sqlstore.reused_hit(42, "34" * 32), ReusedHit(42, "34" * 32)),
]


@pytest.mark.parametrize(("fast", "made"), PAIRS)
def test_a_fast_record_is_the_constructors_record(fast: Any, made: Any) -> None:
    assert type(fast) is type(made)
    assert fast == made
    assert dataclasses.asdict(fast) == dataclasses.asdict(made)
    assert pickle.loads(pickle.dumps(fast)) == made
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.__setattr__(dataclasses.fields(fast)[0].name, None)
    first = dataclasses.fields(fast)[0].name
    assert dataclasses.replace(fast, **{first: getattr(made, first)}) == made


def test_each_planned_instance_has_its_own_input_dictionary() -> None:
    a = planned_instance("work", 0, "", {}, None, None)
    b = planned_instance("work", 1, "", {}, None, None)
    assert a.input == {} and a.input is not b.input

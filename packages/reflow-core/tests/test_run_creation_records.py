"""Run creation records each task's configuration as dataclasses.asdict would."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from reflow import Retry
from reflow.define.flow import JobConfig
from reflow.runs.creation import config_record


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"cpus": 4, "array": True, "after": ["a", "b"], "partition": "short", "qos": None},
        {"modules": ["gcc/12", "openmpi"], "prologue": ["set -e"], "container": "img.sif"},
        {"submit_options": {"nested": {"a": [1, 2]}, "t": (1, 2)}},  # not plain: asdict
        {"retries": Retry(2)},
        {"pack": "auto", "gpus": 2, "gpu_type": "a100", "cache_inputs": "content"},
    ],
)
def test_config_record_is_asdict(kwargs: dict[str, Any]) -> None:
    config = JobConfig(**kwargs)
    record = config_record(config)
    assert record == asdict(config)
    assert [type(v) for v in record.values()] == [type(v) for v in asdict(config).values()]
    for value in record.values():  # a copy: recording never shares the task's lists
        assert not isinstance(value, (list, dict)) or all(
            value is not getattr(config, name) for name in vars(config)
        )

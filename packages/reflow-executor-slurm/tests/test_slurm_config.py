"""The site's array limits from ``scontrol show config`` (recorded on a real Slurm 22.05)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from reflow.executors import (
    SchedulerCommandError,
)
from reflow_executor_slurm.config import (
    DEFAULT_MAX_ARRAY_SIZE,
    SiteConfig,
    array_limits,
    parse_show_config,
)

RECORDED = Path(__file__).parent / "data"


def test_recorded_config() -> None:
    config = parse_show_config((RECORDED / "scontrol_show_config.txt").read_text())
    assert config["SLURM_VERSION"] == "22.05.8"
    assert config["MinJobAge"] == "600 sec"
    assert array_limits(config) == (10001, None)
    site = SiteConfig((RECORDED / "scontrol_show_config.txt").read_text)
    assert site.max_array_index() == 10000  # MaxArraySize bounds the highest task id


def test_max_array_tasks_caps_the_count_too() -> None:
    text = "MaxArraySize = 5000\nSchedulerParameters     = bf_continue,max_array_tasks=300\n"
    assert array_limits(parse_show_config(text)) == (5000, 300)
    assert SiteConfig(lambda: text).max_array_index() == 299
    higher = "MaxArraySize = 100\nSchedulerParameters = max_array_tasks=1000\n"
    assert SiteConfig(lambda: higher).max_array_index() == 99


def test_slurms_default_when_not_set() -> None:
    assert array_limits(parse_show_config("ClusterName = x\n")) == (DEFAULT_MAX_ARRAY_SIZE, None)


def test_read_once_per_instance() -> None:
    calls: list[int] = []

    def read() -> str:
        calls.append(1)
        return "MaxArraySize = 11\n"

    site = SiteConfig(read)
    assert [site.max_array_index() for _ in range(3)] == [10, 10, 10]
    assert len(calls) == 1
    assert SiteConfig(read, max_array_size=4).max_array_index() == 3
    assert len(calls) == 1  # a given size is not read


def test_failing_scontrol_falls_back_to_the_default(caplog: pytest.LogCaptureFixture) -> None:
    def read() -> str:
        raise SchedulerCommandError("scontrol show config failed: Unable to contact", ["scontrol"])

    with caplog.at_level(logging.WARNING):
        assert SiteConfig(read).max_array_index() == DEFAULT_MAX_ARRAY_SIZE - 1
    assert "Unable to contact" in caplog.text and "max_array_size=" in caplog.text

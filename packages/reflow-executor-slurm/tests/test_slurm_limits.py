"""A partition's MaxMemPerNode and MaxTime cap what a retry asks for."""

from __future__ import annotations

from reflow_executor_slurm.limits import partition_limits

# `scontrol show partition -o` of Slurm 22.05 (fields cut to those that matter here).
SHOWN = (
    "PartitionName=main AllowGroups=ALL Default=YES MaxNodes=UNLIMITED MaxTime=UNLIMITED "
    "MinNodes=0 MaxMemPerNode=UNLIMITED State=UP TotalCPUs=12\n"
    "PartitionName=short AllowGroups=ALL MaxTime=02:00:00 MaxMemPerNode=8000 State=UP\n"
    "PartitionName=long AllowGroups=ALL MaxTime=7-00:00:00 MaxMemPerNode=UNLIMITED State=UP\n"
)


def test_the_named_partitions_limits_in_bytes_and_seconds() -> None:
    assert partition_limits(SHOWN, "short") == {"mem": 8000 * 1024**2, "time": 7200}
    assert partition_limits(SHOWN, "long") == {"mem": None, "time": 7 * 86400}


def test_the_default_partition_when_none_is_named_and_unlimited_is_no_limit() -> None:
    assert partition_limits(SHOWN, None) == {"mem": None, "time": None}


def test_an_unknown_partition_or_no_output_gives_no_limit() -> None:
    assert partition_limits(SHOWN, "gpu") == {"mem": None, "time": None}
    assert partition_limits("", None) == {"mem": None, "time": None}

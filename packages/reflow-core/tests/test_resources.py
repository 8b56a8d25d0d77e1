"""Walltime and memory requests are parsed strictly."""

from __future__ import annotations

import pytest

from reflow.define.resources import format_walltime, parse_memory, parse_walltime


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("02:00:00", 7200),
        ("30", 1800),
        ("10:30", 630),
        ("1-00", 86400),
        ("1-02:03", 93780),
        ("1-02:03:04", 93784),
        ("90", 5400),
        ("48:00:00", 172800),
        ("2h", 7200),
        ("90m", 5400),
        ("1d", 86400),
        ("1h30m", 5400),
        ("45s", 45),
        ("1d12h", 129600),
        ("2H", 7200),
    ],
)
def test_walltime_forms(text: str, seconds: int) -> None:
    assert parse_walltime(text) == seconds


@pytest.mark.parametrize(
    "text", ["2x", "h", "1h30", "30m1h", "0h", "", "00:61:00", "0", "1:2:3:4", "1-30", "00:00:60"]
)
def test_bad_walltimes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid walltime"):
        parse_walltime(text)


@pytest.mark.parametrize(("number", "example"), [(3600, "'3600s' or '3600m'"), (1.5, "'90m'")])
def test_numeric_walltime_is_refused_with_its_spelling(number: float, example: str) -> None:
    # Slurm would read 3600 as minutes; refusing beats a walltime 60 times too long.
    with pytest.raises(ValueError) as info:
        parse_walltime(number)
    assert str(info.value) == (
        f"invalid walltime {number!r}: a bare number is ambiguous (Slurm reads minutes); "
        f"write it as text with a unit, e.g. {example}"
    )


def test_walltime_round_trip() -> None:
    assert format_walltime(parse_walltime("1-02:03:04")) == "26:03:04"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("16G", 16 * 1024**3),
        ("16GB", 16 * 1024**3),
        ("16GiB", 16 * 1024**3),
        ("512M", 512 * 1024**2),
        ("100", 100 * 1024**2),
        ("1.5T", int(1.5 * 1024**4)),
        ("4096K", 4096 * 1024),
    ],
)
def test_memory_forms(text: str, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["lots", "0G", "-1G", "16B", "16iB", "G", True])
def test_bad_memory_is_refused(text: object) -> None:
    with pytest.raises(ValueError, match="invalid memory"):
        parse_memory(text)  # type: ignore[arg-type]


def test_numeric_task_time_fails_at_definition() -> None:
    from reflow import Workflow
    from reflow.errors import WorkflowDefinitionError

    wf = Workflow("walltimes")
    with pytest.raises(WorkflowDefinitionError, match=r"^Task 'hello': time=3600: invalid"):

        @wf.job(time=3600)  # type: ignore[arg-type]
        def hello() -> None:
            pass

        wf.validate()

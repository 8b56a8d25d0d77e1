"""The fakes' grammar helpers, on the forms their manual pages give."""

from __future__ import annotations

import pytest

from reflow_fake_schedulers._common import CommandError, script_directives
from reflow_fake_schedulers.flux import parse_fsd, parse_idset
from reflow_fake_schedulers.lsf import parse_array_name, parse_runlimit
from reflow_fake_schedulers.pbs import parse_walltime


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30), ("1:30", 90), ("01:00:00", 3600), ("100:00:00", 360000), ("5.5", 5.5)],
)
def test_pbs_walltime_is_hours_minutes_seconds(text: str, seconds: float) -> None:
    assert parse_walltime(text) == seconds


@pytest.mark.parametrize("text", ["1h", "1:2:3:4", "", "-5", "1:xx"])
def test_pbs_walltime_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_walltime(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("60", 3600), ("1:30", 5400), ("210", 12600), ("2:00/hostA", 7200)]
)
def test_lsf_runlimit_is_hours_minutes(text: str, seconds: float) -> None:
    assert parse_runlimit(text) == seconds


@pytest.mark.parametrize("text", ["01:00:00", "1h", "", "1.5"])
def test_lsf_runlimit_refuses(text: str) -> None:
    with pytest.raises(CommandError, match=r"Bad RUNLIMIT specification\. Job not submitted\."):
        parse_runlimit(text)


def test_lsf_array_names() -> None:
    assert parse_array_name("plain", 1000) == ("plain", None, None)
    assert parse_array_name("a[1-3]%2", 1000) == ("a", [1, 2, 3], 2)
    assert parse_array_name("a[1,5-9:2]", 1000) == ("a", [1, 5, 7, 9], None)
    assert parse_array_name("a[1000]", 1000) == ("a", [1000], None)
    for bad, why in [
        ("a[1-10%2]", "index error"),
        ("a[0]", "index error"),
        ("a[2-1]", "index error"),
        ("a[1,1]", "index error"),
        ("a[1001]", "too large"),
        ("a b[1]", "Bad job name"),
    ]:
        with pytest.raises(CommandError, match=why):
            parse_array_name(bad, 1000)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("60m", 3600), ("1.5h", 5400), ("2d", 172800), ("500ms", 0.5)],
)
def test_flux_fsd(text: str, seconds: float) -> None:
    assert parse_fsd(text) == seconds


@pytest.mark.parametrize("text", ["01:00:00", "1x", "-1s", "nan", "h"])
def test_flux_fsd_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid Flux standard duration"):
        parse_fsd(text)


def test_flux_idsets() -> None:
    assert parse_idset("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_idset("[1-2]") == [1, 2]
    for bad in ("3-1", "a", "1-", "-1", ""):
        with pytest.raises(ValueError):
            parse_idset(bad)


def test_directives_stop_at_the_first_command() -> None:
    script = (
        "#!/bin/sh\n# a comment\n#PBS -N one\n\n#PBS -l walltime=1:00 # why\necho\n#PBS -N two\n"
    )
    assert script_directives(script, "#PBS") == ["-N", "one", "-l", "walltime=1:00"]
    assert script_directives("#PBSX -N x\n#BSUB -J y\n", "#PBS") == []

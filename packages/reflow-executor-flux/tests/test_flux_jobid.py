"""Flux job ids: F58 both ways, and every encoding Flux prints, to reflow's decimal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reflow_executor_flux.jobid import (
    canonical_id,
    f58_decode,
    f58_encode,
    parse_job_id,
)

# Pairs of flux-core's F58 test table (RFC 19).
KNOWN = [
    (0, "ƒ1"),
    (1, "ƒ2"),
    (57, "ƒz"),
    (1234, "ƒNH"),
    (1888, "ƒZZ"),
    (3363, "ƒzz"),
    (3364, "ƒ211"),
    (4369, "ƒ2JL"),
    (65535, "ƒLUv"),
    (4294967295, "ƒ7YXq9G"),
    (633528662, "ƒxyzzy"),
    (6731191091817518, "ƒuZZybuNNy"),
    (18446744073709551614, "ƒjpXCZedGfVP"),
    (18446744073709551615, "ƒjpXCZedGfVQ"),
]


@pytest.mark.parametrize(("value", "text"), KNOWN)
def test_known_f58_pairs(value: int, text: str) -> None:
    assert f58_encode(value) == text
    assert f58_encode(value, ascii_prefix=True) == "f" + text[1:]
    assert f58_decode(text) == value
    assert f58_decode("f" + text[1:]) == value  # FLUX_F58_FORCE_ASCII


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_f58_round_trip(value: int) -> None:
    assert f58_decode(f58_encode(value)) == value
    assert parse_job_id(f58_encode(value, ascii_prefix=True)) == value
    assert canonical_id(f58_encode(value)) == str(value)


def test_leading_ones_are_zero_digits() -> None:
    assert f58_decode("f111") == 0


@pytest.mark.parametrize(
    "text", ["58", "ƒ21", "f21", "0x3a", "0X3A", "0000.0000.0000.003a", " ƒ21\n"]
)
def test_every_encoding_flux_prints_is_read(text: str) -> None:
    assert parse_job_id(text) == 58


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ƒ0OIl", "not an F58 digit"),
        ("ƒ", "no digits"),
        ("ƒjpXCZedGfVR", "exceeds 64 bits"),
        ("18446744073709551616", "exceeds 64 bits"),
        ("fool", "not an F58 digit"),  # l is no F58 digit
        ("job-12", "not a Flux job id"),
    ],
)
def test_what_is_no_job_id_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_job_id(text)
    assert canonical_id(text) == text


def test_encoding_refuses_values_outside_64_bits() -> None:
    with pytest.raises(ValueError, match="64-bit"):
        f58_encode(-1)
    with pytest.raises(ValueError, match="64-bit"):
        f58_encode(2**64)

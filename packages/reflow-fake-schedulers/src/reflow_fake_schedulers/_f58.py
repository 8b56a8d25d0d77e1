"""Flux job ids in RFC 19 F58 form (``ƒ`` + base58 of the 64-bit id), and back.

The fakes' private copy; executors keep their own.  Test vectors from flux-core's
``src/common/libutil/test/fluid.c``: 0 -> ``ƒ1``, 57 -> ``ƒz``, 4294967295 ->
``ƒ7YXq9G``.  ``FLUX_F58_FORCE_ASCII`` makes the prefix a plain ``f``.
"""

from __future__ import annotations

import os

__all__ = ["ALPHABET", "decode", "encode", "parse_jobid"]

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
"""The base58 digits, lowest first."""

_MAX = 2**64 - 1


def encode(job_id: int, ascii_only: bool | None = None) -> str:
    """``job_id`` in F58, with ``ƒ`` unless ``ascii_only`` (default: ``FLUX_F58_FORCE_ASCII``)."""
    if not 0 <= job_id <= _MAX:
        raise ValueError(f"a Flux job id is a 64-bit unsigned integer, got {job_id}")
    if ascii_only is None:
        ascii_only = bool(os.environ.get("FLUX_F58_FORCE_ASCII"))
    digits = ""
    value = job_id
    while True:
        value, rest = divmod(value, 58)
        digits = ALPHABET[rest] + digits
        if value == 0:
            break
    return ("f" if ascii_only else "ƒ") + digits


def decode(text: str) -> int:
    """The id an F58 string (``ƒ...`` or ``f...``) names; ValueError if it is not one."""
    if not text or text[0] not in "ƒf" or len(text) < 2:
        raise ValueError(f"not an F58 job id: {text!r}")
    value = 0
    for char in text[1:]:
        digit = ALPHABET.find(char)
        if digit < 0:
            raise ValueError(f"not an F58 job id: {text!r}")
        value = value * 58 + digit
    if value > _MAX:
        raise ValueError(f"not an F58 job id: {text!r}")
    return value


def parse_jobid(text: str) -> int:
    """A job id in any form Flux tools accept here: F58, decimal or ``0x`` hexadecimal."""
    text = text.strip()
    if text[:1] in {"ƒ", "f"}:
        return decode(text)
    if text.startswith("0x"):
        value = int(text, 16)
    elif text.isdigit():
        value = int(text)
    else:
        raise ValueError(f"invalid JobID value: {text!r}")
    if value > _MAX:
        raise ValueError(f"invalid JobID value: {text!r}")
    return value

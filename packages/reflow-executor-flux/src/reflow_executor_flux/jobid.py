"""Flux job ids: F58 (RFC 19) and the other encodings, converted to reflow's decimal form.

Flux ids are 64-bit integers.  ``flux submit`` prints them in F58, base 58
with the alphabet :data:`F58_ALPHABET` behind the prefix ``ƒ`` (U+0192), or
``f`` when ``FLUX_F58_FORCE_ASCII`` is set or the terminal cannot show ``ƒ``;
``flux jobs --json`` reports them as decimal integers.  Every Flux command
accepts any of the encodings, so reflow keeps ids in decimal and converts
what it reads (flux-jobs(1) "id.f58", RFC 19 "Flux Locally Unique ID").
"""

from __future__ import annotations

__all__ = [
    "F58_ALPHABET",
    "F58_PREFIX",
    "canonical_id",
    "f58_decode",
    "f58_encode",
    "parse_job_id",
]

F58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
"""RFC 19's base-58 digits: no ``0``, ``O``, ``I`` or ``l``."""

F58_PREFIX = "\u0192"
"""``ƒ``, the prefix of an F58 id; ``f`` stands in for it in ASCII."""

_DIGIT = {char: value for value, char in enumerate(F58_ALPHABET)}
_MAX = 2**64 - 1


def f58_encode(value: int, *, ascii_prefix: bool = False) -> str:
    """A job id in F58: ``f58_encode(0) == "ƒ1"``.

    Raises
    ------
    ValueError
        If ``value`` is not a 64-bit unsigned integer.

    Examples
    --------
    >>> f58_encode(57), f58_encode(1234), f58_encode(633528662, ascii_prefix=True)
    ('ƒz', 'ƒNH', 'fxyzzy')
    """
    if not 0 <= value <= _MAX:
        raise ValueError(f"{value} is not a Flux job id (a 64-bit unsigned integer)")
    digits = []
    while True:
        value, rest = divmod(value, 58)
        digits.append(F58_ALPHABET[rest])
        if value == 0:
            break
    return ("f" if ascii_prefix else F58_PREFIX) + "".join(reversed(digits))


def f58_decode(text: str) -> int:
    """The integer of an F58 id, with or without its ``ƒ``/``f`` prefix.

    Raises
    ------
    ValueError
        If ``text`` is not F58 or exceeds 64 bits.
    """
    body = text.strip()
    if body[:1] in (F58_PREFIX, "f"):
        body = body[1:]
    if not body:
        raise ValueError(f"{text!r} is not an F58 job id: it has no digits")
    value = 0
    for char in body:
        digit = _DIGIT.get(char)
        if digit is None:
            raise ValueError(f"{text!r} is not an F58 job id: {char!r} is not an F58 digit")
        value = value * 58 + digit
    if value > _MAX:
        raise ValueError(f"{text!r} is not a Flux job id: it exceeds 64 bits")
    return value


def parse_job_id(text: str) -> int:
    """The integer of a Flux id in decimal, F58 (``ƒ``/``f``), hex (``0x``) or dothex.

    Raises
    ------
    ValueError
        If ``text`` is none of these.

    Examples
    --------
    >>> [parse_job_id(t) for t in ("ƒ21", "f21", "58", "0x3a", "0000.0000.0000.003a")]
    [58, 58, 58, 58, 58]
    """
    body = text.strip()
    if body.isdigit() and body.isascii():
        value = int(body)
        if value > _MAX:
            raise ValueError(f"{text!r} is not a Flux job id: it exceeds 64 bits")
        return value
    if body[:2].lower() == "0x":
        return _hex(text, body[2:])
    parts = body.split(".")
    if len(parts) == 4 and all(len(p) == 4 for p in parts):
        return _hex(text, "".join(parts))
    if body[:1] in (F58_PREFIX, "f"):
        return f58_decode(body)
    raise ValueError(
        f"{text!r} is not a Flux job id (decimal, F58 such as \u0192Abc, or hex such as 0x1f)"
    )


def _hex(text: str, digits: str) -> int:
    try:
        value = int(digits, 16)
    except ValueError:
        raise ValueError(f"{text!r} is not a Flux job id: bad hexadecimal") from None
    if value > _MAX:
        raise ValueError(f"{text!r} is not a Flux job id: it exceeds 64 bits")
    return value


def canonical_id(text: str) -> str:
    """reflow's form of a Flux id: decimal.  Text that is no Flux id comes back unchanged.

    Examples
    --------
    >>> canonical_id("ƒ21"), canonical_id("not-an-id")
    ('58', 'not-an-id')
    """
    try:
        return str(parse_job_id(text))
    except ValueError:
        return text

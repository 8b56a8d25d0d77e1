"""The ``cache_info`` text of many instances of one task, encoded once per shape.

Every instance row holds its ``cache_info``: why it was or was not a cache
hit, with the hashes of its inputs (and, for a hit, where its result came
from).  Across the elements of an array those dictionaries differ only in a
few small inner dictionaries, so encoding each one through the manifest
codec (a walk to check it is plain JSON, then the encoder) is most of what
inserting a row costs in Python.  :func:`info_encoder` encodes the common
part once and splices each element's inner dictionaries into it, giving the
very text :meth:`reflow.manifest.ManifestCodec.dumps` gives the whole
dictionary (a property test holds it to that).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

from reflow.manifest import CODEC

__all__ = ["InfoEncoder", "info_encoder"]

InfoEncoder = Callable[..., str]
"""Called with one inner dictionary per key given to :func:`info_encoder`, in that order."""

_HOLE = "\x00reflow-hole-{}\x00"
"""Stands for an inner dictionary while the common part is encoded."""


def info_encoder(
    fixed: Mapping[str, Any], inner: Sequence[tuple[str, Sequence[str]]]
) -> InfoEncoder:
    """An encoder of ``{**fixed, key: values, ...}`` for the ``(key, value keys)`` in ``inner``.

    The encoder takes each key's dictionary of strings, integers or ``None``
    (an instance's input hashes, a hit's source), with the keys given here,
    and returns the codec's text of the whole.  A value of another type, or
    a ``fixed`` part the splicing cannot hold, is encoded whole by the codec.
    """
    outer = [key for key, _ in inner]
    names = [tuple(sorted(keys)) for _, keys in inner]

    def whole(*values: Mapping[str, Any]) -> str:
        return CODEC.dumps({**fixed, **{k: dict(v) for k, v in zip(outer, values, strict=True)}})

    texts = _texts(fixed, outer, names)
    if texts is None:
        return whole
    prefixes = [[encode_basestring_ascii(n) + ":" for n in keys] for keys in names]
    parts = list(zip(names, prefixes, texts[1:], strict=True))
    head = texts[0]
    if len(names) == 1 and len(names[0]) == 1:  # the inputs of a one-parameter task
        return _one(names[0][0], head + "{" + prefixes[0][0], "}" + texts[1], whole)

    def spliced(*values: Mapping[str, Any]) -> str:
        out = head
        try:
            for given, (keys, marks, text) in zip(values, parts, strict=True):
                if len(given) != len(keys):
                    return whole(*values)
                items = [m + _scalar(given[k]) for m, k in zip(marks, keys, strict=True)]
                out += "{" + ",".join(items) + "}" + text
        except (TypeError, KeyError):  # not a plain scalar, or other keys
            return whole(*values)
        return out

    return spliced


def _one(key: str, opening: str, closing: str, whole: InfoEncoder) -> InfoEncoder:
    """The encoder of one inner dictionary with one key: one concatenation per instance."""

    def spliced(given: Mapping[str, Any]) -> str:
        try:
            if len(given) == 1:
                return opening + _scalar(given[key]) + closing
        except (TypeError, KeyError):  # not a plain scalar, or another key
            pass
        return whole(given)

    return spliced


def _texts(
    fixed: Mapping[str, Any], outer: list[str], names: list[tuple[str, ...]]
) -> list[str] | None:
    """The text of ``fixed`` cut where each inner dictionary goes, or ``None``."""
    marker = CODEC.marker_key
    if len(set(outer)) != len(outer) or set(outer) & set(fixed) or marker in fixed:
        return None
    if outer != sorted(outer) or any(marker in keys for keys in names):
        return None
    holes = {k: _HOLE.format(n) for n, k in enumerate(outer)}
    try:
        text = CODEC.dumps({**fixed, **holes})
    except (TypeError, ValueError):
        return None
    texts = [text]
    for k in outer:  # the codec sorts keys: the holes appear in this order
        head, found, tail = texts[-1].partition(encode_basestring_ascii(holes[k]))
        if not found:
            return None
        texts[-1:] = [head, tail]
    if any("reflow-hole-" in t for t in texts):
        return None
    return texts


def _scalar(value: Any) -> str:
    kind = type(value)
    if kind is str:
        text: str = encode_basestring_ascii(value)
        return text
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    raise TypeError(kind)

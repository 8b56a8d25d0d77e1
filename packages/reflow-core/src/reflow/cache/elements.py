"""Reusing the unchanged elements of an array whose driving inputs changed in a few places.

A fanned-out list that changed in one element changes the identity of the
whole array, so the whole-array copy misses.  Looking every element up by
its identity still works, but costs a hash, a lookup and a row built per
element.  Instead, the planner compares the array with the last one that ran
under the same *element key*, index by index, and has the store copy the
elements that did not change in one statement:

- The element key is the array's identity with what each driving parameter
  gives each element replaced by the parameter's step and mode.  Two arrays
  with one element key have the same code, version, run parameters and
  whole inputs; each element's identity then depends only on what the
  driving parameters give that element.
- An element is unchanged if every driving parameter gives it the same
  thing as to the element of the same index in the earlier array: a chained
  array's element, the same upstream output hash; a fanned-out list's
  element, a value of the same type, equal, among those with a single
  canonical text (``int``, ``str``, ``bool``, ``None``, a ``float`` bit for
  bit).  Such an element has the same identity, hence the same result.
- Every other element (changed, or a value not compared here: a dict, a
  list, a ``Path``) is planned as before: looked up by its identity.

An array is compared only when each driving parameter has one step, fanned
out of a singleton's list or chained from an array; an array whose outputs
name files is never recorded under its element key (as under its identity),
so its elements are always checked one by one.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from itertools import compress, count
from typing import Any

from reflow.cache.expand import Expansion
from reflow.cache.identity import identity_with
from reflow.define.wiring import ParamWiring, WireMode

__all__ = ["element_key", "same_hashes", "same_values", "spans"]

_EXACT: frozenset[type] = frozenset({int, str, bool, type(None)})
"""Types whose equal values have one canonical text (and no file in it); ``==`` gives a bool."""

_COMPARED = (WireMode.FAN_OUT, WireMode.CHAIN)
"""The driving modes whose elements are compared by index."""


def element_key(prefix: Any, wiring: Mapping[str, ParamWiring], exp: Expansion) -> str:
    """The array's element key, or ``""`` when its elements cannot be compared by index."""
    parts = exp.fixed_hashes()
    drives = 0
    for param, w in wiring.items():
        if not w.drives_array:
            continue
        if len(w.steps) != 1 or w.modes[0] not in _COMPARED:
            return ""
        parts[param] = f"each element of {w.modes[0].value}:{w.steps[0]}"
        drives += 1
    if not drives:
        return ""
    parts["(array elements)"] = "by index"  # never an identity: no parameter has this name
    return identity_with(prefix, parts)


def same_values(new: Sequence[Any], old: Sequence[Any]) -> list[int]:
    """The indices at which two fanned-out lists hold the same value, surely hashed alike."""
    if _EXACT.issuperset(map(type, new)) and _EXACT.issuperset(map(type, old)):
        # Lists of ints, strings, booleans and None (most fanned-out lists): compared
        # in C, one index at a time all the same (the same type, and equal).
        kinds = map(operator.is_, map(type, new), map(type, old))
        return list(compress(count(), map(operator.and_, kinds, map(operator.eq, new, old))))
    same: list[int] = []
    append = same.append
    exact = _EXACT
    for index, (a, b) in enumerate(zip(new, old, strict=False)):
        kind = type(a)
        if (
            kind is type(b)
            and a == b
            and (kind in exact or (kind is float and a.hex() == b.hex()))
        ):
            append(index)
    return same


def same_hashes(new: Sequence[str], old: Sequence[str]) -> list[int]:
    """The indices at which two lists of output hashes agree."""
    return [index for index, (a, b) in enumerate(zip(new, old, strict=False)) if a == b and a]


def spans(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted distinct indices as inclusive ``(first, last)`` runs of consecutive ones."""
    out: list[tuple[int, int]] = []
    first = last = -2
    for index in indices:
        if index == last + 1:
            last = index
            continue
        if last >= 0:
            out.append((first, last))
        first = last = index
    if last >= 0:
        out.append((first, last))
    return out

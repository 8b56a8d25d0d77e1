"""Fingerprints of task code, for the cache identity.

A task's fingerprint covers everything its code reaches in the user's own
code (not the standard library, installed packages or reflow), from
normalised source: the function itself, the helpers it calls through any
depth of module attributes, what decorators and ``functools.partial`` wrap,
module-level names bound to data or to a library's functions, the classes it
uses with their methods and attributes, and the values of its defaults and
closure.  ``docs/cache.md`` says precisely what is covered and what is not.

- :mod:`reflow.cache.fingerprint.userfiles`: which code is the user's own;
- :mod:`reflow.cache.fingerprint.source`: one code object as a normalised syntax
  tree, or as bytecode where there is no trustworthy source;
- :mod:`reflow.cache.fingerprint.values`: canonical text of data values;
- :mod:`reflow.cache.fingerprint.nodes`: one function, class or module-level
  binding: its own digest, what it uses, what it read;
- :mod:`reflow.cache.fingerprint.graph`: the reach from a task, the process-wide
  memo, the named components and the digest;
- :mod:`reflow.cache.fingerprint.changes`: what changed between two sets of components.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reflow.cache.fingerprint.changes import describe_code_changes
from reflow.cache.fingerprint.graph import Fingerprint, fingerprint

__all__ = ["Fingerprint", "code_fingerprint", "describe_code_changes", "fingerprint_code"]


def fingerprint_code(func: Callable[..., Any]) -> Fingerprint:
    """Return the fingerprint of ``func`` with its named components.

    Parameters
    ----------
    func : callable
        A task function (or any callable: a bound method, a partial...).

    Returns
    -------
    Fingerprint
        ``digest`` enters the cache identity; ``components`` name what it
        covers, for ``reflow explain``.
    """
    return fingerprint(func)


def code_fingerprint(func: Callable[..., Any]) -> str:
    """Return a hex digest of what decides ``func``'s behaviour (see the module doc)."""
    return fingerprint(func).digest

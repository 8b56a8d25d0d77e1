"""Words for what changed between two fingerprints' components."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["describe_code_changes"]

_META = ("source", "python")


def describe_code_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Say which function, helper, constant, class or global changed.

    Parameters
    ----------
    old, new : mapping
        :attr:`~reflow.cache.fingerprint.Fingerprint.components` of the earlier and
        the current fingerprint.

    Returns
    -------
    list[str]
        One sentence per change; empty when the components are the same
        (the caller then says only that the code changed).
    """
    changes: list[str] = []
    old_source, new_source = old.get("source", "ast"), new.get("source", "ast")
    if new_source not in (old_source, "ast"):
        changes.append(
            f"fingerprinted from bytecode now ({new_source.removeprefix('bytecode: ')}), "
            "not from source"
        )
    elif old_source != new_source:
        changes.append("fingerprinted from source now, no longer from bytecode")
    if old.get("python") != new.get("python") and new_source != "ast":
        changes.append(
            f"Python changed from {old.get('python')} to {new.get('python')}, and code "
            "fingerprinted from bytecode changes with it"
        )
    for name in sorted(set(old) | set(new)):
        if name in _META:
            continue
        before, after = old.get(name), new.get(name)
        if before is None:
            changes.append(f"{name} is new")
        elif after is None:
            changes.append(f"{name} is no longer used")
        elif before != after:
            if name.startswith("global ") and not _is_digest(before + after):
                changes.append(f"{name} changed from {before} to {after}")
            else:
                changes.append(f"{name} changed")
    return changes


def _is_digest(text: str) -> bool:
    return len(text) % 64 == 0 and all(c in "0123456789abcdef" for c in text)

"""Merkle identities of task instances, and why two of them differ.

The identity of a task instance is a SHA-256 over everything that decides
its output: the task name, its ``version``, the fingerprint of its code, the
value of every run parameter it receives, and the hashes of the inputs wired
to it from upstream (which are themselves output hashes of upstream
instances, or hashes of the elements fanned out from them).  The same
identity means the same result, from any earlier run.

Hashes are taken over :meth:`~reflow.manifest.ManifestCodec.canonical_dumps`,
never over ``str()`` or ``repr()``, so they are stable across processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["IdentityParts", "combine_hashes", "identity_with", "value_hash"]


def identity_with(prefix: Any, inputs: Mapping[str, str]) -> str:
    """Finish an identity from :meth:`IdentityParts.prefix` and the input hashes."""
    digest = prefix.copy()
    for key in sorted(inputs):
        digest.update(f"input:{key}={inputs[key]}\n".encode())
    return str(digest.hexdigest())


def value_hash(value: Any) -> str:
    """Hex SHA-256 of a value's canonical manifest encoding."""
    from reflow.manifest import CODEC

    return hashlib.sha256(CODEC.canonical_dumps(value).encode()).hexdigest()


def combine_hashes(hashes: Iterable[str]) -> str:
    """One hash standing for an ordered list of hashes (a Merkle node)."""
    digest = hashlib.sha256(b"list:")
    for item in hashes:
        digest.update(item.encode())
        digest.update(b",")
    return digest.hexdigest()


@dataclass(frozen=True)
class IdentityParts:
    """The components of one identity, kept so a cache miss can be explained.

    Attributes
    ----------
    task : str
        Task name.
    version : str
        The task's ``version=``.
    code : str
        Fingerprint of the task function's code.
    params : dict[str, str]
        Run parameter name -> hash of its value.
    inputs : dict[str, str]
        ``Result`` parameter name -> hash of what it receives.
    code_parts : dict[str, str]
        The code fingerprint's named components (see
        :class:`~reflow.fingerprint.Fingerprint`), so a changed fingerprint can
        be explained by the helper, constant or class that changed.  Not part
        of the identity: ``code`` already covers them.
    """

    task: str
    version: str
    code: str
    params: Mapping[str, str] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)
    code_parts: Mapping[str, str] = field(default_factory=dict)

    def prefix(self) -> Any:
        """A hash object fed with the task-level parts (task, version, code, params).

        ``identity_with(prefix, inputs)`` then costs one copy and the inputs,
        which is how a large array computes its element identities.
        """
        digest = hashlib.sha256()
        for label, value in (("task", self.task), ("version", self.version), ("code", self.code)):
            digest.update(f"{label}={value}\n".encode())
        for key in sorted(self.params):
            digest.update(f"param:{key}={self.params[key]}\n".encode())
        return digest

    def identity(self) -> str:
        """The identity hash."""
        return identity_with(self.prefix(), self.inputs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, as stored with the instance."""
        return {
            "task": self.task,
            "version": self.version,
            "code": self.code,
            "params": dict(self.params),
            "inputs": dict(self.inputs),
            "code_parts": dict(self.code_parts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IdentityParts:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            task=str(data.get("task", "")),
            version=str(data.get("version", "")),
            code=str(data.get("code", "")),
            params=dict(data.get("params", {})),
            inputs=dict(data.get("inputs", {})),
            code_parts=dict(data.get("code_parts", {})),
        )

    def differences(self, older: IdentityParts) -> list[str]:
        """Say, in words, what changed since ``older`` (empty when nothing did)."""
        changes: list[str] = []
        if self.version != older.version:
            changes.append(f"version changed from {older.version!r} to {self.version!r}")
        if self.code != older.code:
            from reflow.fingerprint import describe_code_changes

            named = []
            if older.code_parts and self.code_parts:  # runs recorded before parts have none
                named = describe_code_changes(older.code_parts, self.code_parts)
            changes.extend(named or ["the task function's code changed"])
        for label, new, old in (
            ("parameter", self.params, older.params),
            ("input", self.inputs, older.inputs),
        ):
            for key in sorted(set(new) | set(old)):
                if key not in old:
                    changes.append(f"{label} {key!r} is new")
                elif key not in new:
                    changes.append(f"{label} {key!r} was removed")
                elif new[key] != old[key]:
                    what = "value" if label == "parameter" else "upstream output"
                    changes.append(f"{label} {key!r} changed ({what} differs)")
        return changes

"""Merkle identities of task instances, and why two of them differ.

The identity of a task instance is a SHA-256 over everything that decides
its output: the task name, its ``version``, the fingerprint of its code, the
value of every run parameter it receives, and the hashes of the inputs wired
to it from upstream (which are themselves output hashes of upstream
instances, or hashes of the elements fanned out from them).  The same
identity means the same result, from any earlier run.

Hashes are taken over :meth:`~reflow.manifest.ManifestCodec.canonical_dumps`,
never over ``str()`` or ``repr()``, so they are stable across processes.  A
value that holds ``Path`` objects also hashes the state of the files they
name (see :mod:`reflow.cache.filestate`); a value without one hashes exactly as
its canonical text, so it costs one substring search more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reflow.cache.filestate import DEFAULT_POLICY, changed_files, file_states
from reflow.cache.fingerprint import describe_code_changes
from reflow.manifest import CODEC

__all__ = [
    "IdentityParts",
    "combine_hashes",
    "encode_with_files",
    "hash_with_files",
    "hash_with_states",
    "identity_with",
    "value_hash",
    "values_hashes",
]

_PATH_TAG = '"type":"path"'
"""How a ``Path`` appears in canonical text; a value whose text lacks it holds none.

It can also appear in a user's dict (``{"type": "path"}``); that only costs
a walk that finds no ``Path``.
"""


def identity_with(prefix: Any, inputs: Mapping[str, str]) -> str:
    """Finish an identity from :meth:`IdentityParts.prefix` and the input hashes."""
    digest = prefix.copy()
    for key in sorted(inputs):
        digest.update(f"input:{key}={inputs[key]}\n".encode())
    return str(digest.hexdigest())


def hash_with_files(value: Any, policy: str = DEFAULT_POLICY) -> tuple[str, list[dict[str, Any]]]:
    """Hex SHA-256 of a value and of the files it names, and the states of those files.

    Parameters
    ----------
    value : Any
        A value the manifest codec can encode.
    policy : str
        How a named file counts: ``"stat"``, ``"content"`` or ``"path"``
        (see :mod:`reflow.cache.filestate`).

    Returns
    -------
    tuple
        The hash, and the file states that went into it (``[]`` when the value
        names no file or the policy is ``"path"``; the hash is then the hash of
        the canonical text alone, as it always was).
    """
    _, digest, states = encode_with_files(value, policy)
    return digest, states


def encode_with_files(
    value: Any, policy: str = DEFAULT_POLICY
) -> tuple[str, str, list[dict[str, Any]]]:
    """:func:`hash_with_files` and the canonical text it hashed.

    The canonical text is the manifest codec's text of the value (what a
    store writes), so whoever hashes an output can hand its text on and the
    value is encoded once.
    """
    text = CODEC.canonical_dumps(value)
    if policy == "path" or _PATH_TAG not in text:
        return text, hashlib.sha256(text.encode()).hexdigest(), []
    states = file_states(value, policy)
    return text, _digest(text, policy, states), states


def hash_with_states(value: Any, policy: str, states: list[dict[str, Any]]) -> str:
    """The hash :func:`hash_with_files` gives ``value`` when its files are in ``states``.

    Used where the files were looked at elsewhere: a worker reports the states
    it saw, and the dispatcher computes the identity they make without
    touching the disk (which may have changed again since).
    """
    return _digest(CODEC.canonical_dumps(value), policy, states)


def _digest(text: str, policy: str, states: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256(text.encode())
    if policy != "path" and states:
        digest.update(f"\nfiles:{policy}:{CODEC.canonical_dumps(states)}".encode())
    return digest.hexdigest()


def value_hash(value: Any, *, policy: str = DEFAULT_POLICY) -> str:
    """Hex SHA-256 of a value's canonical manifest encoding and of the files it names.

    See :func:`hash_with_files`; ``policy="path"`` hashes the text alone.
    """
    return hash_with_files(value, policy)[0]


def values_hashes(values: Iterable[Any], policy: str = DEFAULT_POLICY) -> list[str]:
    """:func:`value_hash` of each value, in one loop (the elements of a fanned-out list).

    Integers and strings, most elements, are encoded without the codec's
    dispatch; the text is the codec's all the same.
    """
    dumps = CODEC.canonical_dumps
    sha256 = hashlib.sha256
    out: list[str] = []
    append = out.append
    for value in values:
        kind = type(value)
        if kind is int:
            append(sha256(int.__repr__(value).encode()).hexdigest())
            continue
        text = dumps(value)
        if policy != "path" and _PATH_TAG in text:
            append(hash_with_files(value, policy)[0])
        else:
            append(sha256(text.encode()).hexdigest())
    return out


def combine_hashes(hashes: Iterable[str]) -> str:
    """One hash standing for an ordered list of hashes (a Merkle node)."""
    digest = hashlib.sha256(b"list:")
    for item in hashes:
        digest.update(item.encode())
        digest.update(b",")
    return digest.hexdigest()


ENVIRONMENT_PART = "(environment)"
"""The identity part of a task's modules, prologue and container (when it has any)."""


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
        :class:`~reflow.cache.fingerprint.Fingerprint`), so a changed fingerprint can
        be explained by the helper, constant or class that changed.  Not part
        of the identity: ``code`` already covers them.
    files : dict[str, list[dict]]
        Run parameter name -> the states of the files its value names, for
        the parameters that name any (not hashed again: they are in
        ``params`` already; kept so ``explain`` can name the file).
    """

    task: str
    version: str
    code: str
    params: Mapping[str, str] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)
    code_parts: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)

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
        out = {
            "task": self.task,
            "version": self.version,
            "code": self.code,
            "params": dict(self.params),
            "inputs": dict(self.inputs),
            "code_parts": dict(self.code_parts),
        }
        if self.files:  # only runs with file parameters pay for recording them
            out["files"] = {key: list(states) for key, states in self.files.items()}
        return out

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
            files=dict(data.get("files", {})),
        )

    def _param_change(self, older: IdentityParts, key: str) -> str:
        if key == ENVIRONMENT_PART:
            return "the task's environment changed (modules, prologue or container)"
        old, new = older.files.get(key, []), self.files.get(key, [])
        same_names = [s.get("path") for s in old] == [s.get("path") for s in new]
        lines = changed_files(old, new) if old and same_names else []
        if not lines:  # another value, or a run recorded before files were
            return f"parameter {key!r} changed (value differs)"
        return "; ".join(f"parameter {key!r}: {line}" for line in lines)

    def differences(
        self, older: IdentityParts, input_detail: Callable[[str], str | None] | None = None
    ) -> list[str]:
        """Say, in words, what changed since ``older`` (empty when nothing did).

        ``input_detail(name)``, when given, may say more about a changed input
        (which upstream output file changed); ``None`` keeps the plain words.
        """
        changes: list[str] = []
        if self.version != older.version:
            changes.append(f"version changed from {older.version!r} to {self.version!r}")
        if self.code != older.code:
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
                elif new[key] != old[key] and label == "parameter":
                    changes.append(self._param_change(older, key))
                elif new[key] != old[key]:
                    detail = input_detail(key) if input_detail is not None else None
                    changes.append(detail or f"input {key!r} changed (upstream output differs)")
        return changes

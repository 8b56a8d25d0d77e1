"""Planning a task's instances: identities, cache decisions and the store rows.

Shared by ``run_local`` and the scheduler-mode dispatcher: given a task whose
upstream tasks have finished, the :class:`Planner` computes each instance's
Merkle identity, takes cache hits (a whole array in one step when it can),
inserts the instance rows with their ``cache_info``, and says which instances
still have to run.

A cached output that names files is hashed again before it is reused: if a
file it names was changed or deleted since, the output is not what the task
left, and the instance runs again (status ``output_changed``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from reflow._types import TaskState
from reflow.cache.elements import element_key, same_hashes, same_values, spans
from reflow.cache.expand import Expansion, UpstreamOutput
from reflow.cache.filestate import DEFAULT_POLICY, holds_path
from reflow.cache.identity import (
    combine_hashes,
    hash_with_files,
    identity_with,
)
from reflow.cache.infotext import InfoEncoder, info_encoder
from reflow.cache.sharing import takes_user
from reflow.cache.verify import verify_output
from reflow.define.labels import instance_label
from reflow.define.wiring import WireMode
from reflow.stores import NewTaskInstance, StateUpdate, Store
from reflow.stores.records import cache_candidate, planned_instance

if TYPE_CHECKING:
    from reflow.define.flow import TaskSpec
    from reflow.define.wiring import ParamWiring
    from reflow.stores import TaskInstanceRecord

__all__ = ["CachePolicy", "Chunk", "Planner"]

logger = logging.getLogger(__name__)


_SOURCE = ("array_index", "instance_id", "run_id")
"""The keys of a hit's ``source`` in its cache_info."""

_SPLICE_FROM = 16
"""Chunks of this many instances or more have their cache_info texts spliced (infotext)."""


def _no_text(*_: Any) -> None:
    """No text made here: the store encodes the cache_info."""


class _NamesFilesError(Exception):
    """Undoes the copy of a whole cached array whose outputs name files."""


@dataclass(frozen=True)
class CachePolicy:
    """How a run uses the cache.

    Attributes
    ----------
    force : bool
        Look nothing up.
    force_tasks : frozenset[str]
        Look nothing up for these tasks.
    verify : bool
        Check cached outputs before reuse.
    """

    force: bool = False
    force_tasks: frozenset[str] = frozenset()
    verify: bool = False


@dataclass
class Chunk:
    """What :meth:`Planner.insert_chunk` did with some instances of one task.

    Attributes
    ----------
    ids : dict
        Array index (``None`` for a singleton) to instance id.
    hits : dict
        Array index to the cached instance reused for it.
    queued : list
        Indices that must run, in order.
    unwritten : dict
        Array index to the row of an instance that must run, not inserted
        (``insert_chunk(defer=True)``); such an index has no id.
    reused : dict
        Array index to output hash of the hits the store inserted by itself
        (:meth:`~reflow.stores.Store.insert_cache_hits`): their outputs were not
        read, and stay in the store until a dependant needs them.
    """

    ids: dict[int | None, int] = field(default_factory=dict)
    hits: dict[int | None, TaskInstanceRecord] = field(default_factory=dict)
    queued: list[int | None] = field(default_factory=list)
    unwritten: dict[int | None, NewTaskInstance] = field(default_factory=dict)
    reused: dict[int | None, str] = field(default_factory=dict)


class Planner:
    """Identity and cache decisions for the tasks of one run.

    Parameters
    ----------
    store : Store
        The manifest store.
    run_id : str
        The run.
    specs : mapping
        Task specifications by name.
    wiring : mapping
        Each task's ``Result`` wiring.
    prefixes : mapping
        Each task's identity prefix (:meth:`IdentityParts.prefix`).
    policy : CachePolicy
        Force and verify settings.
    code : mapping, optional
        Code fingerprints that differ from the ones the run's task
        specifications record (a run retried with edited code; ``prefixes``
        already use them): each instance notes its own in its ``cache_info``,
        so ``explain`` and the result check compare against the right code.
    file_policies : mapping or None
        Each task's file policy (:func:`reflow.cache.filestate.task_policies`);
        a task not named uses ``"stat"``.
    cache_user : str or None
        Reuse only results of this user's runs (:func:`reflow.cache.sharing.cache_user`);
        ``None`` reuses any user's.
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        specs: Mapping[str, TaskSpec],
        wiring: Mapping[str, Mapping[str, ParamWiring]],
        prefixes: Mapping[str, Any],
        policy: CachePolicy,
        *,
        code: Mapping[str, str] | None = None,
        file_policies: Mapping[str, str] | None = None,
        cache_user: str | None = None,
    ) -> None:
        self.store = store
        self.cache_user = cache_user
        self.code = dict(code or {})
        self.run_id = run_id
        self.specs = specs
        self.wiring = wiring
        self.prefixes = prefixes
        self.policy = policy
        self.file_policies = dict(file_policies or {})
        # Whether the store's lookups take user_id= (stores written before they
        # did do not): asked once here, not per lookup (inspect.signature is slow).
        self._copy_takes_user = cache_user is not None and takes_user(store.copy_cached_array)
        self._find_takes_user = cache_user is not None and takes_user(store.find_cached_many)
        # A store that overrides find_cached_outputs skips decoding what reuse does
        # not read (it came with user_id=, so it takes it).
        self._find_outputs = type(store).find_cached_outputs is not Store.find_cached_outputs
        # A store that overrides insert_reused_instances copies hits' outputs
        # inside itself; Store's default fetches each source again, so for other
        # stores the planner writes the outputs it already holds.
        self._reuse_in_store = (
            type(store).insert_reused_instances is not Store.insert_reused_instances
        )
        # A store that overrides insert_cache_hits plans hits inside itself: no
        # hit is decoded, encoded or built into a cache_info here.
        self._hits_in_store = type(store).insert_cache_hits is not Store.insert_cache_hits
        # A store that overrides take_cached_array copies a cached array, hands
        # back its hashes and records it in one unit: nothing read back.
        self._take_in_store = type(store).take_cached_array is not Store.take_cached_array
        # Per task, whether the store may hold a result of it to reuse (asked once).
        self._may_hit: dict[str, bool] = {}

    def changed_output_files(self, name: str, hit: TaskInstanceRecord) -> list[dict[str, Any]]:
        """The state now of every file a cached output names, if any differs (``[]``: reuse).

        Only the output's hash was recorded, so a difference is found by
        hashing again, and all the states are returned for ``explain``.
        Costs nothing for an output without a ``Path``; otherwise one ``stat``
        (or one read, under ``"content"``) per file.
        """
        if not holds_path(hit.output):
            return []
        digest, states = hash_with_files(hit.output, self.file_policies.get(name, DEFAULT_POLICY))
        return [] if digest == hit.output_hash else states

    def cache_mode(self, name: str) -> tuple[bool, dict[str, Any] | None]:
        """Whether to look ``name`` up in the cache, and its cache_info when not."""
        if not self.specs[name].config.cache:
            return False, {"status": "disabled"}
        if self.policy.force:
            return False, {"status": "forced", "reason": "the run was started with force=True"}
        if name in self.policy.force_tasks:
            return False, {"status": "forced", "reason": f"{name!r} is in force_tasks"}
        return True, None

    def array_identity(self, name: str, upstream: Mapping[str, UpstreamOutput]) -> str:
        """One identity for a whole array task: its parts and every upstream hash."""
        parts: dict[str, str] = {}
        for param, w in self.wiring[name].items():
            per_step = []
            for step, mode in zip(w.steps, w.modes, strict=True):
                up = upstream[step]
                digest = combine_hashes(up.hashes) if up.is_array else up.hashes[0]
                per_step.append(f"{mode.value}:{digest}")
            parts[f"array:{param}"] = combine_hashes(per_step)
        for dep in self.specs[name].config.after:
            if dep in upstream:
                parts[f"after:{dep}"] = combine_hashes(upstream[dep].hashes)
        return identity_with(self.prefixes[name], parts)

    def take_cached_array(self, name: str, identity: str) -> list[str] | None:
        """Copy a whole cached array into the run; return its output hashes, or ``None``."""
        lookup, _ = self.cache_mode(name)
        if not lookup or self.policy.verify:
            return None

        def copy() -> tuple[str, int, list[str] | None] | None:
            taken: tuple[str, int, list[str] | None] | None = None
            if self._take_in_store:
                took = self.store.take_cached_array(
                    name, identity, self.run_id, user_id=self.cache_user
                )
                taken = None if took is None else (took[0], len(took[1]), took[1])
            else:
                copied = self._copy_cached_array(name, identity)
                taken = None if copied is None else (*copied, None)
            if taken is not None and self._copied_names_files(name):
                raise _NamesFilesError  # rolls the copy back
            return taken

        try:
            taken = self.store.retrying(copy)
        except _NamesFilesError:
            return None
        if taken is None:
            return None
        source, count, hashes = taken
        if hashes is None:  # a store without take_cached_array: read back, then record
            hashes = self.store.get_all_output_hashes(self.run_id, name)
            if len(hashes) != count:  # pragma: no cover - the copy is checked in the store
                raise AssertionError(f"{name}: copied {count} elements, found {len(hashes)}")
            self.store.record_array_identity(self.run_id, name, identity, count)
        logger.debug("%s: all %d elements copied from run %s", name, count, source)
        return hashes

    def _copy_cached_array(self, name: str, identity: str) -> tuple[str, int] | None:
        copy = self.store.copy_cached_array
        if self.cache_user is None:
            return copy(name, identity, self.run_id)
        if not self._copy_takes_user:  # a store older than user_id= : look up each element
            return None
        return copy(name, identity, self.run_id, user_id=self.cache_user)

    def _find_cached(self, name: str, identities: Sequence[str]) -> dict[str, TaskInstanceRecord]:
        if self._find_outputs:
            return self.store.find_cached_outputs(name, identities, user_id=self.cache_user)
        find = self.store.find_cached_many
        if self.cache_user is None:
            return find(name, identities)
        if self._find_takes_user:
            return find(name, identities, user_id=self.cache_user)
        # A store older than user_id=: keep the hits of this user's runs (an older
        # hit of this user's hidden behind another user's newer one runs again).
        users: dict[str, str | None] = {}
        found = {}
        for identity, hit in find(name, identities).items():
            if hit.run_id not in users:
                record = self.store.get_run_record(hit.run_id)
                users[hit.run_id] = None if record is None else record.user_id
            if users[hit.run_id] == self.cache_user:
                found[identity] = hit
        return found

    def _copied_names_files(self, name: str) -> bool:
        """Whether a whole array just copied names files (judged by its first element).

        :meth:`remember_array` never records such an array; only a store written
        before outputs' files were checked holds one.  Its elements must each be
        checked, so the copy is undone.
        """
        first = self.store.get_task_instance_record(self.run_id, name, 0)
        return first is not None and holds_path(first.output)

    def _may(self, name: str) -> bool:
        """Whether the store may hold a result of ``name`` to reuse (asked once per task)."""
        may = self._may_hit.get(name)
        if may is None:
            may = self._may_hit[name] = self.store.may_have_cached_results(name)
        return may

    def remember_array(
        self, name: str, identity: str, outputs: Sequence[Any], element_key: str = ""
    ) -> None:
        """Record a fully successful array so a later run can copy it whole, or in part.

        Under its identity (a later run with the same copies it whole) and its
        element key when it has one (:mod:`reflow.cache.elements`: a later run
        whose driving inputs changed in places copies the unchanged elements).
        An array whose outputs name files is not recorded: a copy would skip
        checking each element's files (see :meth:`changed_output_files`).
        """
        if not self.specs[name].config.cache or any(
            holds_path(v) for v in outputs if v is not None
        ):
            return
        if not element_key:
            self.store.record_array_identity(self.run_id, name, identity, len(outputs))
            return
        with self.store.transaction():
            self.store.record_array_identity(self.run_id, name, identity, len(outputs))
            self.store.record_array_identity(self.run_id, name, element_key, len(outputs))

    def element_key(self, name: str, exp: Expansion) -> str:
        """The array's element key (:func:`reflow.cache.elements.element_key`); ``""``: none."""
        return element_key(self.prefixes[name], self.wiring[name], exp)

    def reuse_elements(
        self, name: str, key: str, exp: Expansion, upstream: Mapping[str, UpstreamOutput]
    ) -> dict[int, str]:
        """Copy the elements that did not change since the last array under ``key``.

        See :mod:`reflow.cache.elements`.  Returns the output hash of each
        element copied, by index (the rest is planned by
        :meth:`insert_chunk`); nothing when the cache is not used for the
        task, outputs are verified, or no earlier array has this key.
        """
        lookup, _ = self.cache_mode(name)
        if not key or not lookup or self.policy.verify or not self._may(name):
            return {}
        found = self.store.find_cached_array(name, key, user_id=self.cache_user)
        if found is None:
            return {}
        source, count = found
        columns: list[list[int]] = []  # per driving parameter, the indices it gives alike
        for w in self.wiring[name].values():
            if not w.drives_array:
                continue
            step, up = w.steps[0], upstream[w.steps[0]]
            if w.modes[0] is WireMode.CHAIN:
                indices = same_hashes(up.hashes, self.store.get_all_output_hashes(source, step))
            else:
                old, new = self.store.get_singleton_output(source, step), up.whole[0]
                if not isinstance(old, (list, tuple)) or not isinstance(new, (list, tuple)):
                    return {}
                indices = same_values(new, old)
            columns.append(indices)
        same = columns[0] if len(columns) == 1 else sorted(set.intersection(*map(set, columns)))
        limit = min(count, exp.count)  # the source's elements, and this array's
        wanted = spans(same if not same or same[-1] < limit else [i for i in same if i < limit])
        if not wanted:
            return {}
        copied = self.store.retrying(
            lambda: self.store.copy_array_elements(name, source, self.run_id, wanted)
        )
        if copied:
            logger.debug("%s: %d unchanged elements copied from run %s", name, len(copied), source)
        return copied or {}

    def insert_chunk(
        self, name: str, exp: Expansion, indices: Sequence[int | None], *, defer: bool = False
    ) -> Chunk:
        """Insert instances of ``name`` at ``indices``, taking cache hits, in one transaction.

        With ``defer``, the instances that must run are not inserted: their
        rows are returned in :attr:`Chunk.unwritten`, for the caller to insert
        once they ended (``Store.insert_ended_instances``) or, if they are still
        running at its next write, as they are.  Cache hits are inserted at once.
        A deferred chunk without hits (each task of a cold chain) opens no
        transaction.
        """
        spec = self.specs[name]
        prefix = self.prefixes[name]
        input_hashes = exp.hashes_many([index or 0 for index in indices])
        identities = [identity_with(prefix, h) for h in input_hashes]
        lookup, fixed_info = self.cache_mode(name)
        lookup = lookup and self._may(name)  # a task never computed before: no lookup
        chunk = Chunk()
        if lookup and self._hits_in_store and not self.policy.verify:
            found = self._insert_hits(name, chunk, indices, identities, input_hashes)
            if chunk.reused:  # the loop below sees only what the store did not insert
                kept = [k for k, index in enumerate(indices) if index not in chunk.reused]
                indices = [indices[k] for k in kept]
                identities = [identities[k] for k in kept]
                input_hashes = [input_hashes[k] for k in kept]
        else:
            found = self._find_cached(name, identities) if lookup else {}
        news: list[NewTaskInstance] = []
        code = {"code": self.code[name]} if name in self.code else {}
        miss = {**code, **(fixed_info or {"status": "miss"})}
        # Each instance's cache_info has one of two shapes, encoded once (infotext);
        # a chunk of a few instances (a task of a chain) leaves it to the store.
        keys = tuple(input_hashes[0]) if len(input_hashes) >= _SPLICE_FROM else None
        miss_text = _no_text if keys is None else info_encoder(miss, [("inputs", keys)])
        hit_text = (
            _no_text
            if keys is None or not found
            else info_encoder({**code, "status": "hit"}, [("inputs", keys), ("source", _SOURCE)])
        )
        keep_identity = spec.config.cache
        planned = datetime.now(timezone.utc) if defer else None  # rows written later
        for index, ident, hashes in zip(indices, identities, input_hashes, strict=True):
            hit = found.get(ident) if found else None
            if hit is None:  # most instances
                info = {**miss, "inputs": hashes}
                text: str | None = miss_text(hashes)
            else:
                info, text = self._hit_info(name, spec, index, hit, hashes, code, hit_text)
                if info.get("status") == "hit":
                    chunk.hits[index] = hit
            news.append(
                planned_instance(name, index, ident if keep_identity else "", info, text, planned)
            )

        ids: list[int | None]
        gone: list[int | None]
        rows: list[NewTaskInstance]
        if defer and not chunk.hits:  # misses written when they end: no transaction at all
            ids, gone, rows = [None] * len(indices), [], list(news)
        elif self._reuse_in_store:
            ids, gone, rows = self.store.retrying(
                lambda: self._write_reusing(indices, news, chunk, defer)
            )
        else:
            ids = self.store.retrying(lambda: self._write_then_reuse(indices, news, chunk, defer))
            gone, rows = [], list(news)
        # The chunk is filled after the commit: a unit run again must not add twice.
        for index in gone:
            del chunk.hits[index]
        for index, iid, row in zip(indices, ids, rows, strict=True):
            if iid is None:
                chunk.unwritten[index] = row
            else:
                chunk.ids[index] = iid
            if index not in chunk.hits:
                chunk.queued.append(index)
        return chunk

    def _hit_info(
        self,
        name: str,
        spec: TaskSpec,
        index: int | None,
        hit: TaskInstanceRecord,
        hashes: dict[str, str],
        code: dict[str, str],
        hit_text: InfoEncoder | Callable[..., None],
    ) -> tuple[dict[str, Any], str | None]:
        """The cache_info of an instance whose identity was found, and its text if made here.

        Its status is ``hit`` unless a file the cached output names changed
        (``output_changed``) or the output fails verification (``verify_failed``).
        """
        info: dict[str, Any] = {**code, "inputs": hashes}
        changed = self.changed_output_files(name, hit)
        reason = verify_output(spec, hit.output) if self.policy.verify and not changed else ""
        if changed:
            logger.info(
                "%s: cached result not reused: a file it names changed",
                instance_label(name, index),
            )
            info.update(
                status="output_changed",
                cached={"run_id": hit.run_id, "instance_id": hit.id},
                files=changed,
            )
            return info, None
        if reason:
            logger.info("%s: cached result not reused: %s", instance_label(name, index), reason)
            info.update(status="verify_failed", reason=reason)
            return info, None
        source = {"run_id": hit.run_id, "instance_id": hit.id, "array_index": hit.array_index}
        info.update(status="hit", source=source)
        return info, hit_text(hashes, source)

    def _insert_hits(
        self,
        name: str,
        chunk: Chunk,
        indices: Sequence[int | None],
        identities: Sequence[str],
        input_hashes: Sequence[Mapping[str, str]],
    ) -> dict[str, TaskInstanceRecord]:
        """Let the store insert the hits it can (into ``chunk``); return the ones it handed back.

        Its own unit of work (the store's), committed before the rest of the
        chunk: a failure between the two leaves some elements SUCCESS and the
        others absent, which a rerun of the plan takes as it finds them (as
        any chunk before).  Not wrapped in :meth:`Store.retrying`: a chunk
        without hits (each task of a chain) costs a lookup, no transaction.
        """
        code = self.code.get(name)
        fixed = {} if code is None else {"code": code}
        # The candidates' cache_info text, one encoding for the chunk (see insert_chunk).
        text = (
            info_encoder(fixed, [("inputs", tuple(input_hashes[0]))])
            if len(input_hashes) >= _SPLICE_FROM
            else _no_text
        )
        candidates = [
            cache_candidate(index, ident, {**fixed, "inputs": hashes}, text(hashes))
            for index, ident, hashes in zip(indices, identities, input_hashes, strict=True)
        ]
        reused, held = self.store.insert_cache_hits(
            self.run_id, name, candidates, user_id=self.cache_user
        )
        for index, hit in reused.items():
            chunk.ids[index] = hit.instance_id
            chunk.reused[index] = hit.output_hash
        return held

    def _write_reusing(
        self,
        indices: Sequence[int | None],
        news: Sequence[NewTaskInstance],
        chunk: Chunk,
        defer: bool,
    ) -> tuple[list[int | None], list[int | None], list[NewTaskInstance]]:
        """Insert the misses, and the hits SUCCESS with their sources' outputs copied in the store.

        A hit whose source went since it was looked up (its run deleted) is
        inserted as a miss and runs.  Returns the ids by position (``None`` for
        a miss not inserted, with ``defer``), the indices of those gone hits,
        and the rows by position.
        """
        hit_at = [k for k, index in enumerate(indices) if index in chunk.hits]
        reused: list[int | None] = []
        if hit_at:  # no statement at all for a chunk of misses (each task of a chain)
            reused = self.store.insert_reused_instances(
                self.run_id,
                [news[k] for k in hit_at],
                [chunk.hits[indices[k]].id for k in hit_at],
            )
        ids: list[int | None] = [None] * len(indices)
        rows = list(news)  # this unit may run again: the given instances stay as they are
        gone: list[int | None] = []
        for k, iid in zip(hit_at, reused, strict=True):
            if iid is None:
                gone.append(indices[k])
                info = {key: v for key, v in news[k].cache_info.items() if key != "source"}
                rows[k] = replace(
                    news[k], cache_info={**info, "status": "miss"}, cache_info_text=None
                )
            ids[k] = iid
        missing = [] if defer else [k for k, iid in enumerate(ids) if iid is None]
        if missing:
            new_ids = self.store.insert_task_instances(self.run_id, [rows[k] for k in missing])
            for k, iid in zip(missing, new_ids, strict=True):
                ids[k] = iid
        return ids, gone, rows

    def _write_then_reuse(
        self,
        indices: Sequence[int | None],
        news: Sequence[NewTaskInstance],
        chunk: Chunk,
        defer: bool,
    ) -> list[int | None]:
        """Insert every instance (the hits only, with ``defer``), then move the hits to SUCCESS."""
        at = [k for k, index in enumerate(indices) if not defer or index in chunk.hits]
        inserted = self.store.insert_task_instances(self.run_id, [news[k] for k in at])
        ids: list[int | None] = [None] * len(indices)
        for k, iid in zip(at, inserted, strict=True):
            ids[k] = iid
        updates = [
            StateUpdate(iid, TaskState.SUCCESS, output=hit.output, output_hash=hit.output_hash)
            for index, iid in zip(indices, ids, strict=True)
            if (hit := chunk.hits.get(index)) is not None and iid is not None
        ]
        if updates:
            self.store.apply_state_updates(updates)
        return ids

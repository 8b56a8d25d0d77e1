"""Array jobs on batch schedulers: chunks, index maps, and their summary state.

reflow names array elements by its own 0-based index; a scheduler numbers the
tasks of an array from its own base (0 on Slurm, 1 on SGE, LSF and PBS) up to a
site limit (Slurm's ``MaxArraySize - 1``).  :func:`split_array` cuts an array
into :class:`ArrayChunk` s, each a contiguous run of native task ids starting
at the base and submitted on its own; an :class:`ArrayMap` records which
reflow index runs as which task of which chunk, and :class:`ArrayRegistry`
keeps the maps on disk so that a later process can query and cancel the
elements by reflow index.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reflow.executors.jobs import ARRAY_INDEX_ENV, ArraySpec, JobState, JobStatus

__all__ = [
    "JOIN",
    "ArrayChunk",
    "ArrayMap",
    "ArrayRegistry",
    "index_lines",
    "split_array",
    "split_job_id",
    "summarize",
]

logger = logging.getLogger(__name__)

JOIN = "+"
"""Joins the scheduler ids of an array's chunks into reflow's one job id: ``"123+124"``."""

_FAILURES = (
    JobState.FAILED,
    JobState.OUT_OF_MEMORY,
    JobState.TIMEOUT,
    JobState.NODE_FAIL,
    JobState.CANCELLED,
)
"""The ended states of an array's elements, worst first, for the array's own state."""


@dataclass(frozen=True)
class ArrayChunk:
    """One submission of an array job: consecutive native task ids from the scheduler's base.

    Native task ``base + k`` runs reflow element ``indices[k]``.

    Attributes
    ----------
    number : int
        Position of the chunk among the array's chunks, from 0.
    indices : tuple[int, ...]
        The reflow indices the chunk runs, ascending.
    base : int
        The scheduler's first task id (0 or 1), the native id of ``indices[0]``.
    parallelism : int or None
        At most this many of the chunk's tasks run at once.
    previous : str or None
        The scheduler id of the chunk that must have ended before this one
        starts: an array with a parallelism limit runs its chunks one after
        the other, so that the limit holds for the array as a whole.
    """

    number: int
    indices: tuple[int, ...]
    base: int = 0
    parallelism: int | None = None
    previous: str | None = None
    _position: dict[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_position", {i: k for k, i in enumerate(self.indices)})

    @property
    def first(self) -> int:
        """The first native task id (the scheduler's base)."""
        return self.base

    @property
    def last(self) -> int:
        """The last native task id."""
        return self.base + len(self.indices) - 1

    @property
    def tasks(self) -> range:
        """All native task ids of the chunk."""
        return range(self.first, self.last + 1)

    @property
    def offset(self) -> int | None:
        """``indices[k] - (base + k)`` when that is the same for every task, else ``None``."""
        if self.indices[-1] - self.indices[0] != len(self.indices) - 1:
            return None
        return self.indices[0] - self.base

    def native_task(self, index: int) -> int | None:
        """The native task id running reflow element ``index``, or ``None``."""
        position = self._position.get(index)
        return None if position is None else self.base + position

    def reflow_index(self, task: int) -> int | None:
        """The reflow index native task ``task`` runs, or ``None``."""
        position = task - self.base
        return self.indices[position] if 0 <= position < len(self.indices) else None


def split_array(spec: ArraySpec, base: int, max_index: int | None) -> list[ArrayChunk]:
    """Cut an array into chunks whose native task ids stay within the site's limit.

    Parameters
    ----------
    spec : ArraySpec
        The reflow indices (and parallelism) of the array.
    base : int
        The scheduler's first task id.
    max_index : int or None
        The highest task id the scheduler accepts; ``None``: no limit.

    Returns
    -------
    list[ArrayChunk]
        One chunk if all tasks fit, else chunks of ``max_index - base + 1``
        tasks (the last one shorter), each numbered from ``base`` again.

    Raises
    ------
    ValueError
        If ``max_index`` is below ``base``.

    Examples
    --------
    >>> [c.indices for c in split_array(ArraySpec((0, 2, 3, 5, 6, 8, 9)), 1, 3)]
    [(0, 2, 3), (5, 6, 8), (9,)]
    """
    size = len(spec.indices) if max_index is None else max_index - base + 1
    if size < 1:
        raise ValueError(
            f"the highest array task id {max_index} is below the first one {base}; no array fits"
        )
    return [
        ArrayChunk(number, spec.indices[start : start + size], base, spec.parallelism)
        for number, start in enumerate(range(0, len(spec.indices), size))
    ]


def index_lines(chunk: ArrayChunk, variable: str) -> list[str]:
    """Bash lines exporting ``REFLOW_ARRAY_INDEX`` for the native task id in ``$variable``.

    The script itself maps the task id to the reflow index: by an offset when
    the chunk's indices are consecutive, else through a bash array of them.
    A task id outside the chunk stops the script with exit status 1.

    Examples
    --------
    >>> print("\\n".join(index_lines(ArrayChunk(0, (2, 5)), "SLURM_ARRAY_TASK_ID")[-4:]))
    reflow_indices=(
      2 5
    )
    export REFLOW_ARRAY_INDEX=${reflow_indices[reflow_k]}
    """
    span = f"{chunk.first}-{chunk.last}"
    lines = [
        f"reflow_task=${{{variable}:?reflow: the scheduler did not set {variable}}}",
        f"reflow_k=$((reflow_task - {chunk.base}))",
        f"if (( reflow_k < 0 || reflow_k >= {len(chunk.indices)} )); then",
        f'  echo "reflow: task $reflow_task is not one of this script\'s tasks {span}" >&2',
        "  exit 1",
        "fi",
    ]
    if chunk.offset is not None:
        return [*lines, f"export {ARRAY_INDEX_ENV}=$((reflow_k + {chunk.indices[0]}))"]
    numbers = [str(i) for i in chunk.indices]
    rows = ["  " + " ".join(numbers[k : k + 16]) for k in range(0, len(numbers), 16)]
    return [
        *lines,
        "reflow_indices=(",
        *rows,
        ")",
        f"export {ARRAY_INDEX_ENV}=${{reflow_indices[reflow_k]}}",
    ]


def split_job_id(job_id: str) -> list[str]:
    """The scheduler ids a reflow job id stands for: ``"123+124"`` gives ``["123", "124"]``."""
    return [part for part in job_id.split(JOIN) if part]


@dataclass(frozen=True)
class ArrayMap:
    """Where each element of a submitted array job runs.

    Attributes
    ----------
    job_id : str
        reflow's id of the whole array, the chunk ids joined by ``+``.
    chunks : tuple[tuple[str, ArrayChunk], ...]
        Each chunk with the scheduler's id for it, in order.
    """

    job_id: str
    chunks: tuple[tuple[str, ArrayChunk], ...]

    @classmethod
    def build(cls, chunks: Sequence[tuple[str, ArrayChunk]]) -> ArrayMap:
        """The map of chunks submitted under the given scheduler ids."""
        return cls(JOIN.join(native for native, _ in chunks), tuple(chunks))

    @property
    def indices(self) -> list[int]:
        """Every reflow index of the array, ascending."""
        return [index for _, chunk in self.chunks for index in chunk.indices]

    def elements(self) -> Iterator[tuple[int, str, int]]:
        """``(reflow index, chunk id, native task id)`` for every element."""
        for native, chunk in self.chunks:
            for position, index in enumerate(chunk.indices):
                yield index, native, chunk.base + position

    def locate(self, index: int) -> tuple[str, int] | None:
        """``(chunk id, native task id)`` of reflow element ``index``, or ``None``."""
        for native, chunk in self.chunks:
            task = chunk.native_task(index)
            if task is not None:
                return native, task
        return None

    def reflow_index(self, chunk_id: str, task: int) -> int | None:
        """The reflow index that task ``task`` of chunk ``chunk_id`` runs, or ``None``."""
        for native, chunk in self.chunks:
            if native == chunk_id:
                return chunk.reflow_index(task)
        return None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form, read back by :meth:`from_json`."""
        return {
            "version": 1,
            "job_id": self.job_id,
            "chunks": [
                {"id": native, "base": c.base, "indices": list(c.indices)}
                for native, c in self.chunks
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArrayMap:
        """Read what :meth:`to_json` wrote; ``ValueError``/``KeyError``/``TypeError`` if broken."""
        chunks = tuple(
            (str(c["id"]), ArrayChunk(n, tuple(int(i) for i in c["indices"]), int(c["base"])))
            for n, c in enumerate(data["chunks"])
        )
        if not chunks or any(not chunk.indices for _, chunk in chunks):
            raise ValueError("an array map needs chunks with indices")
        return cls(str(data["job_id"]), chunks)


class ArrayRegistry:
    """The array maps of one executor, one JSON file per array job, with a memory cache.

    Parameters
    ----------
    directory : Path
        Where the files live; created (mode 0700) on the first :meth:`save`.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[str, ArrayMap | None] = {}  # None: no map (a single job)

    def _path(self, job_id: str) -> Path:
        return self.directory / (urllib.parse.quote(job_id, safe="+-_.@") + ".json")

    def save(self, array: ArrayMap) -> None:
        """Record ``array`` (atomically), replacing a map of a recycled job id."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(array.job_id)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(array.to_json()), encoding="utf-8")
        tmp.replace(path)
        self._cache[array.job_id] = array

    def load(self, job_id: str) -> ArrayMap | None:
        """The map of array job ``job_id``, or ``None`` if it is not an array of ours."""
        if job_id in self._cache:
            return self._cache[job_id]
        try:
            data = json.loads(self._path(job_id).read_text(encoding="utf-8"))
            array = ArrayMap.from_json(data)
        except FileNotFoundError:
            self._cache[job_id] = None
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning(
                "Ignoring the unreadable array map %s (%s); job %s is treated as a single job.",
                self._path(job_id),
                exc,
                job_id,
            )
            return None
        self._cache[job_id] = array
        return array

    def forget(self, job_id: str) -> None:
        """Drop a map left by an earlier job whose id the scheduler has reused."""
        self._cache[job_id] = None
        try:
            self._path(job_id).unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("Cannot remove the stale array map %s: %s", self._path(job_id), exc)


def summarize(elements: Mapping[int, JobStatus]) -> JobStatus:
    """The status of an array job as a whole, from its elements' statuses.

    RUNNING while any element runs, or while some have ended and others wait;
    PENDING (or PREEMPTED) while none has started; once all have ended,
    COMPLETED if all completed, else the worst failure among FAILED,
    OUT_OF_MEMORY, TIMEOUT, NODE_FAIL and CANCELLED (in that order), with the
    highest exit code.  UNKNOWN if the scheduler reports none of the waiting
    or running states and some elements not at all.
    """
    states = [status.state for status in elements.values()]
    ended = JobState.ended()
    if states and all(state in ended for state in states):
        codes = [s.exit_code for s in elements.values() if s.exit_code is not None]
        exit_code = max(codes) if codes else None
        for state in _FAILURES:
            hit = [i for i, s in elements.items() if s.state is state]
            if hit:
                reason = f"{len(hit)} of {len(states)} elements {state.value.lower()}: {hit}"
                return JobStatus(state, exit_code, reason)
        return JobStatus(JobState.COMPLETED, exit_code)
    done = sum(state in ended for state in states)
    waiting = [s for s in states if s in (JobState.PENDING, JobState.PREEMPTED)]
    if JobState.RUNNING in states or (done and waiting):
        running = states.count(JobState.RUNNING)
        return JobStatus(
            JobState.RUNNING, None, f"{running} running, {done} of {len(states)} ended"
        )
    if waiting and not done:
        reasons = sorted({s.reason for s in elements.values() if s.reason})
        state = JobState.PENDING if JobState.PENDING in waiting else JobState.PREEMPTED
        return JobStatus(state, None, "; ".join(reasons))
    return JobStatus(JobState.UNKNOWN, None, f"{states.count(JobState.UNKNOWN)} elements unknown")

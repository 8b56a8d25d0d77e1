"""What the dispatcher asks an executor to run: jobs, arrays, resources, states.

These types are the contract between reflow's dispatcher and every
executor.  Array elements are always named by *reflow's* element index
(0-based); each executor maps them to its scheduler's own task ids and makes
the element's index visible to the job as ``REFLOW_ARRAY_INDEX``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from reflow.define.submitviews import SubmitOptionViews
from reflow.define.taskenv import TaskEnvironment

__all__ = [
    "ARRAY_INDEX_ENV",
    "ArraySpec",
    "JobResources",
    "JobSpec",
    "JobState",
    "JobStatus",
    "element_id",
    "parse_array",
    "split_element_id",
]

ARRAY_INDEX_ENV = "REFLOW_ARRAY_INDEX"
"""The environment variable through which an array element learns its reflow index."""


class JobState(str, Enum):
    """The state of one scheduler job or array element, in reflow's vocabulary.

    Each backend maps its scheduler's native states onto these.  ``UNKNOWN``
    means the scheduler no longer (or does not yet) report the job; the
    dispatcher then relies on the job's result file.
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    UNKNOWN = "UNKNOWN"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def ended(cls) -> frozenset[JobState]:
        """States of a job that will not run (again) on its own."""
        return frozenset(
            {
                cls.COMPLETED,
                cls.FAILED,
                cls.CANCELLED,
                cls.TIMEOUT,
                cls.OUT_OF_MEMORY,
                cls.NODE_FAIL,
            }
        )


@dataclass(frozen=True)
class JobStatus:
    """What the scheduler says of one job or array element.

    Attributes
    ----------
    state : JobState
        The state.
    exit_code : int or None
        The job's exit status, when the scheduler reports one.
    reason : str
        The scheduler's own words (pending reason, failure reason), or ``""``.
    """

    state: JobState
    exit_code: int | None = None
    reason: str = ""


@dataclass(frozen=True, init=False)
class JobResources(SubmitOptionViews):
    """Resources of one job (of each element, for an array).

    Two spellings build it: reflow's ``JobResources(cpus=, time=, mem=,
    options=)`` and the published reflow-hpc's ``JobResources(job_name=,
    cpus=, time_limit=, mem=, array=, submit_options=)``, which an
    executor's :meth:`~reflow.executors.Executor.submit` also takes with a
    command.  ``time_limit``, ``submit_options`` and ``extra`` are other
    names of ``time`` and ``options``.

    Attributes
    ----------
    cpus : int
        CPUs per job.
    time : str
        Walltime, in a form :func:`reflow.define.resources.parse_walltime` accepts.
    mem : str
        Memory, in a form :func:`reflow.define.resources.parse_memory` accepts.
    options : dict[str, Any]
        Submit options with reflow's canonical keys (``partition``,
        ``account``, ``qos`` ...) or native ones; the executor normalises them.
    job_name : str
        Name of the job, for the reflow-hpc form of ``submit`` (``""``: unset).
    array : ArraySpec or None
        The elements, for the reflow-hpc form of ``submit``; ``"0-9"``,
        ``"0-9%4"`` (at most 4 at once) or a list of indices are accepted.
    gpus : int
        GPUs per job (checked by :func:`reflow.define.gpus.check_gpus`).
    gpu_type : str or None
        The GPU model, ``None`` for any.
    environment : TaskEnvironment
        Modules, prologue lines and container the job sets up before its
        command (:mod:`reflow.executors.taskenv` writes them).
    """

    cpus: int
    time: str
    mem: str
    options: Mapping[str, Any]
    job_name: str
    array: ArraySpec | None
    gpus: int
    gpu_type: str | None
    environment: TaskEnvironment

    def __init__(
        self,
        cpus: int = 1,
        time: str = "00:30:00",
        mem: str = "4G",
        options: Mapping[str, Any] | None = None,
        *,
        job_name: str = "",
        array: ArraySpec | str | Sequence[int] | None = None,
        time_limit: str | None = None,
        submit_options: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        gpus: int = 0,
        gpu_type: str | None = None,
        environment: TaskEnvironment | None = None,
    ) -> None:
        merged = {**(options or {}), **(submit_options or {}), **(extra or {})}
        object.__setattr__(self, "cpus", cpus)
        object.__setattr__(self, "time", time if time_limit is None else time_limit)
        object.__setattr__(self, "mem", mem)
        object.__setattr__(self, "options", merged)
        object.__setattr__(self, "job_name", job_name)
        object.__setattr__(self, "array", parse_array(array))
        object.__setattr__(self, "gpus", gpus)
        object.__setattr__(self, "gpu_type", gpu_type)
        object.__setattr__(self, "environment", environment or TaskEnvironment())

    @property
    def time_limit(self) -> str:
        """reflow-hpc's name of :attr:`time`."""
        return self.time

    @property
    def submit_options(self) -> dict[str, Any]:
        """reflow-hpc's name of :attr:`options`."""
        return dict(self.options)


def parse_array(value: ArraySpec | str | Sequence[int] | None) -> ArraySpec | None:
    """An :class:`ArraySpec` from reflow-hpc's ways of writing an array.

    ``"0-9"`` (a range), ``"0-9%4"`` (at most 4 at once), ``"1,3,5"`` or a
    list of indices.

    Raises
    ------
    ValueError
        If the text is none of those.

    Examples
    --------
    >>> parse_array("0-3%2")
    ArraySpec(indices=(0, 1, 2, 3), parallelism=2)
    """
    if value is None or isinstance(value, ArraySpec):
        return value
    if not isinstance(value, str):
        return ArraySpec(tuple(sorted({int(i) for i in value})))
    text, _, limit = value.replace(" ", "").partition("%")
    indices: set[int] = set()
    try:
        for part in text.split(","):
            first, _, last = part.partition("-")
            indices.update(range(int(first), int(last or first) + 1))
        parallelism = int(limit) if limit else None
        if not indices or (parallelism is not None and parallelism < 1):
            raise ValueError("empty")  # "5-2", "0-3%0": reported below as the text given
    except ValueError:
        raise ValueError(
            f"invalid array {value!r}: write a range such as '0-9', '0-9%4' or '1,3,5'"
        ) from None
    return ArraySpec(tuple(sorted(indices)), parallelism)


@dataclass(frozen=True)
class ArraySpec:
    """The elements of an array job.

    Attributes
    ----------
    indices : tuple[int, ...]
        Reflow element indices to run, ascending (all of ``range(n)`` for a
        fresh array, only some of them on a retry).
    parallelism : int or None
        At most this many elements run at once (``None``: no limit).
    """

    indices: tuple[int, ...]
    parallelism: int | None = None

    def __post_init__(self) -> None:
        if not self.indices:
            raise ValueError("an array job needs at least one element")
        if list(self.indices) != sorted(set(self.indices)) or self.indices[0] < 0:
            raise ValueError("array indices must be distinct, ascending and >= 0")


@dataclass(frozen=True)
class JobSpec:
    """One job (or job array) to submit.

    Attributes
    ----------
    name : str
        Job name shown by the scheduler.
    command : tuple[str, ...]
        The program and its arguments (run without a shell).
    workdir : Path
        Working directory of the job.
    log_dir : Path
        Where the job's stdout and stderr files go: ``<name>-<job id>.out``
        / ``.err`` for a single job, ``<name>-<job id>_<index>.out`` for an
        array element (``index`` in the scheduler's own numbering).
    resources : JobResources
        What the job asks for.
    array : ArraySpec or None
        The elements, for an array job.
    after_any : tuple[str, ...]
        Job ids that must have ended (successfully or not) before this starts.
    after_ok : tuple[str, ...]
        Job ids that must have succeeded before this starts.
    after_corr : tuple[str, ...]
        Array job ids whose element ``i`` must have succeeded before element
        ``i`` of this array starts (Slurm's ``aftercorr``).  Only executors
        whose :attr:`~reflow.executors.Executor.supports_after_corr` is true
        accept it.
    env : dict[str, str]
        Extra environment variables for the job.
    log_name : str
        Stem of the job's log files, when it should differ from ``name``
        (reflow's task jobs use the task name: ``<task>-<job id>_<index>.out``).
    binds : tuple[str, ...]
        Directories the command reads or writes besides ``workdir`` and
        ``log_dir`` (the workflow script's, the Python environment): bound
        into the job's container when its resources name one.
    """

    name: str
    command: tuple[str, ...]
    workdir: Path
    log_dir: Path
    resources: JobResources = field(default_factory=JobResources)
    array: ArraySpec | None = None
    after_any: tuple[str, ...] = ()
    after_ok: tuple[str, ...] = ()
    after_corr: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    log_name: str = ""
    binds: tuple[str, ...] = ()


def element_id(job_id: str, index: int) -> str:
    """The id reflow uses for element ``index`` of array job ``job_id``: ``ID[index]``."""
    return f"{job_id}[{index}]"


def split_element_id(ident: str) -> tuple[str, int | None]:
    """Inverse of :func:`element_id`: ``("ID", index)``, or ``(ident, None)``."""
    if ident.endswith("]") and "[" in ident:
        base, _, rest = ident.rpartition("[")
        number = rest[:-1]
        if number.isdigit():
            return base, int(number)
    return ident, None

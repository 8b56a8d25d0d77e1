"""Packed array tasks: several elements of an array task run in one scheduler array task.

``@wf.job(array=True, pack=N)`` (or ``[submit] pack = N`` in the configuration)
turns the elements the dispatcher submits in one go into array tasks of ``N``
consecutive elements each: array task ``k`` runs the ``k``-th group of ``N`` of
the elements submitted, which on a fresh array is elements
``[k*N, min((k+1)*N, n))``; a retry submits only what failed, so one element
retried is one array task holding that element alone.

The dispatcher writes the groups of one submission to a *pack plan*
(:meth:`reflow.runs.layout.RunLayout.pack_file`), named by the submission's
pending token, before it submits; the worker of array task ``k`` reads group
``k`` from it (``python -m reflow.job work RUN_JSON TASK PLAN``).  Each element
keeps its own inputs, started record and result file, so it succeeds, fails and
is retried alone; the store records for each element the id of the array task
that ran it (``ID[k]``), which is what the scheduler reports on and what
``reflow logs`` follows to the pack's log.  A pack's log holds every element's
output between :func:`marker` lines, which :func:`element_part` cuts out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reflow.define.resources import format_walltime, parse_walltime
from reflow.runs.files import read_json, write_json_atomic
from reflow.runs.layout import RunLayout

__all__ = [
    "AUTO",
    "PackPlan",
    "array_tasks",
    "element_part",
    "marker",
    "pack_groups",
    "pack_size",
    "pack_walltime",
    "read_pack_group",
    "read_pack_plan",
]

_MARK = "==> reflow element {index} {edge} <=="


AUTO = "auto"
"""``pack="auto"``: the dispatcher chooses from measured run times (:mod:`.autopack`)."""


def pack_size(task_pack: int | str | None, default: int | str | None, *, array: bool) -> int | str:
    """How many elements of a task one array task runs: 1 when the task is not packed.

    Parameters
    ----------
    task_pack : int, "auto" or None
        The task's own ``pack=`` (``None``: not given).
    default : int, "auto" or None
        The configuration's ``[submit] pack`` (``None``: not set).

    Returns
    -------
    int or str
        The number, or :data:`AUTO` for the dispatcher to choose it.
    array : bool
        Whether the task is an array task; only array tasks are packed.

    Examples
    --------
    >>> pack_size(None, 50, array=True), pack_size(10, 50, array=True)
    (50, 10)
    >>> pack_size(None, 50, array=False), pack_size(None, None, array=True)
    (1, 1)
    >>> pack_size("auto", None, array=True)
    'auto'
    """
    if not array:
        return 1
    if task_pack is not None:
        return task_pack
    return default or 1


def pack_groups(indices: Sequence[int], size: int) -> list[list[int]]:
    """The elements each array task runs: ``indices`` (ascending) cut into runs of ``size``.

    Examples
    --------
    >>> pack_groups(range(5), 2)
    [[0, 1], [2, 3], [4]]
    >>> pack_groups([3, 250], 100)
    [[3, 250]]
    """
    items = list(indices)
    return [items[start : start + size] for start in range(0, len(items), size)]


def array_tasks(pack: PackPlan | None, indices: Sequence[int | None]) -> dict[int, int]:
    """Each element's array task number in one submission: its pack's, else its own index.

    Two submissions whose mappings are equal pair task for task (``after_corr``):
    array task ``k`` of one holds exactly the elements array task ``k`` of the
    other holds.

    Examples
    --------
    >>> array_tasks(None, [3, 4])
    {3: 3, 4: 4}
    >>> array_tasks(PackPlan("t", [[0, 1], [2]]), [0, 1, 2])
    {0: 0, 1: 0, 2: 1}
    """
    if pack is None:
        return {i: i for i in indices if i is not None}
    return {i: k for k, group in enumerate(pack.groups) for i in group}


def pack_walltime(time: str, largest: int) -> str:
    """The walltime of an array task running ``largest`` elements of ``time`` each.

    ``time=`` stays what one element needs, so packing never turns a task
    that fits its limit into a pack that runs out of walltime.

    Examples
    --------
    >>> pack_walltime("00:10:00", 100)
    '16:40:00'
    """
    return format_walltime(parse_walltime(time) * largest)


@dataclass(frozen=True)
class PackPlan:
    """The array tasks of one packed submission of a task.

    Attributes
    ----------
    name : str
        The plan's name: the submission's pending token (without ``pending:``).
    groups : list[list[int]]
        Group ``k``: the reflow element indices array task ``k`` runs, in order.
    """

    name: str
    groups: list[list[int]]

    @property
    def array_tasks(self) -> tuple[int, ...]:
        """The array task numbers to submit: ``0 .. len(groups) - 1``."""
        return tuple(range(len(self.groups)))

    def job_ids(self, job_id: str) -> dict[int, str]:
        """Each element's job id once the array is job ``job_id``: its array task's, ``ID[k]``."""
        # lazy: the dispatcher's alone; a worker reading its plan skips reflow.executors
        from reflow.executors.jobs import element_id

        return {i: element_id(job_id, k) for k, group in enumerate(self.groups) for i in group}

    def write(self, layout: RunLayout, task: str) -> None:
        """Write the plan where the task's workers read it, before the array is submitted."""
        write_json_atomic(layout.pack_file(task, self.name), {"groups": self.groups})


def read_pack_plan(layout: RunLayout, task: str, plan: str) -> PackPlan | None:
    """The pack plan ``plan`` of ``task`` as written, or ``None`` (unpacked, or unreadable)."""
    try:
        data: Mapping[str, Any] = read_json(layout.pack_file(task, plan))
        return PackPlan(plan, [[int(i) for i in group] for group in data["groups"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_pack_group(layout: RunLayout, task: str, plan: str, array_task: int) -> list[int]:
    """The elements array task ``array_task`` of plan ``plan`` runs.

    Raises
    ------
    FileNotFoundError, ValueError
        If the plan is missing or unreadable, or has no such array task.
    """
    data: Mapping[str, Any] = read_json(layout.pack_file(task, plan))
    groups = data.get("groups")
    if not isinstance(groups, list) or not 0 <= array_task < len(groups):
        raise ValueError(f"pack plan {plan} of task {task!r} has no array task {array_task}")
    return [int(i) for i in groups[array_task]]


def marker(index: int, edge: str) -> str:
    """The line a pack's worker writes to both logs before (``start``) or after (``end``) one.

    Examples
    --------
    >>> marker(7, "start")
    '==> reflow element 7 start <=='
    """
    return _MARK.format(index=index, edge=edge)


def element_part(text: bytes, index: int) -> bytes | None:
    """Element ``index``'s part of a pack's log, markers included; ``None`` if it has none.

    A pack killed while element ``index`` ran has no end marker: its part runs
    to the end of the log.

    Examples
    --------
    >>> log = b"==> reflow element 0 start <==\\na\\n==> reflow element 0 end <==\\n"
    >>> log += b"==> reflow element 1 start <==\\nb\\n"
    >>> element_part(log, 1)
    b'==> reflow element 1 start <==\\nb\\n'
    >>> element_part(log, 2) is None
    True
    """
    start = marker(index, "start").encode()
    begin = text.find(start)
    if begin < 0:
        return None
    end_line = marker(index, "end").encode()
    end = text.find(end_line, begin)
    if end < 0:
        return text[begin:]
    stop = end + len(end_line)
    if text[stop : stop + 1] == b"\n":
        stop += 1
    return text[begin:stop]


def packed(text: bytes) -> bool:
    """Whether a log is a pack's (it holds element markers)."""
    return b"==> reflow element " in text


def plan_packs(
    layout: RunLayout,
    task: str,
    size: int,
    indices: Sequence[int | None],
    token: str,
) -> PackPlan | None:
    """The pack plan of one submission of ``task``, written; ``None`` when it is not packed.

    Parameters
    ----------
    layout : RunLayout
        The run's files.
    task : str
        The task submitted.
    size : int
        Elements per array task (:func:`pack_size`); 1 means not packed.
    indices : Sequence[int or None]
        The elements submitted, ascending (``None`` for a singleton, never packed).
    token : str
        The submission's pending token: the plan's name.
    """
    elements = [i for i in indices if i is not None]
    if size <= 1 or not elements:
        return None
    plan = PackPlan(token.rpartition(":")[2], pack_groups(elements, size))
    plan.write(layout, task)
    return plan

"""Every path under a run directory, in one place: :class:`RunLayout`.

Several runs may share one run directory, so most of a run's files sit in
folders named by its run id; the ``logs`` folder is shared and the run's
files in it are told apart by name::

    <run_dir>/
        logs/                               shared by every run in the directory
            <task>-<job>.out, .err          a task's single job
            <task>-<job>_<n>.out, .err      element n (scheduler numbering) of an array job
            dispatch.<run>-<job>.out, .err  the run's dispatcher jobs
        results/<run>/<task>/<i>.json       a worker's result (output or error)
        .reflow/<run>/                      the run's own bookkeeping
            run.json                        the run's context (what it runs, and how)
            inputs/<task>/<i>.json          what instance i receives
            started/<task>/<i>.json         the worker started: host, pid, job id, time
            packs/<task>/<plan>.json        the elements of each array task of a packed array
            dispatcher.json                 the run's pending dispatcher job
            dispatch.lock                   held by the dispatcher wave running now
            planned.json                    the tasks the dispatchers planned, and how many
            unknown.json                    jobs the scheduler no longer reports, since when
            code.json                       the frozen code generation jobs import now
            code/<n>/                       frozen code, generation n
            usage.jsonl                     what run_local's instances used
            notify.json                     the events submit --notify chose
            notified/<event>                the notification was sent (claimed)
            attempts.json                   every failed attempt: reason, resources, job, host
            submitted/<token>.json          job ids a submission got, until the store has them
        .reflow-scripts/                    batch executors' job scripts (shared)

``<run>`` is the run id, ``<i>`` an instance's array index or ``single`` for
a singleton, ``<job>`` a scheduler job id.  Runs made before the dispatcher
logs carried the run id named them ``<workflow>.dispatch-<job>.out``
(:data:`LEGACY_DISPATCHER_LOG_GLOB`).
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LEGACY_DISPATCHER_LOG_GLOB", "RunLayout", "instance_file_name", "task_log_parts"]

_TASK_LOG = re.compile(r"^(?P<task>.+)-(?P<job>[^-_]+)(?:_\d+)?\.(?:out|err)$")

LEGACY_DISPATCHER_LOG_GLOB = "{workflow}.dispatch-*.err"
"""The dispatcher logs of runs made before their names carried the run id.

They name only the workflow, so which run one belongs to is read from the
line ``run <run id>: <state>`` each dispatcher logs last
(:func:`reflow.cli.runfiles.run_files` does, for ``reflow gc``).
"""


def instance_file_name(index: int | None) -> str:
    """The file name of an instance's inputs, started record or result: ``<i>.json``.

    Examples
    --------
    >>> instance_file_name(3), instance_file_name(None)
    ('3.json', 'single.json')
    """
    return f"{'single' if index is None else index}.json"


def task_log_parts(name: str) -> tuple[str, str] | None:
    """``(task stem, job id)`` of a task job's log file name (see :meth:`RunLayout.task_log`).

    ``None`` for a name of another shape.  The task stem has ``_`` for each
    ``/`` of the task's name.

    Examples
    --------
    >>> task_log_parts("process-41_3.err"), task_log_parts("notes.txt")
    (('process', '41'), None)
    """
    match = _TASK_LOG.match(name)
    return None if match is None else (match["task"], match["job"])


@dataclass(frozen=True)
class RunLayout:
    """Where each file of run ``run_id`` lives in the run directory ``run_dir``.

    Only paths: nothing is created or written here, and the one reader,
    :meth:`element_states`, reads the files workers write, so that which files
    those are is known in this class alone.

    Attributes
    ----------
    run_dir : Path
        The run directory (the jobs' working directory).
    run_id : str
        The run's id.

    Examples
    --------
    >>> layout = RunLayout(Path("/scratch/run"), "demo-1")
    >>> str(layout.result_file("square", 2))
    '/scratch/run/results/demo-1/square/2.json'
    >>> str(layout.context_file)
    '/scratch/run/.reflow/demo-1/run.json'
    """

    run_dir: Path
    run_id: str

    # -- folders every run in the directory shares --------------------------------------

    @property
    def logs_dir(self) -> Path:
        """``logs/``: the stdout and stderr files of every job of every run."""
        return self.run_dir / "logs"

    @property
    def results_root(self) -> Path:
        """``results/``: one folder of result files per run."""
        return self.run_dir / "results"

    @property
    def state_root(self) -> Path:
        """``.reflow/``: one bookkeeping folder per run."""
        return self.run_dir / ".reflow"

    @property
    def scripts_dir(self) -> Path:
        """``.reflow-scripts/``: the job scripts batch executors write.

        The executor chooses it (:meth:`reflow.executors.batch.BatchExecutor.scripts_dir`,
        next to the job's log folder); it is named here so that the whole layout
        is in one place.
        """
        return self.run_dir / ".reflow-scripts"

    # -- the run's own folders ----------------------------------------------------------

    @property
    def results_dir(self) -> Path:
        """``results/<run>/``: the run's result files."""
        return self.results_root / self.run_id

    @property
    def state_dir(self) -> Path:
        """``.reflow/<run>/``: the run's bookkeeping (everything below but results and logs)."""
        return self.state_root / self.run_id

    @property
    def own_dirs(self) -> tuple[Path, ...]:
        """The folders that hold only this run's files: ``results/<run>`` and ``.reflow/<run>``.

        Empty when the run id could name a path outside them (empty, ``.``,
        ``..`` or holding a separator), so that deleting them never deletes
        another run's files.
        """
        rid = self.run_id
        if not rid or "/" in rid or "\\" in rid or rid in (".", ".."):
            return ()
        return (self.results_dir, self.state_dir)

    # -- files in the run's folders -----------------------------------------------------

    @property
    def context_file(self) -> Path:
        """``.reflow/<run>/run.json``: the run's context, for its jobs."""
        return self.state_dir / "run.json"

    def input_file(self, task: str, index: int | None) -> Path:
        """Where the dispatcher writes an instance's inputs."""
        return self.state_dir / "inputs" / task / instance_file_name(index)

    def ahead_file(self, task: str) -> Path:
        """What the workers of a task submitted ahead of its inputs read them from.

        Written by the dispatcher (:mod:`reflow.engine.scheduler.forward`): the
        task's wiring and identity parts, the upstream outputs known when it
        was submitted, and its earlier outputs by identity (the cache).
        """
        return self.state_dir / "ahead" / f"{task}.json"

    def ahead_index_file(self, task: str, shard: str) -> Path:
        """One shard of a task's earlier outputs by identity: the identities starting ``shard``.

        Beside :meth:`ahead_file`; a worker reads only the shard of its own
        identity, however long the task's history.
        """
        return self.state_dir / "ahead" / f"{task}.index" / f"{shard}.json"

    def started_file(self, task: str, index: int | None) -> Path:
        """Where a worker marks that it started."""
        return self.state_dir / "started" / task / instance_file_name(index)

    def result_file(self, task: str, index: int | None) -> Path:
        """Where a worker writes its result."""
        return self.results_dir / task / instance_file_name(index)

    def pack_file(self, task: str, plan: str) -> Path:
        """Which elements each array task of one packed submission of ``task`` runs.

        ``plan`` names the submission (:mod:`reflow.engine.scheduler.packing`).
        """
        return self.state_dir / "packs" / task / f"{plan}.json"

    @property
    def dispatcher_file(self) -> Path:
        """Where the id of the run's next (pending) dispatcher job is kept."""
        return self.state_dir / "dispatcher.json"

    @property
    def dispatch_lock(self) -> Path:
        """The lock one dispatcher wave of the run holds at a time."""
        return self.state_dir / "dispatch.lock"

    @property
    def cancel_file(self) -> Path:
        """Left by ``cancel`` before it waits for a running wave, which then stops waiting."""
        return self.state_dir / "cancel.requested"

    @property
    def planned_file(self) -> Path:
        """The tasks the dispatchers planned, with their instance counts."""
        return self.state_dir / "planned.json"

    @property
    def unknown_file(self) -> Path:
        """The jobs the scheduler stopped reporting, with when it first did not."""
        return self.state_dir / "unknown.json"

    def submitted_file(self, token: str) -> Path:
        """The job ids the submission marked with pending ``token`` got from the scheduler.

        Written between the scheduler's answer and the store's update, and
        removed after it: a dispatcher that lost its store in between leaves
        the ids here, for the next wave to record instead of submitting again.
        """
        return self.state_dir / "submitted" / f"{token.rpartition(':')[2]}.json"

    @property
    def attempts_file(self) -> Path:
        """Every failed attempt of the run's instances (:mod:`reflow.runs.attempts`)."""
        return self.state_dir / "attempts.json"

    @property
    def code_file(self) -> Path:
        """Which generation of frozen code the run's jobs import now."""
        return self.state_dir / "code.json"

    def code_dir(self, generation: int) -> Path:
        """Generation ``generation`` of the run's frozen code (1 at submit, one more per retry)."""
        return self.state_dir / "code" / str(generation)

    @property
    def usage_file(self) -> Path:
        """Where ``run_local`` records what its instances used (JSON lines)."""
        return self.state_dir / "usage.jsonl"

    def element_states(
        self,
        task: str,
        indices: Collection[int | None] | None = None,
        seen: dict[Path, tuple[int, str]] | None = None,
    ) -> dict[int | None, str]:
        """What the run directory says of instances of ``task``: RUNNING, SUCCESS or FAILED.

        Read-only, from the workers' start markers and result files, so a
        view can show an instance as running or finished before a dispatcher
        records it.  An instance with neither file is not in the result.

        Parameters
        ----------
        task : str
            The task.
        indices : collection of int or None, optional
            Only these instances (``None`` for a singleton); every one with a
            file when not given.  Result files are opened only for these, as a
            result tells success from failure only by its content.
        seen : dict, optional
            Result file -> (modification time in ns, state) of the files read
            before, filled in here: a view that polls passes the same dict each
            time, and a result file that has not changed (one is replaced only
            by a retry) is not read again.
        """
        states: dict[int | None, str] = {}
        for index in _instance_indices(self.state_dir / "started" / task, indices):
            states[index] = "RUNNING"
        for index in _instance_indices(self.results_dir / task, indices):
            path = self.result_file(task, index)
            if seen is None:
                states[index] = _result_state(path)
                continue
            try:
                mtime = path.stat().st_mtime_ns
            except FileNotFoundError:
                continue  # a retry removed it between the listing and now
            known = seen.get(path)
            if known is None or known[0] != mtime:
                known = seen[path] = (mtime, _result_state(path))
            states[index] = known[1]
        return states

    @property
    def notify_file(self) -> Path:
        """The events ``submit --notify`` chose for the run (no address, no secret)."""
        return self.state_dir / "notify.json"

    @property
    def notified_dir(self) -> Path:
        """The claims of the run's notifications sent (:meth:`notified_file`)."""
        return self.state_dir / "notified"

    def notified_file(self, event: str) -> Path:
        """Created when the run's ``event`` notification is claimed, so it is sent once."""
        return self.notified_dir / event

    # -- log files ----------------------------------------------------------------------

    @property
    def dispatcher_log_name(self) -> str:
        """The stem of the run's dispatcher job logs: ``dispatch.<run>``.

        The run id is in the name so that ``reflow gc`` finds a run's
        dispatcher logs by name.  It comes after ``dispatch.`` because a
        scheduler may change a name that starts with a digit (Grid Engine
        does), and a run id starts with the workflow's name, which may.
        """
        return f"dispatch.{self.run_id}"

    def dispatcher_logs(self) -> list[Path]:
        """The run's dispatcher log files now in :attr:`logs_dir`, sorted.

        Raises
        ------
        OSError
            If the log folder cannot be read.
        """
        if not self.logs_dir.is_dir():
            return []
        stem = glob.escape(self.dispatcher_log_name)
        found = [*self.logs_dir.glob(f"{stem}-*.out"), *self.logs_dir.glob(f"{stem}-*.err")]
        return sorted(found)

    def task_log(self, task: str, job: str, number: int | None, suffix: str = "out") -> Path:
        """A task job's ``.out`` (or ``.err``) file.

        Parameters
        ----------
        task : str
            The task's name (a ``/`` in it becomes ``_``).
        job : str
            The scheduler's job id (one chunk's, for a split array).
        number : int or None
            The element's number in the scheduler's own numbering, or ``None``
            for a single job.
        suffix : str
            ``"out"`` or ``"err"``.
        """
        stem = f"{task.replace('/', '_')}-{job}"
        return self.logs_dir / f"{stem}{'' if number is None else f'_{number}'}.{suffix}"


def _instance_indices(folder: Path, wanted: Collection[int | None] | None) -> list[int | None]:
    """The instances with a file ``<i>.json`` in ``folder`` (temporary files skipped)."""
    try:
        names = [entry.name for entry in os.scandir(folder)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    found: list[int | None] = []
    for name in names:
        stem, dot, ext = name.partition(".")
        if ext != "json" or not dot:
            continue  # ".<i>.json.xxx.tmp": a file being written
        index = None if stem == "single" else int(stem) if stem.isdigit() else -1
        if index != -1 and (wanted is None or index in wanted):
            found.append(index)
    return found


def _result_state(path: Path) -> str:
    """``SUCCESS`` or ``FAILED`` as a result file says; ``RUNNING`` if it went away meanwhile.

    A corrupt file is ``FAILED``: the dispatcher records it so too.
    """
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return "RUNNING"  # a retry removed it between the listing and now
    except (ValueError, RecursionError, OSError):
        return "FAILED"
    return "SUCCESS" if isinstance(data, dict) and data.get("ok") else "FAILED"

"""The facts of one run, typed: :class:`RunContext`, its ``run.json`` and its reader.

A run is created once (:func:`reflow.runs.creation.create_run`) and its facts
never change afterwards: where it runs, which script defines it, with which
command line, executor, store and cache flags.  They are kept twice, in the
same shape:

- as typed columns of the run in the manifest store, which every command
  reads back as :attr:`reflow.stores.RunRecord.context`;
- as ``<run_dir>/.reflow/<run_id>/run.json``, which is all a scheduler job is
  handed (``python -m reflow.job dispatch <run.json>``): the dispatcher opens
  the store from the URL in it, so its command line names neither a store
  file nor an internal module.

The run's own parameters (what the user passed) are not part of it: they stay
in :attr:`~reflow.stores.RunRecord.parameters`.

This module imports only leaf modules of reflow (:mod:`reflow.errors`, the
run-directory file helpers): the store records hold a :class:`RunContext`,
and every layer reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow.errors import ReflowError
from reflow.runs.files import write_json_atomic
from reflow.runs.layout import RunLayout

if TYPE_CHECKING:
    from reflow.stores.records import RunRecord

__all__ = [
    "CONTEXT_FORMAT",
    "RunContext",
    "context_file",
    "context_path",
    "read_context",
    "recorded_context",
    "recorded_run_dir",
    "write_context",
]

CONTEXT_FORMAT = 1
"""The version of ``run.json`` this reflow writes; it reads this one and older."""


@dataclass(frozen=True)
class RunContext:
    """One run's facts, fixed when the run is created.

    Attributes
    ----------
    run_id : str
        The run.
    run_dir : Path
        Its run directory, absolute.
    workflow : str
        The workflow's name.
    script : Path or None
        The script that defines the workflow, absolute, for runs that jobs
        advance (``submit``); ``None`` for runs advanced in-process (``run_local``).
    argv : tuple[str, ...]
        The command line the run was made with (the script's parameters are
        read from it again when a job loads the workflow).
    executor : str
        The executor's name (``run_local`` for in-process runs).
    executor_options : dict[str, Any]
        The options it was created with (what ``recorded_options()`` gave).
    store_url : str
        The URL that opens the run's manifest store (:func:`reflow.stores.open_store`),
        never with a password; ``""`` when the store cannot say one.
    force : bool
        Look nothing up in the cache.
    force_tasks : frozenset[str]
        Look nothing up for these tasks.
    verify : bool
        Check cached outputs before reusing them.
    provenance : dict[str, Any]
        What exactly ran (command line, versions, script hash, git commit,
        user, host): :func:`reflow.runs.provenance.collect_provenance`.  Kept
        in ``run.json`` only: a context read from a store has it empty, and it
        does not count when contexts are compared (it describes the run, it
        does not define it).
    max_jobs : int or None
        At most this many of the run's jobs in the scheduler's queue at once,
        counting each array element as one job as schedulers do toward
        ``MaxSubmitJobs`` (``submit --max-jobs``, ``[submit] max_jobs``);
        ``None``: no cap.  Kept in ``run.json``, which every dispatcher reads.
    """

    run_id: str
    run_dir: Path
    workflow: str
    script: Path | None = None
    argv: tuple[str, ...] = ()
    executor: str = ""
    executor_options: dict[str, Any] = field(default_factory=dict)
    store_url: str = ""
    force: bool = False
    force_tasks: frozenset[str] = frozenset()
    verify: bool = False
    provenance: dict[str, Any] = field(default_factory=dict, compare=False)
    max_jobs: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The context as JSON-ready values (paths as strings, sets sorted).

        Returns
        -------
        dict[str, Any]
            Every field, plus ``format`` (:data:`CONTEXT_FORMAT`).
        """
        return {
            "format": CONTEXT_FORMAT,
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "workflow": self.workflow,
            "script": None if self.script is None else str(self.script),
            "argv": list(self.argv),
            "executor": self.executor,
            "executor_options": dict(self.executor_options),
            "store_url": self.store_url,
            "force": self.force,
            "force_tasks": sorted(self.force_tasks),
            "verify": self.verify,
            "provenance": dict(self.provenance),
            "max_jobs": self.max_jobs,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "the run context") -> RunContext:
        """Rebuild a context from :meth:`to_dict`'s form.

        Parameters
        ----------
        data : Mapping[str, Any]
            The dictionary.
        source : str
            What it was read from, for the error message.

        Raises
        ------
        ReflowError
            In one line, if it was written by a newer reflow (a higher
            ``format``) or lacks a field every context has.
        """
        version = data.get("format")
        if not isinstance(version, int) or version < 1:
            raise ReflowError(f"{source} is not a reflow run context (no format version).")
        if version > CONTEXT_FORMAT:
            raise ReflowError(
                f"{source} has run-context format {version}; this reflow reads up to "
                f"{CONTEXT_FORMAT}. Upgrade reflow-core where the job runs."
            )
        try:
            script = data.get("script")
            return cls(
                run_id=str(data["run_id"]),
                run_dir=Path(str(data["run_dir"])),
                workflow=str(data["workflow"]),
                script=None if script is None else Path(str(script)),
                argv=tuple(str(a) for a in data.get("argv", ())),
                executor=str(data.get("executor", "")),
                executor_options=dict(data.get("executor_options") or {}),
                store_url=str(data.get("store_url", "")),
                force=bool(data.get("force", False)),
                force_tasks=frozenset(str(t) for t in data.get("force_tasks", ())),
                verify=bool(data.get("verify", False)),
                provenance=dict(data.get("provenance") or {}),
                max_jobs=None if data.get("max_jobs") is None else int(data["max_jobs"]),
            )
        except KeyError as exc:
            raise ReflowError(f"{source} lacks the field {exc.args[0]!r}.") from exc

    def to_json(self) -> str:
        """The context as the text of ``run.json``."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "the run context") -> RunContext:
        """Parse :meth:`to_json`'s text (see :meth:`from_dict` for what is refused).

        Raises
        ------
        ReflowError
            In one line, if the text is not JSON, or not a context this reflow reads.
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ReflowError(f"{source} is not valid JSON: {exc}.") from exc
        if not isinstance(data, dict):
            raise ReflowError(f"{source} is not a reflow run context (not a JSON object).")
        return cls.from_dict(data, source)


def context_path(run_dir: Path, run_id: str) -> Path:
    """Where a run's ``run.json`` is (:attr:`~reflow.runs.layout.RunLayout.context_file`)."""
    return RunLayout(run_dir, run_id).context_file


def write_context(context: RunContext, *, durable: bool = True) -> Path:
    """Write ``run.json`` atomically (a job never reads half of it); return its path.

    ``durable=False`` skips the ``fsync`` (see
    :func:`~reflow.runs.files.write_json_atomic`).
    """
    path = context_path(context.run_dir, context.run_id)
    write_json_atomic(path, context.to_dict(), durable=durable)
    return path


def context_file(context: RunContext) -> Path:
    """The run's ``run.json``, written first if it is missing.

    Runs made before ``run.json`` existed have their context only in the
    store: their next jobs are handed a ``run.json`` written from it.
    """
    path = context_path(context.run_dir, context.run_id)
    return path if path.exists() else write_context(context)


def read_context(path: Path) -> RunContext:
    """Read a ``run.json``.

    Raises
    ------
    ReflowError
        In one line, if it cannot be read or is not a context this reflow reads.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReflowError(f"Cannot read the run context {path}: {exc.strerror or exc}.") from exc
    return RunContext.from_json(text, str(path))


def recorded_context(record: RunRecord) -> RunContext:
    """The context a run's record holds, or one line saying the run has none.

    Raises
    ------
    ReflowError
        If the record gives no context: a run recorded without a run
        directory (by a very old reflow), or by a store that keeps none.
    """
    if record.context is None:
        raise ReflowError(
            f"Run {record.run_id} records no run directory (it was recorded by an older "
            "reflow, or by a store that keeps no run context), so its files cannot be found."
        )
    return record.context


def recorded_run_dir(record: RunRecord) -> Path | None:
    """A run's directory as its record gives it, ``None`` where it gives none."""
    return None if record.context is None else record.context.run_dir

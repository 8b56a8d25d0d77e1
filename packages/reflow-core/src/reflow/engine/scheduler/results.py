"""Reading workers' result files: nothing in them is trusted for identity.

A result file is written outside the dispatcher, by a job that may have run
other code than the run planned (a helper outside the frozen directory was
edited while the job waited).  So the dispatcher

- decodes the output with :func:`~reflow.engine.scheduler.code.workflow_codec`
  (only the user's and reflow's classes are rebuilt);
- hashes the decoded output itself (``value_hash``), ignoring any
  ``output_hash`` in the file;
- compares the code fingerprint the worker reports (of the function it
  actually loaded) with the one the instance was planned with.  On a
  mismatch the output is recorded under the identity of the code that ran,
  never under the planned one, and ``reflow explain`` says so;
- compares the states of the files the worker's arguments named right
  before the call (:mod:`reflow.cache.seenfiles`) with the states the instance was
  planned with (parameters: the run's identity parts; ``Result`` inputs: the
  inputs file).  A file edited while the job waited, or before ``retry``,
  gives the output the identity of the files that were read: recomputed for
  parameters, none for inputs (their hashes are Merkle hashes of upstream
  outputs, which the dispatcher cannot redo from one element's files).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow._types import TaskState
from reflow.cache.identity import IdentityParts, value_hash
from reflow.cache.seenfiles import FileDrift, check_files
from reflow.define.labels import instance_label
from reflow.engine.scheduler.code import code_record, workflow_codec
from reflow.manifest import UntrustedClassError
from reflow.runs.creation import recorded_parts
from reflow.runs.files import read_json
from reflow.runs.layout import RunLayout
from reflow.stores import StateUpdate

if TYPE_CHECKING:
    from reflow.stores import Store, TaskInstanceRecord

__all__ = ["ResultReader", "identity_with_code", "planned_code"]

logger = logging.getLogger(__name__)


def planned_code(parts: IdentityParts, inst: TaskInstanceRecord) -> str:
    """The code fingerprint an instance's identity was computed with."""
    return str(inst.cache_info.get("code", parts.code))


def identity_with_code(
    parts: IdentityParts,
    inst: TaskInstanceRecord,
    code: str,
    params: Mapping[str, str] | None = None,
) -> str:
    """The identity ``inst`` has when its task's code is ``code`` (``""`` if it has none).

    ``params`` replaces the hashes of the parameters it names (their files
    were not as planned).  An instance of a task with ``cache=False`` has no
    identity, and keeps none; neither does one whose input hashes were not
    recorded: without them its identity cannot be computed, and it must not
    keep an identity of other code or files.
    """
    if not inst.identity or "inputs" not in inst.cache_info:
        return ""
    return replace(
        parts,
        code=code,
        params={**parts.params, **(params or {})},
        inputs=dict(inst.cache_info["inputs"]),
    ).identity()


class ResultReader:
    """The state changes a run's result files ask for, checked against the plan.

    Parameters
    ----------
    store : Store
        The run's manifest store.
    run_id : str
        The run.
    run_dir : Path
        The run directory.
    policies : mapping, optional
        Each task's file policy (:func:`reflow.cache.filestate.task_policies`): the
        files an output names are hashed as the task's worker hashed them.  A
        task not named uses ``"stat"``.
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        run_dir: Path,
        policies: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.policies = dict(policies or {})
        self.run_id = run_id
        self.run_dir = run_dir
        self.layout = RunLayout(run_dir, run_id)
        self.codec = workflow_codec()
        # Workers of a run with frozen code always report their fingerprint.
        self.fingerprinted = code_record(run_dir, run_id) is not None
        self._parts: dict[str, IdentityParts] | None = None
        self.moves: dict[int, tuple[str, dict[str, Any]]] = {}
        """Instance id -> (identity, cache_info) of results of code or files other than planned."""

    def parts(self, task: str) -> IdentityParts | None:
        """The task-level identity parts recorded with the run (``None`` if none)."""
        if self._parts is None:
            self._parts = recorded_parts(self.store, self.run_id)
        return self._parts.get(task)

    def update(self, inst: TaskInstanceRecord) -> tuple[StateUpdate | None, bool]:
        """The state change an instance's result file asks for (``None`` if there is none).

        The flag says the worker was interrupted by a signal (its scheduler may
        know better why).  A success of other code than planned is also noted
        in :attr:`moves`, for :meth:`apply`.
        """
        path = self.layout.result_file(inst.task_name, inst.array_index)
        try:
            data = read_json(path)
        except FileNotFoundError:
            return None, False
        except ValueError as exc:
            text = f"the result file {path} is corrupt: {exc}"
            return StateUpdate(inst.id, TaskState.FAILED, error_text=text), False
        try:
            if data.get("ok"):
                output = self.codec.loads(data["output"])
                policy = self.policies.get(inst.task_name, "stat")
                self._check_ran(inst, data, policy)
                update = StateUpdate(
                    inst.id,
                    TaskState.SUCCESS,
                    output=output,
                    output_hash=value_hash(output, policy=policy),
                )
                return update, False
            reason = data.get("reason", "ERROR")
            error = str(data.get("error", "no error recorded"))
            prefix = "TIMEOUT: " if reason == "TIMEOUT" else ""
            update = StateUpdate(inst.id, TaskState.FAILED, error_text=prefix + error)
            return update, reason == "INTERRUPTED"
        except UntrustedClassError as exc:
            text = f"the result file {path} is refused: {exc}"
            return StateUpdate(inst.id, TaskState.FAILED, error_text=text), False
        except (KeyError, TypeError, ValueError) as exc:
            text = f"the result file {path} is corrupt: {exc!r}"
            return StateUpdate(inst.id, TaskState.FAILED, error_text=text), False

    def _check_ran(self, inst: TaskInstanceRecord, data: Mapping[str, Any], policy: str) -> None:
        """Note a result of other code or files than planned, under the identity of what ran.

        A result that names no code is kept for its run but loses its identity
        (it is never served from the cache); only in a run submitted before
        code was frozen, whose workers never reported their code, is it taken
        as planned.  Files are checked only where the plan or the worker names
        any, so a Path-free task costs nothing here.
        """
        parts = self.parts(inst.task_name)
        if parts is None:
            return
        planned = planned_code(parts, inst)
        ran = data.get("code")
        unnamed = not isinstance(ran, str) or not ran
        code = planned if unnamed else str(ran)
        seen = data.get("files") or {}
        drift = self._file_drift(inst, parts, seen, policy) if seen or parts.files else None
        lost = unnamed and self.fingerprinted  # a job of frozen code that named none
        if drift is None and not lost and code == planned:
            return
        info = dict(inst.cache_info)
        identity = ""
        if lost:
            info.update(code="", planned_code=planned)
        else:
            if code != planned:
                info.update(code=code, planned_code=planned)
            if drift is None or drift.params is not None:
                params = drift.params if drift is not None else None
                identity = identity_with_code(parts, inst, code, params)
        label = instance_label(inst.task_name, inst.array_index)
        if drift is not None:
            drift.note(info)
            logger.warning("%s", drift.warning(label, bool(identity)))
        if code != planned:
            logger.warning(
                "%s ran edited code (planned fingerprint %s, ran %s); its result is recorded "
                "under the identity of the code that ran",
                label,
                planned[:12],
                code[:12],
            )
        self.moves[inst.id] = (identity, info)

    def _file_drift(
        self,
        inst: TaskInstanceRecord,
        parts: IdentityParts,
        seen: Mapping[str, Any],
        policy: str,
    ) -> FileDrift | None:
        """How the files the worker read differ from the planned ones (``None``: they do not).

        Parameters were planned with the run's identity parts, ``Result``
        inputs with the states the inputs file holds.
        """
        path = self.layout.input_file(inst.task_name, inst.array_index)
        try:
            reported = {str(k): list(v) for k, v in dict(seen).items()}
            planned = {p: list(s) for p, s in parts.files.items()}
            if reported == planned:  # only parameters, unchanged: no inputs file to read
                return None
            payload = read_json(path)
            kwargs = self.codec.loads(payload["kwargs"])
            planned.update(payload.get("files") or {})
        except (OSError, KeyError, TypeError, ValueError) as exc:
            return FileDrift([f"the files it read could not be checked ({exc})"], None, {})
        return check_files(planned, reported, parts.params, kwargs, policy)

    def apply(self, updates: Sequence[StateUpdate]) -> None:
        """Apply ``updates``, each result of other code under its own identity, atomically."""
        moves = {
            u.instance_id: self.moves.pop(u.instance_id)
            for u in updates
            if u.instance_id in self.moves
        }
        if not moves:
            if updates:
                self.store.apply_state_updates(updates)
            return

        def write() -> None:
            self.store.set_identity_many(moves)
            self.store.apply_state_updates(updates)

        self.store.retrying(write)

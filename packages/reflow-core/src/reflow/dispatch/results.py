"""Reading workers' result files: nothing in them is trusted for identity.

A result file is written outside the dispatcher, by a job that may have run
other code than the run planned (a helper outside the frozen directory was
edited while the job waited).  So the dispatcher

- decodes the output with :func:`~reflow.dispatch.code.workflow_codec`
  (only the user's and reflow's classes are rebuilt);
- hashes the decoded output itself (``value_hash``), ignoring any
  ``output_hash`` in the file;
- compares the code fingerprint the worker reports (of the function it
  actually loaded) with the one the instance was planned with.  On a
  mismatch the output is recorded under the identity of the code that ran,
  never under the planned one, and ``reflow explain`` says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow._types import TaskState
from reflow.dispatch.code import code_record, workflow_codec
from reflow.dispatch.files import read_json, result_file
from reflow.identity import IdentityParts, value_hash
from reflow.labels import instance_label
from reflow.manifest import UntrustedClassError

if TYPE_CHECKING:
    from reflow.stores import StateUpdate, Store, TaskInstanceRecord

__all__ = ["ResultReader", "identity_with_code", "planned_code"]

logger = logging.getLogger(__name__)


def planned_code(parts: IdentityParts, inst: TaskInstanceRecord) -> str:
    """The code fingerprint an instance's identity was computed with."""
    return str(inst.cache_info.get("code", parts.code))


def identity_with_code(parts: IdentityParts, inst: TaskInstanceRecord, code: str) -> str:
    """The identity ``inst`` has when its task's code is ``code`` (``""`` if it has none).

    An instance of a task with ``cache=False`` has no identity, and keeps none;
    neither does one whose input hashes were not recorded: without them its
    identity cannot be computed, and it must not keep an identity of other code.
    """
    if not inst.identity or "inputs" not in inst.cache_info:
        return ""
    return replace(parts, code=code, inputs=dict(inst.cache_info["inputs"])).identity()


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
        Each task's file policy (:func:`reflow.filestate.task_policies`): the
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
        self.codec = workflow_codec()
        # Workers of a run with frozen code always report their fingerprint.
        self.fingerprinted = code_record(run_dir, run_id) is not None
        self._parts: dict[str, IdentityParts] | None = None
        self.moves: dict[int, tuple[str, dict[str, Any]]] = {}
        """Instance id -> (identity, cache_info) of results of code other than planned."""

    def parts(self, task: str) -> IdentityParts | None:
        """The task-level identity parts recorded with the run (``None`` if none)."""
        if self._parts is None:
            from reflow.runrecord import recorded_parts

            self._parts = recorded_parts(self.store, self.run_id)
        return self._parts.get(task)

    def update(self, inst: TaskInstanceRecord) -> tuple[StateUpdate | None, bool]:
        """The state change an instance's result file asks for (``None`` if there is none).

        The flag says the worker was interrupted by a signal (its scheduler may
        know better why).  A success of other code than planned is also noted
        in :attr:`moves`, for :meth:`apply`.
        """
        from reflow.stores import StateUpdate

        path = result_file(self.run_dir, self.run_id, inst.task_name, inst.array_index)
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
                self._check_code(inst, data.get("code"))
                policy = self.policies.get(inst.task_name, "stat")
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

    def _check_code(self, inst: TaskInstanceRecord, ran: object) -> None:
        """Note a result of other code than planned, under the identity of the code that ran.

        A result that names no code is kept for its run but loses its identity
        (it is never served from the cache); only in a run submitted before
        code was frozen, whose workers never reported their code, is it taken
        as planned.
        """
        parts = self.parts(inst.task_name)
        if parts is None:
            return
        planned = planned_code(parts, inst)
        if not isinstance(ran, str) or not ran:
            if self.fingerprinted:
                info = {**inst.cache_info, "code": "", "planned_code": planned}
                self.moves[inst.id] = ("", info)
            return
        if ran == planned:
            return
        info = {**inst.cache_info, "code": ran, "planned_code": planned}
        self.moves[inst.id] = (identity_with_code(parts, inst, ran), info)
        logger.warning(
            "%s ran edited code (planned fingerprint %s, ran %s); its result is recorded "
            "under the identity of the code that ran",
            instance_label(inst.task_name, inst.array_index),
            planned[:12],
            ran[:12],
        )

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
        with self.store.transaction():
            self.store.set_identity_many(moves)
            self.store.apply_state_updates(updates)

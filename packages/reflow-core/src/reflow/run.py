"""The :class:`Run` handle: status, outputs and cache explanations of one run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow._types import RunState, TaskState
from reflow.cache.explain import explain_instance
from reflow.define.graph import did_you_mean
from reflow.define.labels import instance_label
from reflow.engine.scheduler.loader import driver_call
from reflow.errors import ReflowError
from reflow.runs.fanout import EMPTY_FANOUT, empty_fanouts
from reflow.runs.live import UNRECORDED_NOTE, live_summary
from reflow.runs.liveness import LOCAL_EXECUTOR, lost_advice, lost_reason, shown_status

if TYPE_CHECKING:
    from collections.abc import Callable

    from reflow.executors.base import Executor
    from reflow.stores import RunRecord, Store
    from reflow.workflow import Workflow

__all__ = ["Run"]


class Run:
    """A handle bound to one run of a workflow.

    Parameters
    ----------
    workflow : Workflow
        The workflow that owns the run.
    run_id : str
        The run identifier.
    run_dir : Path
        The run's shared working directory.
    store : Store
        The manifest store the run is recorded in.

    Examples
    --------
    >>> run = wf.run_local("/tmp/run1", source="data.csv")  # doctest: +SKIP
    >>> run.status()  # doctest: +SKIP
    >>> run.output("report")  # doctest: +SKIP
    >>> print(run.explain("process", 3))  # doctest: +SKIP
    """

    def __init__(self, workflow: Workflow, run_id: str, run_dir: Path, store: Store) -> None:
        self.workflow: Workflow = workflow
        self.run_id: str = run_id
        self.run_dir: Path = Path(run_dir)
        self.store: Store = store

    def __repr__(self) -> str:
        return f"Run({self.run_id!r}, run_dir={str(self.run_dir)!r})"

    # -- status ---------------------------------------------------------------

    @driver_call
    def status_dict(self) -> dict[str, Any]:
        """The run's record, per-task state counts, and every instance.

        ``run["status"]`` is ``"LOST"`` for a run whose owner is gone (see
        :mod:`reflow.runs.liveness`), with the reason in ``run["lost"]``; the
        stored state is then still ``RUNNING``.

        ``summary`` and each instance's ``state`` are as they are now: for a
        submitted run, the workers' files in the run directory move on what
        the store last recorded (:mod:`reflow.runs.live`).  ``unrecorded``
        counts, per task and state, those the store does not hold yet, and
        such an instance has ``recorded`` false.
        """
        record = self.store.get_run_record(self.run_id)
        if record is None:
            raise ReflowError(f"Run {self.run_id!r} is not in the store.")
        live = live_summary(self.store, record)
        instances = [
            {
                **{k: v for k, v in r.to_public_dict().items() if k not in ("input", "output")},
                "state": live.states.get(r.id, r.state.value),
                "recorded": r.id not in live.states,
            }
            for r in self.store.list_task_instance_records(self.run_id)
        ]
        shown, lost = shown_status(self.store, record)
        return {
            "run": {
                **record.to_public_dict(),
                "status": shown,
                "lost": lost and f"{lost}. {lost_advice(record)}",
            },
            "summary": live.counts,
            "unrecorded": live.unrecorded,
            "instances": instances,
            "empty_fanouts": sorted(empty_fanouts(self.store, record)),
            "failed_instances": self.failed_instances(),
        }

    @driver_call
    def failed_instances(self, task: str | None = None) -> list[dict[str, Any]]:
        """The run's FAILED instances, as reflow-hpc's ``status(as_dict=True)`` lists them.

        Each is a dict with ``task``, ``index`` (``None`` for a singleton),
        ``job_id`` and ``error`` (the recorded error text, ``""`` if none).

        Parameters
        ----------
        task : str or None
            Only this task's instances.
        """
        failed = self.store.list_task_instance_records(
            self.run_id, task_name=task, states=[TaskState.FAILED]
        )
        return [
            {
                "task": inst.task_name,
                "index": inst.array_index,
                "job_id": inst.job_id,
                "error": inst.error_text or "",
            }
            for inst in failed
        ]

    def print_errors(self, task: str | None = None, lines: int = 15) -> None:
        """Print each failed instance with the last ``lines`` lines of its error text."""
        for failed in self.failed_instances(task):
            label = instance_label(failed["task"], failed["index"])
            print(f"\n{label} (job {failed['job_id'] or '-'}):")
            text = (failed["error"] or "no error recorded").rstrip().splitlines()
            print("\n".join("    " + line for line in text[-lines:]))

    @driver_call
    def status(
        self, task: str | None = None, as_dict: bool = False, errors: bool = False
    ) -> dict[str, Any] | None:
        """Print the run's status, or return it as a dictionary.

        Parameters
        ----------
        task : str or None
            Show only this task, with one line per instance.
        as_dict : bool
            Return ``{"run": ..., "summary": ..., "instances": [...],
            "failed_instances": [...]}`` instead of printing (see
            :meth:`failed_instances`).
        errors : bool
            After the status, print every failed instance with the end of
            its error text (as ``status --errors`` does).
        """
        if task is not None:
            self._check_task(task)
        info = self.status_dict()
        if as_dict:
            return info
        run = info["run"]
        print(f"Run      {self.run_id}")
        print(f"Workflow {run.get('graph_name', '?')}")
        print(f"Status   {run.get('status', '?')}")
        if run.get("lost"):
            print(f"         {run['lost']}")
        print(f"Created  {run.get('created_at', '?')}")
        print()
        summary: dict[str, dict[str, int]] = info["summary"]
        try:
            order = self.workflow._topological_order()
        except ReflowError:
            order = sorted(summary)
        empty = info["empty_fanouts"]
        names = [t for t in order if t in summary or t in empty]
        names += [t for t in summary if t not in order]
        for name in names:
            if task and name != task:
                continue
            if name in empty:
                print(f"  {name:20s}  {EMPTY_FANOUT}")
                continue
            news = info["unrecorded"].get(name, {})
            parts = ", ".join(
                f"{s}={n}{'*' if news.get(s) else ''}" for s, n in sorted(summary[name].items())
            )
            print(f"  {name:20s}  {parts}")
        if info["unrecorded"]:
            moved = sum(sum(by_state.values()) for by_state in info["unrecorded"].values())
            print(f"  * {UNRECORDED_NOTE.format(n=moved)}")
        if task:
            print()
            for inst in info["instances"]:
                if inst["task_name"] != task:
                    continue
                idx = inst["array_index"]
                label = f"[{idx}]" if idx is not None else "   "
                print(f"    {label:6s}  {inst['state']:12s}  job={inst['job_id'] or '-'}")
        if errors:
            self.print_errors(task)
        return None

    # -- scheduler actions ----------------------------------------------------

    @driver_call
    def cancel(self, task: str | None = None, executor: Executor | None = None) -> int:
        """Cancel the run's active instances, their jobs and its pending dispatcher.

        Parameters
        ----------
        task : str or None
            Cancel only this task's instances (the run goes on).
        executor : Executor or None
            Override the executor recorded with the run.

        Returns
        -------
        int
            Number of instances cancelled.
        """
        if task is not None:
            self._check_task(task)
        record = self.store.get_run_record(self.run_id)
        if record is None:
            raise ReflowError(f"Run {self.run_id!r} is not in the store.")
        # lazy: the scheduler's submit and cancel paths; run_local's handle rarely needs them
        from reflow.engine.cancel import cancel_recorded_run

        n = cancel_recorded_run(self.store, record, task, executor)
        print(f"Cancelled {n} task instance(s).")
        return n

    @driver_call
    def retry(
        self,
        task: str | None = None,
        executor: Executor | None = None,
        verify: bool = True,
        *,
        quiet: bool = False,
    ) -> int:
        """Retry the FAILED and CANCELLED instances, then dispatch again.

        Each retried instance gets its task's automatic retries back (the user
        fixed the cause) and asks for what its last attempt chose.  On a run
        with nothing to retry, says so and changes nothing.

        Returns
        -------
        int
            Number of instances marked for retry.
        """
        if task is not None:
            self._check_task(task)
        record = self.store.get_run_record(self.run_id)
        if record is not None and record.executor == LOCAL_EXECUTOR:
            raise ReflowError(
                f"Run {self.run_id} was made by run_local, not submitted: retry advances "
                "submitted runs only. Run the same command again: what succeeded comes from "
                "the cache and the rest runs."
            )
        # lazy: see cancel
        from reflow.engine.scheduler.submit import retry_run

        n = retry_run(self, task, executor, verify)
        if not quiet:
            print(
                f"Marked {n} task instance(s) for retry."
                if n
                else f"Nothing to retry in run {self.run_id}: no FAILED or CANCELLED instance"
                + (f" of task {task!r}." if task else ".")
            )
        return n

    @driver_call
    def wait(
        self,
        timeout: float | None = None,
        poll: float = 0.5,
        on_poll: Callable[[RunRecord], None] | None = None,
    ) -> RunState:
        """Block until the run ends; return its final state.

        ``on_poll`` is called with the run's record at each poll, the last
        one included (``submit --wait`` draws its progress so).

        Raises
        ------
        TimeoutError
            If ``timeout`` seconds pass first.
        """
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        next_check = time.monotonic() + 5.0
        while True:
            record = self.store.get_run_record(self.run_id)
            if record is None:
                raise ReflowError(f"Run {self.run_id!r} is not in the store.")
            if on_poll is not None:
                on_poll(record)
            if record.status in RunState.terminal():
                return record.status
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"Run {self.run_id} is still {record.status.value} after {timeout} s."
                )
            if record.executor and time.monotonic() > next_check:
                next_check = time.monotonic() + 5.0
                self._check_dispatcher()
            time.sleep(poll)

    def _check_dispatcher(self) -> None:
        """Raise if nothing advances the run any more: it is LOST (:mod:`reflow.runs.liveness`)."""
        record = self.store.get_run_record(self.run_id)
        reason = None if record is None else lost_reason(self.store, record)
        if record is not None and reason is not None:
            raise ReflowError(f"Run {self.run_id} is LOST: {reason}. {lost_advice(record)}")

    # -- outputs --------------------------------------------------------------

    def _check_task(self, task: str) -> None:
        if task not in self.workflow.tasks:
            raise ReflowError(
                f"Workflow {self.workflow.name!r} has no task {task!r}."
                f"{did_you_mean(task, self.workflow.tasks)}"
            )

    @driver_call
    def output(self, task: str) -> Any:
        """The output of a task: its value, or a list (by index) for an array task.

        Raises
        ------
        ReflowError
            If the task does not exist or has not (fully) succeeded.
        """
        self._check_task(task)
        records = self.store.list_task_instance_records(self.run_id, task_name=task)
        bad = [r for r in records if r.state is not TaskState.SUCCESS]
        if bad:
            first = bad[0]
            label = instance_label(task, first.array_index)
            raise ReflowError(
                f"Task {task!r} has no output in run {self.run_id}: instance {label} is "
                f"{first.state.value}"
                + (f" ({first.error_text})" if first.error_text else "")
                + "."
            )
        if self.workflow.tasks[task].config.array:
            return [r.output for r in sorted(records, key=lambda r: r.array_index or 0)]
        if not records:
            raise ReflowError(f"Task {task!r} has not run in run {self.run_id}.")
        return records[0].output

    @driver_call
    def outputs(self) -> dict[str, Any]:
        """Every successful task's output, by task name."""
        out: dict[str, Any] = {}
        for name in self.workflow.tasks:
            try:
                out[name] = self.output(name)
            except ReflowError:
                continue
        return out

    # -- cache ----------------------------------------------------------------

    @driver_call
    def explain(self, task: str, index: int | None = None) -> str:
        """Say why an instance was, or was not, taken from the cache.

        Parameters
        ----------
        task : str
            The task.
        index : int or None
            The array index, for an array task (default: element 0).
        """
        self._check_task(task)
        if index is None and self.workflow.tasks[task].config.array:
            index = 0
        return explain_instance(self.store, self.run_id, task, index)

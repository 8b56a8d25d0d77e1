"""The :class:`Workflow` class: a :class:`~reflow.flow.Flow` that can be validated and run."""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow._types import RunState
from reflow.define.flow import Flow, TaskSpec
from reflow.define.graph import did_you_mean
from reflow.define.markers import type_repr
from reflow.define.registry import register
from reflow.define.wiring import ParamWiring
from reflow.engine.scheduler.loader import driver_call
from reflow.errorhook import install as install_errorhook
from reflow.errors import ParameterError, ReflowError, WorkflowDefinitionError

if TYPE_CHECKING:
    from reflow.config import Config
    from reflow.define.analysis import Analysis
    from reflow.define.describe import WorkflowDescription
    from reflow.define.runparams import ResolvedParam
    from reflow.executors.base import Executor
    from reflow.run import Run
    from reflow.stores import Store

__all__ = ["Workflow"]

logger = logging.getLogger(__name__)


class Workflow(Flow):
    """A runnable HPC workflow.

    Extends :class:`~reflow.define.flow.Flow` with validation, the generated command
    line, description and (in later modules) execution.

    Parameters
    ----------
    name : str
        Workflow name.
    config : Config or None
        User configuration; loaded from the config file when ``None``.

    Examples
    --------
    >>> wf = Workflow("pipeline")
    >>> @wf.job()
    ... def prepare() -> list[str]:
    ...     return ["a", "b"]
    >>> wf.validate()
    """

    def __init__(self, name: str, config: Config | None = None) -> None:
        super().__init__(name)
        self._config = config
        # The file the caller defines the workflow in: what scheduler jobs import.
        self._defined_in: str | None = sys._getframe(1).f_globals.get("__file__")
        register(self)
        # A decorator's mistake below this line ends the script as one line, exit 2.
        install_errorhook(name)

    @property
    def config(self) -> Config:
        """The user configuration (read from the config file on first use)."""
        if self._config is None:
            # lazy: `from reflow import Workflow` loads no engine, store or CLI (bench_import)
            from reflow.config import load_config

            self._config = load_config()
        return self._config

    @config.setter
    def config(self, value: Config) -> None:
        self._config = value

    # -- composition -------------------------------------------------------

    def include(self, flow: Flow, prefix: str | None = None) -> None:
        """Include all tasks of ``flow`` into this workflow.

        Parameters
        ----------
        flow : Flow
            The reusable flow.
        prefix : str or None
            Name prefix: task ``x`` becomes ``<prefix>_x``, and the flow's
            own ``Result``/``after=`` references are rewritten to match.
        """
        new_tasks, new_order = flow._prefixed_tasks(prefix)
        for task_name in new_order:
            if task_name in self.tasks:
                raise WorkflowDefinitionError(
                    f"Cannot include flow {flow.name!r}: task {task_name!r} already exists "
                    f"in workflow {self.name!r}. Include it with a prefix: "
                    f"wf.include({flow.name}, prefix='...')."
                )
        self.tasks.update(new_tasks)
        self._registration_order.extend(new_order)

    # -- validation --------------------------------------------------------

    def validate(self) -> None:
        """Check the whole graph.

        Raises
        ------
        UnknownTaskError
            A ``Result`` or ``after=`` names a task that does not exist.
        CycleError
            The graph has a cycle.
        AnnotationError
            An annotation cannot be resolved, or cannot be a CLI flag.
        WiringError
            An upstream output type cannot feed the parameter wired to it.
        WorkflowDefinitionError
            Any other definition problem (array task with nothing to fan
            out, clashing parameters, ...).
        """
        self.analyse()

    def analyse(self) -> Analysis:
        """Validate the graph and return its :class:`~reflow.define.analysis.Analysis`.

        The task order, the wiring and the run parameters: what the engines take
        with the workflow to run it.  Raises as :meth:`validate` does.
        """
        # lazy: `from reflow import Workflow` loads no engine, store or CLI (bench_import)
        from reflow.define.analysis import analyse

        return analyse(self)

    def _topological_order(self) -> list[str]:
        # lazy: `from reflow import Workflow` loads no engine, store or CLI (bench_import)
        from reflow.define.validate import order_tasks

        return order_tasks(self.tasks)

    def _effective_dependencies(self, spec: TaskSpec) -> list[str]:
        return spec.dependencies

    def wiring(self) -> dict[str, dict[str, ParamWiring]]:
        """Validate and return, per task, the wiring of each ``Result`` parameter."""
        return {task: dict(wires) for task, wires in self.analyse().wiring.items()}

    def cli_params(self) -> list[ResolvedParam]:
        """Validate and return the run parameters (one per generated flag)."""
        return list(self.analyse().params)

    def check_parameters(
        self, parameters: Mapping[str, Any], analysis: Analysis | None = None
    ) -> dict[str, Any]:
        """Check run parameters given in Python and fill in defaults.

        ``analysis`` is the workflow's :meth:`analyse` when the caller has it:
        analysing again costs about 0.1 ms per task.

        Returns
        -------
        dict
            Every run parameter's value, keyed by its ``dest`` name.

        Raises
        ------
        ParameterError
            A parameter is unknown, missing, or of the wrong type; the message
            names it and its flag.
        """
        # lazy: `from reflow import Workflow` loads no engine, store or CLI (bench_import)
        from reflow.cli.script.values import check_value

        resolved = self.cli_params() if analysis is None else analysis.params
        params = {rp.dest: rp for rp in resolved}
        unknown = [k for k in parameters if k not in params]
        if unknown:
            name = unknown[0]
            known = ", ".join(sorted(params)) or "none"
            raise ParameterError(
                f"Unknown parameter {name!r} for workflow {self.name!r}."
                f"{did_you_mean(name, params)} Known parameters: {known}."
            )
        values: dict[str, Any] = {}
        for dest, rp in params.items():
            if dest in parameters:
                values[dest] = check_value(rp, parameters[dest])
            elif rp.required:
                raise ParameterError(
                    f"Missing required parameter {dest!r} ({rp.cli_flag()} on the command "
                    f"line) of type {type_repr(rp.annotation)}, used by task(s) "
                    f"{', '.join(rp.tasks)}."
                )
            else:
                values[dest] = rp.default if rp.default is None else check_value(rp, rp.default)
        return values

    # -- description ------------------------------------------------------

    def describe_typed(self) -> WorkflowDescription:
        """Return the typed description of the workflow (see :meth:`describe`)."""
        # lazy: `from reflow import Workflow` loads no engine, store or CLI (bench_import)
        from reflow.define.describe import (
            CliParamDescription,
            TaskDescription,
            WorkflowDescription,
        )

        analysis = self.analyse()
        order, wiring, params = analysis.order, analysis.wiring, analysis.params
        tasks = []
        for name in order:
            spec = self.tasks[name]
            ret = spec.return_type
            tasks.append(
                TaskDescription(
                    name=spec.name,
                    is_array=spec.config.array,
                    config=asdict(spec.config),
                    dependencies=spec.dependencies,
                    result_deps={
                        p: {
                            "steps": list(w.steps),
                            "modes": [m.value for m in w.modes],
                            "broadcast": w.broadcast,
                        }
                        for p, w in wiring[name].items()
                    },
                    return_type=None if ret is inspect.Parameter.empty else type_repr(ret),
                    has_verify=spec.verify is not None,
                )
            )
        cli = [
            CliParamDescription(
                name=rp.name,
                task=rp.task_name,
                flag=rp.cli_flag(),
                type_repr=type_repr(rp.annotation),
                required=rp.required,
                default=None if rp.required else rp.default,
                namespace=rp.namespace,
                help=rp.help_text,
                choices=list(rp.literal_choices) if rp.literal_choices else None,
                short=rp.short,
                tasks=list(rp.tasks),
            )
            for rp in params
        ]
        return WorkflowDescription(
            name=self.name,
            entrypoint=Path(sys.argv[0]).expanduser().resolve() if sys.argv[0] else Path(),
            python=Path(sys.executable),
            working_dir=Path.cwd(),
            tasks=tasks,
            cli_params=cli,
        )

    def describe(self) -> dict[str, Any]:
        """Return a JSON-safe description: tasks, resources, wiring and CLI parameters."""
        return self.describe_typed().to_manifest_dict()

    # -- execution --------------------------------------------------------

    @driver_call
    def run_local(
        self,
        run_dir: str | Path,
        *,
        max_workers: int = 1,
        force: bool = False,
        force_tasks: list[str] | None = None,
        verify: bool = False,
        on_error: str = "stop",
        store: Store | None = None,
        **parameters: Any,
    ) -> Run:
        """Run the whole workflow on this machine and return its :class:`~reflow.run.Run`.

        The run is recorded in the store like any other and uses the same
        cache as scheduler runs.

        Parameters
        ----------
        run_dir : str or Path
            The run's working directory (created if missing).
        max_workers : int
            Worker processes; with more than one, independent tasks and array
            elements run at the same time.  ``1`` runs the tasks one after the
            other in one worker.  Tasks never run in this process: a task that
            ends its process fails its instance, not the run.
        force : bool
            Run every task, ignoring the cache (results are still recorded).
        force_tasks : list[str] or None
            Run these tasks even if cached; their dependants then hit or miss
            by the new outputs.
        verify : bool
            Check cached outputs before reuse (``Path`` outputs must exist,
            ``verify=`` callables must pass).
        on_error : {"stop", "continue"}
            ``"stop"`` raises :class:`~reflow.engine.local.TaskFailedError` at the
            first failure; ``"continue"`` runs everything that does not depend
            on a failure and marks the rest SKIPPED.
        store : Store or None
            The manifest store; the shared default SQLite store when ``None``.
        **parameters
            Run parameters, by name (``dest`` name for local parameters).

        Raises
        ------
        ParameterError
            A parameter is missing, unknown or of the wrong type (before
            anything runs).
        TaskFailedError
            With ``on_error="stop"``, naming the failed task and index.
        TaskInterrupted
            On SIGTERM (or :class:`KeyboardInterrupt` on Ctrl-C); the run
            and its unfinished instances are then CANCELLED.
        """
        # lazy: `from reflow import Workflow` loads no engine, store or CLI (bench_import)
        from reflow.engine.local import run_local
        from reflow.run import Run

        place = run_local(
            self,
            self.analyse(),
            run_dir,
            max_workers=max_workers,
            force=force,
            force_tasks=force_tasks,
            verify=verify,
            on_error=on_error,
            store=store,
            **parameters,
        )
        return Run(self, place.run_id, place.run_dir, place.store)

    @driver_call
    def submit(
        self,
        run_dir: str | Path,
        *,
        store: Store | None = None,
        executor: Executor | str | None = None,
        force: bool = False,
        force_tasks: list[str] | None = None,
        verify: bool = False,
        notify: Sequence[str] | None = None,
        max_jobs: int | None = None,
        **parameters: Any,
    ) -> Run:
        """Create a run and submit it through a scheduler; return its :class:`~reflow.run.Run`.

        The run advances through short dispatcher jobs (see
        :mod:`reflow.engine.scheduler`); this call returns as soon as the first one
        is submitted.

        Parameters
        ----------
        run_dir : str or Path
            Shared working directory, reachable from every node.
        store : Store or None
            Manifest store; the shared default SQLite store when ``None``.
        executor : Executor, str or None
            ``"local"``, ``"slurm"``, ... or an instance; the configured
            default when ``None``.  Every later dispatcher uses the same one.
        force, force_tasks, verify
            As for :meth:`run_local`.
        notify : sequence of str or None
            Notify this run's ``end``, ``failure`` and/or ``first_failure``
            (``[]``: the configuration's ``[notify] on``) to the webhook and
            addresses of ``[notify]`` (see the notifications page).
        max_jobs : int or None
            At most this many of the run's jobs queued at once, each array
            element counting as one (as toward a site's ``MaxSubmitJobs``);
            ``None`` takes ``[submit] max_jobs`` from the configuration, else
            no cap.  The dispatcher jobs count too, so at least 3.
        **parameters
            Run parameters, by name.

        Raises
        ------
        ParameterError
            A parameter is missing, unknown or of the wrong type.
        ConfigError
            ``max_jobs`` is below 3.
        ReflowError
            The workflow is not in an importable file, or the scheduler
            refused the first dispatcher job.
        """
        # lazy: `from reflow import Workflow` loads no engine, store or CLI (bench_import)
        from reflow.engine.scheduler.submit import submit_run
        from reflow.run import Run

        place = submit_run(
            self,
            self.analyse(),
            run_dir,
            store=store,
            executor=executor,
            force=force,
            force_tasks=force_tasks,
            verify=verify,
            max_jobs=max_jobs,
            parameters=parameters,
            notify=notify,
        )
        return Run(self, place.run_id, place.run_dir, place.store)

    @driver_call
    def submit_run(
        self,
        run_dir: Path,
        parameters: dict[str, Any],
        store: Store | None = None,
        executor: Executor | None = None,
    ) -> str:
        """Lower-level form of :meth:`submit` used by command lines; returns the run id."""
        return self.submit(run_dir, store=store, executor=executor, **parameters).run_id

    @driver_call
    def retry_failed(
        self,
        run_id: str,
        store: Store,
        run_dir: Path,
        task_name: str | None = None,
        executor: Executor | None = None,
        verify: bool = True,
    ) -> int:
        """Retry the failed and cancelled instances of a run; return how many."""
        # lazy: `from reflow import Workflow` loads no engine, store or CLI (bench_import)
        from reflow.run import Run

        return Run(self, run_id, Path(run_dir), store).retry(
            task_name, executor=executor, verify=verify, quiet=True
        )

    @driver_call
    def cancel_run(
        self,
        run_id: str,
        store: Store,
        task_name: str | None = None,
        executor: Executor | None = None,
    ) -> int:
        """Cancel a run's active instances and jobs; return how many instances."""
        # lazy: `from reflow import Workflow` loads no engine, store or CLI (bench_import)
        from reflow.engine.scheduler.submit import cancel_run
        from reflow.run import Run
        from reflow.runs.context import recorded_context  # lazy: as above (json, ~5 ms)

        record = store.get_run_record(run_id)
        if record is None:
            raise ReflowError(f"Run {run_id!r} is not in the manifest store.")
        run = Run(self, run_id, recorded_context(record).run_dir, store)
        return cancel_run(run, task_name, executor)

    @driver_call
    def cancel_runs(
        self,
        run_ids: Sequence[str],
        store: Store | None = None,
        task_name: str | None = None,
        executor: Executor | None = None,
    ) -> int:
        """Cancel several runs (reflow-hpc's form); return how many instances were cancelled.

        Every id is looked up before anything is cancelled, so a typo cancels nothing.

        Parameters
        ----------
        run_ids : Sequence[str]
            Full run ids.
        store : Store or None
            The manifest store; the configured one when ``None``.
        task_name : str or None
            Cancel only this task of each run.
        executor : Executor or None
            The executor to cancel jobs with; each run's recorded one when ``None``.

        Raises
        ------
        ReflowError
            If a run id is not in the store (nothing is cancelled then).
        """
        # lazy: `from reflow import Workflow` loads no engine, store or CLI (bench_import)
        from reflow.stores import open_store

        st = store if store is not None else open_store(config=self.config)
        missing = [run_id for run_id in run_ids if st.get_run_record(run_id) is None]
        if missing:
            raise ReflowError(
                f"Run {missing[0]!r} is not in the manifest store; nothing was cancelled. "
                "List the runs with: reflow runs"
            )
        return sum(
            self.cancel_run(run_id, st, task_name=task_name, executor=executor)
            for run_id in run_ids
        )

    @driver_call
    def dispatch(
        self,
        run_id: str,
        store: Store | None = None,
        run_dir: str | Path | None = None,
        executor: Executor | None = None,
    ) -> RunState:
        """Run one dispatcher wave of a run in this process; return the run's state after it.

        What a dispatcher job does (reflow-hpc's ``wf.dispatch``): read the
        results that came in, then submit every task instance that can run,
        singletons and arrays, through the run's executor.  With an executor
        in ``mode="dry-run"`` the jobs are printed, not submitted, and a run
        submitted that way (CANCELLED at once, as no dispatcher job runs it)
        is taken up again: each call shows the next wave.

        Parameters
        ----------
        run_id : str
            The run.
        store : Store or None
            The manifest store; the configured one when ``None``.
        run_dir : str, Path or None
            The run's directory, as a check: it must be the recorded one.
        executor : Executor or None
            Submit with this executor instead of the run's recorded one.

        Raises
        ------
        ReflowError
            If the run is not in the store, or ``run_dir`` is not its directory.
        """
        # lazy: `from reflow import Workflow` loads no engine, store or CLI (bench_import)
        from reflow.engine.scheduler.dispatcher import Dispatcher
        from reflow.engine.scheduler.submit import submitted_dry
        from reflow.runs.context import recorded_context
        from reflow.stores import open_store

        st = store if store is not None else open_store(config=self.config)
        record = st.get_run_record(run_id)
        if record is None:
            raise ReflowError(
                f"Run {run_id!r} is not in the manifest store; nothing was dispatched."
            )
        recorded = recorded_context(record).run_dir
        if run_dir is not None and Path(run_dir).expanduser().resolve() != recorded:
            raise ReflowError(
                f"Run {run_id!r} lives in {recorded}, not {run_dir}; pass "
                f"run_dir={str(recorded)!r} or leave it out."
            )
        if record.status is RunState.CANCELLED and submitted_dry(recorded, run_id):
            # submit() marks a dry-run run CANCELLED since no dispatcher will ever
            # advance it; dispatching it by hand is how one steps through it.
            st.update_run_status(run_id, RunState.RUNNING)
        return Dispatcher(st, run_id, executor, workflow=self).wave()

    @driver_call
    def run_status(self, run_id: str, store: Store) -> dict[str, Any]:
        """The status dictionary of a run (``run``, ``summary``, ``instances``)."""
        # lazy: `from reflow import Workflow` loads no engine, store or CLI (bench_import)
        from reflow.run import Run

        return Run(self, run_id, Path(), store).status_dict()

    # -- command line -----------------------------------------------------

    @driver_call
    def cli(self, argv: Sequence[str] | None = None) -> int:
        """Run the workflow's command line (generated from the task signatures).

        Returns the exit status; errors are one line on stderr.  Reading
        ``sys.argv`` (``argv`` is ``None``), a failure exits the process with
        its status, so a script ending in a bare ``wf.cli()`` does not report
        success to its shell or CI job after an error.
        """
        # lazy: `from reflow import Workflow` loads no engine, store or CLI (bench_import)
        from reflow.cli.script.main import run_cli

        status = run_cli(self, list(argv) if argv is not None else None)
        if argv is None and status != 0:
            raise SystemExit(status)
        return status

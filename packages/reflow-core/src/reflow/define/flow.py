"""Task definitions: ``Flow``, ``JobConfig`` and ``TaskSpec``.

A :class:`Flow` is a reusable group of tasks with no execution machinery;
:class:`reflow.Workflow` extends it and includes other flows.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from reflow.define.annotations import resolve_annotations
from reflow.define.filepolicy import check_policy
from reflow.define.given import is_resources
from reflow.define.gpus import check_gpus
from reflow.define.markers import Result, RunDir, split_annotated
from reflow.define.names import check_name, check_task_name
from reflow.define.resources import parse_memory, parse_walltime
from reflow.define.retrypolicy import Retry, retry_policy
from reflow.define.submitoptions import canonical_submit_options
from reflow.define.submitviews import SubmitOptionViews
from reflow.define.taskenv import TaskEnvironment, task_environment
from reflow.errors import AnnotationError, ConfigError, WorkflowDefinitionError

__all__ = ["Flow", "JobConfig", "TaskSpec"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(init=False)
class JobConfig(SubmitOptionViews):
    """Resource and dependency configuration of one task.

    ``submit_options`` holds scheduler options; ``extra`` (an older name) and
    any other keyword are merged into it, in that order.  ``gpus``,
    ``gpu_type``, ``modules``, ``prologue`` and ``container`` are portable:
    each executor renders them (:mod:`reflow.define.gpus`,
    :mod:`reflow.define.taskenv`).
    """

    cpus: int = 1
    time: str = "00:30:00"
    mem: str = "4G"
    array: bool = False
    after: list[str] = field(default_factory=list)
    array_parallelism: int | None = None
    submit_options: dict[str, Any] = field(default_factory=dict)
    version: str = "1"
    cache: bool = True
    backend: str | None = None
    cache_inputs: str | None = None
    report: bool = False
    gpus: int = 0
    gpu_type: str | None = None
    modules: list[str] | None = None
    prologue: list[str] | None = None
    container: str | None = None
    pack: int | Literal["auto"] | None = None
    retry: Retry | None = None

    def __init__(
        self,
        cpus: int = 1,
        time: str = "00:30:00",
        mem: str = "4G",
        array: bool = False,
        after: list[str] | None = None,
        array_parallelism: int | None = None,
        submit_options: dict[str, Any] | None = None,
        version: str = "1",
        cache: bool = True,
        backend: str | None = None,
        extra: dict[str, Any] | None = None,
        cache_inputs: str | None = None,
        report: bool = False,
        gpus: int = 0,
        gpu_type: str | None = None,
        modules: list[str] | None = None,
        prologue: list[str] | None = None,
        container: str | None = None,
        pack: int | Literal["auto"] | None = None,
        retries: int | Retry | None = None,
        retry_on: Any = None,
        **scheduler_options: Any,
    ) -> None:
        merged = dict(submit_options or {})
        merged.update(extra or {})
        merged.update(scheduler_options)
        self.cpus = cpus
        self.time = time
        self.mem = mem
        self.array = array
        self.after = list(after or [])
        self.array_parallelism = array_parallelism
        self.submit_options = merged
        self.version = version
        self.cache = cache
        self.backend = backend
        self.cache_inputs = cache_inputs
        self.report = report
        self.gpus = gpus
        self.gpu_type = gpu_type
        # Kept as written until check(), which names the task in its one-line error.
        self.modules = modules
        self.prologue = prologue
        self.container = container
        self.pack = pack
        self._retry_args = (retries, retry_on)
        self.retry = retries if isinstance(retries, Retry) and retry_on is None else None

    @property
    def environment(self) -> TaskEnvironment:
        """The task's modules, prologue and container (checked by :meth:`check`)."""
        return task_environment(self.modules, self.prologue, self.container)

    @property
    def extra(self) -> dict[str, Any]:
        """Older name of :attr:`submit_options`."""
        return self.submit_options

    def check(self, task: str) -> None:
        """Raise :class:`WorkflowDefinitionError` naming ``task`` if a value is invalid."""
        where = f"Task {task!r}"
        if isinstance(self.cpus, bool) or not isinstance(self.cpus, int) or self.cpus < 1:
            raise WorkflowDefinitionError(
                f"{where}: cpus={self.cpus!r} is not valid; give a whole number of at least 1."
            )
        for label, parse, value in (
            ("time", parse_walltime, self.time),
            ("mem", parse_memory, self.mem),
        ):
            try:
                parse(value)
            except ValueError as exc:
                raise WorkflowDefinitionError(f"{where}: {label}={value!r}: {exc}.") from None
        try:
            check_gpus(self.gpus, self.gpu_type)
            self.environment  # noqa: B018 - checks modules, prologue and container
        except ValueError as exc:
            raise WorkflowDefinitionError(f"{where}: {exc}.") from None
        par = self.array_parallelism
        if par is not None and (isinstance(par, bool) or not isinstance(par, int) or par < 1):
            raise WorkflowDefinitionError(
                f"{where}: array_parallelism={par!r} is not valid; give a whole number of "
                "at least 1, or None for no limit."
            )
        if par is not None and not self.array:
            raise WorkflowDefinitionError(
                f"{where}: array_parallelism applies only to array tasks; add array=True "
                "or drop array_parallelism."
            )
        pack = self.pack
        whole = isinstance(pack, int) and not isinstance(pack, bool) and pack >= 1
        if pack is not None and pack != "auto" and not whole:
            raise WorkflowDefinitionError(
                f"{where}: pack={pack!r} is not valid; give a whole number of at least 1 "
                '(elements per array task), "auto" (chosen from measured run times), or None.'
            )
        if pack is not None and not self.array:
            raise WorkflowDefinitionError(
                f"{where}: pack applies only to array tasks; add array=True or drop pack."
            )
        if not isinstance(self.version, str) or not self.version:
            raise WorkflowDefinitionError(
                f"{where}: version={self.version!r} is not valid; give a non-empty string "
                "such as '2'."
            )
        if self.cache_inputs is not None:
            try:
                check_policy(self.cache_inputs, "cache_inputs")
            except ValueError as exc:
                raise WorkflowDefinitionError(f"{where}: {exc}") from None
        if not isinstance(self.report, bool):
            raise WorkflowDefinitionError(
                f"{where}: report={self.report!r} is not valid; give True to show the task's "
                "output in `reflow report` (a Path to a PNG, SVG, CSV or HTML file, or a "
                "small value), or False."
            )
        try:
            self.retry = retry_policy(*self._retry_args, where)
        except ValueError as exc:
            raise WorkflowDefinitionError(f"{exc}.") from None
        for dep in self.after:
            if not isinstance(dep, str):
                raise WorkflowDefinitionError(
                    f"{where}: after= takes task names (strings), got {dep!r}."
                )
        for key in self.submit_options:
            if not isinstance(key, str) or not key:
                raise WorkflowDefinitionError(
                    f"{where}: submit option {key!r} is not valid; keys are option names."
                )

        try:
            canonical_submit_options(self.submit_options, where=f"task {task!r} submit options")
        except ConfigError as exc:
            raise WorkflowDefinitionError(str(exc)) from None


@dataclass
class TaskSpec:
    """One registered task: its function, configuration and wiring.

    Annotations are resolved on registration when possible and, for forward
    references to names defined later in the module, on validation.
    """

    name: str
    func: Callable[..., Any]
    config: JobConfig
    signature: inspect.Signature
    verify: Callable[[Any], bool] | None = None
    hints: dict[str, Any] = field(default_factory=dict)
    return_type: Any = inspect.Parameter.empty
    result_deps: dict[str, Result] = field(default_factory=dict)
    run_dir_params: tuple[str, ...] = ()
    resources_params: tuple[str, ...] = ()
    """Parameters annotated ``Resources``: they receive the task's resources."""
    resolved: bool = False
    unresolved_reason: str = ""
    rename_map: dict[str, str] = field(default_factory=dict)
    """Renames applied by ``include(prefix=...)``, re-applied after late resolution."""

    @property
    def parameters(self) -> list[str]:
        """Names of the function's parameters, in order."""
        return list(self.signature.parameters)

    @property
    def cli_param_names(self) -> list[str]:
        """Parameters that come from the run's parameters (not Result, RunDir, Resources)."""
        return [p for p in self.signature.parameters if p not in self.given_params]

    @property
    def given_params(self) -> tuple[str, ...]:
        """Parameters reflow fills itself: ``Result``, ``RunDir`` and ``Resources`` ones."""
        return (*self.result_deps, *self.run_dir_params, *self.resources_params)

    @property
    def dependencies(self) -> list[str]:
        """Upstream tasks: ``Result`` steps then ``after=``, without repeats."""
        deps: list[str] = []
        for result in self.result_deps.values():
            deps.extend(s for s in result.steps if s not in deps)
        deps.extend(d for d in self.config.after if d not in deps)
        return deps

    def resolve(self, *, strict: bool) -> None:
        """Resolve annotations and classify parameters.

        With ``strict=False`` an unresolvable annotation is remembered and
        retried later; with ``strict=True`` it raises :class:`AnnotationError`.
        """
        if self.resolved:
            return

        try:
            hints = resolve_annotations(self.name, self.func, self.signature)
        except AnnotationError as exc:
            if strict:
                raise
            self.unresolved_reason = str(exc)
            return
        result_deps: dict[str, Result] = {}
        run_dirs: list[str] = []
        given: list[str] = []
        for pname in self.signature.parameters:
            base, metadata = split_annotated(hints.get(pname, inspect.Parameter.empty))
            results = [m for m in metadata if isinstance(m, Result)]
            if len(results) > 1:
                raise WorkflowDefinitionError(
                    f"Task {self.name!r} parameter {pname!r} has {len(results)} Result "
                    "markers; use one Result(steps=[...]) to combine several upstreams."
                )
            if results:
                result_deps[pname] = results[0].renamed(self.rename_map)
            elif base is RunDir or (isinstance(base, type) and issubclass(base, RunDir)):
                run_dirs.append(pname)
            elif is_resources(base):
                given.append(pname)
        self.hints = hints
        self.return_type = hints.get("return", inspect.Parameter.empty)
        self.result_deps = result_deps
        self.run_dir_params = tuple(run_dirs)
        self.resources_params = tuple(given)
        self.resolved = True
        self.unresolved_reason = ""

    def renamed(self, new_name: str, mapping: dict[str, str]) -> TaskSpec:
        """Return a copy named ``new_name`` whose references go through ``mapping``."""
        # A shallow copy keeps every field, including ones added later (a field-by-field
        # copy here once dropped cache_inputs, changing the renamed task's cache identity).
        config = copy.copy(self.config)
        config.after = [mapping.get(a, a) for a in self.config.after]
        config.submit_options = dict(self.config.submit_options)
        return TaskSpec(
            name=new_name,
            func=self.func,
            config=config,
            signature=self.signature,
            verify=self.verify,
            hints=dict(self.hints),
            return_type=self.return_type,
            result_deps={p: r.renamed(mapping) for p, r in self.result_deps.items()},
            run_dir_params=self.run_dir_params,
            resources_params=self.resources_params,
            resolved=self.resolved,
            unresolved_reason=self.unresolved_reason,
            rename_map={**{k: mapping.get(v, v) for k, v in self.rename_map.items()}, **mapping},
        )


class Flow:
    """A reusable collection of task definitions.

    Register tasks with :meth:`job` and :meth:`array_job`, then attach the
    flow to a :class:`reflow.Workflow` with ``Workflow.include``.

    Parameters
    ----------
    name : str
        Flow name.
    """

    def __init__(self, name: str) -> None:
        self.name: str = check_name(type(self).__name__, name)
        self.tasks: dict[str, TaskSpec] = {}
        self._registration_order: list[str] = []

    def job(
        self,
        name: str | None = None,
        *,
        array: bool = False,
        array_parallelism: int | None = None,
        cpus: int = 1,
        time: str = "00:30:00",
        mem: str = "4G",
        after: list[str] | None = None,
        submit_options: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        version: str = "1",
        cache: bool = True,
        verify: Callable[[Any], bool] | None = None,
        backend: str | None = None,
        cache_inputs: str | None = None,
        report: bool = False,
        pack: int | Literal["auto"] | None = None,
        retries: int | Retry | None = None,
        retry_on: Any = None,
        **scheduler_options: Any,
    ) -> Callable[[F], F]:
        """Register a task, singleton or array job.

        Parameters
        ----------
        name : str or None
            Task name; defaults to the function's name.
        array : bool
            Run as an array job, one element per fanned-out value.
            ``array=True`` is the same as :meth:`array_job`.
        array_parallelism : int or None
            Maximum number of array elements running at once.
        cpus : int
            CPUs per task (per array element).
        time : str
            Walltime limit, ``HH:MM:SS`` or ``D-HH:MM:SS``.
        mem : str
            Memory request, such as ``"16G"``.
        after : list[str] or None
            Tasks that must finish first, with no data passed.
        submit_options : dict or None
            Scheduler options such as ``partition``, ``account``, ``qos``.
        extra : dict or None
            Older name of ``submit_options``.
        version : str
            Cache version: change it to invalidate cached results.
        cache : bool
            Whether results are cached across runs.
        verify : callable or None
            Called with a cached output; returning False forces a re-run.
        backend : str or None
            Hint for a future multi-backend execution.
        cache_inputs : str or None
            How a ``Path`` in the task's parameters and outputs counts for the
            cache: ``"stat"`` (size and modification time of each file),
            ``"content"`` (a SHA-256 of each file) or ``"path"`` (the name
            alone); ``None`` takes ``[cache] inputs`` from the configuration,
            else ``"stat"``.
        report : bool
            Show the task's output in ``reflow report``: a ``Path`` to a PNG,
            SVG, CSV or HTML fragment is embedded (a large file is linked
            instead), any other value is shown as text.
        pack : int, "auto" or None
            Array tasks only, scheduler mode (``submit``): run this many
            consecutive elements one after another in one array task, each with
            its own inputs, result, failure and retry; ``time=`` stays one
            element's walltime (the array task asks for ``pack`` times it).
            ``"auto"`` chooses the number from the measured run times of the
            task's earlier elements (:mod:`reflow.engine.scheduler.autopack`).
            ``None`` takes ``[submit] pack`` from the configuration, else 1.
        retries : int, Retry or None
            Automatic retries after a failure whose reason ``retry_on`` lists,
            each asking for what was missing (see "When jobs fail" in the
            docs); a :class:`~reflow.define.retrypolicy.Retry` sets backoff,
            growth and limits.  ``None`` takes ``[retries]`` from the
            configuration, else no retry.
        retry_on : iterable or None
            Reasons that count: ``"TIMEOUT"``, ``"OUT_OF_MEMORY"``,
            ``"NODE_FAIL"`` (the default), ``"FAILED"``, ``"CANCELLED"``, and
            exception classes the task may raise.
        **scheduler_options
            ``gpus`` (a number of GPUs), ``gpu_type`` (a GPU model such as
            ``"a100"``), ``modules`` (environment modules loaded before the
            task starts), ``prologue`` (shell lines run before it starts) and
            ``container`` (an Apptainer image it runs in): see "GPUs and
            environments" in the docs.  Any other keyword is a scheduler
            option, merged into ``submit_options``.
        """
        if callable(name):  # @wf.job without parentheses
            raise WorkflowDefinitionError(
                f"@{self.name}.job needs parentheses: write @wf.job() above "
                f"{getattr(name, '__name__', 'the function')}."
            )

        def decorator(func: F) -> F:
            self._register(
                name or func.__name__,
                func,
                JobConfig(
                    cpus=cpus,
                    time=time,
                    mem=mem,
                    array=array,
                    after=list(after or []),
                    array_parallelism=array_parallelism,
                    submit_options=submit_options,
                    extra=extra,
                    version=version,
                    cache=cache,
                    backend=backend,
                    cache_inputs=cache_inputs,
                    report=report,
                    pack=pack,
                    retries=retries,
                    retry_on=retry_on,
                    **scheduler_options,
                ),
                verify=verify,
            )
            return func

        return decorator

    def array_job(
        self,
        name: str | None = None,
        *,
        cpus: int = 1,
        time: str = "00:30:00",
        mem: str = "4G",
        after: list[str] | None = None,
        array_parallelism: int | None = None,
        submit_options: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        version: str = "1",
        cache: bool = True,
        verify: Callable[[Any], bool] | None = None,
        backend: str | None = None,
        cache_inputs: str | None = None,
        report: bool = False,
        pack: int | Literal["auto"] | None = None,
        retries: int | Retry | None = None,
        retry_on: Any = None,
        **scheduler_options: Any,
    ) -> Callable[[F], F]:
        """Register an array task; the same as ``job(..., array=True)``."""
        return self.job(
            name,
            array=True,
            cpus=cpus,
            time=time,
            mem=mem,
            after=after,
            array_parallelism=array_parallelism,
            submit_options=submit_options,
            extra=extra,
            version=version,
            cache=cache,
            verify=verify,
            backend=backend,
            cache_inputs=cache_inputs,
            report=report,
            pack=pack,
            retries=retries,
            retry_on=retry_on,
            **scheduler_options,
        )

    def _register(
        self,
        task_name: str,
        func: Callable[..., Any],
        config: JobConfig,
        *,
        verify: Callable[[Any], bool] | None = None,
    ) -> TaskSpec:
        check_task_name("Task", task_name)
        if task_name in self.tasks:
            raise WorkflowDefinitionError(
                f"Task {task_name!r} is already registered in {self.name!r}; give the "
                f"second one another name with @{self.name}.job(name=...)."
            )
        if not callable(func):
            raise WorkflowDefinitionError(f"Task {task_name!r}: {func!r} is not a function.")
        if verify is not None and not callable(verify):
            raise WorkflowDefinitionError(
                f"Task {task_name!r}: verify={verify!r} is not callable; pass a function "
                "that takes the output and returns True when it is still valid."
            )
        config.check(task_name)
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError) as exc:
            raise WorkflowDefinitionError(
                f"Task {task_name!r}: cannot read the signature of {func!r}: {exc}."
            ) from None
        for pname, param in signature.parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise WorkflowDefinitionError(
                    f"Task {task_name!r} parameter {pname!r}: *args and **kwargs cannot be "
                    "given on the command line or wired; name each parameter."
                )
            if param.kind is param.POSITIONAL_ONLY:
                raise WorkflowDefinitionError(
                    f"Task {task_name!r} parameter {pname!r} is positional-only; reflow "
                    "passes parameters by name, so remove the '/' from the signature."
                )
        spec = TaskSpec(
            name=task_name, func=func, config=config, signature=signature, verify=verify
        )
        spec.resolve(strict=False)
        if config.report and spec.resolved and spec.return_type in (None, type(None)):
            raise WorkflowDefinitionError(
                f"Task {task_name!r} has report=True but returns None: there is nothing to "
                "show. Return a Path to a PNG, SVG, CSV or HTML file, or a small value, or "
                "drop report=True."
            )
        if spec.resolved:
            # lazy: the run-parameter model (argparse, json) loads on first use (bench_import)
            from reflow.define.runparams import check_reserved_names

            check_reserved_names(spec)
        self.tasks[task_name] = spec
        self._registration_order.append(task_name)
        return spec

    def _prefixed_tasks(self, prefix: str | None) -> tuple[dict[str, TaskSpec], list[str]]:
        """Return copies of the tasks renamed ``<prefix>_<name>``, references rewritten."""
        if not prefix:
            return {n: self.tasks[n].renamed(n, {}) for n in self._registration_order}, list(
                self._registration_order
            )
        check_task_name(f"Flow {self.name!r} prefix", prefix)
        mapping = {n: check_task_name("Task", f"{prefix}_{n}") for n in self._registration_order}
        tasks = {mapping[n]: self.tasks[n].renamed(mapping[n], mapping) for n in mapping}
        return tasks, [mapping[n] for n in self._registration_order]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, tasks={list(self.tasks)!r})"

"""Creating a run's records: the run row, its context and its task specifications.

``run_local`` and ``submit`` record a run the same way: its parameters and its
:class:`~reflow.runs.context.RunContext` (run directory, script, argv, store
URL, cache settings) on the run row, the context also as ``run.json`` in the
run directory, and per task its configuration plus the task-level parts of its
Merkle identity, which later dispatchers and ``explain`` read back.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from reflow.cache.explain import CACHE_PARTS_KEY
from reflow.cache.filestate import task_policies
from reflow.cache.fingerprint import fingerprint_code
from reflow.cache.identity import ENVIRONMENT_PART, IdentityParts, hash_with_files, value_hash
from reflow.define.analysis import task_param_dests
from reflow.define.validate import infer_wiring
from reflow.errors import ReflowError
from reflow.runs.context import RunContext, write_context
from reflow.runs.graph import WIRING_KEY, recorded_wiring
from reflow.runs.ids import make_run_id
from reflow.runs.layout import RunLayout
from reflow.runs.provenance import collect_provenance
from reflow.stores.records import NewTaskSpec
from reflow.urlpasswords import password_fix, without_password

if TYPE_CHECKING:
    from reflow.cache.planning import CachePolicy
    from reflow.define.wiring import ParamWiring
    from reflow.stores import Store
    from reflow.workflow import Workflow

__all__ = [
    "ENVIRONMENT_PART",
    "CreatedRun",
    "config_record",
    "create_run",
    "make_run_dir",
    "recorded_parts",
    "store_url",
    "stored_prefixes",
    "task_param_dests",
    "user_name",
]


def make_run_dir(layout: RunLayout) -> None:
    """Create the run directory and its ``logs`` directory, before anything is recorded.

    Raises
    ------
    ReflowError
        If either cannot be created (a path through a file such as
        ``/etc/passwd/x``, ``/proc``, a read-only filesystem, no permission):
        one line naming the directory, with nothing recorded in the store.
    """
    run_dir = layout.run_dir
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        layout.logs_dir.mkdir(exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(run_dir) else ""
        raise ReflowError(
            f"Cannot create the run directory {run_dir}: {reason}{where}. Give a run "
            "directory you can write (--run-dir), on a filesystem that is not read-only."
        ) from exc


def user_name() -> str:
    """The submitting user's name (``unknown`` where there is no passwd entry)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def store_url(store: Store) -> str:
    """The URL that opens ``store`` again, ``""`` for a store that cannot say one.

    Only jobs reopen the store: ``submit`` refuses a store without a URL
    before it records anything; ``run_local`` works with any store.

    Raises
    ------
    ReflowError
        If the store's URL embeds a password: it would be recorded with the
        run (``run.json``, the run record, job command lines).
    """
    try:
        url = store.url
    except NotImplementedError:
        return ""
    if (fix := password_fix(url)) is not None:
        raise ReflowError(
            f"The store {type(store).__name__} says its URL is {without_password(url)!r}, which "
            f"is not valid: {fix}. Nothing was recorded; fix or upgrade the store package."
        )
    return url


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is list:
        return all(type(v) in _SCALARS for v in value)
    if kind is dict:
        return all(type(k) is str and type(v) in _SCALARS for k, v in value.items())
    return False


def config_record(config: Any) -> dict[str, Any]:
    """``dataclasses.asdict(config)``, without its deep walk when every field is plain.

    A run records each task's configuration: ``asdict`` walks every value
    recursively (~50 us per task, a tenth of a chain task's whole cost); a
    configuration of scalars, lists and dicts of scalars (nearly all) is
    copied one level deep, which gives the same dict.  Anything else (a
    ``Retry``, nested values) goes through ``asdict``.
    """
    record: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if not _plain(value):
            return asdict(config)
        kind = type(value)
        record[f.name] = list(value) if kind is list else dict(value) if kind is dict else value
    return record


def _parts(
    workflow: Workflow,
    name: str,
    values: Mapping[str, Any],
    dests: Mapping[str, str],
    run_dir: Path,
    policy: str,
) -> IdentityParts:
    spec = workflow.tasks[name]
    params: dict[str, str] = {}
    files: dict[str, list[dict[str, Any]]] = {}
    for p, d in dests.items():
        params[p], states = hash_with_files(values[d], policy)
        if states:
            files[p] = states
    for p in spec.run_dir_params:
        # A task that receives the run directory usually writes there: its result
        # is only reused by runs in the same directory.  Its name counts, not
        # what is in it (the task's own earlier files would make every run a miss).
        params[p] = value_hash(str(run_dir))
    environment = spec.config.environment
    if environment:
        # Other modules, prologue or container image: other software, another result.
        # Not a parameter name (no identifier has parentheses); absent when unset,
        # so tasks without an environment keep their identities.
        params[ENVIRONMENT_PART] = value_hash(
            [list(environment.modules), list(environment.prologue), environment.container]
        )
    code = fingerprint_code(spec.func)
    return IdentityParts(
        task=name,
        version=spec.config.version,
        code=code.digest,
        params=params,
        code_parts=code.components,
        files=files,
    )


class CreatedRun(NamedTuple):
    """What :func:`create_run` recorded, as the engine that goes on needs it.

    Attributes
    ----------
    run_id : str
        The new run's id.
    prefixes : dict
        Each task's identity prefix (see
        :meth:`~reflow.cache.identity.IdentityParts.prefix`).
    parts : dict[str, IdentityParts]
        Each task's identity parts, as recorded with its specification: the
        engine need not read them back.
    user : str
        The user the run is recorded for.
    """

    run_id: str
    prefixes: dict[str, Any]
    parts: dict[str, IdentityParts]
    user: str


def create_run(
    workflow: Workflow,
    store: Store,
    run_dir: Path,
    values: Mapping[str, Any],
    dests: Mapping[str, Mapping[str, str]],
    order: Iterable[str],
    *,
    policy: CachePolicy,
    executor: str,
    executor_options: Mapping[str, Any],
    script: Path | None = None,
    argv: Sequence[str] = (),
    max_jobs: int | None = None,
    wiring: Mapping[str, Mapping[str, ParamWiring]] | None = None,
    durable_context: bool = True,
) -> CreatedRun:
    """Insert a run and its task specifications in one transaction, and write its ``run.json``.

    ``script`` and ``argv`` are given for runs that jobs advance: they load the
    workflow from them (see :class:`~reflow.runs.context.RunContext`), and
    ``max_jobs`` caps the jobs they keep queued.  ``wiring`` is the
    workflow's wiring when the caller has it already (its
    :class:`~reflow.define.analysis.Analysis`): inferring it again costs
    about 0.1 ms per ``Result`` parameter.  ``durable_context=False`` writes
    ``run.json`` without ``fsync`` (2-8 ms), for a run no job on another
    host reads it for: the store's run record holds the same context.

    Returns
    -------
    CreatedRun
        The run id, each task's identity prefix and identity parts.
    """
    run_id = make_run_id(workflow.name)
    make_run_dir(RunLayout(run_dir, run_id))
    store.init()
    # run_local is handed no argv: the command line that started this process is the one.
    # The workflow's own file, not __main__: a driver script may import the pipeline.
    defined_in = getattr(workflow, "_defined_in", None)
    source = script or (
        Path(defined_in).resolve() if defined_in and Path(defined_in).is_file() else None
    )
    user = user_name()
    provenance = collect_provenance(workflow.tasks, source, argv or sys.argv, user)
    context = RunContext(
        run_id=run_id,
        run_dir=run_dir,
        workflow=workflow.name,
        script=script,
        argv=tuple(argv),
        executor=executor,
        executor_options=dict(executor_options),
        store_url=store_url(store),
        force=policy.force,
        force_tasks=policy.force_tasks,
        verify=policy.verify,
        provenance=provenance,
        max_jobs=max_jobs,
    )
    recorded = dict(values)
    # Shown with the run's parameters as before; the engines read the context's.
    recorded["run_dir"] = str(run_dir)
    # The wire modes, so views of the run (reflow dag, reflow report) need no script.

    if wiring is None:
        wiring = infer_wiring(workflow.tasks)
    recorded.setdefault(WIRING_KEY, recorded_wiring(wiring))
    policies = task_policies(workflow)
    # Before the transaction: hashing a parameter's files (a large directory,
    # a content hash) must not hold the store's write lock.
    all_parts = {
        name: _parts(workflow, name, values, dests.get(name, {}), run_dir, policies[name])
        for name in order
    }
    prefixes: dict[str, Any] = {}
    # Before the run row: a job submitted for it finds its run.json.
    _write_context(context, durable=durable_context)

    def write() -> None:
        store.insert_run(
            run_id,
            workflow.name,
            user,
            recorded,
            executor=executor,
            executor_options=dict(executor_options),
            context=context,
        )
        store.insert_task_specs(run_id, specs)

    specs = []
    for name, parts in all_parts.items():
        spec = workflow.tasks[name]
        prefixes[name] = parts.prefix()
        config = config_record(spec.config)
        # The policy in force (the job's own or the config's), so a command
        # that reads the run without its script hashes outputs the same way.
        config["cache_inputs"] = policies[name]
        config["retry"] = spec.config.retry.to_record() if spec.config.retry else None
        config[CACHE_PARTS_KEY] = {
            key: value for key, value in parts.to_dict().items() if key != "inputs"
        }
        specs.append(NewTaskSpec(name, spec.config.array, config, spec.dependencies))
    store.retrying(write)
    return CreatedRun(run_id, prefixes, all_parts, user)


def _write_context(context: RunContext, *, durable: bool) -> None:
    """Write ``run.json``, or say in one line why it cannot be (nothing is recorded then)."""
    try:
        write_context(context, durable=durable)
    except OSError as exc:
        raise ReflowError(
            f"Cannot write the run context into the run directory {context.run_dir}: "
            f"{exc.strerror or exc}. Give a run directory you can write (--run-dir)."
        ) from exc


def recorded_policies(store: Store, run_id: str) -> dict[str, str]:
    """Each task's file policy as recorded with the run (``"stat"`` where none was)."""
    return {
        spec.task_name: str(spec.config.get("cache_inputs") or "stat")
        for spec in store.list_task_spec_records(run_id)
    }


def recorded_parts(store: Store, run_id: str) -> dict[str, IdentityParts]:
    """The task-level identity parts recorded with a run's task specifications."""
    return {
        spec.task_name: IdentityParts.from_dict(spec.config[CACHE_PARTS_KEY])
        for spec in store.list_task_spec_records(run_id)
        if CACHE_PARTS_KEY in spec.config
    }


def stored_prefixes(
    store: Store, run_id: str, code: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The identity prefixes recorded with a run's task specifications.

    ``code`` holds the fingerprints of tasks whose code changed since (a run
    retried with edited code): their prefixes use those.
    """
    code = code or {}
    return {
        name: (replace(parts, code=code[name]) if name in code else parts).prefix()
        for name, parts in recorded_parts(store, run_id).items()
    }

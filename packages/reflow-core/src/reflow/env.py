"""Every ``REFLOW_*`` environment variable reflow reads, in one place.

Each variable is a module-level constant whose value is the variable's own
name, followed by a docstring that says what it does, its default and an
example.  Code that reads a variable imports the constant from here and calls
:func:`get`, so a new variable cannot appear anywhere without being listed
(and documented) in this module.

:data:`VARIABLES` maps each name to a one-line description; the documentation
and ``reflow --help`` render it.  The variables with a fixed set of values
are validated here too (:func:`check`), so a typo such as ``REFLOW_MODE=dryrun``
stops both command lines with one line naming the variable and what it takes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

from reflow.errors import ConfigError
from reflow.urlpasswords import password_fix, without_password

__all__ = [
    "BIN_VARIABLES",
    "PROGRAM_VARIABLES",
    "REFLOW_ACCOUNT",
    "REFLOW_ARRAY_INDEX",
    "REFLOW_BSUB",
    "REFLOW_CONFIG",
    "REFLOW_DISPATCH_ACCOUNT",
    "REFLOW_DISPATCH_FORGET_AFTER",
    "REFLOW_DISPATCH_PARTITION",
    "REFLOW_EXECUTOR",
    "REFLOW_FLUX",
    "REFLOW_FLUX_BIN",
    "REFLOW_JOB_ID",
    "REFLOW_LOCAL_SLOTS",
    "REFLOW_LOCAL_STATE",
    "REFLOW_LOG_LEVEL",
    "REFLOW_LSF_BIN",
    "REFLOW_MODE",
    "REFLOW_NOTIFY_SMTP_PASSWORD",
    "REFLOW_NOTIFY_WEBHOOK_TOKEN",
    "REFLOW_PARTITION",
    "REFLOW_PBS_BIN",
    "REFLOW_QOS",
    "REFLOW_QSUB",
    "REFLOW_RUN_ID",
    "REFLOW_RUN_LEASE",
    "REFLOW_SACCT",
    "REFLOW_SBATCH",
    "REFLOW_SCANCEL",
    "REFLOW_SGE_BIN",
    "REFLOW_SHARE_CACHE",
    "REFLOW_SLURM_BIN",
    "REFLOW_STORE",
    "REFLOW_STORE_CONNECT_TIMEOUT",
    "REFLOW_STORE_PATH",
    "REFLOW_TASK_RESOURCES",
    "SECRET_VARIABLES",
    "VARIABLES",
    "bin_variable",
    "check",
    "checked",
    "get",
    "store_url_fix",
]

REFLOW_CONFIG = "REFLOW_CONFIG"
"""Path of the configuration file to load instead of the default one.

Default: unset, which means ``config.toml`` in the user configuration
directory (``~/.config/reflow/config.toml`` on Linux).  When set, the file
must exist: a missing file is an error rather than an empty configuration.

Example: ``REFLOW_CONFIG=/project/shared/reflow.toml``
"""

REFLOW_STORE = "REFLOW_STORE"
"""URL of the manifest store, ``scheme://...``, overriding the configuration file.

The scheme names the store plugin (its name in the ``reflow.stores``
entry-point group): ``sqlite:///abs/path.db`` is the SQLite store, with the
file's absolute path after three slashes.  It wins over ``REFLOW_STORE_PATH``
when both are set, and both win over ``[store] url`` and ``[store] path``.

Default: unset, which means ``REFLOW_STORE_PATH``, else the configuration file
(``[store] url``, else ``[store] path``), else the SQLite file
``manifest.db`` in the user cache directory.

Example: ``REFLOW_STORE=sqlite:///shared/reflow/manifest.db``
"""

REFLOW_STORE_PATH = "REFLOW_STORE_PATH"
"""Path of the shared manifest database (an SQLite file), overriding the configuration file.

Default: unset, which means the configuration file (``[store] url``, else
``[store] path``), or ``manifest.db`` in the user cache directory
(``~/.cache/reflow/manifest.db`` on Linux) when the file sets neither.
``~`` is expanded.  ``REFLOW_STORE`` wins when both are set.

Example: ``REFLOW_STORE_PATH=/shared/reflow/manifest.db``
"""

REFLOW_STORE_CONNECT_TIMEOUT = "REFLOW_STORE_CONNECT_TIMEOUT"
"""Seconds a store on a database server keeps retrying to reach an unreachable server.

Read by server stores (``reflow-store-postgres``) when they connect: a
dispatcher job that starts while the server restarts waits this long, with
backoff, before it fails with one line naming the server and the cause.
``0`` tries once.

Default: 60.

Example: ``REFLOW_STORE_CONNECT_TIMEOUT=300``
"""

REFLOW_SHARE_CACHE = "REFLOW_SHARE_CACHE"
"""Whether the cache may serve results of other users' runs in the same store.

Default: unset, which means ``[store] share_cache``, else ``false``: a run
reuses only results of runs of the same user.  ``true`` (or ``1``, ``yes``)
lets another user's output stand for yours, so set it only where every user
of the store trusts every other (see the cache page of the documentation).

Example: ``REFLOW_SHARE_CACHE=true``
"""

REFLOW_EXECUTOR = "REFLOW_EXECUTOR"
"""Name of the executor runs are submitted with, overriding ``[executor] name``.

Default: unset, which means ``[executor] name`` from the configuration file,
or ``local`` when the file does not set it.  The name is the executor's
plugin name (``local``, ``slurm``, ``pbs``, ``lsf``, ``sge``, ``flux``).

Example: ``REFLOW_EXECUTOR=slurm``
"""

REFLOW_PARTITION = "REFLOW_PARTITION"
"""Default partition (queue) of task jobs, overriding the configuration file.

Default: unset, which means ``partition`` in ``[executor.submit_options]``, or
the scheduler's own default.  A partition given on a task still wins.

Example: ``REFLOW_PARTITION=compute``
"""

REFLOW_ACCOUNT = "REFLOW_ACCOUNT"
"""Default account (project) charged for task jobs, overriding the file.

Default: unset, which means ``account`` in ``[executor.submit_options]``, or
the scheduler's own default.  An account given on a task still wins.

Example: ``REFLOW_ACCOUNT=proj42``
"""

REFLOW_QOS = "REFLOW_QOS"
"""Default quality of service of task jobs, overriding the file.

Default: unset, which means ``qos`` in ``[executor.submit_options]``, or the
scheduler's own default.  A QOS given on a task still wins.

Example: ``REFLOW_QOS=normal``
"""

REFLOW_DISPATCH_PARTITION = "REFLOW_DISPATCH_PARTITION"
"""Partition (queue) of the short dispatcher jobs, overriding the file.

Default: unset, which means ``partition`` in ``[dispatch.submit_options]``, or
the scheduler's own default.  Dispatcher jobs run for seconds, so a short or
debug partition usually starts them soonest.

Example: ``REFLOW_DISPATCH_PARTITION=short``
"""

REFLOW_DISPATCH_ACCOUNT = "REFLOW_DISPATCH_ACCOUNT"
"""Account (project) charged for the dispatcher jobs, overriding the file.

Default: unset, which means ``account`` in ``[dispatch.submit_options]``, or
the scheduler's own default.

Example: ``REFLOW_DISPATCH_ACCOUNT=proj42``
"""

REFLOW_DISPATCH_FORGET_AFTER = "REFLOW_DISPATCH_FORGET_AFTER"
"""Seconds a job may stay unknown to its scheduler before its instance fails.

A scheduler forgets finished jobs (LSF after ``CLEAN_PERIOD``, PBS Pro without
job history, Slurm without accounting after ``MinJobAge``...).  A job that
left no result file and that the scheduler has not reported for this long,
across dispatcher waves, is marked FAILED ("the scheduler no longer knows the
job"), so the run can end; ``retry`` runs it again.  Read by the dispatcher
jobs, so set it where they start (the submitting shell, for schedulers that
pass the environment on).

Default: ``600``.

Example: ``REFLOW_DISPATCH_FORGET_AFTER=1800``
"""

REFLOW_RUN_LEASE = "REFLOW_RUN_LEASE"
"""Seconds without a heartbeat after which a ``run_local`` run on another host is LOST.

``run_local`` records its host, pid and process start time with the run and
refreshes a heartbeat every 5 seconds.  On the same host a killed driver is
seen at once (its pid is gone or reused); from another host sharing the
store only the heartbeat can tell, so ``reflow runs``/``status`` show the run
as LOST once its heartbeat is older than this.  Keep it well above the
heartbeat period: a driver busy planning a very large task refreshes it late.

Default: ``120``.

Example: ``REFLOW_RUN_LEASE=600``
"""

REFLOW_MODE = "REFLOW_MODE"
"""Submission mode.

Default: unset, which submits jobs for real.  ``dry-run`` prints each job that
would be submitted (its command and options) instead of submitting it, and
gives it the job id ``DRYRUN``.  Any other value is an error (:func:`check`).

Example: ``REFLOW_MODE=dry-run``
"""

REFLOW_LOG_LEVEL = "REFLOW_LOG_LEVEL"
"""Log level of the ``reflow`` command line and of reflow's jobs.

Default: unset, which means ``WARNING``.  Accepts the names of the standard
:mod:`logging` levels (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``); the
``-v``/``-q`` options of the command line take precedence.  Read by the
``reflow`` command and by a workflow script's command line; any other value
is an error (:func:`check`).

Example: ``REFLOW_LOG_LEVEL=DEBUG``
"""

REFLOW_LOCAL_STATE = "REFLOW_LOCAL_STATE"
"""Directory where the ``local`` executor keeps the state of its jobs.

Default: unset, which means ``local-jobs`` in the user cache directory
(``~/.cache/reflow/local-jobs`` on Linux).  Every process that submits,
queries or cancels local jobs of one run must use the same directory; the
machine-wide job slots are counted per directory.  ``~`` is expanded.

Example: ``REFLOW_LOCAL_STATE=/scratch/alice/reflow-local``
"""

REFLOW_LOCAL_SLOTS = "REFLOW_LOCAL_SLOTS"
"""How many job processes the ``local`` executor runs at once on this machine.

Default: unset, which means the number of CPUs the submitting process may
use.  A job asking for ``cpus=k`` takes ``k`` slots (all of them if ``k`` is
larger).  Must be a whole number of at least 1.

Example: ``REFLOW_LOCAL_SLOTS=4``
"""

REFLOW_RUN_ID = "REFLOW_RUN_ID"
"""Set by reflow in every job it submits: the id of the run the job belongs to.

Default: unset outside jobs.  Read-only for users: reflow sets it; a task
may read it (to name files after the run, say).

Example: ``REFLOW_RUN_ID=pipeline-20260101-120000-1a2b3c4d``
"""

REFLOW_TASK_RESOURCES = "REFLOW_TASK_RESOURCES"
"""Set by the dispatcher in every task job: what the job asks for one element (JSON).

Default: unset outside task jobs.  A parameter annotated ``Resources``
receives these ``cpus``, ``mem`` and ``time``: after an automatic retry that
asked for more memory or time, the larger request, not the decorator's.

Example: ``REFLOW_TASK_RESOURCES={"cpus": 2, "mem": "8G", "time": "02:00:00"}``
"""

REFLOW_JOB_ID = "REFLOW_JOB_ID"
"""Set by executors that can in every job: the job's own scheduler id.

Default: unset outside jobs.  The worker records it in its start marker, so
a dispatcher that died before recording the id of a job it submitted can
still find the job.

Example: ``REFLOW_JOB_ID=12345``
"""

REFLOW_ARRAY_INDEX = "REFLOW_ARRAY_INDEX"
"""Set by every executor in each element of an array job: reflow's element index.

Default: unset outside array elements.  Always 0-based, whatever the
scheduler's own task numbering (Slurm counts from 0, Grid Engine, LSF and
PBS from 1) and however a large array was split.

Example: ``REFLOW_ARRAY_INDEX=7``
"""

REFLOW_NOTIFY_WEBHOOK_TOKEN = "REFLOW_NOTIFY_WEBHOOK_TOKEN"  # noqa: S105 (a variable's name)
"""A token sent to the ``[notify] webhook`` as ``Authorization: Bearer <token>``.

Default: unset, which means ``[notify] webhook_token`` if set, else no
``Authorization`` header.  Read when a notification is sent, by the process
that sends it (the last dispatcher job or ``run_local``), and never written
anywhere: set it where that process runs (for dispatcher jobs, in the
environment your scheduler passes on), or in the configuration file.

Example: ``REFLOW_NOTIFY_WEBHOOK_TOKEN=xoxb-123``
"""

REFLOW_NOTIFY_SMTP_PASSWORD = "REFLOW_NOTIFY_SMTP_PASSWORD"  # noqa: S105 (a variable's name)
"""The password of ``[notify] smtp_user`` on the ``[notify] smtp`` server.

Default: unset, which means ``[notify] smtp_password`` if set.  Read when an
email is sent and never written anywhere, like
:data:`REFLOW_NOTIFY_WEBHOOK_TOKEN`.

Example: ``REFLOW_NOTIFY_SMTP_PASSWORD=s3cret``
"""

SECRET_VARIABLES = frozenset({REFLOW_NOTIFY_WEBHOOK_TOKEN, REFLOW_NOTIFY_SMTP_PASSWORD})
"""The variables holding secrets: reflow never writes them into a job script or spec.

A job sees them only where its scheduler passes on the submitting
environment (``export_env``, the default), never from a file reflow wrote.
"""

VARIABLES: dict[str, str] = {
    REFLOW_CONFIG: "Configuration file to load instead of the default one.",
    REFLOW_STORE: "URL of the manifest store (sqlite:///abs/path.db); wins over the path.",
    REFLOW_STORE_PATH: "Path of the shared manifest database (an SQLite file).",
    REFLOW_STORE_CONNECT_TIMEOUT: "Seconds to retry reaching a store's database server (60).",
    REFLOW_SHARE_CACHE: "'true' lets the cache serve other users' results (default: false).",
    REFLOW_EXECUTOR: "Executor runs are submitted with (default: local).",
    REFLOW_PARTITION: "Default partition (queue) of task jobs.",
    REFLOW_ACCOUNT: "Default account (project) charged for task jobs.",
    REFLOW_QOS: "Default quality of service of task jobs.",
    REFLOW_DISPATCH_PARTITION: "Partition (queue) of the dispatcher jobs.",
    REFLOW_DISPATCH_ACCOUNT: "Account (project) charged for the dispatcher jobs.",
    REFLOW_DISPATCH_FORGET_AFTER: "Seconds a job may stay unknown to its scheduler (default 600).",
    REFLOW_RUN_LEASE: "Seconds without heartbeat before another host's local run is LOST (120).",
    REFLOW_MODE: "'dry-run' prints jobs instead of submitting them (job id DRYRUN).",
    REFLOW_LOG_LEVEL: "Log level of the command line and of jobs (default: WARNING).",
    REFLOW_LOCAL_STATE: "State directory of the local executor (default: in the user cache).",
    REFLOW_LOCAL_SLOTS: "Job processes the local executor runs at once (default: CPU count).",
    REFLOW_NOTIFY_WEBHOOK_TOKEN: "Bearer token sent to the [notify] webhook (never stored).",
    REFLOW_NOTIFY_SMTP_PASSWORD: "Password for the [notify] SMTP server (never stored).",
    REFLOW_RUN_ID: "Set in every job by reflow: the run the job belongs to.",
    REFLOW_JOB_ID: "Set in every job by executors that can: the job's own scheduler id.",
    REFLOW_TASK_RESOURCES: "Set in task jobs: what the job asked for one element (JSON).",
    REFLOW_ARRAY_INDEX: "Set in every array element by the executor: reflow's 0-based index.",
}
"""Every reflow environment variable, mapped to a one-line description."""


def get(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the value of a reflow environment variable, or ``None`` if unset.

    A variable set to an empty string (or only whitespace) counts as unset, so
    ``REFLOW_PARTITION= reflow submit ...`` falls back to the configuration
    file instead of submitting with an empty partition.

    Parameters
    ----------
    name : str
        One of the variables defined in this module, e.g. :data:`REFLOW_QOS`.
    environ : Mapping[str, str] or None
        Where to read the variable; ``None`` means :data:`os.environ`.

    Returns
    -------
    str or None
        The value as set, or ``None`` when unset or empty.

    Raises
    ------
    KeyError
        If ``name`` is not a variable defined in this module.

    Examples
    --------
    >>> get(REFLOW_EXECUTOR, {"REFLOW_EXECUTOR": "slurm"})
    'slurm'
    >>> get(REFLOW_EXECUTOR, {"REFLOW_EXECUTOR": ""}) is None
    True
    """
    if name not in VARIABLES:
        raise KeyError(
            f"{name!r} is not a reflow environment variable; define it (with a docstring) "
            f"in reflow.env before reading it. Known variables: {', '.join(sorted(VARIABLES))}."
        )
    source = os.environ if environ is None else environ
    value = source.get(name)
    if value is None or not value.strip():
        return None
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""The values ``REFLOW_LOG_LEVEL`` takes (in any case)."""

MODES = ("dry-run", "submit")
"""The values ``REFLOW_MODE`` takes (in any case); unset (or ``submit``) submits for real."""


def _choice(allowed: tuple[str, ...], unset: str) -> Callable[[str], str | None]:
    def problem(value: str) -> str | None:
        if value.strip().upper() in (a.upper() for a in allowed):
            return None
        values = allowed[0] if len(allowed) == 1 else f"one of {', '.join(allowed)}"
        return f"use {values}, or unset it {unset}"

    return problem


def _whole_at_least_one(value: str) -> str | None:
    text = value.strip()
    return None if text.isdigit() and int(text) >= 1 else "use a whole number of at least 1"


TRUE_WORDS = ("1", "true", "yes", "on")
"""The values a boolean variable takes for yes (in any case)."""

FALSE_WORDS = ("0", "false", "no", "off")
"""The values a boolean variable takes for no (in any case)."""


def _boolean(value: str) -> str | None:
    words = (*TRUE_WORDS, *FALSE_WORDS)
    return None if value.strip().lower() in words else f"use one of {', '.join(words)}"


def _seconds(value: str) -> str | None:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    return None if seconds >= 0 else "use a number of seconds of at least 0"


_STORE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S")
"""``scheme://`` and something after it: the shape of every store URL."""


def store_url_fix(value: str) -> str | None:
    """How to fix a store URL (``REFLOW_STORE``, ``[store] url``), or ``None`` when well formed.

    Only the shape is checked here (``scheme://`` and more), and that it
    embeds no password (:mod:`reflow.urlpasswords`); the store the scheme
    names checks the rest when it opens the URL.

    Examples
    --------
    >>> store_url_fix("sqlite:///shared/manifest.db") is None
    True
    >>> store_url_fix("/shared/manifest.db")[:50]
    'write a URL, scheme://..., such as sqlite:///abs/p'
    """
    if _STORE_URL.match(value.strip()):
        return password_fix(value)
    return (
        "write a URL, scheme://..., such as sqlite:///abs/path.db "
        "(for an SQLite file use REFLOW_STORE_PATH or [store] path)"
    )


_RULES: dict[str, Callable[[str], str | None]] = {
    REFLOW_STORE: store_url_fix,
    REFLOW_MODE: _choice(MODES, "to submit for real"),
    REFLOW_SHARE_CACHE: _boolean,
    REFLOW_LOG_LEVEL: _choice(LOG_LEVELS, "for WARNING"),
    REFLOW_LOCAL_SLOTS: _whole_at_least_one,
    REFLOW_DISPATCH_FORGET_AFTER: _seconds,
}
"""How each variable with a constrained value is checked: the fix, or ``None`` when valid."""


def checked(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Return :func:`get` of ``name`` after checking its value.

    Parameters
    ----------
    name : str
        One of the variables defined in this module.
    environ : Mapping[str, str] or None
        Where to read the variable; ``None`` means :data:`os.environ`.

    Returns
    -------
    str or None
        The value as set, or ``None`` when unset or empty.

    Raises
    ------
    ConfigError
        If the value is not one the variable takes; the one-line message names
        the variable, its value and the values allowed.

    Examples
    --------
    >>> checked(REFLOW_MODE, {"REFLOW_MODE": "DRY-RUN"})
    'DRY-RUN'
    >>> checked(REFLOW_MODE, {"REFLOW_MODE": "dryrun"})
    Traceback (most recent call last):
    ...
    reflow.errors.ConfigError: REFLOW_MODE='dryrun' is not valid: use one of dry-run, submit, ...
    """
    value = get(name, environ)
    rule = _RULES.get(name)
    if value is not None and rule is not None and (fix := rule(value)) is not None:
        raise ConfigError(f"{name}={_shown(name, value)!r} is not valid: {fix}.")
    return value


def _shown(name: str, value: str) -> str:
    """``value`` as an error message may show it: a store URL without its password."""
    if name != REFLOW_STORE:
        return value
    return without_password(value)


def check(environ: Mapping[str, str] | None = None) -> None:
    """Check every ``REFLOW_*`` variable that is set; both command lines call it first.

    Parameters
    ----------
    environ : Mapping[str, str] or None
        Where to read the variables; ``None`` means :data:`os.environ`.

    Raises
    ------
    ConfigError
        For the first variable set to a value it does not take (see
        :func:`checked`).
    """
    for name in _RULES:
        checked(name, environ)


# -- scheduler command overrides ------------------------------------------------------
# Kept apart from the variables above (and merged into VARIABLES) so that adding
# one touches only this block.

REFLOW_SBATCH = "REFLOW_SBATCH"
"""The ``sbatch`` command the Slurm executor runs, instead of ``sbatch`` on ``PATH``.

Default: ``sbatch`` (in ``slurm_bin`` when given).

Example: ``REFLOW_SBATCH=/opt/slurm/bin/sbatch``
"""

REFLOW_SCANCEL = "REFLOW_SCANCEL"
"""The ``scancel`` command the Slurm executor runs, instead of ``scancel`` on ``PATH``.

Default: ``scancel`` (in the executor's bin directory when given).

Example: ``REFLOW_SCANCEL=/opt/slurm/bin/scancel``
"""

REFLOW_SACCT = "REFLOW_SACCT"
"""The ``sacct`` command the Slurm executor runs, instead of ``sacct`` on ``PATH``.

Default: ``sacct`` (in the executor's bin directory when given).

Example: ``REFLOW_SACCT=/opt/slurm/bin/sacct``
"""

REFLOW_QSUB = "REFLOW_QSUB"
"""The ``qsub`` command the PBS and Grid Engine executors run, instead of ``qsub`` on ``PATH``.

Default: ``qsub`` (in the executor's bin directory when given).

Example: ``REFLOW_QSUB=/opt/pbs/bin/qsub``
"""

REFLOW_BSUB = "REFLOW_BSUB"
"""The ``bsub`` command the LSF executor runs, instead of ``bsub`` on ``PATH``.

Default: ``bsub`` (in the executor's bin directory when given).

Example: ``REFLOW_BSUB=/opt/lsf/bin/bsub``
"""

REFLOW_FLUX = "REFLOW_FLUX"
"""The ``flux`` command the Flux executor runs, instead of ``flux`` on ``PATH``.

Default: ``flux`` (the executor's ``flux`` argument when given).

Example: ``REFLOW_FLUX=/opt/flux/bin/flux``
"""

PROGRAM_VARIABLES: dict[str, str] = {
    REFLOW_SBATCH: "Path of the sbatch command (Slurm executor).",
    REFLOW_SCANCEL: "Path of the scancel command (Slurm executor).",
    REFLOW_SACCT: "Path of the sacct command (Slurm executor).",
    REFLOW_QSUB: "Path of the qsub command (PBS and Grid Engine executors).",
    REFLOW_BSUB: "Path of the bsub command (LSF executor).",
    REFLOW_FLUX: "Path of the flux command (Flux executor).",
}
"""The variables naming a scheduler command to run instead of the one on ``PATH``."""

VARIABLES.update(PROGRAM_VARIABLES)


# -- scheduler command directories ----------------------------------------------------
# One per batch executor, read by reflow.executors.BatchSettings.build when the
# executor's own ``<name>_bin`` keyword is not given.

REFLOW_SLURM_BIN = "REFLOW_SLURM_BIN"
"""Directory of the Slurm commands (sbatch, squeue, sacct, scancel, scontrol).

Default: unset, which means the ``slurm_bin`` argument, else ``PATH``.  A
single-command variable such as ``REFLOW_SBATCH`` still wins for its command.

Example: ``REFLOW_SLURM_BIN=/opt/slurm/bin``
"""

REFLOW_PBS_BIN = "REFLOW_PBS_BIN"
"""Directory of the PBS commands (qsub, qstat, qdel).

Default: unset, which means the ``pbs_bin`` argument, else ``PATH``.

Example: ``REFLOW_PBS_BIN=/opt/pbs/bin``
"""

REFLOW_LSF_BIN = "REFLOW_LSF_BIN"
"""Directory of the LSF commands (bsub, bjobs, bkill).

Default: unset, which means the ``lsf_bin`` argument, else ``PATH``.

Example: ``REFLOW_LSF_BIN=/opt/lsf/10.1/linux3.10-glibc2.17-x86_64/bin``
"""

REFLOW_SGE_BIN = "REFLOW_SGE_BIN"
"""Directory of the Grid Engine commands (qsub, qstat, qacct, qdel, qconf).

Default: unset, which means the ``sge_bin`` argument, else ``PATH``.

Example: ``REFLOW_SGE_BIN=/opt/sge/bin/lx-amd64``
"""

REFLOW_FLUX_BIN = "REFLOW_FLUX_BIN"
"""Directory of the ``flux`` command.

Default: unset, which means the ``flux_bin`` argument, else the ``flux``
argument (``flux`` on ``PATH``).  ``REFLOW_FLUX`` (the command itself) wins.

Example: ``REFLOW_FLUX_BIN=/opt/flux/bin``
"""

BIN_VARIABLES: dict[str, str] = {
    REFLOW_SLURM_BIN: "Directory of the Slurm commands (Slurm executor).",
    REFLOW_PBS_BIN: "Directory of qsub, qstat and qdel (PBS executor).",
    REFLOW_LSF_BIN: "Directory of the LSF commands (LSF executor).",
    REFLOW_SGE_BIN: "Directory of the Grid Engine commands (Grid Engine executor).",
    REFLOW_FLUX_BIN: "Directory of the flux command (Flux executor).",
}
"""The variables naming the directory of a scheduler's commands, one per batch executor."""

VARIABLES.update(BIN_VARIABLES)


def bin_variable(executor: str) -> str | None:
    """The ``REFLOW_<NAME>_BIN`` variable of a batch executor, or ``None`` if reflow has none.

    Examples
    --------
    >>> bin_variable("slurm"), bin_variable("toy")
    ('REFLOW_SLURM_BIN', None)
    """
    variable = f"REFLOW_{executor.upper()}_BIN"
    return variable if variable in BIN_VARIABLES else None

"""Which of the submitting environment's variables a job sees: the ``export_env`` option.

The same pipeline must behave the same on every scheduler, and schedulers
differ: Slurm, LSF and Flux pass the submitting environment to a job by
default, PBS and Grid Engine pass almost nothing without ``-V``.  Reflow asks
every scheduler for the whole submitting environment unless the submit
option ``export_env`` says otherwise:

- ``true`` (the default): every variable;
- ``false``: none (the job starts from the scheduler's own minimal environment);
- a list of names: only those variables.

It is a submit option like ``partition``: set per site in
``[executor.submit_options]`` (task jobs) or ``[dispatch.submit_options]``
(dispatcher jobs), or per task with ``@wf.job(export_env=...)``.  Each
executor turns :class:`ExportEnv` into its scheduler's flags.

Whatever the setting, the ``REFLOW_*`` variables of the submitting process
(the store's path, the configuration file, the executor's state directory...)
reach every job: :func:`job_variables` puts them in the job's own
environment, which every executor writes into the job script.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reflow.errors import ConfigError

__all__ = [
    "EXPORT_ENV",
    "ExportEnv",
    "export_setting",
    "filtered_environment",
    "job_variables",
    "split_export_env",
]

EXPORT_ENV = "export_env"
"""The submit option's key."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_PER_JOB = frozenset({"REFLOW_JOB_ID", "REFLOW_ARRAY_INDEX", "REFLOW_RUN_ID"})
"""``REFLOW_*`` variables each job gets its own value of: never copied from the submitter."""


@dataclass(frozen=True)
class ExportEnv:
    """The submitting environment a job sees.

    Attributes
    ----------
    names : tuple[str, ...] or None
        ``None``: every variable; otherwise only these (``()``: none).
    """

    names: tuple[str, ...] | None = None

    @property
    def everything(self) -> bool:
        """Whether the job sees the whole submitting environment."""
        return self.names is None


def export_setting(value: Any, where: str = "submit options") -> ExportEnv:
    """Read an ``export_env`` value: ``true``, ``false`` or a list of variable names.

    Parameters
    ----------
    value : Any
        The value as written (``None`` means the default, ``true``).
    where : str
        Where it was written, for the error message.

    Raises
    ------
    ConfigError
        In one line, for any other value.

    Examples
    --------
    >>> export_setting(["OMP_NUM_THREADS", "MY_SETTING"]).names
    ('OMP_NUM_THREADS', 'MY_SETTING')
    >>> export_setting(False).names
    ()
    """
    if value is None or value is True:
        return ExportEnv()
    if value is False:
        return ExportEnv(())
    if isinstance(value, (list, tuple)) and all(
        isinstance(n, str) and _NAME.fullmatch(n) for n in value
    ):
        return ExportEnv(tuple(dict.fromkeys(value)))
    raise ConfigError(
        f"export_env={value!r} in {where} is not valid: give true (the whole submitting "
        "environment, the default), false (none) or a list of variable names such as "
        '["OMP_NUM_THREADS", "MY_SETTING"].'
    )


def split_export_env(
    options: Mapping[str, Any], where: str = "submit options"
) -> tuple[ExportEnv, dict[str, Any]]:
    """The ``export_env`` setting of a job's submit options, and the other options.

    Executors call it before turning the remaining options into scheduler flags.
    """
    rest = dict(options)
    return export_setting(rest.pop(EXPORT_ENV, None), where), rest


def job_variables(run_id: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables every job of run ``run_id`` gets, whatever ``export_env`` says.

    The submitting process's ``REFLOW_*`` settings (except the per-job ones)
    and ``REFLOW_RUN_ID``.
    """
    env = os.environ if environ is None else environ
    kept = {k: v for k, v in env.items() if k.startswith("REFLOW_") and k not in _PER_JOB}
    return {**kept, "REFLOW_RUN_ID": run_id}


def filtered_environment(setting: ExportEnv, environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` a job sees under ``setting`` (for executors that start jobs)."""
    if setting.names is None:
        return dict(environ)
    return {name: environ[name] for name in setting.names if name in environ}

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
from collections.abc import Mapping
from typing import Any

from reflow.define.submitoptions import EXPORT_ENV, ExportEnv, export_setting
from reflow.env import SECRET_VARIABLES

__all__ = [
    "EXPORT_ENV",
    "ExportEnv",
    "export_setting",
    "filtered_environment",
    "job_variables",
    "split_export_env",
]

_PER_JOB = frozenset({"REFLOW_JOB_ID", "REFLOW_ARRAY_INDEX", "REFLOW_RUN_ID"})
"""``REFLOW_*`` variables each job gets its own value of: never copied from the submitter."""


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

    The submitting process's ``REFLOW_*`` settings (except the per-job ones,
    and the secrets: these are written into job scripts) and ``REFLOW_RUN_ID``.
    """
    env = os.environ if environ is None else environ
    skipped = _PER_JOB | SECRET_VARIABLES
    kept = {k: v for k, v in env.items() if k.startswith("REFLOW_") and k not in skipped}
    return {**kept, "REFLOW_RUN_ID": run_id}


def filtered_environment(setting: ExportEnv, environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` a job sees under ``setting`` (for executors that start jobs)."""
    if setting.names is None:
        return dict(environ)
    return {name: environ[name] for name in setting.names if name in environ}

"""The ``#BSUB`` lines of a reflow job: resources, array, dependencies, logs, options.

``bsub < job.sh`` reads the directives from the script itself
(bsub(1), "-Zs" and "Using job scripts"): one option per ``#BSUB`` line, its
value split like a shell word, so values that are not plainly safe are
written in double quotes (:func:`quote`).  What each line says:

- ``-J "name[1-N]%P"``: the job name, with an array's 1-based index range
  and its job slot limit after the bracket (bsub(1), "-J").
- ``-n N`` and ``-R "span[hosts=1] rusage[mem=M]"``: N slots on one host,
  ``M`` memory reserved; ``-M M``: the memory limit.  ``M`` is in the unit of
  ``LSF_UNIT_FOR_LIMITS`` (see :mod:`reflow_executor_lsf.config`).
- ``-gpu num=G[:gmodel=TYPE]``: the task's ``gpus=`` and ``gpu_type=``.
- ``-W [hours:]minutes``: the run limit, in whole minutes (rounded up).
- ``-o``/``-e``: ``<log_dir>/<name>-%J.out`` (``-%J_%I`` for array elements).
- ``-w 'done(ID) && ended(ID)'``: after_ok / after_any dependencies, and
  with after_ok ``-ti``, which ends the job at once when a dependency can
  never be satisfied instead of leaving it pending (bsub(1), "-ti",
  LSF 9.1 and later).
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from reflow.executors import (
    ARRAY_INDEX_ENV,
    ArrayChunk,
    ExportEnv,
    JobSpec,
    command_lines,
    known_options,
    option_value,
    parse_walltime,
    refusal,
    split_export_env,
)

__all__ = [
    "KNOWN_OPTIONS",
    "OPTION_FLAGS",
    "RESERVED_OPTIONS",
    "array_name",
    "body",
    "dependency_expression",
    "directives",
    "env_value",
    "log_paths",
    "option_directives",
    "quote",
    "run_limit",
]

_SAFE = re.compile(r"^[A-Za-z0-9_@+=:,./-]+$")
"""Values written without quotes."""

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")
"""Characters left out of LSF job names (``[`` starts an array index, quotes end the value)."""

OPTION_FLAGS: dict[str, str] = {
    "queue": "-q",
    "project": "-P",
    "app": "-app",
    "sla": "-sla",
    "user_group": "-G",
    "job_group": "-g",
    "hosts": "-m",
    "mail_user": "-u",
    "reservation": "-U",
    "exclusive": "-x",
    "rerunnable": "-r",
    "notify_begin": "-B",
    "notify_end": "-N",
    "gpu": "-gpu",
    "resource": "-R",
    "begin": "-b",
    "priority": "-sp",
    "description": "-Jd",
}
"""Submit options by name, and the bsub flag each becomes.

A key not listed here that looks like a bsub flag (``"x"``, ``"alloc_flags"``)
is written as ``-<key>``.
"""

RESERVED_OPTIONS: dict[str, str] = {
    "J": "reflow names the job after the task",
    "o": "reflow writes the job's stdout to its log directory",
    "oo": "reflow writes the job's stdout to its log directory",
    "e": "reflow writes the job's stderr to its log directory",
    "eo": "reflow writes the job's stderr to its log directory",
    "w": "reflow sets the dependencies of its jobs",
    "ti": "reflow sets it for every job with dependencies",
    "n": "set the task's cpus= instead",
    "W": "set the task's time= (its walltime) instead",
    "M": "set the task's mem= instead",
    "K": "reflow never waits for a job to finish",
    "I": "reflow submits batch jobs, not interactive ones",
    "Is": "reflow submits batch jobs, not interactive ones",
    "Ip": "reflow submits batch jobs, not interactive ones",
    "i": "reflow jobs read no standard input",
    "cwd": "reflow changes to the job's workdir itself",
    "env": "set export_env (true, false or a list of variable names) instead",
    "qos": "LSF has no quality of service; choose a queue (partition=) or a service class (sla=)",
}
"""bsub flags (without ``-``) reflow sets itself, with the reason a job may not set them."""

_OPTION_WORDS = (
    "a alloc_flags app ar b c cn_cu cn_mem core_isolation csm data datachk datagrp e ep "
    "eptl f freq g gpu hl hostfile jobaff jsdl k l lp m mig network notify outdir p pack "
    "ptl q r rn rnc s sp smt stage step_cgroup t u ul v we wa wt x xf zs ne d"
)

KNOWN_OPTIONS: frozenset[str] = known_options(
    _OPTION_WORDS.split(), OPTION_FLAGS, RESERVED_OPTIONS
)
"""Every submit option name the executor recognises (bsub flags, written without the dash).

See :func:`reflow.executors.known_options` for how they are used.
"""

_OPTION = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


_bad = partial(refusal, "lsf")
"""``_bad(job, problem)``: the error refusing ``job``, naming this scheduler."""


def quote(value: str) -> str:
    """``value`` as bsub reads it back from a ``#BSUB`` line.

    Examples
    --------
    >>> quote("normal")
    'normal'
    >>> quote("span[hosts=1] rusage[mem=4096]")
    '"span[hosts=1] rusage[mem=4096]"'
    """
    if _SAFE.match(value):
        return value
    return f'"{value}"'


def _directive(job: JobSpec, flag: str, value: str | None = None) -> str:
    if value is None:
        return f"#BSUB {flag}"
    if any(c in value for c in '\n\r\0"'):
        raise _bad(
            job,
            f"the value of {flag} ({value!r}) has a line break, NUL or double quote; "
            "a #BSUB line holds one double-quoted value",
        )
    return f"#BSUB {flag} {quote(value)}"


def run_limit(value: str) -> str:
    """A reflow walltime as bsub's ``-W [hours:]minutes``, rounded up to a whole minute.

    Examples
    --------
    >>> run_limit("00:00:02"), run_limit("00:45:00"), run_limit("1-02:00:30")
    ('1', '45', '26:01')
    """
    minutes = max(1, math.ceil(parse_walltime(value) / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}" if hours else str(minutes)


def job_name(job: JobSpec) -> str:
    """The job's name as LSF may hold it: characters other than ``A-Za-z0-9_.+-`` become ``_``."""
    return _NAME_UNSAFE.sub("_", job.name).strip("_") or "reflow"


def array_name(job: JobSpec, chunk: ArrayChunk) -> str:
    """``-J``'s value for an array chunk: ``name[1-20]%2`` (the limit after the bracket)."""
    span = str(chunk.first) if chunk.first == chunk.last else f"{chunk.first}-{chunk.last}"
    limit = "" if chunk.parallelism is None else f"%{chunk.parallelism}"
    return f"{job_name(job)}[{span}]{limit}"


def dependency_expression(after_any: Sequence[str], after_ok: Sequence[str]) -> str:
    """``-w``'s value: ``ended(ID)`` for after_any and ``done(ID)`` for after_ok, all required.

    Examples
    --------
    >>> dependency_expression(["12"], ["13", "14[2]"])
    'ended(12) && done(13) && done(14[2])'
    """
    parts = [f"ended({ident})" for ident in after_any]
    parts += [f"done({ident})" for ident in after_ok]
    return " && ".join(parts)


def _log_dir(job: JobSpec) -> str:
    directory = str(job.log_dir)
    if "%" in directory or '"' in directory:
        raise _bad(
            job,
            f"its log directory {directory!r} has '%' or '\"', which LSF's -o/-e file "
            "patterns cannot hold; choose a directory without them",
        )
    return directory


def log_paths(job: JobSpec, chunk: ArrayChunk | None) -> tuple[str, str]:
    """``-o`` and ``-e``: ``<log_dir>/<name>-%J.out`` (``-%J_%I`` for array elements).

    ``<name>`` is the job's ``log_name`` (reflow's task jobs: the task) or its name.
    """
    name = job.log_name or job.name
    if "%" in name or "/" in name:
        raise _bad(job, f"its log name {name!r} has '%' or '/'; choose a plain file name")
    stem = Path(_log_dir(job), f"{name}-%J" if chunk is None else f"{name}-%J_%I")
    return f"{stem}.out", f"{stem}.err"


def _value(job: JobSpec, key: str, value: Any) -> str | None:
    """An option's value as text; ``None`` for a flag without a value (``True``)."""
    return option_value("lsf", job, key, value, " ")


def env_value(setting: ExportEnv) -> str:
    """``-env``'s value: ``all``, ``none`` or the names, ``"A,B"`` (bsub(1), ``-env``).

    Examples
    --------
    >>> env_value(ExportEnv()), env_value(ExportEnv(())), env_value(ExportEnv(("A", "B")))
    ('all', 'none', 'A,B')
    """
    if setting.names is None:
        return "all"
    return ",".join(setting.names) or "none"


def option_directives(job: JobSpec, options: Mapping[str, Any]) -> list[str]:
    """``#BSUB -flag value`` lines for native submit options (already normalised).

    Known names map through :data:`OPTION_FLAGS` (``queue`` is ``-q``,
    ``project`` is ``-P``); any other key is the flag itself (``{"x": True}``
    gives ``-x``).  ``True`` gives a flag without a value; ``False`` and
    ``None`` leave the option out; a list is joined with spaces (``-m "h1 h2"``).

    Raises
    ------
    BatchExecutorError
        For a key that is not a bsub flag name, a flag reflow sets itself
        (:data:`RESERVED_OPTIONS`), or a value that does not fit on one line.
    """
    lines: list[str] = []
    for key, value in options.items():
        if not isinstance(key, str) or not _OPTION.match(key.lstrip("-")):
            raise _bad(
                job,
                f"submit option {key!r} is not a bsub option; use a name such as queue, "
                "project, app or sla, or a bsub flag without its '-' (x, alloc_flags)",
            )
        flag = OPTION_FLAGS.get(key, "-" + key.lstrip("-"))
        if flag[1:] in RESERVED_OPTIONS:
            raise _bad(job, f"submit option {key!r} cannot be set: {RESERVED_OPTIONS[flag[1:]]}")
        if value is None or value is False:
            continue
        lines.append(_directive(job, flag, _value(job, key, value)))
    return lines


def gpu_directives(job: JobSpec, options: Mapping[str, Any]) -> list[str]:
    """``-gpu "num=N"`` (``:gmodel=<type>`` with ``gpu_type=``) for the task's GPUs.

    The GPU model is matched against LSF's ``gpu_model`` names by ``gmodel``
    (bsub(1), "-gpu"); a native ``gpu`` option asking for GPUs too is refused.

    Raises
    ------
    BatchExecutorError
        When the submit options set ``gpu`` as well.
    """
    if not job.resources.gpus:
        return []
    if any(str(key).replace("-", "_") == "gpu" for key in options):
        raise _bad(
            job,
            "it sets both gpus= and the native submit option 'gpu'; keep only the task's gpus= "
            "(and gpu_type=)",
        )
    request = f"num={job.resources.gpus}"
    if job.resources.gpu_type:
        request += f":gmodel={job.resources.gpu_type}"
    return [_directive(job, "-gpu", request)]


def directives(
    job: JobSpec,
    chunk: ArrayChunk | None,
    after_any: Sequence[str],
    after_ok: Sequence[str],
    options: Mapping[str, Any],
    memory: int,
) -> list[str]:
    """Every ``#BSUB`` line of the job (of one chunk, for an array).

    Parameters
    ----------
    job : JobSpec
        The job.
    chunk : ArrayChunk or None
        The chunk of an array job; ``None`` for a single job.
    after_any, after_ok : Sequence[str]
        LSF ids of the dependencies (``ended()`` and ``done()``).
    options : Mapping[str, Any]
        Submit options with LSF's names (see
        :meth:`~reflow.executors.Executor.normalize_options`).
    memory : int
        The job's memory in the site's ``LSF_UNIT_FOR_LIMITS`` unit.

    Returns
    -------
    list[str]
        The lines, without line breaks.
    """
    output, error = log_paths(job, chunk)
    try:
        export, options = split_export_env(options, f"the submit options of job {job.name!r}")
    except ValueError as exc:
        raise _bad(job, str(exc).rstrip(".")) from None
    name = job_name(job) if chunk is None else array_name(job, chunk)
    lines = [
        _directive(job, "-J", name),
        _directive(job, "-o", output),
        _directive(job, "-e", error),
        _directive(job, "-n", str(job.resources.cpus)),
        _directive(job, "-R", f"span[hosts=1] rusage[mem={memory}]"),
        _directive(job, "-M", str(memory)),
        _directive(job, "-W", run_limit(job.resources.time)),
        # Explicit, so a site's esub or LSB_SUB_ENV default cannot change what the job sees.
        _directive(job, "-env", env_value(export)),
    ]
    lines += gpu_directives(job, options)
    expression = dependency_expression(after_any, after_ok)
    if expression:
        lines.append(_directive(job, "-w", expression))
    if after_ok:
        # Without it a job whose done() dependency exited stays pending forever
        # (ended() is always met in the end, so after_any alone needs none).
        lines.append(_directive(job, "-ti"))
    return lines + option_directives(job, options)


def body(job: JobSpec, chunk: ArrayChunk | None) -> str:
    """The script's lines after the directives, in POSIX sh.

    LSF runs a script given to ``bsub`` on its standard input inside a job
    file of its own, with ``/bin/sh`` (the script's ``#!`` line is then only a
    comment), so nothing here needs bash: ``REFLOW_JOB_ID``, the job's
    environment, ``REFLOW_ARRAY_INDEX`` from ``LSB_JOBINDEX`` (through the
    chunk's list of reflow indices when they are not consecutive), ``cd``,
    ``exec``.  Every value is shell-quoted.
    """
    lines = ['export REFLOW_JOB_ID="${LSB_JOBID:-}"', "", "# -- written by reflow --"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in job.env.items()]
    if chunk is None:
        lines.append(f"unset {ARRAY_INDEX_ENV}")
    else:
        span = f"{chunk.first}-{chunk.last}"
        lines += [
            "reflow_task=${LSB_JOBINDEX:?reflow: LSF did not set LSB_JOBINDEX}",
            f"reflow_k=$((reflow_task - {chunk.base}))",
            f'if [ "$reflow_k" -lt 0 ] || [ "$reflow_k" -ge {len(chunk.indices)} ]; then',
            f'  echo "reflow: LSB_JOBINDEX=$reflow_task is not in {span}" >&2',
            "  exit 1",
            "fi",
        ]
        if chunk.offset is not None:
            lines.append(f"export {ARRAY_INDEX_ENV}=$((reflow_k + {chunk.indices[0]}))")
        else:
            numbers = [str(i) for i in chunk.indices]
            rows = [" ".join(numbers[k : k + 16]) for k in range(0, len(numbers), 16)]
            lines += [
                "reflow_i=0",
                "for reflow_index in \\",
                *[f"  {row} \\" for row in rows],
                "; do",
                f'  [ "$reflow_i" -eq "$reflow_k" ] && export {ARRAY_INDEX_ENV}="$reflow_index"',
                "  reflow_i=$((reflow_i + 1))",
                "done",
            ]
    lines.append(f"cd -- {shlex.quote(str(job.workdir))} || exit 1")
    try:  # modules, prologue, container, then the command
        lines += command_lines(job)
    except ValueError as exc:
        raise _bad(job, str(exc)) from None
    return "\n".join(lines) + "\n"

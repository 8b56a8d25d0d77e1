"""The ``flux submit`` command line and job script of a reflow job.

``flux submit`` takes everything on its command line (flux-submit(1)); the
script it runs holds no directives:

- ``--job-name``, ``-n 1 -c CPUS`` (one task with the job's cores),
  ``-t`` as a Flux Standard Duration (RFC 23: ``90m``, ``45s``; a bare
  number would be minutes);
- ``--output``/``--error``: ``<log_dir>/<name>-{{id.dec}}.out``, with
  ``_{cc}`` for array elements (``{{id.dec}}`` is the shell's mustache tag
  for the decimal job id; ``{cc}`` is replaced by ``flux submit --cc``);
- ``--cc=IDSET``: one job per id of the set, each seeing its id in
  ``FLUX_JOB_CC``; reflow passes its own 0-based indices;
- ``--dependency=afterany:ID`` / ``afterok:ID``, one flag per dependency
  (RFC 26);
- ``--gpus-per-task=G`` for the task's ``gpus=`` (``-g``);
- ``--queue``, and the bank as ``--setattr=system.bank=NAME`` (``-B``
  exists only from flux-core 0.65).

Only the flux submit options of :data:`OPTION_FLAGS` are accepted: flux
submit reads an argument it does not know that has a space in it
(``--foo=a b``) as the start of the job's command, so an unknown option
would silently replace the job script.

With ``--cc``, ``flux submit`` formats every option value and argument with
Python's ``str.format`` (only ``{{...}}`` mustache tags survive), so values
with ``{`` or ``}`` are refused.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from reflow.executors import (
    ARRAY_INDEX_ENV,
    ExportEnv,
    JobSpec,
    command_lines,
    known_options,
    parse_walltime,
    refusal,
    split_export_env,
)

__all__ = [
    "KNOWN_OPTIONS",
    "OPTION_FLAGS",
    "RESERVED_OPTIONS",
    "body",
    "duration",
    "env_args",
    "idset",
    "log_paths",
    "option_args",
    "submit_args",
]

OPTION_FLAGS: dict[str, str] = {
    "queue": "--queue",
    "urgency": "--urgency",
    "requires": "--requires",
    "nodes": "--nodes",
    "exclusive": "--exclusive",
    "gpus_per_task": "--gpus-per-task",
    "setattr": "--setattr",
    "setopt": "--setopt",
    "signal": "--signal",
    "begin_time": "--begin-time",
    "gpus_per_node": "--gpus-per-node",
    "tasks_per_node": "--tasks-per-node",
    "tasks_per_core": "--tasks-per-core",
    "flags": "--flags",
    "add_file": "--add-file",
    "input": "--input",
    "label_io": "--label-io",
    "unbuffered": "--unbuffered",
    "rlimit": "--rlimit",
    "taskmap": "--taskmap",
    "conf": "--conf",
}
"""The flux submit options a job may set (flux-submit(1)), and the flag each becomes.

``bank`` becomes ``--setattr=system.bank=NAME``.  Any other name is refused
(see the module docstring); site-specific settings go through ``setattr``
(jobspec attributes) and ``setopt`` (shell options), which take any key.
"""

_KEYED = frozenset({"setattr", "setopt"})
"""Options whose value is ``KEY`` or ``KEY=VALUE``."""

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*(?:=|$)")

RESERVED_OPTIONS: dict[str, str] = {
    "job_name": "reflow names the job after the task",
    "output": "reflow writes the job's stdout to its log directory",
    "error": "reflow writes the job's stderr to its log directory",
    "cc": "reflow builds the array from the task's elements",
    "bcc": "reflow builds the array from the task's elements",
    "dependency": "reflow sets the dependencies of its jobs",
    "time_limit": "set the task's time= (its walltime) instead",
    "ntasks": "set the task's cpus= instead",
    "cores_per_task": "set the task's cpus= instead",
    "cores": "set the task's cpus= instead",
    "cwd": "reflow changes to the job's workdir itself",
    "env": "set export_env (true, false or a list of variable names) instead",
    "env_remove": "set export_env (true, false or a list of variable names) instead",
    "wait": "reflow never waits for a job to finish",
    "wait_event": "reflow never waits for a job to finish",
    "watch": "reflow never waits for a job to finish",
    "quiet": "reflow reads the job ids flux submit prints",
    "log": "reflow reads the job ids flux submit prints",
    "dry_run": "use REFLOW_MODE=dry-run instead",
    "env_file": "set export_env (true, false or a list of variable names) instead",
    "qos": "Flux has no quality of service; choose a queue (partition=) or an urgency (urgency=)",
}
"""Options reflow sets itself, with the reason a job may not set them."""

_OPTION_WORDS = (
    "bank conf add_file taskmap tasks_per_node tasks_per_core gpus_per_node input "
    "label_io unbuffered flags"
)

KNOWN_OPTIONS: frozenset[str] = known_options(
    _OPTION_WORDS.split(), OPTION_FLAGS, RESERVED_OPTIONS
)
"""Every submit option name the executor recognises (flux submit long options).

See :func:`reflow.executors.known_options` for how they are used.
"""

_OPTION = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


_bad = partial(refusal, "flux")
"""``_bad(job, problem)``: the error refusing ``job``, naming this scheduler."""


def duration(value: str) -> str:
    """A reflow walltime as a Flux Standard Duration: whole minutes as ``Nm``, else ``Ns``.

    Examples
    --------
    >>> duration("01:30:00"), duration("00:00:02"), duration("1-00:00:00")
    ('90m', '2s', '1440m')
    """
    seconds = max(1, parse_walltime(value))
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def idset(indices: Iterable[int]) -> str:
    """An RFC 22 idset of ascending indices: ``[0, 1, 2, 5, 7, 8]`` gives ``0-2,5,7-8``."""
    ranges: list[list[int]] = []
    for index in indices:
        if ranges and index == ranges[-1][1] + 1:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _check_text(job: JobSpec, what: str, value: str) -> str:
    if any(c in value for c in "{}\n\r\0"):
        raise _bad(
            job,
            f"its {what} {value!r} has '{{', '}}' or a line break, which flux submit "
            "would read as a substitution; choose one without them",
        )
    return value


def log_paths(job: JobSpec, array: bool) -> tuple[str, str]:
    """``--output`` and ``--error``: ``<log_dir>/<name>-{{id.dec}}.out`` (``_{cc}`` for elements).

    ``<name>`` is the job's ``log_name`` (reflow's task jobs: the task) or its name.
    """
    directory = _check_text(job, "log directory", str(job.log_dir))
    name = _check_text(job, "log name", job.log_name or job.name)
    if "/" in name:
        raise _bad(job, f"its log name {name!r} has '/'; choose a plain file name")
    stem = Path(directory, f"{name}-{{{{id.dec}}}}" + ("_{cc}" if array else ""))
    return f"{stem}.out", f"{stem}.err"


def _value(job: JobSpec, key: str, value: Any) -> str | None:
    if value is True:
        return None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return _check_text(job, f"submit option {key!r}", str(value))
    raise _bad(
        job,
        f"submit option {key!r} is {type(value).__name__} {value!r}; give a string, number "
        "or true (repeat an option with a list)",
    )


def option_args(job: JobSpec, options: Mapping[str, Any]) -> list[str]:
    """flux submit arguments for native submit options (already normalised).

    ``queue`` is ``--queue``, ``bank`` is ``--setattr=system.bank=NAME``, any
    other key ``--key=value`` (``_`` as ``-``).  ``True`` gives a flag,
    ``False``/``None`` leave the option out, a list repeats it.

    Raises
    ------
    BatchExecutorError
        For a key that is not a flux submit option name, an option reflow sets
        itself (:data:`RESERVED_OPTIONS`), or a value with braces or a line break.
    """
    args: list[str] = []
    for key, given in options.items():
        if not isinstance(key, str) or not _OPTION.match(key) or len(key) < 2:
            raise _bad(
                job,
                f"submit option {key!r} is not a flux submit long option name; write it in "
                "lower case in full (queue, bank, urgency, requires ...)",
            )
        name = key.replace("-", "_")
        if name in RESERVED_OPTIONS:
            raise _bad(job, f"submit option {key!r} cannot be set: {RESERVED_OPTIONS[name]}")
        if name not in OPTION_FLAGS and name != "bank":
            raise _bad(job, _unknown(key))
        values = list(given) if isinstance(given, list | tuple) else [given]
        for value in values:
            if value is None or value is False:
                continue
            text = _value(job, key, value)
            if name == "bank":
                if text is None:
                    raise _bad(job, "submit option 'bank' needs the bank's name")
                args.append(f"--setattr=system.bank={text}")
                continue
            if name in _KEYED and (text is None or not _KEY.match(text)):
                raise _bad(
                    job,
                    f"submit option {key!r} is {value!r}; give KEY=VALUE with a KEY of "
                    "letters, digits, '_', '.' and '-' (for example 'user.project=x')",
                )
            flag = OPTION_FLAGS[name]
            args.append(flag if text is None else f"{flag}={text}")
    return args


def _unknown(key: str) -> str:
    """Why ``key`` is refused, with the closest known option and the escape hatch."""
    import difflib

    known = sorted([*OPTION_FLAGS, "bank"])
    close = difflib.get_close_matches(key.replace("-", "_"), known, n=1, cutoff=0.6)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"submit option {key!r} is not a flux submit option{guess}; use one of "
        f"{', '.join(known)}, or give a site-specific jobspec attribute as "
        "setattr='KEY=VALUE'"
    )


def env_args(setting: ExportEnv) -> list[str]:
    """``--env`` rules: none (Flux passes the whole environment), ``--env=-*``, then one per name.

    flux-submit(1) applies the rules in order: ``-*`` empties the job's
    environment and each ``NAME`` copies that variable from the submitting one.

    Examples
    --------
    >>> env_args(ExportEnv()), env_args(ExportEnv(())), env_args(ExportEnv(("A",)))
    ([], ['--env=-*'], ['--env=-*', '--env=A'])
    """
    if setting.names is None:
        return []
    return ["--env=-*", *(f"--env={name}" for name in setting.names)]


def submit_args(
    job: JobSpec,
    script_path: Path,
    options: Mapping[str, Any],
    *,
    after_any: Sequence[str] = (),
    after_ok: Sequence[str] = (),
    cc: Sequence[int] | None = None,
) -> list[str]:
    """The arguments after ``flux submit`` for one submission (without the program).

    Parameters
    ----------
    job : JobSpec
        The job.
    script_path : Path
        The job script.
    options : Mapping[str, Any]
        Submit options with Flux's names.
    after_any, after_ok : Sequence[str]
        Flux ids the job waits for (ended / completed successfully).
    cc : Sequence[int] or None
        The reflow indices of the array elements this submission creates.
    """
    output, error = log_paths(job, cc is not None)
    try:
        export, options = split_export_env(options, f"the submit options of job {job.name!r}")
    except ValueError as exc:
        raise _bad(job, str(exc).rstrip(".")) from None
    args = [
        f"--job-name={_check_text(job, 'name', job.name)}",
        "--ntasks=1",
        f"--cores-per-task={job.resources.cpus}",
        f"--time-limit={duration(job.resources.time)}",
        f"--output={output}",
        f"--error={error}",
    ]
    args += gpu_args(job, options)
    if cc is not None:
        args.append(f"--cc={idset(cc)}")
    args += [f"--dependency=afterany:{ident}" for ident in after_any]
    args += [f"--dependency=afterok:{ident}" for ident in after_ok]
    args += env_args(export)
    args += option_args(job, options)
    args.append(_check_text(job, "script path", str(script_path)))
    return args


def gpu_args(job: JobSpec, options: Mapping[str, Any]) -> list[str]:
    """``--gpus-per-task=N`` for the task's GPUs (its one task, ``-n 1``, gets them all).

    Flux has no GPU model in a job request (flux-submit(1)), so ``gpu_type=``
    is refused; a native GPU option asking for GPUs too is refused as well.

    Raises
    ------
    BatchExecutorError
        For a ``gpu_type``, or native ``gpus_per_task`` / ``gpus_per_node``.
    """
    if not job.resources.gpus:
        return []
    if job.resources.gpu_type:
        raise _bad(
            job,
            f"gpu_type={job.resources.gpu_type!r} cannot be asked of Flux, whose job requests "
            "have no GPU model; drop it (or select nodes with the submit option 'requires')",
        )
    native = {str(key).replace("-", "_") for key in options} & {"gpus_per_task", "gpus_per_node"}
    if native:
        raise _bad(
            job,
            f"it sets both gpus= and the native submit option {sorted(native)[0]!r}; keep only "
            "the task's gpus=",
        )
    return [f"--gpus-per-task={job.resources.gpus}"]


def body(job: JobSpec, array: bool, job_id_line: str) -> str:
    """The job script: ``REFLOW_JOB_ID``, the environment, the array index, ``cd``, ``exec``.

    ``job_id_line`` sets ``REFLOW_JOB_ID``.  An array element takes its
    reflow index from ``FLUX_JOB_CC`` (``--cc`` passes reflow's indices);
    a single job runs without ``REFLOW_ARRAY_INDEX``.  Every value is
    shell-quoted.
    """
    lines = ["#!/bin/bash", job_id_line, "", "# -- written by reflow --"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in job.env.items()]
    if array:
        lines += [
            'reflow_task="${FLUX_JOB_CC:-}"',
            'if [[ ! "$reflow_task" =~ ^[0-9]+$ ]]; then',
            "  echo \"reflow: FLUX_JOB_CC is '$reflow_task', not an array index\" >&2",
            "  exit 1",
            "fi",
            f'export {ARRAY_INDEX_ENV}="$reflow_task"',
        ]
    else:
        lines.append(f"unset {ARRAY_INDEX_ENV}")
    lines.append(f"cd -- {shlex.quote(str(job.workdir))} || exit 1")
    try:  # modules, prologue, container, then the command
        lines += command_lines(job)
    except ValueError as exc:
        raise _bad(job, str(exc)) from None
    return "\n".join(lines) + "\n"

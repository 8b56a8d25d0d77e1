"""The ``#SBATCH`` lines of a reflow job: resources, array, dependencies, logs, options.

sbatch reads the directives of a batch script itself, up to the first command
line; nothing here passes through a shell.  sbatch splits a directive at
white space, removes quotes (``"..."`` and ``'...'``), honours ``\\`` escapes
and treats an unquoted ``#`` as the start of a comment, so every value that
is not plainly safe is written in double quotes (:func:`quote`).  Values with
line breaks or NUL characters are refused: they would end the directive.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from reflow.executors import (
    ArrayChunk,
    ExportEnv,
    JobSpec,
    known_options,
    option_value,
    parse_memory,
    parse_walltime,
    refusal,
    split_export_env,
)

__all__ = [
    "KNOWN_OPTIONS",
    "RESERVED_OPTIONS",
    "array_range",
    "dependency_spec",
    "directives",
    "export_value",
    "gpu_directives",
    "log_paths",
    "memory",
    "option_directives",
    "overriding_variables",
    "quote",
    "walltime",
]

_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
"""Values written without quotes: nothing sbatch's directive parser treats specially."""

_OPTION = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
"""An sbatch long option name, written as reflow does (``mail_type``) or Slurm (``mail-type``)."""

_MEMORY_KEYS = frozenset({"mem_per_cpu", "mem_per_gpu"})
"""Options that replace ``--mem`` (sbatch refuses them together with it)."""

RESERVED_OPTIONS: dict[str, str] = {
    "job_name": "reflow names the job after the task",
    "output": "reflow writes the job's stdout to its log directory",
    "error": "reflow writes the job's stderr to its log directory",
    "array": "reflow builds the array from the task's elements",
    "dependency": "reflow sets the dependencies of its jobs",
    "kill_on_invalid_dep": "reflow sets it for every job with dependencies",
    "parsable": "reflow reads the job id from sbatch's --parsable output",
    "wrap": "reflow submits a batch script",
    "test_only": "reflow needs a job id back",
    "time": "set the task's time= (its walltime) instead",
    "mem": "set the task's mem= instead",
    "cpus_per_task": "set the task's cpus= instead",
    "export": "set export_env (true, false or a list of variable names) instead",
}
"""Submit options reflow sets itself, with the reason a job may not set them."""

_OPTION_WORDS = (
    "account acctg_freq batch bb bbf begin chdir cluster_constraint clusters comment "
    "constraint container container_id contiguous core_spec cores_per_socket cpu_freq "
    "cpus_per_gpu deadline delay_boot distribution exclude exclusive extra "
    "extra_node_info get_user_env gid gpu_bind gpu_freq gpus gpus_per_node "
    "gpus_per_socket gpus_per_task gres gres_flags hint hold ignore_pbs licenses "
    "mail_type mail_user mcs_label mem_bind mem_per_cpu mem_per_gpu mincpus network nice "
    "no_kill no_requeue nodefile nodelist nodes ntasks ntasks_per_core ntasks_per_gpu "
    "ntasks_per_node ntasks_per_socket open_mode overcommit oversubscribe partition power "
    "prefer priority profile propagate qos reboot requeue reservation signal "
    "sockets_per_node spread_job switches thread_spec threads_per_core time_min tmp "
    "tres_bind tres_per_task uid use_min_nodes wait_all_nodes wckey"
)

KNOWN_OPTIONS: frozenset[str] = known_options(_OPTION_WORDS.split(), RESERVED_OPTIONS)
"""Every submit option name the executor recognises (sbatch long options).

See :func:`reflow.executors.known_options` for how they are used.
"""


_VARIABLES: dict[str, tuple[str, ...]] = {
    "job_name": ("SBATCH_JOB_NAME",),
    "array": ("SBATCH_ARRAY_INX",),
    "time": ("SBATCH_TIMELIMIT",),
    "mem": ("SBATCH_MEM_PER_NODE", "SBATCH_MEM_PER_CPU", "SBATCH_MEM_PER_GPU"),
    "mem_per_cpu": ("SBATCH_MEM_PER_NODE", "SBATCH_MEM_PER_CPU", "SBATCH_MEM_PER_GPU"),
    "mem_per_gpu": ("SBATCH_MEM_PER_NODE", "SBATCH_MEM_PER_CPU", "SBATCH_MEM_PER_GPU"),
}
"""sbatch's input variables whose names do not follow ``SBATCH_<OPTION>``."""

_DIRECTIVE = re.compile(r"^#SBATCH\s+--(?P<name>[a-z][a-z0-9-]*)")


_bad = partial(refusal, "slurm")
"""``_bad(job, problem)``: the error refusing ``job``, naming this scheduler."""


def quote(value: str) -> str:
    """``value`` as sbatch's directive parser reads it back unchanged.

    Examples
    --------
    >>> quote("debug")
    'debug'
    >>> print(quote('my "big" job #1'))
    "my \\"big\\" job #1"
    """
    if _SAFE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _directive(job: JobSpec, flag: str, value: str | None = None) -> str:
    if value is None:
        return f"#SBATCH {flag}"
    if any(c in value for c in "\n\r\0"):
        raise _bad(
            job,
            f"the value of {flag} has a line break or NUL character ({value!r}); "
            "a job script directive must fit on one line",
        )
    return f"#SBATCH {flag}={quote(value)}"


def walltime(value: str) -> str:
    """A reflow walltime in Slurm's ``[D-]HH:MM:SS`` form.

    Slurm counts time limits in whole minutes and rounds seconds up, so
    ``"00:00:30"`` becomes a limit of one minute.

    Examples
    --------
    >>> walltime("90")
    '01:30:00'
    >>> walltime("1-02:00:05")
    '1-02:00:05'
    """
    seconds = parse_walltime(value)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}-{clock}" if days else clock


def memory(value: str | int) -> str:
    """A reflow memory size as ``--mem``'s value in MiB, rounded up: ``"4G"`` gives ``"4096M"``."""
    return f"{math.ceil(parse_memory(value) / 2**20)}M"


def array_range(chunk: ArrayChunk) -> str:
    """``--array``'s value for a chunk: its task range and ``%N`` throttle, ``"0-9%2"``."""
    span = str(chunk.first) if chunk.last == chunk.first else f"{chunk.first}-{chunk.last}"
    return span if chunk.parallelism is None else f"{span}%{chunk.parallelism}"


def dependency_spec(
    after_any: Sequence[str], after_ok: Sequence[str], after_corr: Sequence[str] = ()
) -> str:
    """``--dependency``'s value: ``afterany:1:2,afterok:3_4,aftercorr:5`` (all must hold)."""
    parts = [
        f"{kind}:" + ":".join(ids)
        for kind, ids in (
            ("afterany", after_any),
            ("afterok", after_ok),
            ("aftercorr", after_corr),
        )
        if ids
    ]
    return ",".join(parts)


def _pattern_dir(job: JobSpec) -> str:
    directory = str(job.log_dir)
    if "\\" in directory:
        raise _bad(
            job,
            f"its log directory {directory!r} has a backslash, which turns off Slurm's "
            "file name patterns; choose a directory without one",
        )
    return directory.replace("%", "%%")  # a literal % in a Slurm file name pattern


def log_paths(job: JobSpec, chunk: ArrayChunk | None) -> tuple[str, str]:
    """``--output`` and ``--error``: ``<log_dir>/<name>-%j.out`` (``-%A_%a`` for array tasks).

    ``<name>`` is the job's ``log_name`` (reflow's task jobs: the task) or ``%x``,
    the job name.
    """
    name = job.log_name.replace("%", "%%") if job.log_name else "%x"
    stem = Path(_pattern_dir(job), f"{name}-%j" if chunk is None else f"{name}-%A_%a")
    return f"{stem}.out", f"{stem}.err"


def export_value(setting: ExportEnv) -> str:
    """``--export``'s value: ``ALL``, ``NONE`` or the names, ``"A,B"``.

    Examples
    --------
    >>> export_value(ExportEnv()), export_value(ExportEnv(())), export_value(ExportEnv(("A", "B")))
    ('ALL', 'NONE', 'A,B')
    """
    if setting.names is None:
        return "ALL"
    return ",".join(setting.names) or "NONE"


def _value(job: JobSpec, key: str, value: Any) -> str | None:
    """An option's value as text; ``None`` for a flag without a value (``True``)."""
    return option_value("slurm", job, key, value, ",")


def option_directives(job: JobSpec, options: Mapping[str, Any]) -> list[str]:
    """``#SBATCH --key=value`` lines for native submit options (already normalised).

    ``True`` gives a flag (``exclusive=True``: ``--exclusive``); ``False`` and
    ``None`` leave the option out; a list is joined with commas
    (``mail_type=["END", "FAIL"]``: ``--mail-type=END,FAIL``).  ``_`` in a key
    becomes ``-``.

    Raises
    ------
    BatchExecutorError
        For a key that is not an sbatch long option name, an option reflow
        sets itself (:data:`RESERVED_OPTIONS`), or a value with a line break.
    """
    lines: list[str] = []
    for key, value in options.items():
        if not isinstance(key, str) or not _OPTION.match(key) or len(key) < 2:
            raise _bad(
                job,
                f"submit option {key!r} is not an sbatch long option name; write it in "
                "lower case with letters, digits, '-' or '_', in full (partition, not p)",
            )
        name = key.replace("-", "_")
        if name in RESERVED_OPTIONS:
            raise _bad(job, f"submit option {key!r} cannot be set: {RESERVED_OPTIONS[name]}")
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        lines.append(_directive(job, flag, _value(job, key, value)))
    return lines


def gpu_directives(job: JobSpec, native: set[str]) -> list[str]:
    """``--gpus=N`` or ``--gpus=<type>:N`` for the task's ``gpus=`` and ``gpu_type=``.

    Slurm's ``--gpus`` counts GPUs for the whole job, optionally of one type
    (sbatch(1)); ``--cpus-per-gpu`` and ``--mem-per-gpu`` pass through as
    native submit options.

    Raises
    ------
    BatchExecutorError
        When a native ``gpus`` option asks for GPUs too.
    """
    count = job.resources.gpus
    if not count:
        return []
    if "gpus" in native:
        raise _bad(
            job,
            "it sets both gpus= and the native submit option 'gpus'; keep only the task's gpus= "
            "(and gpu_type=)",
        )
    kind = job.resources.gpu_type
    return [_directive(job, "--gpus", f"{kind}:{count}" if kind else str(count))]


def directives(
    job: JobSpec,
    chunk: ArrayChunk | None,
    after_any: Sequence[str],
    after_ok: Sequence[str],
    options: Mapping[str, Any],
    after_corr: Sequence[str] = (),
) -> list[str]:
    """Every ``#SBATCH`` line of the job (of one chunk, for an array).

    Parameters
    ----------
    job : JobSpec
        The job.
    chunk : ArrayChunk or None
        The chunk of an array job; ``None`` for a single job.
    after_any, after_ok : Sequence[str]
        Native ids of the dependencies (``afterany`` and ``afterok``).
    options : Mapping[str, Any]
        Submit options with Slurm's names (see
        :meth:`~reflow.executors.Executor.normalize_options`).
    after_corr : Sequence[str]
        Native ids of arrays whose task ``i`` this array's task ``i`` waits for.

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
    native = {key.replace("-", "_") for key in options}
    lines = [
        _directive(job, "--job-name", job.name),
        _directive(job, "--output", output),
        _directive(job, "--error", error),
        _directive(job, "--cpus-per-task", str(job.resources.cpus)),
        _directive(job, "--time", walltime(job.resources.time)),
        # Explicit, so a site's SBATCH_EXPORT or default cannot change what the job sees.
        _directive(job, "--export", export_value(export)),
    ]
    if not native & _MEMORY_KEYS:
        try:
            lines.append(_directive(job, "--mem", memory(job.resources.mem)))
        except ValueError as exc:
            raise _bad(job, f"{exc}; set the task's mem= to a size such as '4G'") from exc
    lines += gpu_directives(job, native)
    if chunk is not None:
        lines.append(_directive(job, "--array", array_range(chunk)))
    dependency = dependency_spec(after_any, after_ok, after_corr)
    if dependency:
        lines.append(_directive(job, "--dependency", dependency))
        # Without it a job whose dependency failed stays PENDING forever.
        lines.append(_directive(job, "--kill-on-invalid-dep", "yes"))
    return lines + option_directives(job, options)


def overriding_variables(script_path: Path) -> set[str]:
    """The ``SBATCH_*`` variables that would override the script's ``#SBATCH`` lines.

    sbatch lets its input environment variables win over a script's
    directives (``SBATCH_PARTITION`` over ``#SBATCH --partition``); reflow
    leaves these out of sbatch's environment, and ``SBATCH_WAIT`` always.
    """
    names = {"SBATCH_WAIT"}
    try:
        text = script_path.read_text(encoding="utf-8")
    except OSError:
        return names
    for line in text.splitlines()[1:]:
        if not line.startswith("#"):
            break  # sbatch stops reading directives at the first command
        match = _DIRECTIVE.match(line)
        if match:
            option = match["name"].replace("-", "_")
            names.update(_VARIABLES.get(option, ("SBATCH_" + option.upper(),)))
    return names

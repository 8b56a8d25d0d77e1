"""The ``#$`` lines of a reflow job: resources, array, dependencies, logs, options.

qsub reads the directives of a job script itself (lines starting ``#$``) and
splits each at white space, so a value with white space, a quote or a line
break cannot be written safely and is refused, naming the option.  ``$`` in a
log path is refused too: qsub would take it for one of its pseudo variables
(``$JOB_ID``, ``$TASK_ID``, ``$JOB_NAME`` ...), which :func:`log_paths` uses.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    "MEMORY_RESOURCES",
    "RESERVED_OPTIONS",
    "Dependency",
    "array_range",
    "directives",
    "export_directives",
    "gpu_limit",
    "guard_lines",
    "job_name",
    "log_paths",
    "memory_per_slot",
    "option_directives",
    "soft_walltime",
    "walltime",
]

MEMORY_RESOURCES = ("h_vmem", "mem_free", "s_vmem", "h_rss", "virtual_free")
"""Resources the executor may request a job's memory as (per slot, as Grid Engine counts)."""

RESERVED_OPTIONS: dict[str, str] = {
    "N": "reflow names the job after the task",
    "o": "reflow writes the job's stdout to its log directory",
    "e": "reflow writes the job's stderr to its log directory",
    "j": "reflow keeps stdout and stderr apart",
    "t": "reflow builds the array from the task's elements",
    "tc": "set the task's array_parallelism instead",
    "hold_jid": "reflow sets the dependencies of its jobs",
    "hold_jid_ad": "reflow sets the dependencies of its jobs",
    "cwd": "reflow runs the job in its working directory",
    "wd": "reflow runs the job in its working directory",
    "pe": "set the task's cpus= (and SGEExecutor's parallel_environment) instead",
    "S": "reflow's job scripts need bash",
    "b": "reflow submits a job script",
    "terse": "reflow reads the job id from qsub -terse",
    "sync": "reflow never waits for a job to end",
    "h_rt": "set the task's time= (its walltime) instead",
    "s_rt": "reflow sets it a little below the walltime",
    "V": "set export_env (true, false or a list of variable names) instead",
    "v": "set export_env (true, false or a list of variable names) instead",
}
"""Submit options reflow sets itself, with the reason a job may not set them."""

_SAFE = re.compile(r"^[^\s\"'\\#]+$")
"""A value qsub's directive parser reads back unchanged: no white space, quotes, ``\\``, ``#``."""

_OPTION = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_NAME_BAD = re.compile(r"[\s/:@\\*?'\"$,]+")


_bad = partial(refusal, "sge")
"""``_bad(job, problem)``: the error refusing ``job``, naming this scheduler."""


def _directive(job: JobSpec, flag: str, *values: str) -> str:
    for value in values:
        if not _SAFE.match(value):
            raise _bad(
                job,
                f"the value {value!r} of {flag} has white space, a quote, '\\' or '#', "
                "which a '#$' line cannot hold; choose a value (or directory) without them",
            )
    return " ".join(["#$", flag, *values])


def job_name(name: str) -> str:
    """A Grid Engine job name for reflow's job name: no white space, ``/:@\\*?`` ...

    Grid Engine refuses these characters in names, and a name starting with a
    digit would be read as a job id by ``-hold_jid``.

    Examples
    --------
    >>> job_name("guide.process"), job_name("2 runs/a:b")
    ('guide.process', 'j2_runs_a_b')
    """
    cleaned = _NAME_BAD.sub("_", name).strip("_") or "job"
    return "j" + cleaned if cleaned[0].isdigit() else cleaned


def walltime(value: str) -> str:
    """A reflow walltime as Grid Engine's ``HH:MM:SS`` (hours may exceed 24).

    Examples
    --------
    >>> walltime("90"), walltime("1-02:00:05")
    ('01:30:00', '26:00:05')
    """
    seconds = parse_walltime(value)
    return _clock(seconds)


def _clock(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def soft_walltime(seconds: int, margin: int | None = None) -> int:
    """The soft limit ``s_rt`` for a hard limit of ``seconds``: a little earlier.

    At ``s_rt`` Grid Engine sends the job SIGUSR1, on which reflow's worker
    records "walltime exceeded" and ends.  The margin is ``margin`` seconds,
    by default a tenth of the walltime, at least 1 s and at most 60 s; the
    soft limit is at least 1 s.

    Examples
    --------
    >>> soft_walltime(3600), soft_walltime(30), soft_walltime(2), soft_walltime(100, margin=30)
    (3540, 27, 1, 70)
    """
    if margin is None:
        margin = min(60, max(1, seconds // 10))
    return max(1, seconds - margin)


def memory_per_slot(value: str | int, slots: int) -> str:
    """A job's memory divided among its slots, in MiB rounded up: ``("4G", 2)`` gives ``"2048M"``.

    Grid Engine counts memory requests (``h_vmem``, ``mem_free``) per slot.
    """
    return f"{math.ceil(parse_memory(value) / max(1, slots) / 2**20)}M"


def array_range(chunk: ArrayChunk) -> str:
    """``-t``'s value for a chunk: ``1-N`` (``1`` for one task)."""
    return str(chunk.first) if chunk.last == chunk.first else f"{chunk.first}-{chunk.last}"


def log_paths(job: JobSpec, chunk: ArrayChunk | None) -> tuple[str, str]:
    """``-o`` and ``-e``: ``<log_dir>/<name>-$JOB_ID.out`` (``-$JOB_ID_$TASK_ID`` for arrays).

    ``<name>`` is the job's ``log_name`` (reflow's task jobs: the task) or its name.
    """
    directory = str(job.log_dir)
    if "$" in directory:
        raise _bad(
            job,
            f"its log directory {directory!r} has a '$', which qsub reads as a pseudo "
            "variable; choose a directory without one",
        )
    name = job_name(job.log_name or job.name)
    stem = f"{name}-$JOB_ID" if chunk is None else f"{name}-$JOB_ID_$TASK_ID"
    path = str(Path(directory, stem))
    return f"{path}.out", f"{path}.err"


def _value(job: JobSpec, key: str, value: Any) -> str | None:
    """An option's value as text; ``None`` for a flag without a value (``True``)."""
    if isinstance(value, Mapping) and value:
        return ",".join(f"{k}={_value(job, key, v)}" for k, v in value.items())
    accepted = "a string, number, true, a non-empty list, or (for resources) a mapping"
    return option_value("sge", job, key, value, ",", accepted)


_FLAGS = {
    "queue": "-q",
    "project": "-P",
    "account_string": "-A",
    "resources": "-l",
    "mail_user": "-M",
    "mail_type": "-m",
    "priority": "-p",
}
"""Option names reflow accepts besides qsub's own (``l``, ``q``, ``ckpt`` ...)."""

_OPTION_WORDS = (
    "a ac ar binding c ckpt clear dc display dl hard js l m masterq notify now p q r "
    "sc soft jsv u w verify"
)

KNOWN_OPTIONS: frozenset[str] = known_options(_OPTION_WORDS.split(), _FLAGS, RESERVED_OPTIONS)
"""Every submit option name the executor recognises (qsub options, written without the dash).

See :func:`reflow.executors.known_options` for how they are used.
"""


def option_directives(job: JobSpec, options: Mapping[str, Any]) -> list[str]:
    """``#$`` lines for native submit options (already normalised) and ``export_env``.

    ``queue``, ``project``, ``account_string``, ``resources`` (or ``l``),
    ``mail_user``, ``mail_type`` and ``priority`` become ``-q``, ``-P``,
    ``-A``, ``-l``, ``-M``, ``-m`` and ``-p``; any other key is a qsub option
    written without its dash (``ckpt="blcr"``: ``-ckpt blcr``).  ``True``
    gives a flag, ``False`` and ``None`` leave the option out, a list is
    joined with commas and a mapping becomes ``k=v,k=v`` (``resources={"gpu":
    1}``: ``-l gpu=1``).

    Raises
    ------
    BatchExecutorError
        For a key that is not a qsub option name, an option reflow sets
        itself (:data:`RESERVED_OPTIONS`), or a value a ``#$`` line cannot hold.
    """
    try:
        export, options = split_export_env(options, f"the submit options of job {job.name!r}")
    except ValueError as exc:
        raise _bad(job, str(exc).rstrip(".")) from None
    lines = export_directives(job, export)
    for key, value in options.items():
        if not isinstance(key, str) or not _OPTION.match(key):
            raise _bad(
                job,
                f"submit option {key!r} is not a qsub option name; write it without the "
                "dash, e.g. queue='all.q' or l='gpu=1'",
            )
        if key in RESERVED_OPTIONS:
            raise _bad(job, f"submit option {key!r} cannot be set: {RESERVED_OPTIONS[key]}")
        if value is None or value is False:
            continue
        flag = _FLAGS.get(key, "-" + key)
        text = _value(job, key, value)
        lines.append(_directive(job, flag) if text is None else _directive(job, flag, text))
    return lines


def export_directives(job: JobSpec, setting: ExportEnv) -> list[str]:
    """``#$ -V`` (qsub's whole environment), ``#$ -v A,B`` (those variables) or nothing.

    Without either, a Grid Engine job sees almost none of the submitting
    environment (only the ``SGE_O_*`` copies of a few variables).
    """
    if setting.names is None:
        return [_directive(job, "-V")]
    return [_directive(job, "-v", ",".join(setting.names))] if setting.names else []


@dataclass(frozen=True)
class Dependency:
    """A job that must have succeeded before this one does its work.

    Attributes
    ----------
    job_id : str
        Grid Engine's id of the job (of the array chunk).
    task : str
        ``""`` for the whole job, a task number, or ``"$SGE_TASK_ID"`` for the
        partner task of an element-wise dependency.
    count : int
        How many accounting records the job must have (its number of tasks).
    """

    job_id: str
    task: str = ""
    count: int = 1


def guard_lines(qacct: str, dependencies: Sequence[Dependency], wait: int) -> list[str]:
    """Bash lines that end the job (exit 1) unless every dependency succeeded.

    ``-hold_jid`` only makes a job wait until its dependencies have *ended*,
    whatever their exit status.  For ``after_ok`` and ``after_corr`` the job
    script itself reads each dependency's accounting record with ``qacct``
    (waiting up to ``wait`` seconds for it: the accounting file is written a
    little after a job ends) and stops, with a message on stderr, if one
    failed or never ran.
    """
    if not dependencies:
        return []
    lines = [
        "",
        "# -- reflow: after_ok / after_corr, read from the accounting --",
        f"reflow_qacct={shlex.quote(qacct)}",
        "reflow_require_ok() {  # JOB TASKS COUNT",
        "  local out n bad",
        f"  for ((reflow_try = 0; reflow_try < {wait}; reflow_try++)); do",
        '    if out=$("$reflow_qacct" -j "$1" ${2:+-t "$2"} 2>/dev/null); then',
        "      n=$(grep -c '^jobnumber' <<<\"$out\")",
        "      if (( n >= $3 )); then",
        '        bad=$(awk \'($1 == "failed" || $1 == "exit_status") && $2 != "0"\' \\',
        '          <<<"$out")',
        '        [ -z "$bad" ] && return 0',
        '        bad=$(tr -s " \\n" " " <<<"$bad")',
        '        echo "reflow: not running: dependency $1${2:+.$2} did not succeed: $bad" >&2',
        "        exit 1",
        "      fi",
        "    fi",
        "    sleep 1",
        "  done",
        f'  echo "reflow: not running: no accounting record of dependency $1${{2:+.$2}} '
        f'after {wait} s" >&2',
        "  exit 1",
        "}",
    ]
    for dep in dependencies:
        task = f'"{dep.task}"' if dep.task.startswith("$") else shlex.quote(dep.task)
        lines.append(f"reflow_require_ok {shlex.quote(dep.job_id)} {task} {dep.count}")
    return lines


def gpu_limit(job: JobSpec, gpu_resource: str | None) -> list[str]:
    """``gpu=N`` for the task's GPUs, with the site's GPU consumable as the name.

    Grid Engine has no built-in GPU resource: each site defines a consumable
    (``qconf -sc``), named in ``[executor.sge] gpu_resource``.  Consumables
    are counted per slot, so with ``cpus=`` above one the count is divided
    by the slots (and refused when it does not divide).  A GPU model is a
    site's own resource too, so ``gpu_type=`` is refused.

    Raises
    ------
    BatchExecutorError
        Without a ``gpu_resource``, for a ``gpu_type``, or a count that does
        not divide among the slots.
    """
    count = job.resources.gpus
    if not count:
        return []
    if gpu_resource is None:
        raise _bad(
            job,
            f"it asks for gpus={count}, but Grid Engine has no standard GPU resource; set "
            'your site\'s consumable (qconf -sc) as gpu_resource = "gpu" under [executor.sge]',
        )
    if job.resources.gpu_type:
        raise _bad(
            job,
            f"gpu_type={job.resources.gpu_type!r} has no standard Grid Engine resource; drop it "
            "and ask for your site's GPU model resource with the submit option 'resources'",
        )
    slots = max(1, job.resources.cpus)
    if count % slots:
        raise _bad(
            job,
            f"gpus={count} cannot be shared among its {slots} slots (Grid Engine counts "
            f"{gpu_resource} per slot); ask for a multiple of cpus={slots}",
        )
    return [f"{gpu_resource}={count // slots}"]


def directives(
    job: JobSpec,
    chunk: ArrayChunk | None,
    *,
    hold: Sequence[str],
    hold_ad: Sequence[str],
    options: Mapping[str, Any],
    parallel_environment: str,
    memory_resource: str | None,
    soft_margin: int | None,
    gpu_resource: str | None = None,
) -> list[str]:
    """Every ``#$`` line of the job (of one chunk, for an array).

    Parameters
    ----------
    job : JobSpec
        The job.
    chunk : ArrayChunk or None
        The chunk of an array job; ``None`` for a single job.
    hold : Sequence[str]
        Job ids for ``-hold_jid`` (wait until they ended).
    hold_ad : Sequence[str]
        Array job ids for ``-hold_jid_ad`` (task ``i`` waits for their task ``i``).
    options : Mapping[str, Any]
        Submit options with Grid Engine's names.
    parallel_environment : str
        The PE a job of more than one CPU asks for (``-pe PE CPUS``).
    memory_resource : str or None
        The resource the memory is requested as, per slot; ``None``: not at all.
    soft_margin : int or None
        Seconds between ``s_rt`` and ``h_rt`` (see :func:`soft_walltime`).
    gpu_resource : str or None
        The site's consumable a job's GPUs are requested as (see :func:`gpu_limit`).
    """
    output, error = log_paths(job, chunk)
    cpus = job.resources.cpus
    seconds = parse_walltime(job.resources.time)
    limits = [f"h_rt={_clock(seconds)}", f"s_rt={_clock(soft_walltime(seconds, soft_margin))}"]
    if memory_resource is not None:
        try:
            limits.append(f"{memory_resource}={memory_per_slot(job.resources.mem, cpus)}")
        except ValueError as exc:
            raise _bad(job, f"{exc}; set the task's mem= to a size such as '4G'") from exc
    limits += gpu_limit(job, gpu_resource)
    lines = [
        _directive(job, "-N", job_name(job.name)),
        _directive(job, "-S", "/bin/bash"),
        _directive(job, "-wd", str(job.workdir)),
        _directive(job, "-o", output),
        _directive(job, "-e", error),
        _directive(job, "-j", "n"),
        _directive(job, "-l", ",".join(limits)),
    ]
    if cpus > 1:
        lines.append(_directive(job, "-pe", parallel_environment, str(cpus)))
    if chunk is not None:
        lines.append(_directive(job, "-t", array_range(chunk)))
        if chunk.parallelism is not None:
            lines.append(_directive(job, "-tc", str(chunk.parallelism)))
    if hold:
        lines.append(_directive(job, "-hold_jid", ",".join(hold)))
    if hold_ad:
        lines.append(_directive(job, "-hold_jid_ad", ",".join(hold_ad)))
    return lines + option_directives(job, options)

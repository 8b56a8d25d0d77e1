"""The ``#PBS`` lines and the body of a reflow job script, for PBS Pro and Torque.

What each flavour is asked (``man qsub`` of PBS Pro 2022.1 / OpenPBS, and of Torque 6):

================  ===================================  ==================================
what              PBS Pro / OpenPBS                    Torque
================  ===================================  ==================================
CPUs, memory      ``-l select=1:ncpus=N:mem=Mmb``      ``-l nodes=1:ppn=N,mem=Mmb,...``
GPUs (``gpus=``)  ``:ngpus=G`` in the select           ``:gpus=G`` after ``ppn``
walltime          ``-l walltime=HH:MM:SS``             (in the same ``-l`` list)
array             ``-J 1-10%2`` (two or more tasks)    ``-t 1-10%2``
task index        ``PBS_ARRAY_INDEX``                  ``PBS_ARRAYID``
dependencies      ``-W depend=afterok:ID:ID``          ``afterokarray:ID`` for arrays
================  ===================================  ==================================

Torque resources go in one ``-l`` list: the Torque wrappers of Slurm keep only the last
``-l`` option.  PBS Pro refuses a one-element ``-J`` range, so a one-element chunk is
submitted as a plain job whose script sets the task id itself.  The same options are
passed on ``qsub``'s command line (:func:`qsub_options`), where they win over any
``#PBS`` line: the Torque wrappers read only the command line.

The job's own stdout and stderr go to reflow's log files
(``<log_dir>/<name>-<job id>[_<task>].out`` / ``.err``), redirected by the script: PBS
cannot put the job id into an ``-o`` path.  The scheduler's own output file (``-o``,
with ``-j oe``), where PBS writes ``=>> PBS: job killed: walltime ...``, is
``<prefix>.pbs.out`` next to the script (PBS Pro arrays: ``<prefix>.pbs.out.<task>``;
Torque appends ``-<task>`` itself).  Before the command starts the script writes
``<prefix>[.<task>].start`` (host and pid), and when it ends ``.exit`` (its exit
status): the Torque wrappers' ``qstat`` has no exit status, and PBS Pro forgets
finished jobs unless the server keeps job history.
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
    index_lines,
    known_options,
    parse_memory,
    parse_walltime,
    refusal,
    split_export_env,
)
from reflow_executor_pbs.flavor import Flavor

__all__ = [
    "KNOWN_OPTIONS",
    "RESERVED_OPTIONS",
    "TASK_VARIABLES",
    "array_range",
    "body",
    "dependency_spec",
    "export_flags",
    "job_name",
    "memory",
    "qsub_options",
    "scheduler_output",
    "walltime",
]

TASK_VARIABLES: dict[Flavor, tuple[str, ...]] = {
    Flavor.PBSPRO: ("PBS_ARRAY_INDEX",),
    Flavor.TORQUE: ("PBS_ARRAYID", "PBS_ARRAY_INDEX"),
}
"""Where a task finds its index, first set wins (Slurm's Torque wrappers set PBS_ARRAY_INDEX)."""

RESERVED_OPTIONS: dict[str, str] = {
    "job_name": "reflow names the job after the task",
    "name": "reflow names the job after the task",
    "output": "reflow writes the job's stdout to its log directory",
    "error": "reflow writes the job's stderr to its log directory",
    "join": "reflow joins the scheduler's own output streams",
    "array": "reflow builds the array from the task's elements",
    "depend": "reflow sets the dependencies of its jobs",
    "dependency": "reflow sets the dependencies of its jobs",
    "walltime": "set the task's time= instead",
    "time": "set the task's time= instead",
    "mem": "set the task's mem= instead",
    "ncpus": "set the task's cpus= instead",
    "ppn": "set the task's cpus= instead",
    "cpus": "set the task's cpus= instead",
    "select": "reflow writes select=1:ncpus=N:mem=M; add chunk resources with select_extra",
    "nodes": "reflow asks for one node; add node properties with nodes_extra",
    "variable_list": "set export_env (true, false or a list of variable names) instead",
}
"""Submit options reflow sets itself, with the reason a job may not set them."""

_FLAGS: dict[str, str] = {
    "queue": "-q",
    "account": "-A",
    "project": "-P",
    "mail_user": "-M",
    "mail_type": "-m",
    "priority": "-p",
}
"""Options with their own qsub flag; any other key is a ``-l`` resource."""

_OPTION_WORDS = (
    "select_extra nodes_extra place ngpus gpus host vnode arch software vmem pmem pvmem "
    "file mpiprocs ompthreads cput pcput naccelerators accelerator_model feature nice "
    "checkpoint group_list rerunnable umask start_time"
)

KNOWN_OPTIONS: frozenset[str] = known_options(_OPTION_WORDS.split(), _FLAGS, RESERVED_OPTIONS)
"""Every submit option name the executor recognises (qsub flags reflow maps and
common ``-l`` resources).

See :func:`reflow.executors.known_options` for how they are used.
"""

_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./\[\]-]+$")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]+")

NAME_LIMIT = 236
"""PBS Pro's longest job name; longer names are cut."""


_bad = partial(refusal, "pbs")
"""``_bad(job, problem)``: the error refusing ``job``, naming this scheduler."""


def job_name(name: str) -> str:
    """A ``-N`` value PBS accepts: letters, digits, ``_.-``, starting with a letter.

    Examples
    --------
    >>> job_name("process [batch 2]")
    'process_batch_2_'
    >>> job_name("2nd")
    'r2nd'
    """
    cleaned = _NAME_BAD.sub("_", name) or "job"
    if not cleaned[0].isalpha():
        cleaned = "r" + cleaned
    return cleaned[:NAME_LIMIT]


def walltime(value: str) -> str:
    """A reflow walltime as PBS's ``HH:MM:SS`` (hours may exceed 24).

    Examples
    --------
    >>> walltime("1-02:00:05")
    '26:00:05'
    >>> walltime("90")
    '01:30:00'
    """
    seconds = parse_walltime(value)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def memory(value: str | int) -> str:
    """A reflow memory size in PBS's units, MiB rounded up: ``"4G"`` gives ``"4096mb"``."""
    return f"{math.ceil(parse_memory(value) / 2**20)}mb"


def array_range(chunk: ArrayChunk) -> str:
    """The ``-J``/``-t`` value of a chunk: ``"1-10%2"`` (PBS Pro needs two tasks or more)."""
    span = f"{chunk.first}-{chunk.last}"
    return span if chunk.parallelism is None else f"{span}%{chunk.parallelism}"


def is_array(flavor: Flavor, chunk: ArrayChunk | None) -> bool:
    """Whether the chunk goes to the scheduler as an array (PBS Pro: two tasks or more)."""
    if chunk is None:
        return False
    return flavor is Flavor.TORQUE or chunk.last > chunk.first


def dependency_spec(flavor: Flavor, after_any: Sequence[str], after_ok: Sequence[str]) -> str:
    """``-W depend=``'s value: ``afterany:1.srv:2.srv,afterok:3.srv``.

    Torque waits for a whole array with ``afteranyarray``/``afterokarray`` (its ids
    hold ``[]``); PBS Pro takes an array's id in ``afterok`` itself.

    Examples
    --------
    >>> dependency_spec(Flavor.TORQUE, ["5[].srv"], ["6.srv"])
    'afteranyarray:5[].srv,afterok:6.srv'
    """
    groups: dict[str, list[str]] = {}
    for kind, ids in (("afterany", after_any), ("afterok", after_ok)):
        for ident in ids:
            array = flavor is Flavor.TORQUE and "[]" in ident
            groups.setdefault(kind + ("array" if array else ""), []).append(ident)
    return ",".join(f"{kind}:" + ":".join(ids) for kind, ids in groups.items())


def _value(job: JobSpec, key: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad(
            job,
            f"submit option {key!r} is {type(value).__name__} {value!r}; give a string or "
            "a number",
        )
    text = str(value)
    if not text or not _SAFE.match(text):
        raise _bad(
            job,
            f"submit option {key}={text!r} is empty or has white space, quotes or other "
            "characters qsub would split or drop; give a plain value",
        )
    return text


def scheduler_output(prefix: str, flavor: Flavor, chunk: ArrayChunk | None) -> str:
    """The ``-o`` path of the scheduler's own output file (``-j oe`` joins stderr to it)."""
    if flavor is Flavor.PBSPRO and is_array(flavor, chunk):
        return f"{prefix}.pbs.out.^array_index^"
    return f"{prefix}.pbs.out"


def gpu_request(job: JobSpec, flavor: Flavor) -> str:
    """The task's GPUs in the CPU request: ``:ngpus=N`` (PBS Pro's select) or ``:gpus=N`` (Torque).

    Neither flavour has a standard resource for the GPU model: sites define
    their own, so ``gpu_type=`` is refused with a pointer to ``select_extra``
    / ``nodes_extra``.

    Raises
    ------
    BatchExecutorError
        For a ``gpu_type``.
    """
    if not job.resources.gpus:
        return ""
    if job.resources.gpu_type:
        extra = "select_extra" if flavor is Flavor.PBSPRO else "nodes_extra"
        raise _bad(
            job,
            f"gpu_type={job.resources.gpu_type!r} has no standard PBS resource; drop it and "
            f"add your site's GPU model resource with the submit option {extra} "
            "(e.g. 'gpu_model=a100')",
        )
    name = "ngpus" if flavor is Flavor.PBSPRO else "gpus"
    return f":{name}={job.resources.gpus}"


def qsub_options(
    job: JobSpec,
    chunk: ArrayChunk | None,
    flavor: Flavor,
    after_any: Sequence[str],
    after_ok: Sequence[str],
    options: Mapping[str, Any],
    prefix: str,
) -> list[list[str]]:
    """The qsub options of the job (of one chunk), as ``[flag, value]`` pairs (``""``: no value).

    Parameters
    ----------
    job : JobSpec
        The job.
    chunk : ArrayChunk or None
        The chunk of an array job; ``None`` for a single job.
    flavor : Flavor
        PBS Pro or Torque.
    after_any, after_ok : Sequence[str]
        Native ids of the dependencies.
    options : Mapping[str, Any]
        Submit options with PBS's names (``queue``, ``account`` ...); other keys are
        ``-l`` resources (``place=scatter``); ``select_extra`` (PBS Pro) and
        ``nodes_extra`` (Torque) append to the CPU request (``ngpus=1``, ``gpus=1``).
    prefix : str
        Path and stem of the job's files next to its script.

    Raises
    ------
    BatchExecutorError
        For a reserved option, an unknown key form, or a value qsub would mangle.
    """
    try:
        mem = memory(job.resources.mem)
    except ValueError as exc:
        raise _bad(job, f"{exc}; set the task's mem= to a size such as '4G'") from exc
    cpus = int(job.resources.cpus)
    if cpus < 1:
        raise _bad(job, f"cpus={cpus} is below 1; ask for at least one CPU")
    wall = walltime(job.resources.time)
    try:
        export, options = split_export_env(options, f"the submit options of job {job.name!r}")
    except ValueError as exc:
        raise _bad(job, str(exc).rstrip(".")) from None
    flags: list[list[str]] = []
    resources: list[str] = []
    select_extra = nodes_extra = ""
    for key, value in options.items():
        name = str(key).replace("-", "_")
        if not _KEY.match(name) or len(name) < 2:
            raise _bad(
                job,
                f"submit option {key!r} is not a PBS option or resource name; write it in "
                "lower case (queue, account, place ...)",
            )
        if name in RESERVED_OPTIONS:
            raise _bad(job, f"submit option {key!r} cannot be set: {RESERVED_OPTIONS[name]}")
        if value is None or value is False:
            continue
        text = _value(job, name, value)
        if name == "select_extra":
            select_extra = ":" + text.lstrip(":")
        elif name == "nodes_extra":
            nodes_extra = ":" + text.lstrip(":")
        elif name in _FLAGS:
            flags.append([_FLAGS[name], text])
        else:
            resources.append(f"{name}={text}")
    gpus = gpu_request(job, flavor)
    pairs: list[list[str]] = [["-N", job_name(job.name)]]
    if flavor is Flavor.PBSPRO:
        pairs.append(["-l", f"select=1:ncpus={cpus}:mem={mem}{gpus}{select_extra}"])
        pairs.append(["-l", f"walltime={wall}"])
        pairs += [["-l", resource] for resource in resources]
    else:
        listed = [f"nodes=1:ppn={cpus}{gpus}{nodes_extra}", f"walltime={wall}", f"mem={mem}"]
        pairs.append(["-l", ",".join([*listed, *resources])])
    pairs += [["-j", "oe"], ["-o", scheduler_output(prefix, flavor, chunk)]]
    pairs += export_flags(export)
    if chunk is not None and is_array(flavor, chunk):
        pairs.append(["-J" if flavor is Flavor.PBSPRO else "-t", array_range(chunk)])
    depend = dependency_spec(flavor, after_any, after_ok)
    if depend:
        pairs.append(["-W", f"depend={depend}"])
    for flag, value in [*pairs, *flags]:
        if any(c in value for c in "\n\r\0"):
            raise _bad(job, f"the value of {flag} has a line break ({value!r})")
        if flag == "-o" and (":" in value or not _SAFE.match(value.replace("^", ""))):
            raise _bad(
                job,
                f"the path {value!r} has a ':', white space or quotes, which qsub's -o "
                "cannot take; choose a run directory with a plain path",
            )
    return [*pairs, *flags]


def export_flags(setting: ExportEnv) -> list[list[str]]:
    """``-V`` (qsub's whole environment), ``-v A,B`` (those variables) or nothing (none).

    Without either, a PBS job sees only the ``PBS_O_*`` copies of a few variables.

    Examples
    --------
    >>> export_flags(ExportEnv()), export_flags(ExportEnv(())), export_flags(ExportEnv(("A", "B")))
    ([['-V', '']], [], [['-v', 'A,B']])
    """
    if setting.names is None:
        return [["-V", ""]]
    return [["-v", ",".join(setting.names)]] if setting.names else []


def directive_lines(pairs: Sequence[Sequence[str]]) -> list[str]:
    """``#PBS`` lines of qsub options, e.g. ``#PBS -N x`` and ``#PBS -V`` (a flag alone)."""
    return [f"#PBS {flag} {value}".rstrip() for flag, value in pairs]


def _command(job: JobSpec) -> list[str]:
    """The command started in the background, after its modules, prologue and container."""
    try:
        return command_lines(job, background=True)
    except ValueError as exc:
        raise _bad(job, str(exc)) from None


def body(job: JobSpec, chunk: ArrayChunk | None, flavor: Flavor, prefix: str) -> str:
    """The bash lines after the directives.

    They find the task id, export ``REFLOW_JOB_ID`` (the id qsub printed) and
    ``REFLOW_ARRAY_INDEX``, send stdout and stderr to reflow's log files, write the
    ``.start`` marker, run the command and write its exit status to ``.exit``.
    """
    lines = ["", "# -- written by reflow --"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in job.env.items()]
    stem = job.log_name or job.name
    log = shlex.quote(str(Path(job.log_dir, f"{stem}-")))
    marker = shlex.quote(prefix)
    if chunk is None:
        lines += [
            'export REFLOW_JOB_ID="${PBS_JOBID:?reflow: the scheduler did not set PBS_JOBID}"',
            f"unset {ARRAY_INDEX_ENV}",
            'reflow_log="${REFLOW_JOB_ID}"',
            f"reflow_marker={marker}",
        ]
    else:
        if is_array(flavor, chunk):
            found = "".join(f"${{{v}:-" for v in TASK_VARIABLES[flavor]) + "}" * len(
                TASK_VARIABLES[flavor]
            )
            names = " or ".join(TASK_VARIABLES[flavor])
            lines += [
                f'reflow_task="{found}"',
                f'[ -n "$reflow_task" ] || {{ echo "reflow: the scheduler set no {names}" >&2; '
                "exit 1; }",
                # reflow's id of the array: 12.srv for 12[].srv (PBS Pro's PBS_ARRAY_ID,
                # also set by Slurm's wrappers) or 12[3].srv (Torque's PBS_JOBID).
                'reflow_array="${PBS_ARRAY_ID:-${PBS_JOBID/\\[${reflow_task}\\]/[]}}"',
                'export REFLOW_JOB_ID="${reflow_array/\\[\\]/}"',
            ]
        else:  # a one-element PBS Pro chunk is a plain job
            lines += [
                f"reflow_task={chunk.first}",
                'export REFLOW_JOB_ID="${PBS_JOBID:?reflow: the scheduler did not set PBS_JOBID}"',
            ]
        lines += index_lines(chunk, "reflow_task")[1:]  # [0] reads the variable
        lines += [
            'reflow_log="${REFLOW_JOB_ID}_${reflow_task}"',
            f'reflow_marker={marker}."$reflow_task"',
        ]
    lines += [
        f'exec >>{log}"$reflow_log.out" 2>>{log}"$reflow_log.err" || exit 1',
        'echo "$(hostname) $$" >"$reflow_marker.start"',
        f"cd -- {shlex.quote(str(job.workdir))} || exit 1",
        *_command(job),
        "reflow_child=$!",
        # qdel signals the job's shell: pass TERM/INT on, then wait for the command.
        "trap 'kill -TERM \"$reflow_child\" 2>/dev/null' TERM INT",
        'wait "$reflow_child"; reflow_status=$?',
        'while kill -0 "$reflow_child" 2>/dev/null; do',
        '  wait "$reflow_child"; reflow_status=$?',
        "done",
        'echo "$reflow_status" >"$reflow_marker.exit"',
        'exit "$reflow_status"',
    ]
    return "\n".join(lines) + "\n"

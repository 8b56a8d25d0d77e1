"""Fake IBM Spectrum LSF commands: ``bsub``, ``bjobs`` and ``bkill``.

Grammar written from the IBM Spectrum LSF 10.1 Command Reference:

- bsub, "command" and "Synopsis": ``bsub [options] command [arguments]``, or the job
  from standard input (``bsub < script``) with ``#BSUB`` option lines; the command
  line wins over ``#BSUB`` lines.
- bsub -J: ``-J "name[index_list]%job_slot_limit"``; the index list is a comma list
  of ``start[-end[:step]]`` with positive integers (no index 0); the highest index
  and the number of elements may not exceed ``MAX_JOB_ARRAY_SIZE`` (lsb.params,
  1000 by default).  The ``%`` limit follows the closing bracket.
- bsub -W: ``[hour:]minute[/host_name | /host_model]``; ``-W 01:00:00`` is refused
  with ``01:00:00: Bad RUNLIMIT specification. Job not submitted.``  At the limit
  the job gets SIGUSR2 (then SIGKILL) and ends with exit reason TERM_RUNLIMIT
  (exit code 140).
- bsub -w: ``done(ID)``, ``ended(ID)``, ``exit(ID)``, ``started(ID)`` (``ID`` or
  ``ID[index]``), a bare ``ID`` meaning ``done(ID)``, joined with ``&&``.  A
  condition that can never be met leaves the job pending.
- bsub -ti (with -w only): a job whose dependency can never be met is terminated at
  once (EXIT, TERM_ORPHAN_SYSTEM) instead of pending.
- bsub -o/-e: ``%J`` (job id) and ``%I`` (index) in the file name; ``-o`` appends,
  ``-oo`` overwrites; without ``-e`` the error stream goes to the output file; a
  directory means ``DIR/%J.out``.
- bjobs -o "field[:width] ... [delimiter='c']" with -json (not with -noheader) or
  -noheader; bjobs -a; a finished job still shows when named by id; an unknown id
  prints ``Job <ID> is not found`` and makes the exit status 255.
- bkill ``ID`` / ``"ID[index]"`` / ``"ID[start-end]"``: ``Job <ID> is being terminated``;
  a killed job ends EXIT with TERM_OWNER.
- Error wording from LSF's lsberrno table (``Job array index error``, ``Job array
  index too large``, ``Dependency condition syntax error``, ``No matching job found``,
  ``No such queue``), followed by ``. Job not submitted.`` as bsub prints it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reflow_fake_schedulers._common import (
    CommandError,
    job_env,
    open_store,
    run_named,
    runner_alive,
    script_directives,
    unsupported,
    user_name,
)
from reflow_fake_schedulers._jobs import cancel_element, write_script
from reflow_fake_schedulers.state import (
    Dependency,
    DependencyKind,
    Element,
    Job,
    State,
    dependency_status,
    element_ok,
    new_element,
)

__all__ = ["LSF_VERSION", "main", "parse_array_name", "parse_runlimit"]

LSF_VERSION = "IBM Spectrum LSF Standard 10.1.0.13, Jan 28 2023"
"""What ``-V`` prints."""

# bsub options and whether each takes a value (bsub(1), "Options").
_WITH_VALUE = {
    "-J", "-n", "-W", "-We", "-M", "-R", "-q", "-P", "-o", "-e", "-oo", "-eo", "-w",
    "-cwd", "-env", "-u", "-G", "-g", "-app", "-m", "-i", "-is", "-sp", "-c", "-b",
    "-t", "-E", "-Ep", "-Jd", "-L", "-a", "-C", "-D", "-F", "-S", "-v", "-f", "-k",
    "-data", "-gpu", "-rnc", "-ext", "-hl", "-jsdl", "-pack", "-ptl", "-s", "-stage",
    "-wa", "-wt", "-Lp", "-U", "-network", "-outdir", "-eptl", "-cn_cu",
    "-cn_mem", "-core_isolation", "-csm", "-alloc_flags", "-smt", "-tty", "-Zs", "-XF",
}  # fmt: skip
_FLAGS = {"-B", "-N", "-x", "-r", "-rn", "-K", "-H", "-I", "-Ip", "-Is", "-IS", "-ISp", "-ISs",
          "-IX", "-h", "-V", "-ul", "-hostfile", "-ti"}  # fmt: skip
_FAKED = {"-J", "-n", "-W", "-We", "-M", "-R", "-q", "-P", "-o", "-e", "-oo", "-eo", "-w",
          "-ti", "-cwd", "-env", "-B", "-N", "-x", "-r", "-rn", "-u", "-G", "-h",
          "-V", "-gpu"}  # fmt: skip
_GPU_KEYS = {"num", "mode", "mps", "j_exclusive", "aff", "block", "gpack", "gvendor", "gmodel",
             "gtile", "gmem", "glink", "mig"}  # fmt: skip
"""The keywords of ``-gpu`` (bsub(1), "-gpu", LSF 10.1.0.13)."""
_NAME = re.compile(r"^(?P<name>[^\[\]]*)(?:\[(?P<spec>[^\]]*)\](?:%(?P<limit>\d+))?)?$")
_RANGE = re.compile(r"^(\d+)(?:-(\d+)(?::(\d+))?)?$")
_MEM = re.compile(r"^\d+(\.\d+)?([KMGTPE]B?)?!?$", re.IGNORECASE)
_ID = re.compile(r"^(\d+)(?:\[(\d+)(?:-(\d+))?\])?$")
_COND = re.compile(r"^\s*(?:(done|ended|exit|started)\(\s*([^()]*?)\s*\)|(\d+))\s*$")
_KINDS: dict[str, DependencyKind] = {
    "done": "afterok",
    "ended": "afterany",
    "exit": "afternotok",
    "started": "afterstart",
}
_USAGE = (
    'Usage: bsub [-h] [-V] [-B] [-N] [-r | -rn] [-x] [-J job_name | -J "name[index_list]%limit"]\n'
    "            [-n num_tasks] [-W [hour:]minute] [-M mem_limit] [-R res_req] [-q queue]\n"
    "            [-P project] [-o out_file | -oo out_file] [-e err_file | -eo err_file]\n"
    "            [-w 'dependency_expression'] [-cwd dir] [-env env_spec] [command [args]]"
)
_FIELDS = {
    "jobid", "jobindex", "stat", "exit_code", "exit_reason", "job_name", "name", "queue",
    "user", "submit_time", "start_time", "finish_time", "from_host", "exec_host",
    "pend_reason", "cmd", "command", "nalloc_slot", "project", "proj_name",
}  # fmt: skip
_TERM_RUNLIMIT = "TERM_RUNLIMIT: job killed after reaching LSF run time limit"
_TERM_OWNER = "TERM_OWNER: job killed by owner"
_TERM_ORPHAN = "TERM_ORPHAN_SYSTEM: orphan job was automatically terminated by LSF"


def _refuse(message: str) -> CommandError:
    return CommandError(f"{message}. Job not submitted.", 255)


def parse_runlimit(value: str) -> float:
    """Seconds in an LSF run limit ``[hour:]minute[/host]``; refuses anything else."""
    limit = value.split("/", 1)[0]
    match = re.fullmatch(r"(\d+)(?::(\d+))?", limit)
    if match is None:
        raise _refuse(f"{value}: Bad RUNLIMIT specification")
    hours, minutes = (match.group(1), match.group(2)) if match.group(2) else ("0", match.group(1))
    return (int(hours) * 60 + int(minutes)) * 60.0


def parse_array_name(value: str, max_size: int) -> tuple[str, list[int] | None, int | None]:
    """Split ``-J`` into the name, the array indices (``None``: no array) and the limit."""
    match = _NAME.match(value)
    if match is None:
        if "[" in value or "]" in value:
            raise _refuse("Job array index error")
        raise _refuse("Bad job name")
    name, spec, limit = match.group("name"), match.group("spec"), match.group("limit")
    if spec is None:
        return value, None, None
    if not re.fullmatch(r"[A-Za-z0-9._-]*", name):
        raise _refuse("Bad job name")
    indices: list[int] = []
    for item in spec.split(","):
        found = _RANGE.match(item.strip())
        if found is None:
            raise _refuse("Job array index error")
        start = int(found.group(1))
        end = int(found.group(2) or start)
        step = int(found.group(3) or 1)
        if start < 1 or end < start or step < 1:
            raise _refuse("Job array index error")
        if end > max_size:
            raise _refuse("Job array index too large")
        indices.extend(range(start, end + 1, step))
    if len(set(indices)) != len(indices):
        raise _refuse("Job array index error")
    if len(indices) > max_size:
        raise _refuse("Job array index too large")
    if limit is not None and int(limit) < 1:
        raise _refuse("Job array index error")
    return name, sorted(indices), int(limit) if limit else None


def _split_options(prog: str, args: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    opts: list[tuple[str, str]] = []
    position = 0
    while position < len(args):
        word = args[position]
        if not word.startswith("-") or word == "-":
            break
        if word in _WITH_VALUE:
            if position + 1 >= len(args):
                raise CommandError(
                    f"{prog}: option requires an argument -- {word[1:]}\n{_USAGE}", 255
                )
            opts.append((word, args[position + 1]))
            position += 2
        elif word in _FLAGS:
            opts.append((word, ""))
            position += 1
        else:
            raise CommandError(f"{prog}: illegal option -- {word[1:]}\n{_USAGE}", 255)
    return opts, args[position:]


def _parse_dependency(text: str, state: State) -> list[Dependency]:
    if "||" in text or "!" in text:
        raise unsupported("bsub", "-w with || or !")
    deps: list[Dependency] = []
    for part in text.split("&&"):
        match = _COND.match(part)
        if match is None:
            raise _refuse("Dependency condition syntax error")
        kind = match.group(1) or "done"
        target = match.group(2) if match.group(1) else match.group(3)
        if kind == "exit" and "," in target:
            raise unsupported("bsub", "-w exit(ID, exit_code)")
        found = _ID.match(target.strip('"'))
        if found is None or found.group(3):
            if target.strip().startswith('"') or not target.strip()[:1].isdigit():
                raise unsupported("bsub", "-w with job names")
            raise _refuse("Dependency condition syntax error")
        job = state["jobs"].get(found.group(1))
        index = int(found.group(2)) if found.group(2) else None
        if job is None or (
            index is not None and all(e["index"] != index for e in job["elements"])
        ):
            raise _refuse(f"{target}: No matching job found")
        deps.append(Dependency(kind=_KINDS[kind], job=job["id"], index=index))
    return deps


def _bsub(argv: Sequence[str]) -> int:
    args = list(argv)
    opts, command = _split_options("bsub", args)
    flags = {flag for flag, _ in opts}
    if "-V" in flags:
        print(LSF_VERSION, file=sys.stderr)
        return 0
    if "-h" in flags:
        print(_USAGE, file=sys.stderr)
        return 0
    script_text = ""
    if not command:
        script_text = sys.stdin.read()
        if not script_text.strip():
            raise _refuse("Empty job")
        directive_opts, _ = _split_options("bsub", script_directives(script_text, "#BSUB"))
        opts = directive_opts + opts
    settings: dict[str, str] = {}
    for flag, value in opts:
        if flag not in _FAKED:
            raise unsupported("bsub", f"option {flag}")
        settings[flag] = value
    if "-oo" in settings:
        settings["-o"] = settings.pop("-oo")
        settings["append"] = ""
    if "-eo" in settings:
        settings["-e"] = settings.pop("-eo")
    return _submit(settings, script_text, command)


def _check_options(settings: dict[str, str]) -> float | None:
    walltime = parse_runlimit(settings["-W"]) if "-W" in settings else None
    if "-We" in settings:
        parse_runlimit(settings["-We"])
    if "-n" in settings and not re.fullmatch(r"[1-9]\d*(,[1-9]\d*)?", settings["-n"]):
        raise _refuse("Bad argument for option -n")
    if "-M" in settings and not _MEM.match(settings["-M"]):
        raise _refuse(f"{settings['-M']}: Bad memory limit specification")
    if "-ti" in settings and "-w" not in settings:
        raise _refuse("-ti: Use only with the -w option")
    if "-R" in settings and settings["-R"].count("[") != settings["-R"].count("]"):
        raise _refuse("Bad resource requirement syntax")
    if "-gpu" in settings:
        _check_gpu(settings["-gpu"])
    return walltime


def _check_gpu(value: str) -> None:
    """``-gpu -`` or ``"num=N[/task|host][:keyword=value]..."``, as bsub(1) documents it."""
    if value == "-":
        return
    for part in value.split(":"):
        key, eq, setting = part.partition("=")
        if key not in _GPU_KEYS or not eq or not setting:
            raise _refuse(f"{value}: Bad GPU requirement syntax")
        if key == "num" and not re.fullmatch(r"[1-9]\d*(/(task|host))?", setting):
            raise _refuse(f"{value}: Bad GPU requirement syntax")


def _output_name(template: str, job_id: int, index: int | None, cwd: str, suffix: str) -> str:
    path = Path(cwd) / template
    if template.endswith("/") or path.is_dir():
        path = path / (f"%J_%I{suffix}" if index is not None else f"%J{suffix}")
    return str(path).replace("%J", str(job_id)).replace("%I", str(index or 0))


def _submit(settings: dict[str, str], script_text: str, command: list[str]) -> int:
    walltime = _check_options(settings)
    cwd = settings.get("-cwd", str(Path.cwd()))
    store = open_store("bsub")
    with store.edit() as state:
        if not runner_alive(state["runner_pid"]):
            raise _refuse("Cannot connect to LSF. Please wait ...")
        name, indices, limit = (
            parse_array_name(settings["-J"], state["max_array_size"])
            if "-J" in settings
            else (" ".join(command) if command else "STDIN", None, None)
        )
        queue = settings.get("-q", state["queues"][0] if state["queues"] else "normal")
        if queue not in state["queues"]:
            raise _refuse(f"{queue}: No such queue")
        deps = _parse_dependency(settings["-w"], state) if "-w" in settings else []
        job_id = state["next_id"]
        state["next_id"] += 1
        job_dir = store.job_dir(job_id)
        if command:
            # bsub(1), "command": the words are joined and given to a Bourne shell.
            argv = ["/bin/sh", "-c", " ".join(command)]
        else:
            argv = write_script(job_dir, script_text)
        env = job_env(
            {
                "LSB_JOBID": str(job_id),
                "LSB_QUEUE": queue,
                "LSB_SUBCWD": str(Path.cwd()),
                "LSB_JOBNAME": name,
            }
        )
        _apply_env_option(env, settings.get("-env"))
        elements: list[Element] = []
        chosen: list[int | None] = list(indices) if indices is not None else [None]
        for index in chosen:
            if "-o" in settings:
                out = _output_name(settings["-o"], job_id, index, cwd, ".out")
            else:
                out = str(job_dir / ("output" if index is None else f"output.{index}"))
            err = (
                _output_name(settings["-e"], job_id, index, cwd, ".err")
                if "-e" in settings
                else out
            )
            own = {}
            if index is not None:
                own = {
                    "LSB_JOBINDEX": str(index),
                    "LSB_JOBNAME": f"{name}[{index}]",
                    "LSB_BATCH_JID": f"{job_id}[{index}]",
                }
            elements.append(new_element(index, out, err, own))
        state["jobs"][str(job_id)] = Job(
            id=job_id,
            flavour="lsf",
            name=name,
            queue=queue,
            user=user_name(),
            argv=argv,
            cwd=cwd,
            env=env,
            submit_time=time.time(),
            walltime=walltime,
            deps=deps,
            # bsub -ti: an orphan (a dependency never met) is terminated at once.
            dep_policy="end" if "-ti" in settings else "pend",
            throttle=limit,
            timeout_signal=signal.SIGUSR2,
            cancel_signal=signal.SIGINT,
            kill_delay=2.0,
            output_append="append" not in settings,
            walltime_note=None,
            elements=elements,
            extra={"array": indices is not None, "project": settings.get("-P", "default")},
        )
    where = "queue" if "-q" in settings else "default queue"
    print(f"Job <{job_id}> is submitted to {where} <{queue}>.")
    return 0


def _apply_env_option(env: dict[str, str], spec: str | None) -> None:
    """bsub(1) ``-env``: ``all`` (the default), ``none``, or a comma list of variables.

    ``all, ~NAME, NAME=value`` keeps everything but ``~NAME`` and sets ``NAME``;
    without ``all`` only the listed variables reach the job, ``NAME`` with its
    value at submission.  LSF's own ``LSB_*`` job variables are always set.
    """
    if spec is None:
        return
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if [item.lower() for item in items] == ["none"]:
        items = []
    elif any(item.lower() == "none" for item in items):
        raise unsupported("bsub", f"-env {spec} (none with other variables)")
    keep_all = bool(items) and items[0].lower() == "all"
    submitted = dict(env)
    if not keep_all:
        env.clear()
        env.update({k: v for k, v in submitted.items() if k.startswith("LSB_")})
    for item in items[1:] if keep_all else items:
        name, eq, value = item.partition("=")
        if name.startswith("~"):
            if not keep_all:
                raise unsupported("bsub", f"-env {item} without all")
            env.pop(name[1:], None)
        elif eq:
            env[name] = value
        elif name in submitted:
            env[name] = submitted[name]


# -- bjobs ----------------------------------------------------------------------------


def _stat(state: State, job: Job, element: Element) -> str:
    if element["state"] == "queued":
        return "PEND"
    if element["state"] == "running":
        return "RUN"
    return "DONE" if element_ok(element) else "EXIT"


def _exit_code(element: Element) -> str:
    code = element["returncode"]
    if element["state"] != "ended" or code is None or element_ok(element):
        return ""
    return str(128 - code if code < 0 else code)


def _exit_reason(element: Element) -> str:
    if element["state"] != "ended":
        return ""
    if element["reason"] == "walltime":
        return _TERM_RUNLIMIT
    if element["reason"] == "cancelled":
        return _TERM_OWNER
    if element["reason"] == "dependency":
        return _TERM_ORPHAN
    return ""


def _values(state: State, job: Job, element: Element) -> dict[str, str]:
    index = element["index"]
    pend = ""
    if element["state"] == "queued" and job["deps"]:
        never = any(dependency_status(state, d) == "never" for d in job["deps"])
        pend = (
            "Dependency condition invalid or never satisfied"
            if never
            else "Job dependency condition not satisfied"
        )
    stamp = "%b %d %H:%M"
    return {
        "jobid": str(job["id"]),
        "jobindex": str(index or 0),
        "stat": _stat(state, job, element),
        "exit_code": _exit_code(element),
        "exit_reason": _exit_reason(element),
        "job_name": job["name"] if index is None else f"{job['name']}[{index}]",
        "queue": job["queue"],
        "user": job["user"],
        "submit_time": time.strftime(stamp, time.localtime(job["submit_time"])),
        "start_time": time.strftime(stamp, time.localtime(element["start"]))
        if element["start"]
        else "",
        "finish_time": time.strftime(stamp, time.localtime(element["end"]))
        if element["end"]
        else "",
        "from_host": os.uname().nodename,
        "exec_host": os.uname().nodename if element["start"] else "",
        "pend_reason": pend,
        "command": shlex.join(job["argv"]),
        "nalloc_slot": "1" if element["state"] == "running" else "",
        "proj_name": job["extra"]["project"],
    }


def _parse_format(spec: str) -> tuple[list[str], str]:
    delimiter = " "
    match = re.search(r"delimiter='(.)'", spec)
    if match:
        delimiter = match.group(1)
        spec = spec[: match.start()] + spec[match.end() :]
    fields: list[str] = []
    for word in spec.split():
        field = word.split(":", 1)[0].lower()
        field = {"name": "job_name", "cmd": "command", "project": "proj_name"}.get(field, field)
        if field not in _FIELDS:
            raise CommandError(f"bjobs: {word}: Illegal field name in -o", 255)
        fields.append(field)
    return fields, delimiter


def _bjobs(argv: Sequence[str]) -> int:
    args = list(argv)
    options: dict[str, str] = {}
    ids: list[str] = []
    position = 0
    while position < len(args):
        word = args[position]
        if word in {"-o", "-u", "-q"}:
            if position + 1 >= len(args):
                raise CommandError(f"bjobs: option requires an argument -- {word[1:]}", 255)
            options[word] = args[position + 1]
            position += 2
        elif word in {"-json", "-noheader", "-a", "-w", "-W", "-d", "-p", "-r"}:
            options[word] = ""
            position += 1
        elif word == "-V":
            print(LSF_VERSION, file=sys.stderr)
            return 0
        elif word.startswith("-"):
            raise CommandError(f"bjobs: illegal option -- {word[1:]}", 255)
        else:
            ids.append(word)
            position += 1
    if "-json" in options and "-noheader" in options:
        raise CommandError("bjobs: -json and -noheader cannot be used together", 255)
    if "-json" in options and "-o" not in options:
        raise CommandError("bjobs: -json requires -o", 255)
    fields, delimiter = _parse_format(
        options.get("-o", "jobid user stat queue from_host exec_host job_name submit_time")
    )
    state = open_store("bjobs").read()
    rows, missing = _select(state, ids, show_all="-a" in options or "-d" in options)
    if "-d" in options:
        rows = [r for r in rows if r["stat"] in {"DONE", "EXIT"}]
    if "-p" in options:
        rows = [r for r in rows if r["stat"] == "PEND"]
    if "-r" in options:
        rows = [r for r in rows if r["stat"] == "RUN"]
    if "-json" in options:
        records: list[dict[str, Any]] = [{f.upper(): r[f] for f in fields} for r in rows]
        records += [{"JOBID": m, "ERROR": f"Job <{m}> is not found"} for m in missing]
        print(json.dumps({"COMMAND": "bjobs", "JOBS": len(records), "RECORDS": records}, indent=2))
    else:
        if rows and "-noheader" not in options:
            print(delimiter.join(f.upper() for f in fields))
        for row in rows:
            print(delimiter.join(row[f] or "-" for f in fields))
        if not rows and not ids:
            print("No unfinished job found", file=sys.stderr)
        for m in missing:
            print(f"Job <{m}> is not found", file=sys.stderr)
    return 255 if missing else 0


def _find(state: State, text: str) -> tuple[Job, list[Element]] | None:
    """The job ``ID``, ``ID[index]`` or ``ID[start-end]`` names and its chosen elements."""
    match = _ID.match(text)
    found = state["jobs"].get(match.group(1)) if match else None
    if match is None or found is None:
        return None
    low = int(match.group(2)) if match.group(2) else None
    high = int(match.group(3)) if match.group(3) else low
    chosen = [
        e
        for e in found["elements"]
        if low is None
        or (e["index"] is not None and high is not None and low <= e["index"] <= high)
    ]
    return (found, chosen) if chosen else None


def _select(
    state: State, ids: list[str], show_all: bool
) -> tuple[list[dict[str, str]], list[str]]:
    rows: list[dict[str, str]] = []
    missing: list[str] = []
    if not ids:
        for job in sorted(state["jobs"].values(), key=lambda j: j["id"]):
            for element in job["elements"]:
                if show_all or element["state"] != "ended":
                    rows.append(_values(state, job, element))
        return rows, missing
    for text in ids:
        hit = _find(state, text)
        if hit is None:
            missing.append(text)
            continue
        rows.extend(_values(state, hit[0], e) for e in hit[1])
    return rows, missing


# -- bkill ----------------------------------------------------------------------------


def _bkill(argv: Sequence[str]) -> int:
    args = list(argv)
    if args[:1] == ["-V"]:
        print(LSF_VERSION, file=sys.stderr)
        return 0
    if args[:1] == ["-s"]:
        raise unsupported("bkill", "-s")
    for word in args:
        if word.startswith("-"):
            raise CommandError(f"bkill: illegal option -- {word[1:]}", 255)
    if not args:
        raise CommandError(
            "bkill: Job ID or one of '-m' '-u' '-q' and '-J' must be specified", 255
        )
    status = 0
    now = time.time()
    with open_store("bkill").edit() as state:
        for text in args:
            hit = _find(state, text)
            if hit is None:
                print(f"Job <{text}>: No matching job found", file=sys.stderr)
                status = 255
                continue
            chosen = hit[1]
            if all(e["state"] == "ended" for e in chosen):
                print(f"Job <{text}>: Job has already finished", file=sys.stderr)
                status = 255
                continue
            for element in chosen:
                cancel_element(element, now)
            print(f"Job <{text}> is being terminated")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bsub``, ``bjobs`` or ``bkill``: the first argument names the command."""
    return run_named("lsf", {"bsub": _bsub, "bjobs": _bjobs, "bkill": _bkill}, argv)


if __name__ == "__main__":
    sys.exit(main())

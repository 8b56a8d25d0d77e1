"""Fake PBS Pro / OpenPBS commands: ``qsub``, ``qstat`` and ``qdel``.

Grammar written from the OpenPBS manual pages:

- qsub(1B), SYNOPSIS and OPTIONS: ``qsub [options] [script | -- executable [args]]``;
  options are single letters parsed by getopt.  ``-J X-Y[:Z][%N]`` (X < Y; no comma
  list, no single index; ``%N`` is the ``max_run_subjobs`` suffix of OpenPBS 22.05);
  ``-l select=[N:]chunk[+...]`` and job-wide ``resource=value`` pairs;
  ``-W depend=type:jobid[:jobid][,type:...]``; ``-N`` "an alphabetic or numeric
  character followed by printable, non-white-space characters", at most 236;
  ``-j oe|eo|n``; ``-m n`` or any of ``abe``; ``-p`` in [-1024, 1023]; ``-r y|n``.
  Directives: ``#PBS`` lines before the first command; the command line wins.
  Default output ``<job name>.o<sequence number>`` in qsub's directory
  (``.o<seq>.<index>`` for a subjob); a job starts in the user's home directory
  (``sandbox`` unset); without ``-V`` it sees only the ``PBS_O_*`` variables, the
  ``-v`` list and the PBS variables of qsub(1B), ENVIRONMENT VARIABLES.
- pbs_resources(7B): ``walltime`` as ``[[hours:]minutes:]seconds[.milliseconds]``;
  sizes as an integer with an optional ``b``/``w`` and ``k``/``m``/``g``/``t``/``p`` suffix.
- qstat(1B): ``-f``, ``-F json``, ``-x`` (history), ``-t`` (subjobs), ``-J`` (arrays
  only), ``--version`` (``pbs_version = X``); an unknown id prints
  ``qstat: Unknown Job Id ID`` on stderr and makes the exit status non-zero.
- qdel(1B): ``qdel [-W force] jobid ...``; ``123[].server`` deletes the whole array,
  ``123[4].server`` one subjob.
- A job killed at its walltime ends with ``Exit_status`` -29 (JOB_EXEC_KILL_WALLTIME)
  and ``=>> PBS: job killed: walltime N exceeded limit M`` on its stderr stream.
"""

from __future__ import annotations

import getopt
import json
import os
import platform
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

__all__ = ["PBS_VERSION", "main", "parse_walltime"]

PBS_VERSION = "22.05.11"
"""The OpenPBS version the fake claims (``%N`` array throttles need 22.05)."""

_QSUB_OPTS = "a:A:c:C:e:fGhIj:J:k:l:m:M:N:o:p:P:q:r:R:S:u:v:VW:Xz"
_QSUB_FAKED = set("AejJklmMNopPqrSvVWz")
_RESOURCES = {
    "select", "place", "walltime", "ncpus", "mem", "vmem", "pmem", "pvmem", "mpiprocs",
    "ompthreads", "ngpus", "nodes", "host", "vnode", "cput", "pcput", "file", "software",
    "arch", "nice", "max_run_subjobs",
}  # fmt: skip
_SIZE = re.compile(r"^\d+([kmgtp]?[bw])?$|^\d+[kmgtp]$", re.IGNORECASE)
_ARRAY = re.compile(r"^(\d+)-(\d+)(?::(\d+))?(?:%(\d+))?$")
_JOBID = re.compile(r"^(\d+)(\[(\d*)\])?(\.[\w.-]+)?$")
_DEPEND_KINDS: dict[str, DependencyKind] = {
    "after": "afterstart",
    "afterok": "afterok",
    "afternotok": "afternotok",
    # qsub(1B): afterany "will not run if a job in the arg_list was deleted without ever
    # having been run".
    "afterany": "afterranany",
}
_USAGE = (
    "usage: qsub [-a date_time] [-A account_string] [-c interval]\n"
    "\t[-C directive_prefix] [-e path] [-f ] [-h ] [-I [-X]] [-j oe|eo] [-J X-Y[:Z]]\n"
    "\t[-k keep] [-l resource_list] [-m mail_options] [-M user_list]\n"
    "\t[-N jobname] [-o path] [-p priority] [-P project] [-q queue] [-r y|n]\n"
    "\t[-R o|e|oe] [-S path] [-u user_list] [-W otherattributes=value...]\n"
    "\t[-v variable_list] [-V ] [-z] [script | -- command [arg1 ...]]\n"
    "       qsub --version"
)
WALLTIME_EXIT = -29
"""``Exit_status`` of a job the server killed at its walltime (JOB_EXEC_KILL_WALLTIME)."""


def parse_walltime(text: str) -> float:
    """Seconds in a PBS duration ``[[hours:]minutes:]seconds[.milliseconds]``."""
    match = re.fullmatch(r"(?:(?:(\d+):)?(\d+):)?(\d+)(\.\d+)?", text)
    if match is None:
        raise ValueError(text)
    hours, minutes, seconds, frac = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds) + float(frac or 0)


def _bad_option(prog: str, exc: getopt.GetoptError) -> CommandError:
    if "requires argument" in exc.msg:
        text = f"{prog}: option requires an argument -- '{exc.opt}'"
    else:
        text = f"{prog}: invalid option -- '{exc.opt}'"
    usage = _USAGE if prog == "qsub" else f"usage: {prog} ..."
    return CommandError(f"{text}\n{usage}", 2)


def _illegal(option: str) -> CommandError:
    return CommandError(f"qsub: illegal {option} value\n{_USAGE}", 2)


def _job_id(job_id: int, server: str, index: int | str | None = None) -> str:
    if index is None:
        return f"{job_id}.{server}"
    return f"{job_id}[{index}].{server}"


# -- qsub -----------------------------------------------------------------------------


def _check_resources(value: str, resources: dict[str, str]) -> None:
    for item in value.split(","):
        name, eq, setting = item.partition("=")
        if not eq or not name:
            raise CommandError("qsub: illegal -l value", 2)
        if name not in _RESOURCES:
            raise CommandError(f"qsub: Unknown resource Resource_List.{name}", 2)
        bad = CommandError(f"qsub: Illegal attribute or resource value Resource_List.{name}", 2)
        if name == "walltime":
            try:
                parse_walltime(setting)
            except ValueError:
                raise bad from None
        elif (name in {"mem", "vmem", "pmem", "pvmem"} and not _SIZE.match(setting)) or (
            name in {"ncpus", "mpiprocs", "ompthreads", "ngpus"} and not setting.isdigit()
        ):
            raise bad
        elif name == "select":
            _check_select(setting, bad)
        resources[name] = setting


def _check_select(value: str, bad: CommandError) -> None:
    for chunk in value.split("+"):
        parts = chunk.split(":")
        if parts and parts[0].isdigit():
            parts = parts[1:]
        for part in parts:
            key, eq, setting = part.partition("=")
            if not eq or not key or not setting:
                raise bad
            if key in {"mem", "vmem"} and not _SIZE.match(setting):
                raise bad
            if key in {"ncpus", "mpiprocs", "ompthreads", "ngpus"} and not setting.isdigit():
                raise bad


def _parse_depend(value: str, server: str) -> list[Dependency]:
    deps: list[Dependency] = []
    for group in value.split(","):
        kind, _, ids = group.partition(":")
        if kind in {"before", "beforeok", "beforenotok", "beforeany", "on"}:
            raise unsupported("qsub", f"-W depend={kind}")
        if kind not in _DEPEND_KINDS or not ids:
            raise _illegal("-W")
        for text in ids.split(":"):
            match = _JOBID.match(text)
            if match is None or match.group(3):
                raise _illegal("-W")
            mapped: DependencyKind = _DEPEND_KINDS[kind]
            deps.append(Dependency(kind=mapped, job=int(match.group(1)), index=None))
    return deps


def _parse_array(value: str, max_size: int) -> tuple[list[int], int | None]:
    match = _ARRAY.match(value)
    if match is None:
        raise _illegal("-J")
    start, end = int(match.group(1)), int(match.group(2))
    step = int(match.group(3) or 1)
    throttle = int(match.group(4)) if match.group(4) else None
    if start >= end or step < 1 or throttle == 0:
        raise _illegal("-J")
    indices = list(range(start, end + 1, step))
    if len(indices) > max_size:
        raise CommandError("qsub: Array job exceeds server or queue size limit", 2)
    return indices, throttle


def _apply(opts: list[tuple[str, str]], into: dict[str, Any]) -> None:
    for flag, value in opts:
        letter = flag[1]
        if letter not in _QSUB_FAKED:
            raise unsupported("qsub", f"option {flag}")
        if letter == "l":
            into.setdefault("l", []).append(value)
        elif letter == "v":
            into.setdefault("v", []).append(value)
        elif letter == "W":
            into.setdefault("W", []).append(value)
        else:
            into[letter] = value


def _variables(values: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        for item in shlex.split(value.replace(",", " ")) if value else []:
            name, eq, setting = item.partition("=")
            found[name] = setting if eq else os.environ.get(name, "")
    return found


def _output_path(value: str | None, default: str, cwd: str) -> str:
    if value is None:
        return str(Path(cwd) / default)
    path = value.split(":", 1)[1] if re.match(r"^[\w.-]+:", value) else value
    full = Path(cwd) / path
    if full.is_dir():
        full = full / default
    return str(full)


def _qsub(argv: Sequence[str]) -> int:
    args = list(argv)
    if args == ["--version"]:
        print(f"pbs_version = {PBS_VERSION}")
        return 0
    try:
        opts, rest = getopt.getopt(args, _QSUB_OPTS)
    except getopt.GetoptError as exc:
        raise _bad_option("qsub", exc) from None
    executable = bool(rest) and len(args) > len(rest) and args[-len(rest) - 1] == "--"
    cwd = str(Path.cwd())
    if executable:
        script_text = ""
        default_name = Path(rest[0]).name
    elif len(rest) > 1:
        raise CommandError(_USAGE, 2)
    elif rest and rest[0] != "-":
        try:
            script_text = Path(rest[0]).read_text()
        except OSError as exc:
            raise CommandError(f"qsub: script file:: {exc.strerror}", 2) from None
        default_name = Path(rest[0]).name
    else:
        script_text = sys.stdin.read()
        default_name = "STDIN"
    settings: dict[str, Any] = {}
    if script_text:
        try:
            directive_opts, _ = getopt.getopt(script_directives(script_text, "#PBS"), _QSUB_OPTS)
        except getopt.GetoptError as exc:
            raise CommandError(f"qsub: directive error: {exc.msg}", 2) from None
        _apply(directive_opts, settings)
    _apply(opts, settings)
    return _submit(settings, script_text, rest if executable else None, default_name, cwd)


def _submit(
    settings: dict[str, Any],
    script_text: str,
    command: list[str] | None,
    default_name: str,
    cwd: str,
) -> int:
    name = settings.get("N", default_name)
    if not re.fullmatch(r"[A-Za-z0-9][!-~]{0,235}", name):
        raise _illegal("-N")
    resources: dict[str, str] = {}
    for value in settings.get("l", []):
        _check_resources(value, resources)
    if settings.get("j", "n") not in {"oe", "eo", "n"}:
        raise _illegal("-j")
    if "m" in settings and not re.fullmatch(r"n|[abej]+", settings["m"]):
        raise _illegal("-m")
    if "r" in settings and settings["r"] not in {"y", "n"}:
        raise _illegal("-r")
    if "p" in settings:
        try:
            if not -1024 <= int(settings["p"]) <= 1023:
                raise ValueError
        except ValueError:
            raise _illegal("-p") from None
    store = open_store("qsub")
    with store.edit() as state:
        if not runner_alive(state["runner_pid"]):
            raise CommandError(
                f"qsub: cannot connect to server {state['server']} (errno=111)", 111 % 256
            )
        server = state["server"]
        deps: list[Dependency] = []
        for value in settings.get("W", []):
            attr, eq, setting = value.partition("=")
            if attr != "depend" or not eq:
                raise unsupported("qsub", f"-W {attr}")
            deps.extend(_parse_depend(setting, server))
        indices: list[int | None] = [None]
        throttle = None
        if "J" in settings:
            found, throttle = _parse_array(settings["J"], state["max_array_size"])
            indices = list(found)
        queue = settings.get("q", "workq").split("@", 1)[0] or "workq"
        if queue not in state["queues"]:
            raise CommandError(f"qsub: Unknown queue {queue}", 2)
        job_id = state["next_id"]
        state["next_id"] += 1
        job_dir = store.job_dir(job_id)
        if command is None:
            shell = settings.get("S", "").split(",")[0].split("@")[0]
            argv = write_script(job_dir, script_text, shell)
        else:
            argv = list(command)
        env = _environment(settings, cwd, queue, name)
        join = settings.get("j", "n")
        elements: list[Element] = []
        for index in indices:
            suffix = "" if index is None else f".{index}"
            out = _output_path(settings.get("o"), f"{name}.o{job_id}{suffix}", cwd)
            err = _output_path(settings.get("e"), f"{name}.e{job_id}{suffix}", cwd)
            if index is not None:
                out = out.replace("^array_index^", str(index))
                err = err.replace("^array_index^", str(index))
            if join == "oe":
                err = out
            elif join == "eo":
                out = err
            own = {"PBS_JOBID": _job_id(job_id, server, index)}
            if index is not None:
                own["PBS_ARRAY_INDEX"] = str(index)
                own["PBS_ARRAY_ID"] = _job_id(job_id, server, "")
            elements.append(new_element(index, out, err, own))
        walltime = parse_walltime(resources["walltime"]) if "walltime" in resources else None
        state["jobs"][str(job_id)] = Job(
            id=job_id,
            flavour="pbs",
            name=name,
            queue=queue,
            user=user_name(),
            argv=argv,
            cwd=str(Path.home()),
            env=env,
            submit_time=time.time(),
            walltime=walltime,
            deps=deps,
            dep_policy="end",
            throttle=throttle,
            timeout_signal=signal.SIGTERM,
            cancel_signal=signal.SIGTERM,
            kill_delay=2.0,
            output_append=False,
            walltime_note="=>> PBS: job killed: walltime {used} exceeded limit {limit}\n",
            elements=elements,
            extra={
                "resources": resources,
                "array_spec": settings.get("J"),
                "account": settings.get("A"),
                "project": settings.get("P", "_pbs_project_default"),
                "join": join,
            },
        )
    if "z" not in settings:
        print(_job_id(job_id, server, "" if "J" in settings else None))
    return 0


def _environment(settings: dict[str, Any], cwd: str, queue: str, name: str) -> dict[str, str]:
    submit = os.environ
    env = job_env() if "V" in settings else {}
    for var in ("HOME", "USER", "LOGNAME", "SHELL", "LANG"):
        if var in submit and var not in env:
            env[var] = submit[var]
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    for var in ("HOME", "LANG", "LOGNAME", "PATH", "MAIL", "SHELL", "TZ"):
        if var in submit:
            env[f"PBS_O_{var}"] = submit[var]
    env.update(
        PBS_O_WORKDIR=cwd,
        PBS_O_HOST=platform.node(),
        PBS_O_SYSTEM=platform.system(),
        PBS_O_QUEUE=queue,
        PBS_QUEUE=queue,
        PBS_JOBNAME=name,
        PBS_ENVIRONMENT="PBS_BATCH",
    )
    env.update(_variables(settings.get("v", [])))
    return env


# -- qstat ----------------------------------------------------------------------------


def _exit_status(element: Element) -> int | None:
    if element["state"] != "ended" or element["start"] is None:
        return None
    if element["reason"] == "walltime":
        return WALLTIME_EXIT
    code = element["returncode"]
    if code is None:
        return None
    return 256 - code if code < 0 else code


def _element_state(state: State, job: Job, element: Element) -> str:
    if element["state"] == "running":
        return "E" if element["cancel"] else "R"
    if element["state"] == "ended":
        return "F" if element["index"] is None else "X"
    return "H" if _waiting(state, job) else "Q"


def _waiting(state: State, job: Job) -> bool:
    return any(dependency_status(state, d) != "ok" for d in job["deps"])


def _stamp(value: float | None) -> str | None:
    return None if value is None else time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(value))


def _common_attrs(state: State, job: Job) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "Job_Name": job["name"],
        "Job_Owner": f"{job['user']}@{platform.node()}",
        "queue": job["queue"],
        "server": state["server"],
        "ctime": _stamp(job["submit_time"]),
        "qtime": _stamp(job["submit_time"]),
        "Resource_List": dict(job["extra"]["resources"]),
        "project": job["extra"]["project"],
        "Rerunable": "True",
        "Join_Path": job["extra"]["join"],
    }
    if job["extra"].get("account"):
        attrs["Account_Name"] = job["extra"]["account"]
    if job["deps"]:
        attrs["depend"] = ",".join(f"{d['kind']}:{d['job']}" for d in job["deps"])
    return attrs


def _element_attrs(state: State, job: Job, element: Element) -> dict[str, Any]:
    attrs = _common_attrs(state, job)
    code = _element_state(state, job, element)
    attrs["job_state"] = code
    attrs["Output_Path"] = f"{platform.node()}:{element['stdout']}"
    attrs["Error_Path"] = f"{platform.node()}:{element['stderr']}"
    if code == "H":
        attrs["Hold_Types"] = "s"
    if element["start"] is not None:
        attrs["stime"] = _stamp(element["start"])
        attrs["session_id"] = element["pid"]
        attrs["exec_host"] = f"{platform.node()}/0"
        used = (element["end"] or time.time()) - element["start"]
        attrs["resources_used"] = {"walltime": time.strftime("%H:%M:%S", time.gmtime(used))}
    if element["state"] == "ended":
        attrs["substate"] = 92 if element["start"] is not None and not element["cancel"] else 91
        status = _exit_status(element)
        if status is not None:
            attrs["Exit_status"] = status
        if element["reason"] == "dependency":
            attrs["comment"] = "Job deleted, dependency could not be satisfied"
        if element["end"] is not None:
            attrs["obittime"] = _stamp(element["end"])
    if element["index"] is not None:
        attrs["array_id"] = _job_id(job["id"], state["server"], "")
        attrs["array_index"] = element["index"]
    return attrs


def _array_attrs(state: State, job: Job) -> dict[str, Any]:
    attrs = _common_attrs(state, job)
    elements = job["elements"]
    counts = {"Queued": 0, "Running": 0, "Exiting": 0, "Expired": 0}
    for element in elements:
        key = {"queued": "Queued", "running": "Running", "ended": "Expired"}[element["state"]]
        counts[key] += 1
    if all(e["state"] == "ended" for e in elements):
        attrs["job_state"] = "F"
        attrs["substate"] = 92
        if any(e["reason"] in {"cancelled", "dependency"} for e in elements):
            attrs["Exit_status"] = 2
        else:
            attrs["Exit_status"] = 0 if all(element_ok(e) for e in elements) else 1
    elif any(e["start"] is not None for e in elements):
        attrs["job_state"] = "B"
    else:
        attrs["job_state"] = "H" if job["deps"] and _waiting(state, job) else "Q"
    spec = job["extra"]["array_spec"] or ""
    attrs["array"] = "True"
    attrs["array_indices_submitted"] = spec.split("%", 1)[0]
    remaining = [e["index"] for e in elements if e["state"] == "queued"]
    attrs["array_indices_remaining"] = _ranges(remaining) or "-"
    attrs["array_state_count"] = " ".join(f"{k}:{v}" for k, v in counts.items()) + " "
    if "%" in spec:
        attrs["max_run_subjobs"] = int(spec.split("%", 1)[1])
    return attrs


def _ranges(indices: list[int | None]) -> str:
    values = sorted(i for i in indices if i is not None)
    parts: list[str] = []
    for value in values:
        if parts and parts[-1].split("-")[-1] == str(value - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{value}"
        else:
            parts.append(str(value))
    return ",".join(parts)


def _ended(job: Job) -> bool:
    return all(e["state"] == "ended" for e in job["elements"])


def _select(
    state: State, ids: list[str], history: bool, subjobs: bool
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    found: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    server = state["server"]
    chosen = ids or [_job_id(j["id"], server) for j in state["jobs"].values()]
    for text in chosen:
        match = _JOBID.match(text)
        job = state["jobs"].get(match.group(1)) if match else None
        if match is None or job is None:
            errors.append(f"qstat: Unknown Job Id {text}")
            continue
        is_array = job["extra"]["array_spec"] is not None
        finished = _ended(job)
        if finished and not ids and not (history and state["history"]):
            continue
        if finished and not (history and state["history"]):
            if state["history"]:
                errors.append(
                    f"qstat: {_job_id(job['id'], server)} Job has finished, "
                    "use -x or -H to obtain historical job information"
                )
            else:
                errors.append(f"qstat: Unknown Job Id {text}")
            continue
        if match.group(3):
            element = next((e for e in job["elements"] if e["index"] == int(match.group(3))), None)
            if element is None or not is_array:
                errors.append(f"qstat: Unknown Job Id {text}")
                continue
            found[_job_id(job["id"], server, element["index"])] = _element_attrs(
                state, job, element
            )
            continue
        if is_array:
            if match.group(2) is None and ids:
                errors.append(f"qstat: Unknown Job Id {text}")
                continue
            found[_job_id(job["id"], server, "")] = _array_attrs(state, job)
            if subjobs:
                for element in job["elements"]:
                    key = _job_id(job["id"], server, element["index"])
                    found[key] = _element_attrs(state, job, element)
        elif match.group(2) is None:
            found[_job_id(job["id"], server)] = _element_attrs(state, job, job["elements"][0])
        else:
            errors.append(f"qstat: Unknown Job Id {text}")
    return found, errors


def _qstat(argv: Sequence[str]) -> int:
    args = list(argv)
    if args == ["--version"]:
        print(f"pbs_version = {PBS_VERSION}")
        return 0
    try:
        opts, ids = getopt.getopt(args, "afF:HiJnpsStTuwxBQ1")
    except getopt.GetoptError as exc:
        raise _bad_option("qstat", exc) from None
    flags = {flag[1]: value for flag, value in opts}
    for letter in flags:
        if letter not in "fFJtx":
            raise unsupported("qstat", f"option -{letter}")
    if "F" in flags and (flags["F"] not in {"json", "dsv"} or "f" not in flags):
        raise CommandError("qstat: -F requires -f and one of json, dsv", 2)
    if flags.get("F") == "dsv":
        raise unsupported("qstat", "-F dsv")
    store = open_store("qstat")
    state = store.read()
    found, errors = _select(state, ids, "x" in flags, "t" in flags)
    if "J" in flags:
        found = {k: v for k, v in found.items() if "[" in k}
    if flags.get("F") == "json":
        document = {
            "timestamp": int(time.time()),
            "pbs_version": PBS_VERSION,
            "pbs_server": state["server"],
            "Jobs": found,
        }
        print(json.dumps(document, indent=4))
    elif "f" in flags:
        for key, attrs in found.items():
            print(f"Job Id: {key}")
            for name, value in attrs.items():
                if isinstance(value, dict):
                    for sub, item in value.items():
                        print(f"    {name}.{sub} = {item}")
                else:
                    print(f"    {name} = {value}")
            print()
    elif found:
        print(f"{'Job id':<17} {'Name':<16} {'User':<16}  Time Use S Queue")
        print(f"{'-' * 16}  {'-' * 16} {'-' * 16}  -------- - -----")
        for key, attrs in found.items():
            used = attrs.get("resources_used", {}).get("walltime", "0")
            print(
                f"{key[:16]:<17} {attrs['Job_Name'][:16]:<16} "
                f"{attrs['Job_Owner'].split('@')[0][:16]:<16} {used:>9} "
                f"{attrs['job_state']} {attrs['queue']}"
            )
    for line in errors:
        print(line, file=sys.stderr)
    return 153 if errors else 0


# -- qdel -----------------------------------------------------------------------------


def _qdel(argv: Sequence[str]) -> int:
    try:
        opts, ids = getopt.getopt(list(argv), "W:x")
    except getopt.GetoptError as exc:
        raise _bad_option("qdel", exc) from None
    for flag, value in opts:
        if flag != "-W" or value != "force":
            raise unsupported("qdel", f"option {flag} {value}".strip())
    if not ids:
        raise CommandError("usage: qdel [-W force|suppress_email=X] [-x] job_identifier...", 2)
    store = open_store("qdel")
    status = 0
    now = time.time()
    with store.edit() as state:
        for text in ids:
            match = _JOBID.match(text)
            job = state["jobs"].get(match.group(1)) if match else None
            if match is None or job is None:
                print(f"qdel: Unknown Job Id {text}", file=sys.stderr)
                status = 153
                continue
            is_array = job["extra"]["array_spec"] is not None
            if match.group(3):
                targets = [e for e in job["elements"] if str(e["index"]) == match.group(3)]
            elif is_array == (match.group(2) is not None):
                targets = job["elements"]
            else:
                targets = []
            if not targets:
                print(f"qdel: Unknown Job Id {text}", file=sys.stderr)
                status = 153
                continue
            if all(e["state"] == "ended" for e in targets):
                print(f"qdel: Job has finished {text}", file=sys.stderr)
                status = 35
                continue
            for element in targets:
                cancel_element(element, now)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qsub``, ``qstat`` or ``qdel``: the first argument names the command."""
    return run_named("pbs", {"qsub": _qsub, "qstat": _qstat, "qdel": _qdel}, argv)


if __name__ == "__main__":
    sys.exit(main())

"""Fake Flux commands: ``flux submit``, ``flux jobs``, ``flux cancel`` (and ``flux job id``).

Grammar written from the flux-core manual pages:

- flux-submit(1), "JOB PARAMETERS": ``-n/--ntasks``, ``-c/--cores-per-task``,
  ``-g/--gpus-per-task``, ``-N/--nodes``, ``--exclusive``, ``-q/--queue`` (ignored when
  no queues are configured), ``-B/--bank`` (flux-core 0.65), ``--job-name``,
  ``-t/--time-limit=MINUTES|FSD``: a number alone is minutes, otherwise a Flux
  standard duration (RFC 23: a float with one of ``s``, ``m``, ``h``, ``d``, ``ms``);
  ``-t 01:00:00`` fails with ``flux-submit: ERROR: invalid Flux standard duration``.
- flux-submit(1), "OTHER OPTIONS": ``--cwd``, ``--urgency``, ``-S/--setattr``,
  ``--cc=IDSET`` / ``--bcc=IDSET`` (one job per id; ``FLUX_JOB_CC`` set with ``--cc``;
  ``{cc}`` replaced in options and command), ``--quiet``, ``--flags``.
- flux-submit(1), "DEPENDENCIES": ``--dependency=SCHEME:JOBID``, once per dependency,
  for ``after``, ``afterany``, ``afterok``, ``afternotok``; an ``after*`` dependency
  that cannot be met raises a fatal ``dependency`` exception on the job.
- flux-submit(1), "STANDARD I/O" and "MUSTACHE TEMPLATES": ``--output``/``--error``
  with ``{{id}}``, ``{{jobid}}``, ``{{id.f58}}``, ``{{id.dec}}``, ``{{name}}``.
- flux-jobs(1): ``-a``, ``-n/--no-header``, ``-f/--filter``, ``-o/--format`` (Python
  format fields such as ``{id.f58}``, ``{state}``, ``{result}``, ``{returncode}``, the
  ``h`` presentation suffix and ``?:`` prefix; ``{exception.occurred}``,
  ``{exception.type}``...), ``--json`` (a ``jobs`` array, or one object when one JOBID
  was given).  The JSON objects follow ``JobInfo.to_dict()`` of flux-core's Python
  bindings (``flux/job/info.py``): ``id`` a decimal integer, ``state``, ``status`` and
  ``result`` as names, timestamps only once reached, ``annotations``, ``dependencies``
  (``after-success=ID``...) and ``exception`` always, the latter nested
  (``{"occurred": false}``, or ``occurred``, ``severity``, ``type``, ``note``).
- flux-jobs(1) ``returncode`` and ``JobInfo.returncode``: a job that ran has the job
  shell's exit code, and a shell that runs a task killed by signal N exits 128+N
  (``waitstatus`` is that code shifted left by 8); a shell killed itself gives -N. A job
  that never ran has no ``waitstatus``: -128 if it was CANCELED, 1 if it FAILED (a
  ``dependency`` exception).  A timeout raises a ``timeout`` exception ("resource
  allocation expired") and sends SIGALRM, a cancel sends SIGTERM; SIGKILL follows both.
- flux-cancel(1): ``flux cancel [-m MESSAGE] [-q] JOBID...`` (SIGTERM, then SIGKILL).
- RFC 19: F58 job ids, printed by ``flux submit`` with ``ƒ`` unless
  ``FLUX_F58_FORCE_ASCII`` is set.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import re
import signal
import string
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from reflow_fake_schedulers import _f58
from reflow_fake_schedulers._common import (
    CommandError,
    job_env,
    open_store,
    run_command,
    runner_alive,
    unsupported,
    user_name,
)
from reflow_fake_schedulers._jobs import cancel_element
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

__all__ = ["FLUX_VERSION", "main", "parse_fsd", "parse_idset"]

FLUX_VERSION = "0.68.0"
"""The flux-core version the fake claims."""

_KINDS: dict[str, DependencyKind] = {
    "after": "afterstart",
    "afterany": "afterany",
    "afterok": "afterok",
    "afternotok": "afternotok",
}
_EPOCH_OFFSET_MS = 3_600_000


class _Parser(argparse.ArgumentParser):
    """argparse that fails with a :class:`CommandError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{self.format_usage()}{self.prog}: error: {message}", 2)


class _Unsupported(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        raise unsupported(parser.prog, f"option {option_string}")


def _fail(prog: str, message: str) -> CommandError:
    return CommandError(f"{prog}: ERROR: {message}", 1)


def parse_fsd(text: str) -> float:
    """Seconds in a Flux standard duration (RFC 23); ValueError for anything else."""
    if text in {"inf", "infinity", "INF", "INFINITY"}:
        return float("inf")
    match = re.fullmatch(r"(.*?)(ms|s|m|h|d)?", text)
    try:
        value = float(match.group(1) if match else text)
    except ValueError:
        raise ValueError("invalid Flux standard duration") from None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    seconds = value * scale[(match.group(2) if match else None) or "s"]
    if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        raise ValueError("invalid Flux standard duration")
    return seconds


def _time_limit(text: str) -> float:
    # flux-submit(1): "The default unit for the --time-limit option is minutes".
    if re.fullmatch(r"\d+(\.\d*)?", text):
        text += "m"
    return parse_fsd(text)


def parse_idset(text: str) -> list[int]:
    """The ids of an RFC 22 idset such as ``0-3,7`` or ``[1-4]``; ValueError otherwise."""
    body = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    found: list[int] = []
    for part in body.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if match is None:
            raise ValueError(f"invalid idset: '{text}'")
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if high < low:
            raise ValueError(f"invalid idset: '{text}'")
        found.extend(range(low, high + 1))
    return sorted(set(found))


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"invalid positive integer: '{text}'")
    return int(text)


def _submit_parser() -> _Parser:
    p = _Parser(prog="flux-submit", usage="flux-submit [OPTIONS...] COMMAND [ARGS...]\n")
    p.allow_abbrev = False
    p.add_argument("-n", "--ntasks", type=_positive, default=1)
    p.add_argument("-c", "--cores-per-task", type=_positive, default=1)
    p.add_argument("-g", "--gpus-per-task", type=int, default=0)
    p.add_argument("-N", "--nodes", type=_positive)
    p.add_argument("--exclusive", action="store_true")
    p.add_argument("-t", "--time-limit")
    p.add_argument("-q", "--queue")
    p.add_argument("-B", "--bank")
    p.add_argument("--job-name")
    p.add_argument("--cwd")
    p.add_argument("--urgency")
    p.add_argument("-S", "--setattr", action="append", default=[])
    # One list, in command-line order: flux-submit(1) applies the rules in that order.
    p.add_argument("--env", action="append", dest="env_rules", default=[])
    p.add_argument(
        "--env-remove", action="append", dest="env_rules", type=lambda pattern: f"-{pattern}"
    )
    p.add_argument("--output")
    p.add_argument("--error")
    p.add_argument("--dependency", action="append", default=[])
    p.add_argument("--cc")
    p.add_argument("--bcc")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--flags")
    for flag in ("--label-io", "--unbuffered", "--wait", "--watch", "--progress", "--jps",
                 "--dry-run", "--debug", "-v", "--verbose"):  # fmt: skip
        p.add_argument(flag, nargs=0, action=_Unsupported)
    for option in ("-o", "--setopt", "--input", "--begin-time", "--signal", "--taskmap",
                   "--tasks-per-node", "--tasks-per-core", "--gpus-per-node", "--cores",
                   "--requires", "--rlimit", "--add-file", "--wait-event", "--log",
                   "--log-stderr", "--env-file", "--conf"):  # fmt: skip
        p.add_argument(option, action=_Unsupported)
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


def _fluid(state: State) -> int:
    stamp = int((time.time() - state["created"]) * 1000) + _EPOCH_OFFSET_MS
    fluid = max(state["next_id"], stamp << 24)
    state["next_id"] = fluid + 1
    return fluid


def _template(text: str, job_id: int, name: str) -> str:
    values = {
        "id": _f58.encode(job_id),
        "jobid": _f58.encode(job_id),
        "id.f58": _f58.encode(job_id),
        "id.f58plain": _f58.encode(job_id, ascii_only=True),
        "id.dec": str(job_id),
        "id.hex": hex(job_id),
        "name": name,
    }

    def swap(match: re.Match[str]) -> str:
        key = match.group(1).strip()
        if key not in values:
            raise unsupported("flux-submit", f"the template {{{{{key}}}}}")
        return values[key]

    return re.sub(r"\{\{([^}]*)\}\}", swap, text)


def _apply_env_rules(env: dict[str, str], rules: list[str]) -> None:
    """flux-submit(1) "ENV RULES", in order, on a copy of the submitting environment.

    ``-PATTERN`` removes the matching variables (a glob), ``NAME=VALUE`` sets one
    (``$VAR`` expanded from the submitting environment), and any other rule is
    a glob of submitting variables copied in when not already set.
    """
    submitted = dict(env)
    for rule in rules:
        if rule.startswith("-"):
            if rule[1:].startswith("/"):
                raise unsupported("flux-submit", "--env=-/REGEX/")
            for name in [n for n in env if fnmatch.fnmatchcase(n, rule[1:])]:
                del env[name]
        elif rule.startswith("^"):
            raise unsupported("flux-submit", "--env=^FILE")
        elif "=" in rule:
            name, _, value = rule.partition("=")
            env[name] = string.Template(value).safe_substitute(os.environ)
        else:
            for name, value in submitted.items():
                if fnmatch.fnmatchcase(name, rule):
                    env.setdefault(name, value)


def _submit(argv: Sequence[str]) -> int:
    args = _submit_parser().parse_args(list(argv))
    if not args.command:
        raise _fail("flux-submit", "job command and arguments are missing")
    if args.cc and args.bcc:
        raise _fail("flux-submit", "--cc and --bcc are mutually exclusive")
    try:
        limit = _time_limit(args.time_limit) if args.time_limit else None
    except ValueError as exc:
        raise _fail("flux-submit", str(exc)) from None
    copies: list[int | None] = [None]
    if args.cc or args.bcc:
        try:
            copies = list(parse_idset(args.cc or args.bcc))
        except ValueError as exc:
            raise _fail("flux-submit", f"--cc: {exc}") from None
    for item in args.setattr:
        if not re.fullmatch(r"[.^A-Za-z_][\w.-]*(=.*)?", item, re.DOTALL):
            raise _fail("flux-submit", f"--setattr: invalid KEY[=VAL]: '{item}'")
    cwd = str(Path(args.cwd).absolute()) if args.cwd else str(Path.cwd())
    ids: list[int] = []
    store = open_store("flux-submit")
    with store.edit() as state:
        if not runner_alive(state["runner_pid"]):
            raise _fail("flux-submit", "Unable to connect to Flux: Connection refused")
        if args.queue and state["queues"] and args.queue not in state["queues"]:
            raise _fail("flux-submit", f"Invalid queue '{args.queue}' specified")
        deps = _dependencies(args.dependency, state)
        for cc in copies:
            ids.append(_submit_one(state, store.job_dir, args, cc, cwd, limit, deps))
    if not args.quiet:
        for job_id in ids:
            print(_f58.encode(job_id))
    return 0


def _dependencies(values: list[str], state: State) -> list[Dependency]:
    deps: list[Dependency] = []
    for value in values:
        scheme, colon, target = value.partition(":")
        if scheme in {"afterexcept", "singleton", "begin-time"}:
            raise unsupported("flux-submit", f"--dependency={scheme}")
        if scheme not in _KINDS or not colon:
            raise _fail("flux-submit", f'dependency scheme "{scheme}" not supported')
        try:
            job_id = _f58.parse_jobid(target.split("?", 1)[0])
        except ValueError:
            raise _fail("flux-submit", f"{scheme}: invalid jobid '{target}'") from None
        if str(job_id) not in state["jobs"]:
            raise _fail("flux-submit", f"{scheme}: job {target} not found")
        deps.append(Dependency(kind=_KINDS[scheme], job=job_id, index=None))
    return deps


_AFTER_NAMES = {
    "afterstart": "after-start",
    "afterany": "after-finish",
    "afterok": "after-success",
    "afternotok": "after-failure",
}
"""How flux-core's dependency-after plugin names each kind in a job's dependency list."""


def _dependency_texts(values: list[str]) -> list[str]:
    # dependency-after describes a dependency as TYPE=JOBID, the id as the user gave it.
    texts = []
    for value in values:
        scheme, _, target = value.partition(":")
        texts.append(f"{_AFTER_NAMES[_KINDS[scheme]]}={target.split('?', 1)[0]}")
    return texts


def _submit_one(
    state: State,
    job_dir: Callable[[int], Path],
    args: argparse.Namespace,
    cc: int | None,
    cwd: str,
    limit: float | None,
    deps: list[Dependency],
) -> int:
    def fill(text: str) -> str:
        return text.replace("{cc}", "" if cc is None else str(cc))

    command = [fill(word) for word in args.command]
    name = fill(args.job_name) if args.job_name else Path(command[0]).name
    job_id = _fluid(state)
    directory = job_dir(job_id)
    out = _template(fill(args.output), job_id, name) if args.output else None
    err = _template(fill(args.error), job_id, name) if args.error else None
    stdout = str(Path(cwd) / out) if out else str(directory / "output")
    stderr = str(Path(cwd) / err) if err else stdout
    env = job_env()
    _apply_env_rules(env, list(args.env_rules))
    tmpdir = directory / "tmp"
    tmpdir.mkdir(exist_ok=True)
    env.update(
        FLUX_JOB_ID=_f58.encode(job_id),
        FLUX_JOB_SIZE=str(args.ntasks),
        FLUX_JOB_NNODES="1",
        FLUX_TASK_RANK="0",
        FLUX_TASK_LOCAL_ID="0",
        FLUX_JOB_TMPDIR=str(tmpdir),
    )
    if cc is not None and args.cc:
        env["FLUX_JOB_CC"] = str(cc)
    state["jobs"][str(job_id)] = Job(
        id=job_id,
        flavour="flux",
        name=name,
        queue=args.queue or "",
        user=user_name(),
        argv=command,
        cwd=cwd,
        env=env,
        submit_time=time.time(),
        walltime=limit if limit and limit != float("inf") else None,
        deps=deps,
        dep_policy="end",
        throttle=None,
        timeout_signal=signal.SIGALRM,
        cancel_signal=signal.SIGTERM,
        kill_delay=2.0,
        output_append=False,
        walltime_note=None,
        elements=[new_element(None, stdout, stderr)],
        extra={
            "ntasks": args.ntasks,
            "ncores": args.ntasks * args.cores_per_task,
            "bank": args.bank,
            "urgency": args.urgency,
            "cc": cc,
            "nnodes": args.nodes,
            "dependencies": _dependency_texts(list(args.dependency)),
        },
    )
    return job_id


# -- flux jobs ------------------------------------------------------------------------


def _state(state: State, job: Job) -> str:
    element = job["elements"][0]
    if element["state"] == "ended":
        return "INACTIVE"
    if element["state"] == "running":
        # A cancel or a timeout raises a fatal exception: the job moves to CLEANUP.
        return "CLEANUP" if element["term_sent"] is not None else "RUN"
    if _waiting(state, job):
        return "DEPEND"
    return "SCHED"


def _waiting(state: State, job: Job) -> list[str]:
    """The job's dependencies not met (yet), as flux-core's job-list lists them."""
    if job["elements"][0]["start"] is not None:
        return []
    texts = job["extra"].get("dependencies") or [
        f"{_AFTER_NAMES[d['kind']]}={_f58.encode(d['job'])}" for d in job["deps"]
    ]
    return [
        text
        for dep, text in zip(job["deps"], texts, strict=False)
        if dependency_status(state, dep) != "ok"
    ]


def _wait_status(element: Element) -> int | None:
    """The job shell's wait status, or None for a job that never ran.

    The fake runs the task without a shell; the shell it stands for exits with the
    task's exit code, or 128+N when the task was killed by signal N.  An element the
    runner lost (no process to reap) is reported as a shell killed by SIGKILL.
    """
    if element["start"] is None:
        return None
    code = element["returncode"]
    if element["reason"] == "lost" or code is None:
        return int(signal.SIGKILL)
    return (128 - code if code < 0 else code) << 8


def _returncode(result: str, status: int | None) -> int:
    """flux-jobs(1) ``returncode`` of an inactive job (flux-core ``JobInfo.returncode``)."""
    if status is None:
        # Never ran: -128 if it was canceled, 1 for a fatal exception (dependency...).
        return -128 if result == "CANCELED" else 1
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _result(element: Element) -> str:
    reason = element["reason"]
    if reason == "walltime":
        return "TIMEOUT"
    if reason == "cancelled":
        return "CANCELED"
    if reason is None and element_ok(element):
        return "COMPLETED"
    return "FAILED"


def _exception(state: State, job: Job) -> dict[str, Any]:
    """The job's ``exception`` object as ``flux jobs --json`` prints it."""
    element = job["elements"][0]
    reason = element["reason"]
    if reason == "walltime":
        kind, note = "timeout", "resource allocation expired"
    elif reason == "cancelled":
        kind, note = "cancel", str(job["extra"].get("cancel_note") or "")
    elif reason == "dependency":
        kind, note = "dependency", _dependency_note(state, job)
    elif reason == "launch":
        kind, note = "exec", f"task 0 ({os.uname().nodename}): start failed: {job['argv'][0]}"
    elif reason == "lost":
        kind, note = "exec", "lost contact with job shell"
    else:
        return {"occurred": False}
    return {"occurred": True, "severity": 0, "type": kind, "note": note}


def _dependency_note(state: State, job: Job) -> str:
    # The words of flux-core's dependency-after plugin for a dependency that fails.
    texts = job["extra"].get("dependencies") or []
    for i, dep in enumerate(job["deps"]):
        if dependency_status(state, dep) != "never":
            continue
        text = texts[i] if i < len(texts) else f"{_AFTER_NAMES[dep['kind']]}={dep['job']}"
        target = state["jobs"].get(str(dep["job"]))
        ran = target is not None and any(e["start"] is not None for e in target["elements"])
        return f"dependency {text} {'can never be satisfied' if ran else 'job never started'}"
    return ""


def _record(state: State, job: Job) -> dict[str, Any]:
    """One job as ``flux jobs --json`` prints it: flux-core's ``JobInfo.to_dict()``.

    Keys in to_dict()'s order; empty values and unreached timestamps left out.
    """
    element = job["elements"][0]
    now = time.time()
    name = _state(state, job)
    start, end = element["start"], element["end"]
    ended = element["state"] == "ended"
    waiting = _waiting(state, job)
    record: dict[str, Any] = {"t_depend": job["submit_time"]}
    if start is not None:
        record["t_run"] = start
    if ended:
        record.update(t_cleanup=end, t_inactive=end)
    record["duration"] = job["walltime"] or 0.0
    if start is not None and job["walltime"]:
        record["expiration"] = start + job["walltime"]
    record.update(name=job["name"], cwd=job["cwd"])
    if job["queue"]:
        record["queue"] = job["queue"]
    if job["extra"].get("bank"):
        record["bank"] = job["extra"]["bank"]
    record.update(ntasks=job["extra"]["ntasks"], ncores=job["extra"]["ncores"])
    nnodes = job["extra"].get("nnodes") or (1 if start is not None else None)
    if nnodes:
        record["nnodes"] = nnodes
    if not waiting:  # the priority is set when the job leaves DEPEND
        record["priority"] = 16
    if start is not None:
        record.update(ranks="0", nodelist=os.uname().nodename)
    status = _wait_status(element) if ended else None
    result = _result(element) if ended else ""
    if ended:
        record.update(success=result == "COMPLETED", result=result)
        if status is not None:
            record["waitstatus"] = status
    record.update(id=job["id"], t_submit=job["submit_time"])
    if name == "RUN" and record.get("expiration", 0.0) > now:
        record["t_remaining"] = record["expiration"] - now
    record.update(state=name, username=user_name(), userid=os.getuid())
    record["urgency"] = int(job["extra"]["urgency"] or 16)
    if start is not None and ((end or now) - start) > 0:
        record["runtime"] = (end or now) - start
    record["status"] = result or name
    if ended:
        record["returncode"] = _returncode(result, status)
    record.update(dependencies=waiting, annotations={}, exception=_exception(state, job))
    return record


class _JobId(int):
    """A job id as ``flux jobs -o`` formats it: ``{id}``, ``{id.f58}``, ``{id.dec}``..."""

    @property
    def f58(self) -> str:
        return _f58.encode(int(self))

    @property
    def f58plain(self) -> str:
        return _f58.encode(int(self), ascii_only=True)

    @property
    def dec(self) -> str:
        return str(int(self))

    @property
    def hex(self) -> str:
        return f"0x{int(self):x}"


_ABBREV = {"COMPLETED": "CD", "FAILED": "F", "CANCELED": "CA", "TIMEOUT": "TO"}
_STATUS_ABBREV = {"DEPEND": "D", "SCHED": "S", "RUN": "R", "CLEANUP": "C"}


_FIELD_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(("t_depend", "t_run", "t_cleanup", "t_inactive", "t_remaining"), 0.0),
    **dict.fromkeys(("duration", "expiration", "runtime"), 0.0),
    **dict.fromkeys(("cwd", "queue", "project", "bank", "nnodes", "priority"), ""),
    **dict.fromkeys(("ranks", "nodelist", "success", "result", "waitstatus", "returncode"), ""),
}
"""What ``flux jobs -o`` prints for a field a job has no value for (``JobInfo.defaults``)."""


def _fields(record: dict[str, Any]) -> dict[str, Any]:
    result = record.get("result", "")
    exception = record["exception"]
    fields: dict[str, Any] = {
        **_FIELD_DEFAULTS,
        **{k: v for k, v in record.items() if k != "exception"},
        "id": _JobId(record["id"]),
        "state_single": record["state"][0],
        "result_abbrev": _ABBREV.get(result, ""),
        "status_abbrev": _ABBREV.get(result) or _STATUS_ABBREV.get(record["status"], ""),
        "dependencies": ",".join(record["dependencies"]),
        "annotations": json.dumps(record["annotations"]) if record["annotations"] else "",
        "exception.occurred": exception["occurred"],
        "exception.type": exception.get("type", ""),
        "exception.severity": exception.get("severity", ""),
        "exception.note": exception.get("note", ""),
    }
    return fields


class _Formatter(string.Formatter):
    """flux-jobs(1) OUTPUT FORMAT: dotted field names, ``h`` suffix, ``!F``/``!H`` conversions."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Any) -> tuple[Any, str]:
        head, _, attr = field_name.partition(".")
        if field_name in kwargs:
            return kwargs[field_name], field_name
        if head == "id" and attr in {"f58", "f58plain", "dec", "hex"}:
            return getattr(kwargs["id"], attr), field_name
        raise CommandError(f"flux-jobs: ERROR: Unknown format field: {field_name}", 1)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion == "F":
            return "" if value in ("", None) else _fsd(float(value))
        if conversion == "H":
            return "" if value in ("", None) else time.strftime("%H:%M:%S", time.gmtime(value))
        if conversion == "D":
            return "" if not value else time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(value))
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        hyphen = format_spec.endswith("h")
        spec = format_spec[:-1] if hyphen else format_spec
        if hyphen and value in ("", "0s", "0.0", "0:00:00", 0, None):
            value = "-"
        if isinstance(value, _JobId) and not spec:
            return str(int(value))
        return format(value if not isinstance(value, bool) else str(value), spec)


def _fsd(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.4g}s"
    if seconds < 3600:
        return f"{seconds / 60:.4g}m"
    if seconds < 86400:
        return f"{seconds / 3600:.4g}h"
    return f"{seconds / 86400:.4g}d"


_FILTERS = {
    "pending": {"DEPEND", "SCHED"},
    "running": {"RUN", "CLEANUP"},
    "active": {"DEPEND", "SCHED", "RUN", "CLEANUP"},
    "inactive": {"INACTIVE"},
    "depend": {"DEPEND"},
    "sched": {"SCHED"},
    "run": {"RUN"},
    "cleanup": {"CLEANUP"},
}


def _jobs(argv: Sequence[str]) -> int:
    p = _Parser(prog="flux-jobs")
    p.allow_abbrev = False
    p.add_argument("-a", action="store_true")
    p.add_argument("-A", action="store_true")
    p.add_argument("-n", "--no-header", action="store_true")
    p.add_argument("-u", "--user")
    p.add_argument("-c", "--count", type=int, default=1000)
    p.add_argument("-f", "--filter")
    p.add_argument("-o", "--format")
    p.add_argument("--json", action="store_true")
    p.add_argument("--name")
    p.add_argument("--queue")
    for option in ("--since", "--color", "-L", "--level", "--threads"):
        p.add_argument(option, action=_Unsupported)
    for flag in ("--stats", "--stats-only", "-R", "--recursive", "--recurse-all"):
        p.add_argument(flag, nargs=0, action=_Unsupported)
    p.add_argument("jobids", nargs="*", metavar="JOBID")
    args = p.parse_args(list(argv))
    wanted: list[int] = []
    for text in args.jobids:
        try:
            wanted.append(_f58.parse_jobid(text))
        except ValueError:
            p.error(f"argument JOBID: invalid JobID value: '{text}'")
    state = open_store("flux-jobs").read()
    records, errors = _select_jobs(state, args, wanted)
    if args.json:
        if len(args.jobids) == 1 and records:
            print(json.dumps(records[0]))
        elif records or not args.jobids:
            print(json.dumps({"jobs": records}))
    else:
        spec = args.format or "{id.f58:>12} {username:<8.8} {name:<10.10} {status_abbrev:>2.2}"
        spec = spec.replace("?:", "")
        formatter = _Formatter()
        if not args.no_header and args.format is None:
            print(f"{'JOBID':>12} {'USER':<8} {'NAME':<10} ST")
        elif not args.no_header:
            heads = {
                name: "JOBID" if name.startswith("id") else name.upper().replace(".", "_")
                for _, name, _, _ in formatter.parse(spec)
                if name
            }
            print(formatter.vformat(re.sub(r"![A-Za-z]", "", spec).replace("h}", "}"), (), heads))
        for record in records:
            print(formatter.vformat(spec, (), _fields(record)))
    for text in errors:
        print(f"flux-jobs: ERROR: JobID {text} unknown", file=sys.stderr)
    return 1 if errors else 0


def _select_jobs(
    state: State, args: argparse.Namespace, wanted: list[int]
) -> tuple[list[dict[str, Any]], list[str]]:
    errors: list[str] = []
    if wanted:
        records = []
        for job_id, text in zip(wanted, args.jobids, strict=True):
            job = state["jobs"].get(str(job_id))
            if job is None:
                errors.append(text)
            else:
                records.append(_record(state, job))
        return records, errors
    allowed: set[str] = set()
    results: set[str] = set()
    for word in (
        args.filter or ("pending,running,inactive" if args.a else "pending,running")
    ).split(","):
        key = word.strip().lower()
        if key in _FILTERS:
            allowed |= _FILTERS[key]
        elif key.upper() in {"COMPLETED", "FAILED", "CANCELED", "TIMEOUT"}:
            results.add(key.upper())
        else:
            raise CommandError(f"flux-jobs: ERROR: Invalid filter specified: {word}", 1)
    chosen = []
    for job in sorted(state["jobs"].values(), key=lambda j: -j["id"]):
        record = _record(state, job)
        if record["state"] in allowed or record.get("result") in results:
            if args.name and record["name"] != args.name:
                continue
            if args.queue and record.get("queue") != args.queue:
                continue
            chosen.append(record)
    return chosen[: args.count], errors


# -- flux cancel and flux job id ------------------------------------------------------


def _cancel(argv: Sequence[str]) -> int:
    p = _Parser(prog="flux-cancel")
    p.allow_abbrev = False
    p.add_argument("-m", "--message")
    p.add_argument("-q", "--quiet", action="store_true")
    for flag in ("--all", "-n", "--dry-run"):
        p.add_argument(flag, nargs=0, action=_Unsupported)
    for option in ("-u", "--user", "-S", "--states"):
        p.add_argument(option, action=_Unsupported)
    p.add_argument("jobids", nargs="*", metavar="JOBID")
    args = p.parse_args(list(argv))
    if not args.jobids:
        raise _fail("flux-cancel", "specify at least one JOBID or use --all")
    ids: list[int] = []
    for text in args.jobids:
        try:
            ids.append(_f58.parse_jobid(text))
        except ValueError:
            p.error(f"argument JOBID: invalid JobID value: '{text}'")
    status = 0
    now = time.time()
    with open_store("flux-cancel").edit() as state:
        for job_id, text in zip(ids, args.jobids, strict=True):
            job = state["jobs"].get(str(job_id))
            if job is None:
                print(f"flux-cancel: ERROR: {text}: unknown job id", file=sys.stderr)
                status = 1
                continue
            element = job["elements"][0]
            if element["state"] == "ended":
                print(f"flux-cancel: ERROR: {text}: job is inactive", file=sys.stderr)
                status = 1
            else:
                job["extra"]["cancel_note"] = args.message or ""
                cancel_element(element, now)
    return status


def _job(argv: Sequence[str]) -> int:
    args = list(argv)
    if args[:1] != ["id"]:
        raise unsupported("flux-job", f"flux job {args[0] if args else ''}".strip())
    p = _Parser(prog="flux-job id")
    p.add_argument("--to", default="dec", choices=["dec", "f58", "f58plain", "hex"])
    p.add_argument("--from", dest="source")
    p.add_argument("ids", nargs="*")
    parsed = p.parse_args(args[1:])
    for text in parsed.ids or sys.stdin.read().split():
        try:
            value = _JobId(_f58.parse_jobid(text))
        except ValueError as exc:
            raise _fail("flux-job", str(exc)) from None
        print(str(int(value)) if parsed.to == "dec" else getattr(value, parsed.to))
    return 0


def _version(argv: Sequence[str]) -> int:
    print(f"commands:    \t\t{FLUX_VERSION}\nlibflux-core:\t\t{FLUX_VERSION}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``flux SUBCOMMAND ...``; the first argument is ``flux``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["flux"]:
        args = args[1:]
    commands = {
        "submit": _submit,
        "jobs": _jobs,
        "cancel": _cancel,
        "job": _job,
        "version": _version,
        "--version": _version,
    }
    if not args:
        print("usage: flux [OPTIONS] COMMAND ARGS", file=sys.stderr)
        return 1
    if args[0] not in commands:
        return run_command("flux", _missing, args)
    return run_command(f"flux-{args[0]}", commands[args[0]], args[1:])


def _missing(argv: Sequence[str]) -> int:
    raise unsupported("flux", f"the subcommand '{argv[0]}'")


if __name__ == "__main__":
    sys.exit(main())

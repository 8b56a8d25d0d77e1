"""A worker job: run one task instance from its inputs file, write its result file.

Workers never open the manifest store (design §5): the dispatcher wrote
everything they need, and everything they report goes into the result file,
including what they used (elapsed time, CPU time, peak memory), so reports
work with every executor, and the fingerprint of the task function they
actually loaded and the states of the files its arguments name right before
the call, so the dispatcher records the output under the identity of the
code and files that ran (:mod:`reflow.engine.scheduler.results`).
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from reflow.executors.jobs import ARRAY_INDEX_ENV
from reflow.runs.files import read_json, write_json_atomic
from reflow.runs.layout import RunLayout

__all__ = ["run_worker"]

_WALLTIME_WARNING = (signal.SIGUSR1, signal.SIGXCPU)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _usage(started: float, cpu_at_start: float) -> dict[str, Any]:
    """Elapsed and CPU time over the same interval (from ``started``), and peak memory."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "elapsed": round(time.time() - started, 3),
        "cpu_time": round(_cpu_seconds() - cpu_at_start, 3),
        "peak_rss_kb": max(own.ru_maxrss, children.ru_maxrss),
    }


def _index_from_env() -> int | None:
    text = os.environ.get(ARRAY_INDEX_ENV)
    return int(text) if text not in (None, "") else None


def run_worker(script: Path, workflow_name: str, run_dir: Path, run_id: str, task: str) -> int:
    """Run one instance; return the process exit status (0 on success)."""
    # lazy: every task's job pays for the worker's imports: load only what it uses
    from reflow.cache.filestate import task_policies
    from reflow.cache.fingerprint import code_fingerprint
    from reflow.cache.identity import value_hash
    from reflow.cache.seenfiles import seen_files
    from reflow.define.labels import instance_label
    from reflow.engine.scheduler.code import workflow_codec
    from reflow.engine.scheduler.loader import load_workflow
    from reflow.manifest import CODEC, unstorable_output_message
    from reflow.signals import TaskInterrupted, graceful_shutdown

    index = _index_from_env()
    started = time.time()
    cpu_at_start = _cpu_seconds()
    host = socket.gethostname()
    result: dict[str, Any] = {
        "task": task,
        "index": index,
        "host": host,
        "pid": os.getpid(),
        "start": started,
    }
    layout = RunLayout(run_dir, run_id)
    out = layout.result_file(task, index)
    try:
        payload = read_json(layout.input_file(task, index))
        write_json_atomic(
            layout.started_file(task, index),
            {
                "host": host,
                "pid": os.getpid(),
                "start": started,
                "run_id": payload["run_id"],
                "job_id": os.environ.get("REFLOW_JOB_ID", ""),
            },
        )
        workflow = load_workflow(script, workflow_name, payload.get("argv"))
        func = workflow.tasks[task].func
        # The code that runs, as loaded: the dispatcher records the output under
        # the identity of this code, whatever the run planned.
        result["code"] = code_fingerprint(func)
        kwargs = workflow_codec().loads(payload["kwargs"])
        if payload.get("ahead"):  # submitted before its inputs existed: read them now
            # lazy: only instances submitted ahead of their inputs resolve them
            from reflow.engine.scheduler.resolve import resolve_ahead

            resolved = resolve_ahead(layout, task, index, workflow_codec())
            if resolved.hit is not None:  # the cache holds its output: do not run
                result.update(resolved.hit)
                result["end"] = time.time()
                result.update(_usage(started, cpu_at_start))
                write_json_atomic(out, result)
                return 0
            kwargs.update(resolved.values)
            if resolved.stale:
                result["stale_inputs"] = resolved.stale
        policy = task_policies(workflow)[task]
        # The files the arguments name, as the function is about to read them:
        # they may have changed since the instance was planned (the job waited,
        # or is a retry), and its output belongs to the files it read.
        files = seen_files(kwargs, policy)
        if files:
            result["files"] = files
        for name in payload.get("run_dir_params", []):
            kwargs[name] = run_dir
        interrupted: BaseException | None = None
        with graceful_shutdown():
            for sig in _WALLTIME_WARNING:  # a scheduler's soft-limit warning
                signal.signal(sig, _walltime_warning)
            try:
                output = func(**kwargs)
            except TaskInterrupted as exc:
                interrupted = exc
        if interrupted is not None:
            raise interrupted
        # The files the output names count as they are now, under the task's policy.
        try:
            encoded, digest = CODEC.dumps(output), value_hash(output, policy=policy)
        except (TypeError, ValueError) as exc:
            # The task ran; its value cannot be kept.  One line, not the codec's traceback.
            label = instance_label(task, index)
            result.update(ok=False, reason="ERROR", error=unstorable_output_message(label, exc))
            code = 1
        else:
            result.update(ok=True, output=encoded, output_hash=digest)
            code = 0
    except _WalltimeWarningError as exc:
        result.update(ok=False, reason="TIMEOUT", error=f"walltime exceeded: {exc}")
        code = 1
    except BaseException as exc:  # the worker reports every failure in its result file
        reason = "INTERRUPTED" if type(exc).__name__ == "TaskInterrupted" else "ERROR"
        result.update(ok=False, reason=reason, error=traceback.format_exc())
        code = 1
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            code = 130 if isinstance(exc, KeyboardInterrupt) else 1
    result["end"] = time.time()
    result.update(_usage(started, cpu_at_start))
    write_json_atomic(out, result)
    return code


class _WalltimeWarningError(Exception):
    """The scheduler warned that the job's walltime is about to run out."""


def _walltime_warning(signum: int, frame: Any) -> None:
    raise _WalltimeWarningError(f"received {signal.Signals(signum).name} before the hard limit")


def main(argv: list[str] | None = None) -> int:
    """``python -m reflow.engine.scheduler.worker SCRIPT WORKFLOW RUN_DIR RUN_ID TASK``.

    The command line of worker jobs queued before 0.4 (through the shim
    :mod:`reflow.dispatch.worker`); new jobs run ``python -m reflow.job work``.
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 5:
        print(
            "usage: python -m reflow.engine.scheduler.worker SCRIPT WORKFLOW RUN_DIR RUN_ID TASK",
            file=sys.stderr,
        )
        return 2
    script, name, run_dir, run_id, task = args
    return run_worker(Path(script), name, Path(run_dir), run_id, task)


if __name__ == "__main__":
    raise SystemExit(main())

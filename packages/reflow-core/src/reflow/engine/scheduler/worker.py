"""A worker job: run one task instance (or a pack of elements) from its inputs, write results.

Workers never open the manifest store (design §5): the dispatcher wrote
everything they need, and everything they report goes into the result file,
including what they used (elapsed time, CPU time, peak memory), so reports
work with every executor, and the fingerprint of the task function they
actually loaded and the states of the files its arguments name right before
the call, so the dispatcher records the output under the identity of the
code and files that ran (:mod:`reflow.engine.scheduler.results`).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

# Not from reflow.executors.jobs: that package's import costs every worker ~20 ms.
from reflow.env import REFLOW_ARRAY_INDEX, REFLOW_JOB_ID, REFLOW_TASK_RESOURCES
from reflow.runs.files import read_json, write_json_atomic, write_json_plain
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
    text = os.environ.get(REFLOW_ARRAY_INDEX)
    return int(text) if text not in (None, "") else None


def run_worker(
    script: Path,
    workflow_name: str,
    run_dir: Path,
    run_id: str,
    task: str,
    plan: str | None = None,
) -> int:
    """Run one instance, or each element of a pack; return the process exit status.

    Parameters
    ----------
    script, workflow_name : Path, str
        The run's frozen script and the workflow in it.
    run_dir, run_id : Path, str
        The run.
    task : str
        The task to run.
    plan : str or None
        A packed array's plan (:mod:`reflow.engine.scheduler.packing`): the
        array task number is then a pack, whose elements run one after
        another, each with its own result.  ``None``: the array task number
        (if any) is the element's index.

    Returns
    -------
    int
        0 when every element succeeded, 130 after ``KeyboardInterrupt``, else 1.
    """
    worker = _Worker(script, workflow_name, RunLayout(run_dir, run_id), task)
    array_task = _index_from_env()
    if plan is None:
        return worker.element(array_task, None)
    # lazy: only a packed array's worker reads a plan
    from reflow.engine.scheduler.packing import marker, read_pack_group

    if array_task is None:
        print(
            f"reflow worker: packed task {task!r} started without an array index", file=sys.stderr
        )
        return 1
    try:
        elements = read_pack_group(worker.layout, task, plan, array_task)
    except (OSError, ValueError) as exc:
        # No result is written: the dispatcher fails the pack's elements when the job ends.
        print(f"reflow worker: cannot read pack plan {plan}: {exc}", file=sys.stderr)
        return 1
    status = 0
    for index in elements:
        _mark(marker(index, "start"))
        code = worker.element(index, array_task)
        _mark(marker(index, "end"))
        status = status or code
        if worker.stopped:  # interrupted or out of walltime: the rest fail with the job
            break
    return status


def _mark(line: str) -> None:
    """A line in both of a pack's logs, after what the element wrote so far."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
        stream.write(line + "\n")
        stream.flush()


class _Worker:
    """Runs elements of one task, loading the workflow once for all of them."""

    def __init__(self, script: Path, workflow_name: str, layout: RunLayout, task: str) -> None:
        self.script = script
        self.workflow_name = workflow_name
        self.layout = layout
        self.task = task
        self.host = os.uname().nodename  # socket.gethostname(), without importing socket
        self.stopped = False
        """Set when an element was interrupted: the rest of a pack must not start."""
        self._loaded: tuple[Any, Any, str, Any] | None = None

    def _load(self, argv: list[str] | None) -> tuple[Any, Any, str, Any]:
        """The task's function, its inputs' codec, its code fingerprint, the workflow (once)."""
        if self._loaded is None:
            # lazy: every task's job pays for the worker's imports: load only what it uses
            from reflow.cache.fingerprint import code_fingerprint
            from reflow.engine.scheduler.code import workflow_codec
            from reflow.engine.scheduler.loader import load_workflow

            workflow = load_workflow(self.script, self.workflow_name, argv)
            func = workflow.tasks[self.task].func
            self._loaded = (func, workflow_codec(), code_fingerprint(func), workflow)
        return self._loaded

    def _policy(self, payload: dict[str, Any], workflow: Any) -> str:
        """The task's file policy: as the dispatcher planned it, else from the configuration."""
        planned = payload.get("policy")
        if isinstance(planned, str):
            return planned  # reading the user's configuration costs a worker 10-30 ms
        # lazy: inputs written before the dispatcher recorded the policy
        from reflow.cache.filestate import task_policies

        return task_policies(workflow)[self.task]

    def element(self, index: int | None, array_task: int | None) -> int:
        """Run instance ``index``; write its result; return its exit status."""
        # lazy: as in _load
        from reflow.cache.identity import value_hash
        from reflow.cache.seenfiles import seen_files
        from reflow.define.labels import instance_label
        from reflow.manifest import CODEC, unstorable_output_message
        from reflow.signals import TaskInterrupted, graceful_shutdown

        task, layout = self.task, self.layout
        started = time.time()
        cpu_at_start = _cpu_seconds()
        result: dict[str, Any] = {
            "task": task,
            "index": index,
            "host": self.host,
            "pid": os.getpid(),
            "start": started,
        }
        try:
            payload = read_json(layout.input_file(task, index))
            mark = {
                "host": self.host,
                "pid": os.getpid(),
                "start": started,
                "run_id": payload["run_id"],
                "job_id": os.environ.get(REFLOW_JOB_ID, ""),
            }
            if array_task is not None:
                mark["array_task"] = array_task
            # lazy: as in _load
            from reflow.runs.attempts import start_record

            started_file = layout.started_file(task, index)
            # Its readers take a missing or half-written record for "not started yet".  It
            # names the node, and keeps earlier starts of a requeued job (reflow.runs.attempts).
            write_json_plain(started_file, start_record(started_file, mark))
            func, codec, fingerprint, workflow = self._load(payload.get("argv"))
            policy = self._policy(payload, workflow)
            # The code that runs, as loaded: the dispatcher records the output under
            # the identity of this code, whatever the run planned.
            result["code"] = fingerprint
            kwargs = codec.loads(payload["kwargs"])
            if payload.get("ahead"):  # submitted before its inputs existed: read them now
                # lazy: only instances submitted ahead of their inputs resolve them
                from reflow.engine.scheduler.resolve import resolve_ahead

                resolved = resolve_ahead(layout, task, index, codec)
                if resolved.hit is not None:  # the cache holds its output: do not run
                    result.update(resolved.hit)
                    result["end"] = time.time()
                    result.update(_usage(started, cpu_at_start))
                    write_json_atomic(layout.result_file(task, index), result, durable=False)
                    return 0
                kwargs.update(resolved.values)
                if resolved.stale:
                    result["stale_inputs"] = resolved.stale
            # The files the arguments name, as the function is about to read them:
            # they may have changed since the instance was planned (the job waited,
            # or is a retry), and its output belongs to the files it read.
            files = seen_files(kwargs, policy)
            if files:
                result["files"] = files
            for name in payload.get("run_dir_params", []):
                kwargs[name] = layout.run_dir
            spec = workflow.tasks[task]
            if spec.resources_params:
                # lazy: only a task that asks for its resources reads them
                from reflow.define.given import Resources

                given = _given_resources()
                for name in spec.resources_params:
                    kwargs[name] = Resources.of(spec.config, given)
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
                result.update(
                    ok=False, reason="ERROR", error=unstorable_output_message(label, exc)
                )
                code = 1
            else:
                result.update(ok=True, output=encoded, output_hash=digest)
                code = 0
        except _WalltimeWarningError as exc:
            result.update(ok=False, reason="TIMEOUT", error=f"walltime exceeded: {exc}")
            code = 1
            self.stopped = True
        except BaseException as exc:  # the worker reports every failure in its result file
            reason = "INTERRUPTED" if type(exc).__name__ == "TaskInterrupted" else "ERROR"
            result.update(ok=False, reason=reason, error=traceback.format_exc())
            # the exception's class and bases: a retry_on= listing one of them retries it
            result["error_types"] = [c.__name__ for c in type(exc).__mro__]
            code = 1
            if isinstance(exc, (KeyboardInterrupt, SystemExit)) or reason == "INTERRUPTED":
                self.stopped = True
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                code = 130 if isinstance(exc, KeyboardInterrupt) else 1
        result["end"] = time.time()
        result.update(_usage(started, cpu_at_start))
        # Atomic, not fsync'ed: the store is where it lasts (see write_json_atomic).
        write_json_atomic(layout.result_file(task, index), result, durable=False)
        return code


def _given_resources() -> dict[str, Any]:
    """What this job asked for one element (the dispatcher's REFLOW_TASK_RESOURCES)."""
    try:
        given = json.loads(os.environ.get(REFLOW_TASK_RESOURCES, "") or "{}")
    except ValueError:
        return {}
    return given if isinstance(given, dict) else {}


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

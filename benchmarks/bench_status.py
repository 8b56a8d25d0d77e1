"""Benchmark of ``reflow status RUN`` on a run of 100,000 task instances; prints a table.

Workload: one run of the shape ``find -> process[] -> report`` recorded the
way ``submit`` records it (task specifications with their dependencies),
whose array task ``process`` has ``--instances`` elements (100,000): 90 %
SUCCESS, 5 % FAILED (each with a 20-line traceback), 3 % RUNNING and 2 %
SUBMITTED, every one with a job id, a Merkle identity and cache info.  Four
other finished runs of 10,000 instances share the store, as in a store that
has been in use for a while.

Measured, the store full and its pages cached (as a second call would find them):

- ``reflow status RUN`` in this process (``reflow.cli.main.main``, output
  captured; median of repeats);
- ``reflow status RUN --json`` in this process (median);
- ``reflow status RUN --task process --state FAILED`` in this process: the
  5,000 failed elements listed one per line (median);
- ``python -m reflow status RUN`` as a subprocess: interpreter start, imports,
  store open and the view, as a user at a shell sees it (median of repeats).
  The target, < 0.5 s, applies to this figure.

Usage::

    python benchmarks/bench_status.py [--instances 100000] [--repeats 7] [--check]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path

from reflow._types import RunState, TaskState
from reflow.stores import NewTaskInstance, StateUpdate
from reflow_store_sqlite import SqliteStore

TRACEBACK = (
    "".join(
        f'  File "/home/user/pipeline.py", line {n}, in step_{n}\n    value = compute(x)\n'
        for n in range(9)
    )
    + "ValueError: the input file is corrupt"
)


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _fill(store: SqliteStore, run_id: str, count: int, rng: random.Random, *, live: bool) -> None:
    """One run of find -> process[count] -> report, in a mix of states."""
    store.insert_run(
        run_id, "benchmark", "bench", {"run_dir": f"/scratch/{run_id}"}, executor="slurm"
    )
    for name, is_array, deps in (
        ("find", False, []),
        ("process", True, ["find"]),
        ("report", False, ["process"]),
    ):
        store.insert_task_spec(run_id, name, is_array, {"cpus": 1, "after": []}, deps)
    items = [NewTaskInstance("find", None, identity=_hex(rng))]
    items += [
        NewTaskInstance("process", i, identity=_hex(rng), cache_info={"status": "miss"})
        for i in range(count)
    ]
    ids = store.insert_task_instances(run_id, items)
    updates = [StateUpdate(ids[0], TaskState.SUBMITTED, job_id="1000")]
    updates.append(StateUpdate(ids[0], TaskState.SUCCESS, output=["x"], output_hash=_hex(rng)))
    for position, instance_id in enumerate(ids[1:]):
        job = f"1001[{position}]"
        updates.append(StateUpdate(instance_id, TaskState.SUBMITTED, job_id=job))
        slot = position % 100
        if not live or slot < 90:
            updates.append(
                StateUpdate(instance_id, TaskState.SUCCESS, output=position, output_hash=_hex(rng))
            )
        elif slot < 95:
            updates.append(StateUpdate(instance_id, TaskState.FAILED, error_text=TRACEBACK))
        elif slot < 98:
            updates.append(StateUpdate(instance_id, TaskState.RUNNING))
    store.apply_state_updates(updates)
    if not live:
        store.insert_task_instances(run_id, [NewTaskInstance("report", None, TaskState.SUCCESS)])
        store.update_run_status(run_id, RunState.SUCCESS)


def _in_process(argv: list[str]) -> tuple[float, str]:
    from reflow.cli.main import main

    buffer = io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(buffer):
        code = main(argv)
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"reflow {' '.join(argv)} exited with {code}")
    return seconds, buffer.getvalue()


def _subprocess(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "reflow", *argv],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=120,
    )
    return time.perf_counter() - started


def _median(action: Callable[[], float], repeats: int) -> float:
    action()  # warm: imports and the page cache, as for a user's second look
    return statistics.median(action() for _ in range(repeats))


def _row(what: str, value: str, target: str, ok: bool | None) -> tuple[str, str, str, str]:
    return what, value, target, "" if ok is None else ("yes" if ok else "NO")


def main(argv: list[str] | None = None) -> int:
    """Fill a store, time the command, print the table (exit 1 on a missed target, --check)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000, help="elements of the array")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per figure")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the database")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="reflow-bench-status-") as work:
        path = Path(work) / "manifest.db"
        store = SqliteStore(path)
        store.init()
        rng = random.Random(20261122)
        started = time.perf_counter()
        for number in range(4):
            _fill(store, f"benchmark-old-{number}", 10_000, rng, live=False)
        run_id = "benchmark-20261122-000000-0000beef"
        _fill(store, run_id, args.instances, rng, live=True)
        fill = time.perf_counter() - started
        store.close()
        command = ["status", run_id, "--store-path", str(path)]
        text = _in_process(command)[1]
        if "Failed instances (10 of" not in text:
            raise SystemExit(f"unexpected status output:\n{text}")
        plain = _median(lambda: _in_process(command)[0], args.repeats)
        as_json = _median(lambda: _in_process([*command, "--json"])[0], args.repeats)
        failed = _median(
            lambda: _in_process([*command, "--task", "process", "--state", "FAILED"])[0],
            args.repeats,
        )
        shell = _median(lambda: _subprocess(command), args.repeats)
    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    n = f"{args.instances:,}"
    rows = [
        _row(f"reflow status on a {n}-instance run, in process (median)", ms(plain), "", None),
        _row("reflow status --json, in process (median)", ms(as_json), "", None),
        _row(
            f"reflow status --task process --state FAILED ({args.instances // 20:,} rows)",
            ms(failed),
            "",
            None,
        ),
        _row("python -m reflow status, subprocess (median)", ms(shell), "< 500 ms", shell < 0.5),
    ]
    print(
        f"reflow status benchmark: SQLite {sqlite3.sqlite_version}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, a run of {n} instances "
        f"(+4 runs of 10,000) ({fill:.1f} s to fill)"
    )
    print()
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("measure", "result", "target", "met")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    missed = [row[0] for row in rows if row[3] == "NO"]
    if missed and args.check:
        print(f"\nmissed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the SQLite manifest store; prints a table.

Workload: runs of 100,000 task instances (four array tasks of 25,000 each),
every instance with a 64-hex-character Merkle identity and input hash and an
empty input payload.  After each run is inserted (one batch), one batch of
state updates leaves 60 % SUCCESS (with a 64-hex output hash and an integer
output), 20 % FAILED (with an error text), 10 % RUNNING and 10 % PENDING.
Runs are added until the store holds ``--total`` instances (1,000,000).

Measured:

- insert of one run's instances in one batch (median over all runs; the
  store grows from empty to full meanwhile);
- the state-update batch (median);
- the status summary (counts per task and state) of one run, with the store
  full (median of repeats);
- ``find_cached`` with the store full: random hits across all runs, and misses
  (mean and 99th percentile per lookup);
- bytes per instance: file size after a WAL checkpoint / instances.

Usage::

    python benchmarks/bench_store.py [--instances 100000] [--total 1000000] [--check]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from reflow._types import TaskState
from reflow.stores import NewTaskInstance, StateUpdate
from reflow_store_sqlite import SqliteStore

TASKS = ("fetch", "convert", "regrid", "plot")


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _fill_run(
    store: SqliteStore, run_id: str, count: int, rng: random.Random
) -> tuple[float, float, list[tuple[str, str]]]:
    """Insert and update one run; return both timings and the successful (task, identity)."""
    per_task = count // len(TASKS)
    items = [
        NewTaskInstance(task, i, identity=_hex(rng), input_hash=_hex(rng))
        for task in TASKS
        for i in range(per_task)
    ]
    store.insert_run(run_id, "benchmark", "bench", {"size": count})
    ids: list[int] = []
    insert = _timed(lambda: ids.extend(store.insert_task_instances(run_id, items)))

    updates: list[StateUpdate] = []
    successful: list[tuple[str, str]] = []
    for position, (instance_id, item) in enumerate(zip(ids, items, strict=True)):
        slot = position % 10
        if slot < 6:
            updates.append(
                StateUpdate(instance_id, TaskState.SUCCESS, output=position, output_hash=_hex(rng))
            )
            successful.append((item.task_name, item.identity))
        elif slot < 8:
            updates.append(StateUpdate(instance_id, TaskState.FAILED, error_text="exit code 1"))
        elif slot < 9:
            updates.append(StateUpdate(instance_id, TaskState.RUNNING, job_id="4242_1"))
    update = _timed(lambda: store.apply_state_updates(updates))
    return insert, update, successful


def _row(name: str, value: str, target: str, ok: bool | None) -> tuple[str, str, str, str]:
    verdict = "" if ok is None else ("yes" if ok else "NO")
    return (name, value, target, verdict)


def _print_table(rows: list[tuple[str, str, str, str]]) -> None:
    header = ("measurement", "result", "target", "met")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table; with ``--check``, exit 1 on a missed target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000, help="instances per run")
    parser.add_argument("--total", type=int, default=1_000_000, help="instances in the store")
    parser.add_argument("--lookups", type=int, default=2_000, help="find_cached calls per kind")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the database")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="reflow-bench-") as work:
        path = Path(work) / "manifest.db"
        store = SqliteStore(path)
        store.init()
        rng = random.Random(20240501)
        runs = max(1, args.total // args.instances)
        inserts: list[float] = []
        updates: list[float] = []
        identities: list[tuple[str, str]] = []
        started = time.perf_counter()
        for number in range(runs):
            insert, update, successful = _fill_run(store, f"run-{number}", args.instances, rng)
            inserts.append(insert)
            updates.append(update)
            identities.extend(rng.sample(successful, min(len(successful), args.lookups)))
        fill_time = time.perf_counter() - started
        total = runs * (args.instances // len(TASKS)) * len(TASKS)

        summary_run = f"run-{runs // 2}"
        store.task_state_summary(summary_run)  # warm the page cache, as a second call would be
        summaries = [_timed(lambda: store.task_state_summary(summary_run)) for _ in range(20)]

        hits = rng.sample(identities, min(len(identities), args.lookups))
        single_hits: list[float] = []
        for task, identity in hits:
            seconds = time.perf_counter()
            found = store.find_cached(task, identity)
            single_hits.append(time.perf_counter() - seconds)
            if found is None or found["identity"] != identity:
                raise SystemExit(f"find_cached missed {task} {identity}, which is in the store")
        misses = [_timed(lambda: store.find_cached(TASKS[1], _hex(rng))) for _ in hits]

        store.close()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        size = path.stat().st_size

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.3f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"

    def p99(values: list[float]) -> float:
        return statistics.quantiles(values, n=100)[98]

    insert_median = statistics.median(inserts)
    summary_median = statistics.median(summaries)
    hit_mean = statistics.fmean(single_hits)
    bytes_per = size / total
    n = f"{args.instances:,}"
    rows = [
        _row(f"insert {n} instances, one batch (median)", ms(insert_median), "< 1 s",
             insert_median < 1.0),
        _row(f"insert {n} instances, slowest run", ms(max(inserts)), "", None),
        _row(f"apply {int(args.instances * 0.9):,} state updates, one batch (median)",
             ms(statistics.median(updates)), "", None),
        _row(f"status summary of a {n}-instance run", ms(summary_median), "< 100 ms",
             summary_median < 0.1),
        _row(f"find_cached hit in {total:,} instances (mean)", ms(hit_mean), "< 1 ms",
             hit_mean < 0.001),
        _row("find_cached hit (p99)", ms(p99(single_hits)), "", None),
        _row("find_cached miss (mean)", ms(statistics.fmean(misses)), "", None),
        _row("bytes per instance (after checkpoint)", f"{bytes_per:.1f} B", "< 250 B",
             bytes_per < 250),
        _row("database size", f"{size / 1e6:.1f} MB", "", None),
    ]  # fmt: skip

    print(
        f"reflow manifest store benchmark: SqliteStore, SQLite {sqlite3.sqlite_version}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{runs} runs x {args.instances:,} instances ({fill_time:.1f} s to fill)"
    )
    print()
    _print_table(rows)
    missed = [row[0] for row in rows if row[3] == "NO"]
    if missed and args.check:
        print(f"\nmissed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the manifest stores (SQLite; PostgreSQL when given a server); prints a table.

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
- bytes per instance: file size after a WAL checkpoint / instances (for
  PostgreSQL: the tables' and indexes' size on disk / instances).

With ``REFLOW_TEST_POSTGRES_URL`` set (a server started by
``tests/clusters/postgres/start.sh``, say), the same workload runs against the
PostgreSQL store too, in a schema of its own dropped afterwards, and its figures
are printed beside SQLite's, with their own targets (a loopback server).

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
from reflow.stores import NewTaskInstance, StateUpdate, Store
from reflow_store_sqlite import SqliteStore

TASKS = ("fetch", "convert", "regrid", "plot")


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _fill_run(
    store: Store, run_id: str, count: int, rng: random.Random
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


TARGETS: dict[str, dict[str, float]] = {
    "SQLite": {"insert": 1.0, "summary": 0.1, "hit": 0.001, "bytes": 250},
    # A server store pays a round trip per call (loopback server, this 2-core machine).
    "PostgreSQL": {"insert": 2.0, "summary": 0.1, "hit": 0.002},
}
"""Per store: the targets the issues set (seconds, bytes per instance)."""


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"


def _measure(store: Store, args: argparse.Namespace) -> dict[str, float]:
    """Fill ``store`` with the workload and time the operations; return the figures."""
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

    summary_run = f"run-{runs // 2}"
    store.task_state_summary(summary_run)  # warm the caches, as a second call would be
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
    return {
        "runs": runs,
        "total": runs * (args.instances // len(TASKS)) * len(TASKS),
        "fill": fill_time,
        "insert": statistics.median(inserts),
        "insert_max": max(inserts),
        "update": statistics.median(updates),
        "summary": statistics.median(summaries),
        "hit": statistics.fmean(single_hits),
        "hit_p99": statistics.quantiles(single_hits, n=100)[98],
        "miss": statistics.fmean(misses),
    }


def _sqlite(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="reflow-bench-") as work:
        path = Path(work) / "manifest.db"
        store = SqliteStore(path)
        store.init()
        figures = _measure(store, args)
        store.close()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        figures["size"] = path.stat().st_size
    return figures


def _postgres(url: str, args: argparse.Namespace) -> dict[str, float]:
    import psycopg

    from reflow_store_postgres import PostgresStore

    schema = f"reflow_bench_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
        try:
            sep = "&" if "?" in url else "?"
            store = PostgresStore(f"{url}{sep}options=-csearch_path%3D{schema}")
            store.init()
            figures = _measure(store, args)
            store.close()
            admin.execute(f"VACUUM ANALYZE {schema}.task_instances")  # type: ignore[arg-type]
            row = admin.execute(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r'",
                (schema,),
            ).fetchone()
            figures["size"] = float(row[0]) if row and row[0] is not None else 0.0
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table; with ``--check``, exit 1 on a missed target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000, help="instances per run")
    parser.add_argument("--total", type=int, default=1_000_000, help="instances in the store")
    parser.add_argument("--lookups", type=int, default=2_000, help="find_cached calls per kind")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the database")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)

    results = {"SQLite": _sqlite(args)}
    server = os.environ.get("REFLOW_TEST_POSTGRES_URL", "")
    if server:
        results["PostgreSQL"] = _postgres(server, args)

    n = f"{args.instances:,}"
    total = int(results["SQLite"]["total"])
    measurements = [
        ("insert", f"insert {n} instances, one batch (median)", _ms),
        ("insert_max", f"insert {n} instances, slowest run", _ms),
        ("update", f"apply {int(args.instances * 0.9):,} state updates, one batch (median)", _ms),
        ("summary", f"status summary of a {n}-instance run", _ms),
        ("hit", f"find_cached hit in {total:,} instances (mean)", _ms),
        ("hit_p99", "find_cached hit (p99)", _ms),
        ("miss", "find_cached miss (mean)", _ms),
        ("bytes", "bytes per instance (on disk)", lambda v: f"{v:.1f} B"),
        ("size", "database size", lambda v: f"{v / 1e6:.1f} MB"),
    ]
    missed: list[str] = []
    header = ["measurement"]
    for store in results:
        header += [store, "target", "met"]
    rows: list[list[str]] = []
    for key, name, show in measurements:
        row = [name]
        for store, figures in results.items():
            figures.setdefault("bytes", figures["size"] / figures["total"])
            target = TARGETS[store].get(key)
            value = figures[key]
            met = "" if target is None else ("yes" if value < target else "NO")
            if met == "NO":
                missed.append(f"{store}: {name}")
            limit = "" if target is None else f"< {show(target)}"
            row += [show(value), limit, met]
        rows.append(row)

    print(
        f"reflow manifest store benchmark: SQLite {sqlite3.sqlite_version}"
        + (", PostgreSQL (REFLOW_TEST_POSTGRES_URL)" if server else "")
        + f", Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{int(results['SQLite']['runs'])} runs x {n} instances ("
        + ", ".join(f"{s} {f['fill']:.1f} s to fill" for s, f in results.items())
        + ")"
    )
    print()
    _print_table(header, rows)
    if missed and args.check:
        print(f"\nmissed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

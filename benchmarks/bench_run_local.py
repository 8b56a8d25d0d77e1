"""run_local throughput: a 10,000-element fan-out plus gather, cold and cached; a 200-task chain.

Targets (issue: the Merkle cache and run_local), on a 2-core machine:
- 10,000-element fan-out + gather, cold: under 1.0 s
- the fully cached rerun at least 5 times faster than the cold run
- peak memory under 150 MB for 100,000 elements

Each measurement runs in a fresh interpreter against a fresh SQLite store.
Run through nox: ``nox -s bench -- run_local``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from typing import Annotated
    from reflow import Result, Workflow
    from reflow.stores.sqlite import SqliteStore

    n, db, run_dir, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    wf = Workflow("bench")
    if kind == "fan":
        @wf.job()
        def items(n: int = 10) -> list[int]:
            return list(range(n))

        @wf.job(array=True)
        def work(i: Annotated[int, Result(step="items")]) -> int:
            return i + 1

        @wf.job()
        def total(xs: Annotated[list[int], Result(step="work")]) -> int:
            return sum(xs)
        params = {"n": n}
    else:
        @wf.job(name="t0")
        def first(n: int = 0) -> int:
            return n
        def make(k):
            def step(x):
                return x + 1
            step.__annotations__ = {"x": Annotated[int, Result(step=f"t{k - 1}")], "return": int}
            return step
        for k in range(1, n):
            wf.job(name=f"t{k}")(make(k))
        params = {"n": 1}

    store = SqliteStore(db)
    store.init()
    timings = []
    for label in ("cold", "cached"):
        t = time.perf_counter()
        run = wf.run_local(run_dir, store=store, **params)
        timings.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"cold": timings[0], "cached": timings[1], "peak_mb": peak}))
    """
)


def measure(n: int, kind: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(n), f"{tmp}/m.db", f"{tmp}/run", kind],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> int:
    rows = [
        ("fan-out 10,000 + gather", measure(10_000, "fan")),
        ("fan-out 100,000 + gather", measure(100_000, "fan")),
        ("chain of 200 tasks", measure(200, "chain")),
    ]
    print(f"{'workload':28s} {'cold s':>8s} {'cached s':>9s} {'speed-up':>9s} {'peak MB':>8s}")
    for label, r in rows:
        print(
            f"{label:28s} {r['cold']:8.3f} {r['cached']:9.3f} "
            f"{r['cold'] / r['cached']:8.1f}x {r['peak_mb']:8.1f}"
        )
    fan = rows[0][1]
    checks = {
        "10,000 cold under 1.0 s": fan["cold"] < 1.0,
        "cached rerun >= 5x faster": fan["cold"] / fan["cached"] >= 5,
        "100,000 elements under 150 MB": rows[1][1]["peak_mb"] < 150,
    }
    for label, ok in checks.items():
        print(f"target: {label} -> {'met' if ok else 'MISSED'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Scheduler-mode overhead on the local executor: a 200-element fan-out plus gather.

Prints the seconds from submit to SUCCESS, the number of dispatcher waves, and
the executor calls each wave made (submits and state queries): the calls must
not grow with the number of elements.  Also runs 20 elements, for comparison.

Run through nox: ``nox -s bench -- scheduler_local``.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

PIPELINE = textwrap.dedent(
    """
    from typing import Annotated
    from reflow import Result, Workflow

    wf = Workflow("bench_sched")

    @wf.job()
    def items(n: int = 10) -> list[int]:
        return list(range(n))

    @wf.job(array=True)
    def work(i: Annotated[int, Result(step="items")]) -> int:
        return i + 1

    @wf.job()
    def total(xs: Annotated[list[int], Result(step="work")]) -> int:
        return sum(xs)
    """
)

DRIVER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from pipeline import wf
    from reflow.executors.local import LocalExecutor
    from reflow.stores.sqlite import SqliteStore
    store = SqliteStore(sys.argv[2])
    t = time.perf_counter()
    run = wf.submit(sys.argv[3], store=store, executor=LocalExecutor(state_dir=sys.argv[4]),
                    n=int(sys.argv[5]))
    state = run.wait(timeout=600, poll=0.05)
    print(state.value, time.perf_counter() - t)
    """
)

_CALLS = re.compile(r"executor calls this wave: (\d+) \(submit=(\d+) query=(\d+)\)")


def measure(n: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pipeline.py").write_text(PIPELINE)
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                DRIVER,
                str(root),
                str(root / "m.db"),
                str(root / "run"),
                str(root / "jobs"),
                str(n),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        ).stdout.split()
        waves = []
        for log in sorted((root / "run" / "logs").glob("*.dispatch-*.err")):
            match = _CALLS.search(log.read_text())
            if match:
                waves.append(tuple(int(g) for g in match.groups()))
        results = sorted((root / "run" / "results").rglob("*.json"))
        overheads = []
        import json

        for path in results:
            data = json.loads(path.read_text())
            overheads.append(data["end"] - data["start"])
    return {
        "state": out[0],
        "seconds": float(out[1]),
        "waves": waves,
        "worker_s": statistics.median(overheads) if overheads else 0.0,
    }


def main() -> int:
    print(
        f"{'elements':>8s} {'state':8s} {'seconds':>8s} {'waves':>6s} "
        f"{'calls/wave (submit+query)':>28s} {'worker median s':>16s}"
    )
    rows = {n: measure(n) for n in (20, 200)}
    for n, r in rows.items():
        calls = ", ".join(f"{c}({s}+{q})" for c, s, q in r["waves"])  # type: ignore[attr-defined]
        print(
            f"{n:8d} {r['state']:8s} {r['seconds']:8.2f} {len(r['waves']):6d} "  # type: ignore[arg-type]
            f"{calls:>28s} {r['worker_s']:16.3f}"
        )
    small = max(c for c, _, _ in rows[20]["waves"])  # type: ignore[attr-defined]
    large = max(c for c, _, _ in rows[200]["waves"])  # type: ignore[attr-defined]
    ok = large <= small and rows[200]["state"] == "SUCCESS"
    print(
        f"target: executor calls per wave do not grow with elements "
        f"(max {small} at 20, {large} at 200) -> {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

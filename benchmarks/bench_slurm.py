"""Scheduler-mode overhead on the real Slurm test cluster: 200-element fan-out plus gather.

Prints the wall time from submit to SUCCESS, the sbatch / squeue / sacct calls the
dispatchers made (one squeue and one sacct per state query), the waves, and the
per-element overhead inside the worker (start of the worker to result written).
Targets (issue: reflow-executor-slurm): scheduler calls that do not grow with the
number of elements; per-element overhead under 150 ms.

Needs a running test cluster: ``eval "$(tests/clusters/slurm/start.sh)"`` first,
then ``nox -s bench -- slurm`` (or run this file); without SLURM_CONF it says so
and exits 0.
"""

from __future__ import annotations

import json
import os
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

    wf = Workflow("bench_slurm")

    @wf.job(time="00:10:00", mem="200M")
    def items(n: int = 10) -> list[int]:
        return list(range(n))

    @wf.job(array=True, time="00:10:00", mem="200M")
    def work(i: Annotated[int, Result(step="items")]) -> int:
        return i + 1

    @wf.job(time="00:10:00", mem="200M")
    def total(xs: Annotated[list[int], Result(step="work")]) -> int:
        return sum(xs)
    """
)

DRIVER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from pipeline import wf
    from reflow.stores.sqlite import SqliteStore
    from reflow_executor_slurm import SlurmExecutor
    store = SqliteStore(sys.argv[2])
    t = time.perf_counter()
    run = wf.submit(sys.argv[3], store=store, executor=SlurmExecutor(state_dir=sys.argv[4]),
                    n=int(sys.argv[5]))
    state = run.wait(timeout=1800, poll=0.2)
    print(state.value, time.perf_counter() - t)
    """
)

_CALLS = re.compile(r"executor calls this wave: (\d+) \(submit=(\d+) query=(\d+)\)")


def measure(n: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("REFLOW_BENCH_TMP")) as tmp:
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
                str(root / "state"),
                str(n),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=2400,
        ).stdout.split()
        waves = []
        for log in sorted((root / "run" / "logs").glob("*.dispatch-*.err")):
            match = _CALLS.search(log.read_text())
            if match:
                waves.append(tuple(int(g) for g in match.groups()))
        spans = []
        for path in (root / "run" / "results").rglob("*.json"):
            data = json.loads(path.read_text())
            spans.append(data["end"] - data["start"])
    return {
        "state": out[0],
        "seconds": float(out[1]),
        "waves": waves,
        "overhead": statistics.median(spans) if spans else 0.0,
    }


def main() -> int:
    if not os.environ.get("SLURM_CONF"):
        print(
            "bench_slurm: no SLURM_CONF; start the test cluster with "
            'eval "$(tests/clusters/slurm/start.sh)" and run again'
        )
        return 0
    rows = {n: measure(n) for n in (20, 200)}
    print(
        f"{'elements':>8s} {'state':8s} {'seconds':>8s} {'waves':>6s} {'sbatch':>7s} "
        f"{'squeue':>7s} {'sacct':>6s} {'max calls/wave':>15s} {'per-element ms':>15s}"
    )
    for n, r in rows.items():
        waves: list[tuple[int, int, int]] = r["waves"]  # type: ignore[assignment]
        sbatch = sum(s for _, s, _ in waves)
        queries = sum(q for _, _, q in waves)
        most = max((c for c, _, _ in waves), default=0)
        print(
            f"{n:8d} {r['state']:8s} {r['seconds']:8.1f} {len(waves):6d} {sbatch:7d} "
            f"{queries:7d} {queries:6d} {most:15d} {1000 * r['overhead']:15.1f}"
        )  # type: ignore[operator]
    small = max((c for c, _, _ in rows[20]["waves"]), default=0)  # type: ignore[attr-defined]
    large = max((c for c, _, _ in rows[200]["waves"]), default=0)  # type: ignore[attr-defined]
    overhead_ms = 1000 * rows[200]["overhead"]  # type: ignore[operator]
    calls_ok = large <= small
    print(
        f"target: calls per wave do not grow with elements ({small} -> {large}) -> "
        f"{'met' if calls_ok else 'MISSED'}"
    )
    print(
        f"target: per-element overhead under 150 ms ({overhead_ms:.0f} ms) -> "
        f"{'met' if overhead_ms < 150 else 'MISSED'}"
    )
    return 0 if calls_ok and overhead_ms < 150 and rows[200]["state"] == "SUCCESS" else 1


if __name__ == "__main__":
    raise SystemExit(main())

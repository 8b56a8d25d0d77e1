"""Scheduler-mode overhead: a fan-out of 20 and of 200 trivial elements plus a gather.

For each executor it prints the wall time from submit to SUCCESS, the dispatcher
waves, the submissions and state queries the dispatchers made (a Slurm state
query is one squeue and one sacct call), the most executor calls in one wave,
and the per-element overhead inside the worker (start to result written).

Targets: executor calls per wave do not grow with the number of elements
(scheduler-mode issue); on Slurm, per-element overhead under 150 ms (Slurm issue).

The local executor always runs.  Slurm runs when ``SLURM_CONF`` points at a
test cluster: ``eval "$(tests/clusters/slurm/start.sh)"`` first.
Run through nox: ``nox -s bench -- scheduler``.
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

    wf = Workflow("bench_sched")

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
    if sys.argv[6] == "slurm":
        from reflow_executor_slurm import SlurmExecutor as Executor
    else:
        from reflow.executors.local.executor import LocalExecutor as Executor
    store = SqliteStore(sys.argv[2])
    t = time.perf_counter()
    run = wf.submit(sys.argv[3], store=store, executor=Executor(state_dir=sys.argv[4]),
                    n=int(sys.argv[5]))
    state = run.wait(timeout=1800, poll=0.1)
    print(state.value, time.perf_counter() - t)
    """
)

_CALLS = re.compile(r"executor calls this wave: (\d+) \(submit=(\d+) query=(\d+)\)")


def measure(executor: str, n: int) -> dict[str, object]:
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
                str(root / "state"),
                str(n),
                executor,
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
        spans = [
            json.loads(path.read_text())["end"] - json.loads(path.read_text())["start"]
            for path in (root / "run" / "results").rglob("*.json")
        ]
    return {
        "state": out[0],
        "seconds": float(out[1]),
        "waves": waves,
        "overhead": statistics.median(spans) if spans else 0.0,
    }


def main() -> int:
    executors = ["local"] + (["slurm"] if os.environ.get("SLURM_CONF") else [])
    print(
        f"{'executor':8s} {'elements':>8s} {'state':8s} {'seconds':>8s} {'waves':>6s} "
        f"{'submits':>8s} {'queries':>8s} {'max calls/wave':>15s} {'per-element ms':>15s}"
    )
    ok = True
    for executor in executors:
        rows = {n: measure(executor, n) for n in (20, 200)}
        for n, r in rows.items():
            waves: list[tuple[int, int, int]] = r["waves"]  # type: ignore[assignment]
            print(
                f"{executor:8s} {n:8d} {r['state']:8s} {r['seconds']:8.1f} {len(waves):6d} "
                f"{sum(s for _, s, _ in waves):8d} {sum(q for _, _, q in waves):8d} "
                f"{max((c for c, _, _ in waves), default=0):15d} "
                f"{1000 * r['overhead']:15.1f}"
            )  # type: ignore[operator]
        small = max((c for c, _, _ in rows[20]["waves"]), default=0)  # type: ignore[attr-defined]
        large = max((c for c, _, _ in rows[200]["waves"]), default=0)  # type: ignore[attr-defined]
        print(
            f"target ({executor}): calls per wave do not grow with elements "
            f"({small} -> {large}) -> {'met' if large <= small else 'MISSED'}"
        )
        ok = ok and large <= small and rows[200]["state"] == "SUCCESS"
        if executor == "slurm":
            overhead = 1000 * rows[200]["overhead"]  # type: ignore[operator]
            print(
                f"target (slurm): per-element overhead under 150 ms ({overhead:.0f} ms) -> "
                f"{'met' if overhead < 150 else 'MISSED'}"
            )
            ok = ok and overhead < 150
    if "slurm" not in executors:
        print('slurm: skipped, no SLURM_CONF (eval "$(tests/clusters/slurm/start.sh)" first)')
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

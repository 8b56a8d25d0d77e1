"""Scheduler mode: executor calls per wave, the cost of one element, packing, the pipeline.

Four parts (``REFLOW_BENCH_PARTS=calls,element,pack,pipeline`` picks some; all by default):

``calls``
    A fan-out of 20 and of 200 trivial elements plus a gather: wall time from
    submit to SUCCESS, dispatcher waves, submissions and state queries, the most
    executor calls in one wave (target: they do not grow with the elements), and
    the time inside the worker from its start to its result written.
``element``
    The cost of one trivial element from process start to result written:
    ``python -m reflow.job work`` run again on an element of a finished run
    (median of 11), next to a bare ``python -c pass``; on Slurm the same
    through ``srun``, next to ``srun true``.
``pack``
    2,000 elements of 5 ms (issue 17): ``run --max-workers 2``, and
    ``submit --executor local`` with ``pack=100`` (target: within 3x), with the
    files left in the run directory; on Slurm, ``pack=100`` against a raw
    20-task ``sbatch --array`` doing the same work (target: within 1.5x).
``pipeline``
    find -> process[array] -> clean[array, 1:1] -> summary[gather] -> publish at
    50 and 500 elements: wall time, dispatcher waves and sbatch calls; on Slurm
    also the same shape submitted by hand with raw ``sbatch --dependency`` in
    one go, the physical limit (target: 1.3x, with the ``waves`` branch: this
    branch still runs one wave per level).

The local executor always runs.  Slurm runs when ``SLURM_CONF`` points at a
test cluster: ``eval "$(tests/clusters/slurm/start.sh)"`` first.  Jobs write
bytecode caches (``PYTHONDONTWRITEBYTECODE`` is cleared), as a user's would.
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
import time
from collections.abc import Sequence
from pathlib import Path

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
SLURM = bool(os.environ.get("SLURM_CONF"))
EXECUTORS = ["local"] + (["slurm"] if SLURM else [])

CALLS = textwrap.dedent(
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

MANY = textwrap.dedent(
    """
    import time
    from typing import Annotated
    from reflow import Result, Workflow

    wf = Workflow("bench_many")

    @wf.job(time="00:10:00", mem="200M")
    def items(n: int = 2000) -> list[int]:
        return list(range(n))

    @wf.job(array=True, pack=PACK, time="00:00:30", mem="200M")
    def work(i: Annotated[int, Result(step="items")]) -> int:
        time.sleep(0.005)
        return i
    """
)

PIPELINE = textwrap.dedent(
    """
    from typing import Annotated
    from reflow import Result, Workflow

    wf = Workflow("bench_pipe")

    @wf.job(time="00:10:00", mem="200M")
    def find(n: int = 50) -> list[int]:
        return list(range(n))

    @wf.job(array=True, time="00:10:00", mem="200M")
    def process(i: Annotated[int, Result(step="find")]) -> int:
        return i * 2

    @wf.job(array=True, time="00:10:00", mem="200M")
    def clean(x: Annotated[int, Result(step="process")]) -> int:
        return x + 1

    @wf.job(time="00:10:00", mem="200M")
    def summary(xs: Annotated[list[int], Result(step="clean")]) -> int:
        return sum(xs)

    @wf.job(time="00:10:00", mem="200M")
    def publish(total: Annotated[int, Result(step="summary")]) -> str:
        return f"total={total}"
    """
)

DRIVER = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    from pipeline import wf
    from reflow.stores.sqlite import SqliteStore
    store = SqliteStore(sys.argv[2])
    params = json.loads(sys.argv[6])
    t = time.perf_counter()
    if sys.argv[5] == "run2":
        run = wf.run_local(sys.argv[3], store=store, max_workers=2, **params)
        state = store.get_run_record(run.run_id).status
    else:
        if sys.argv[5] == "slurm":
            from reflow_executor_slurm import SlurmExecutor as Executor
        else:
            from reflow.executors.local.executor import LocalExecutor as Executor
        run = wf.submit(sys.argv[3], store=store, executor=Executor(state_dir=sys.argv[4]),
                        **params)
        state = run.wait(timeout=3600, poll=0.1)
    print(getattr(state, "value", state), time.perf_counter() - t, run.run_id)
    """
)

_CALLS = re.compile(r"executor calls this wave: (\d+) \(submit=(\d+) query=(\d+)\)")


def drive(root: Path, source: str, executor: str, params: dict[str, int]) -> dict[str, object]:
    """Run ``source``'s workflow once with ``executor`` (or ``run2``: run_local, 2 workers)."""
    (root / "pipeline.py").write_text(source)
    out = subprocess.run(
        [
            *(sys.executable, "-c", DRIVER, str(root), str(root / "m.db"), str(root / "run")),
            *(str(root / "state"), executor, json.dumps(params)),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=4000,
        env=ENV,
    ).stdout.split()
    waves = []
    for log in sorted((root / "run" / "logs").glob("dispatch.*.err")):
        match = _CALLS.search(log.read_text())
        if match:
            waves.append(tuple(int(g) for g in match.groups()))
    files = sum(1 for p in (root / "run").rglob("*") if p.is_file())
    return {
        "state": out[0],
        "seconds": float(out[1]),
        "run_id": out[2],
        "waves": waves,
        "files": files,
    }


def _spans(run_dir: Path) -> list[float]:
    return [
        (data := json.loads(path.read_text()))["end"] - data["start"]
        for path in (run_dir / "results").rglob("*.json")
    ]


# -- part 1: executor calls per wave ---------------------------------------------------


def part_calls() -> bool:
    print("\n## executor calls per wave: fan-out of n trivial elements and a gather")
    print(
        f"{'executor':8s} {'elements':>8s} {'state':8s} {'seconds':>8s} {'waves':>6s} "
        f"{'submits':>8s} {'queries':>8s} {'max calls/wave':>15s} {'in-worker ms':>13s}"
    )
    ok = True
    for executor in EXECUTORS:
        rows = {}
        for n in (20, 200):
            with tempfile.TemporaryDirectory() as tmp:
                r = drive(Path(tmp), CALLS, executor, {"n": n})
                r["overhead"] = statistics.median(_spans(Path(tmp) / "run"))
            rows[n] = r
            waves: list[tuple[int, int, int]] = r["waves"]  # type: ignore[assignment]
            print(
                f"{executor:8s} {n:8d} {r['state']:8s} {r['seconds']:8.1f} {len(waves):6d} "
                f"{sum(s for _, s, _ in waves):8d} {sum(q for _, _, q in waves):8d} "
                f"{max((c for c, _, _ in waves), default=0):15d} "
                f"{1000 * r['overhead']:13.1f}"  # type: ignore[operator]
            )
        small = max((c for c, _, _ in rows[20]["waves"]), default=0)  # type: ignore[attr-defined]
        large = max((c for c, _, _ in rows[200]["waves"]), default=0)  # type: ignore[attr-defined]
        met = large <= small
        print(f"target ({executor}): calls per wave do not grow ({small} -> {large}) -> {_v(met)}")
        ok = ok and met and rows[200]["state"] == "SUCCESS"
        if executor == "slurm":  # the Slurm issue's target, inside the worker
            overhead = 1000 * rows[200]["overhead"]  # type: ignore[operator]
            verdict = _v(overhead < 150)
            print(f"target (slurm): in-worker time under 150 ms ({overhead:.0f} ms) -> {verdict}")
            ok = ok and overhead < 150
    return ok


# -- part 2: one element from process start to result written --------------------------


def _timed(command: Sequence[str], env: dict[str, str], repeat: int = 11) -> float:
    """Median wall seconds of ``command``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, env=env, capture_output=True, timeout=300)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def part_element() -> bool:
    print("\n## one trivial element, process start to result written (median of 11)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        r = drive(root, CALLS, "local", {"n": 2})
        run_json = root / "run" / ".reflow" / str(r["run_id"]) / "run.json"
        env = {**ENV, "REFLOW_ARRAY_INDEX": "0"}
        work = [sys.executable, "-m", "reflow.job", "work", str(run_json), "work"]
        bare = [sys.executable, "-c", "pass"]
        rows = [("local", _timed(work, env), _timed(bare, env))]
        if SLURM:
            srun = ["srun", "--quiet", "-n1", "-c1", "--mem=200M", "-t", "5"]
            rows.append(("slurm", _timed([*srun, *work], env), _timed([*srun, "true"], env)))
    print(f"{'executor':8s} {'element ms':>11s} {'reference ms':>13s} {'reflow adds ms':>15s}")
    for name, element, ref in rows:
        print(
            f"{name:8s} {1000 * element:11.0f} {1000 * ref:13.0f} {1000 * (element - ref):15.0f}"
        )
    print("reference: `python -c pass` (local), `srun true` (slurm)")
    return True


# -- part 3: 2,000 elements of 5 ms, packed ---------------------------------------------


def _raw_array(root: Path, tasks: int, per_task: int) -> float:
    """Seconds for a raw ``sbatch --array`` of ``tasks`` tasks, each ``per_task`` x 5 ms."""
    code = f"import time\nfor _ in range({per_task}): time.sleep(0.005)\n"
    script = root / "raw.sh"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -c '{code}'\n")
    start = time.perf_counter()
    subprocess.run(
        [
            *("sbatch", "--wait", "--parsable", f"--array=0-{tasks - 1}", "-n1", "-c1"),
            *("--mem=200M", "-t", "10", f"--output={root}/raw-%A_%a.out", str(script)),
        ],
        check=True,
        capture_output=True,
        env=ENV,
        timeout=1800,
    )
    return time.perf_counter() - start


def part_pack() -> bool:
    print("\n## 2,000 elements of 5 ms")
    print(f"{'how':38s} {'state':8s} {'seconds':>8s} {'run-dir files':>14s}")
    ok = True
    results: dict[str, float] = {}
    cases = [
        ("run --max-workers 2", "run2", 1),
        ("submit --executor local, pack=100", "local", 100),
    ]
    if SLURM:
        cases.append(("submit --executor slurm, pack=100", "slurm", 100))
    for label, executor, pack in cases:
        with tempfile.TemporaryDirectory() as tmp:
            r = drive(Path(tmp), MANY.replace("PACK", str(pack)), executor, {"n": 2000})
        results[executor] = float(r["seconds"])  # type: ignore[arg-type]
        ok = ok and r["state"] == "SUCCESS"
        print(f"{label:38s} {r['state']:8s} {r['seconds']:8.1f} {r['files']:14d}")
    ratio = results["local"] / results["run2"]
    verdict = _v(ratio <= 3)
    print(f"target: local pack=100 within 3x of run --max-workers 2 ({ratio:.1f}x) -> {verdict}")
    ok = ok and ratio <= 3
    if SLURM:
        with tempfile.TemporaryDirectory() as tmp:
            raw = _raw_array(Path(tmp), 20, 100)
        print(f"{'raw sbatch --array=0-19, 100 x 5 ms each':38s} {'':8s} {raw:8.1f}")
        ratio = results["slurm"] / raw
        verdict = _v(ratio <= 1.5)
        print(f"target: slurm pack=100 within 1.5x of the raw array ({ratio:.1f}x) -> {verdict}")
        ok = ok and ratio <= 1.5
    return ok


# -- part 4: the pipeline -------------------------------------------------------


def _raw_pipeline(root: Path, n: int) -> tuple[float, int]:
    """The pipeline's shape by hand: five sbatch calls with dependencies, in one go."""
    script = root / "raw.sh"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -c pass\n")
    common = ["-n1", "-c1", "--mem=200M", "-t", "10", f"--output={root}/raw-%j.out", "--parsable"]
    start = time.perf_counter()

    def sbatch(*args: str) -> str:
        done = subprocess.run(
            ["sbatch", *common, *args, str(script)],
            check=True,
            capture_output=True,
            text=True,
            env=ENV,
            timeout=120,
        )
        return done.stdout.strip().split(";")[0]

    find = sbatch()
    process = sbatch(f"--array=0-{n - 1}", f"--dependency=afterok:{find}")
    clean = sbatch(f"--array=0-{n - 1}", f"--dependency=aftercorr:{process}")
    summary = sbatch(f"--dependency=afterok:{clean}")
    publish = sbatch(f"--dependency=afterok:{summary}")
    while True:
        state = subprocess.run(
            ["squeue", "-h", "-j", ",".join((find, process, clean, summary, publish))],
            capture_output=True,
            text=True,
            env=ENV,
            check=False,
        ).stdout.strip()
        if not state:
            return time.perf_counter() - start, 5
        time.sleep(0.2)


def part_pipeline() -> bool:
    print("\n## find -> process[array] -> clean[array, 1:1] -> summary -> publish")
    print(
        f"{'executor':8s} {'elements':>8s} {'state':8s} {'seconds':>8s} {'waves':>6s} "
        f"{'sbatch calls':>13s} {'raw seconds':>12s} {'raw sbatch':>11s} {'ratio':>6s}"
    )
    ok = True
    for executor in EXECUTORS:
        for n in (50, 500):
            with tempfile.TemporaryDirectory() as tmp:
                r = drive(Path(tmp), PIPELINE, executor, {"n": n})
            waves: list[tuple[int, int, int]] = r["waves"]  # type: ignore[assignment]
            submits = 1 + sum(s for _, s, _ in waves)  # the first dispatcher, from submit
            raw_text = f"{'':>12s} {'':>11s} {'':>6s}"
            if executor == "slurm":
                with tempfile.TemporaryDirectory() as tmp:
                    raw, calls = _raw_pipeline(Path(tmp), n)
                ratio = float(r["seconds"]) / raw  # type: ignore[arg-type]
                raw_text = f"{raw:12.1f} {calls:11d} {ratio:6.1f}"
            ok = ok and r["state"] == "SUCCESS"
            print(
                f"{executor:8s} {n:8d} {r['state']:8s} {r['seconds']:8.1f} {len(waves):6d} "
                f"{submits:13d} {raw_text}"
            )
    print(
        "target: at most 1.3x the raw time needs submit-ahead (branch `waves`); "
        "this branch runs one dispatcher wave per level of the graph"
    )
    return ok


def _v(met: bool) -> str:
    return "met" if met else "MISSED"


PARTS = {
    "calls": part_calls,
    "element": part_element,
    "pack": part_pack,
    "pipeline": part_pipeline,
}


def main() -> int:
    chosen = os.environ.get("REFLOW_BENCH_PARTS", ",".join(PARTS)).split(",")
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        print(f"REFLOW_BENCH_PARTS: unknown part {unknown[0]!r}; choose from {', '.join(PARTS)}")
        return 2
    if not SLURM:
        print('slurm: skipped, no SLURM_CONF (eval "$(tests/clusters/slurm/start.sh)" first)')
    ok = True
    for name in chosen:
        ok = PARTS[name]() and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""run_local speed beside the published seed system (reflow-hpc 2604.4.0).

Workloads, each in a fresh interpreter against a fresh SQLite store:

- a 10,000-element fan-out plus gather: cold (µs per element), the fully cached
  rerun, then ten runs that each change one element (the first and the tenth);
- chains of 200 and 1,000 one-line tasks, cold;
- 200 array elements of 10 ms (``time.sleep``) on ``max_workers=2``: parallel
  efficiency = 200 x 10 ms / 2 / wall time of the whole run;
- a 100,000-element fan-out plus gather: peak memory (max RSS).

Beside the wall times of the 10,000-element fan-out it prints the CPU seconds
of the driver and its workers: on a machine other jobs load, they change
far less from run to run than wall time does.

The same workload, written against the seeds' public API (``Workflow.job``,
``Result``, ``run_local``, ``SqliteStore``), runs in the same bench run under
``reflow-hpc==2604.4.0`` installed in its own virtual environment, created once
under ``$XDG_CACHE_HOME/reflow-bench/`` (``~/.cache`` by default).  Set
``REFLOW_BENCH_SEED_PYTHON`` to use another interpreter that has it, or
``REFLOW_BENCH_SEED=0`` to measure reflow alone.

Comparing two versions of reflow on a busy machine: ``REFLOW_BENCH_BASE_PYTHON``
names the interpreter of another checkout (a virtual environment of main, say),
shown as a "base" column; ``REFLOW_BENCH_ROUNDS=N`` measures every workload N
times, the interpreters taking turns (this one, the base, the seed), and prints
the medians; ``REFLOW_BENCH_WORKLOADS=chain200,chain1000,par`` picks workloads
among fan, chain200, chain1000, par and big (all by default).

Targets (issue 21, on this 2-core machine): fan-out cold at least 15x faster
than the seed and at most 25 µs per element; cached rerun at most 0.05 s; the
200-task chain at least 3x faster than the seed and the 1,000-task chain at
most 5x the 200-task one; one changed element at most 0.3x the cold run and the
10th such run within 1.2x of the first; at least 92 % parallel efficiency; the
100,000-element fan-out under 150 MB.

Run through nox: ``nox -s bench -- run_local``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

SEED_SPEC = "reflow-hpc==2604.4.0"

# Written against the public API both systems share, so one text runs under both.
CHILD = textwrap.dedent(
    """
    import json, os, resource, sys, time
    from typing import Annotated
    from reflow import Result, Workflow
    from reflow.stores.sqlite import SqliteStore

    n, db, run_dir, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    wf = Workflow("bench")
    workers = 1
    if kind in ("fan", "par"):
        @wf.job()
        def items(n: int = 10, change: int = 0) -> list[int]:
            xs = list(range(n))
            if change:  # one element differs from the cold run's: the change-th
                xs[change] = -change
            return xs

        if kind == "fan":
            @wf.job(array=True)
            def work(i: Annotated[int, Result(step="items")]) -> int:
                return i + 1
        else:
            workers = 2
            @wf.job(array=True)
            def work(i: Annotated[int, Result(step="items")]) -> int:
                time.sleep(0.01)
                return i

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

    cpu = {}

    def timed(label=None, **extra):
        t, c = time.perf_counter(), os.times()
        wf.run_local(run_dir, store=store, max_workers=workers, **params, **extra)
        if label:  # CPU seconds of the driver and its workers (reaped at the run's end)
            cpu[label] = sum(os.times()[:4]) - sum(c[:4])
        return time.perf_counter() - t

    out = {"cold": timed("cold_cpu")}
    if kind == "fan" and n <= 10_000:
        out["cached"] = timed("cached_cpu")
        changed = [timed("changed1_cpu" if c == 1 else None, change=c) for c in range(1, 11)]
        out["changed1"], out["changed10"] = changed[0], changed[-1]
    out.update(cpu)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
    """
)


def measure(python: str, n: int, kind: str) -> dict[str, float] | None:
    """One workload in a fresh interpreter; ``None`` when it failed (its error printed)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, REFLOW_STORE_PATH=f"{tmp}/m.db")
        if python != sys.executable:  # the seed's own environment, nothing of ours
            env.pop("PYTHONPATH", None)
        proc = subprocess.run(
            [python, "-c", CHILD, str(n), f"{tmp}/m.db", f"{tmp}/run", kind],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
        )
    if proc.returncode != 0:
        print(f"{python} {kind} {n}: failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def seed_python() -> str | None:
    """The interpreter of the seed system: made once in a cache directory."""
    if os.environ.get("REFLOW_BENCH_SEED", "1") == "0":
        return None
    given = os.environ.get("REFLOW_BENCH_SEED_PYTHON")
    if given:
        return given
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = cache / "reflow-bench" / SEED_SPEC.replace("==", "-")
    python = venv / "bin" / "python"
    if python.exists():
        return str(python)
    print(f"installing {SEED_SPEC} in {venv} (once)", file=sys.stderr)
    try:
        if shutil.which("uv"):
            subprocess.run(["uv", "venv", "-q", str(venv)], check=True)
            subprocess.run(
                [
                    "uv",
                    "pip",
                    "install",
                    "-q",
                    "--compile-bytecode",
                    "--python",
                    str(python),
                    SEED_SPEC,
                ],
                check=True,
            )
        else:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", SEED_SPEC], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"cannot install {SEED_SPEC}: {exc}; measuring reflow alone", file=sys.stderr)
        shutil.rmtree(venv, ignore_errors=True)
        return None
    return str(python)


WORKLOADS = {
    "fan": (10_000, "fan"),
    "chain200": (200, "chain"),
    "chain1000": (1000, "chain"),
    "par": (200, "par"),
    "big": (100_000, "fan"),
}


def _median(results: list[dict[str, float]]) -> dict[str, float]:
    """Per figure, the median of the rounds that succeeded."""
    keys = {key for result in results for key in result}
    return {key: statistics.median(r[key] for r in results if key in r) for key in keys}


def measure_all(pythons: dict[str, str]) -> dict[str, dict[str, float | None]]:
    """Each workload for each interpreter, taking turns round by round; the figures of each."""
    rounds = int(os.environ.get("REFLOW_BENCH_ROUNDS", "1"))
    chosen = os.environ.get("REFLOW_BENCH_WORKLOADS", ",".join(WORKLOADS)).split(",")
    unknown = sorted(set(chosen) - set(WORKLOADS))
    if unknown:
        raise SystemExit(f"REFLOW_BENCH_WORKLOADS names {unknown}; choose among {list(WORKLOADS)}")
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        label: {w: [] for w in chosen} for label in pythons
    }
    for workload in chosen:
        for _ in range(rounds):
            for label, python in pythons.items():
                result = measure(python, *WORKLOADS[workload])
                if result is not None:
                    runs[label][workload].append(result)
    return {
        label: _figures({w: _median(rs) for w, rs in by_workload.items() if rs})
        for label, by_workload in runs.items()
    }


def _figures(medians: dict[str, dict[str, float]]) -> dict[str, float | None]:
    fan = medians.get("fan", {})
    chain200 = medians.get("chain200", {})
    chain1000 = medians.get("chain1000", {})
    par = medians.get("par", {})
    big = medians.get("big", {})
    return {
        "fan_cold": fan.get("cold"),
        "fan_us": fan["cold"] / 10_000 * 1e6 if fan else None,
        "fan_cold_cpu": fan.get("cold_cpu"),
        "fan_cached": fan.get("cached"),
        "fan_cached_cpu": fan.get("cached_cpu"),
        "changed1_cpu": fan.get("changed1_cpu"),
        "changed1": fan.get("changed1"),
        "changed10": fan.get("changed10"),
        "chain200": chain200.get("cold"),
        "chain1000": chain1000.get("cold"),
        "par_eff": 200 * 0.01 / 2 / par["cold"] if par else None,
        "peak_mb": big.get("peak_mb"),
    }


ROWS = [
    ("fan_cold", "fan-out 10,000 + gather, cold (s)"),
    ("fan_us", "  per element (µs)"),
    ("fan_cold_cpu", "  cold, CPU seconds (driver + workers)"),
    ("fan_cached", "  fully cached rerun (s)"),
    ("fan_cached_cpu", "  fully cached rerun, CPU seconds"),
    ("changed1", "  one element changed, 1st run (s)"),
    ("changed1_cpu", "  one element changed, 1st run, CPU s"),
    ("changed10", "  one element changed, 10th run (s)"),
    ("chain200", "chain of 200 tasks (s)"),
    ("chain1000", "chain of 1,000 tasks (s)"),
    ("par_eff", "200 x 10 ms on 2 workers: efficiency"),
    ("peak_mb", "fan-out 100,000: peak memory (MB)"),
]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _checks(ours: dict[str, float | None], seed: dict[str, float | None]) -> dict[str, bool]:
    def get(d: dict[str, float | None], key: str) -> float:
        value = d.get(key)
        return float("nan") if value is None else value

    checks = {
        "cold at most 25 µs per element": get(ours, "fan_us") <= 25,
        "cached rerun at most 0.05 s": get(ours, "fan_cached") <= 0.05,
        "1,000-task chain at most 5x the 200-task one": (
            get(ours, "chain1000") <= 5 * get(ours, "chain200")
        ),
        "one changed element at most 0.3x the cold run": (
            get(ours, "changed1") <= 0.3 * get(ours, "fan_cold")
        ),
        "10th changed run within 1.2x of the 1st": (
            get(ours, "changed10") <= 1.2 * get(ours, "changed1")
        ),
        "parallel efficiency at least 92 %": get(ours, "par_eff") >= 0.92,
        "100,000 elements under 150 MB": get(ours, "peak_mb") < 150,
    }
    if seed:
        checks["cold fan-out at least 15x faster than the seed"] = (
            get(seed, "fan_cold") / get(ours, "fan_cold") >= 15
        )
        checks["200-task chain at least 3x faster than the seed"] = (
            get(seed, "chain200") / get(ours, "chain200") >= 3
        )
    return checks


def main() -> int:
    pythons = {"reflow": sys.executable}
    base_py = os.environ.get("REFLOW_BENCH_BASE_PYTHON")
    if base_py:
        pythons["base"] = base_py
    seed_py = seed_python()
    if seed_py:
        pythons["seed"] = seed_py
    figures = measure_all(pythons)
    ours, base, seed = figures["reflow"], figures.get("base"), figures.get("seed", {})
    head = f"{'workload':40s} {'reflow':>9s}"
    head += f" {'base':>9s} {'base/reflow':>12s}" if base is not None else ""
    print(f"{head} {'seed':>9s} {'seed/reflow':>12s}")
    for key, label in ROWS:
        a, b = ours.get(key), seed.get(key)
        line = f"{label:40s} {_fmt(a):>9s}"
        if base is not None:
            c = base.get(key)
            line += f" {_fmt(c):>9s} " + (f"{c / a:11.2f}x" if a and c else f"{'':12s}")
        ratio = f"{b / a:11.1f}x" if a and b else f"{'':12s}"
        print(f"{line} {_fmt(b):>9s} {ratio}")
    checks = _checks(ours, seed)
    for label, ok in checks.items():
        print(f"target: {label} -> {'met' if ok else 'MISSED'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Scheduler mode against the issue-17 targets, optionally beside another reflow tree.

Parts (``REFLOW_BENCH_PARTS=element,pack,pipeline`` picks some; those three by
default, in that order):

``element``
    One trivial element's cost from process start to result written:
    ``python -m reflow.job work`` run again on an element of a finished run
    (median of 11), next to a bare ``python -c pass``; through the local
    executor (submit to ended, the executor's launch included); on Slurm
    through ``srun``, next to ``srun true``.
``pack``
    2,000 elements of 5 ms with ``pack=100``: ``submit --executor local``
    against ``run --max-workers 2`` (target: within 3x) and, on Slurm, against
    a raw 20-task ``sbatch --array`` doing the same sleeps (target: within 1.5x).
``pipeline``
    find -> process[array] -> clean[array, 1:1] -> summary[gather] -> publish:
    wall time from submit to SUCCESS, dispatcher waves that submitted jobs,
    dispatcher jobs, sbatch calls; on Slurm at 50 and 500 elements, against the
    same shape submitted by hand with five raw ``sbatch --dependency`` calls in
    one go, the physical limit (target: at most 1.3x); locally at 50 only (1,000
    unpacked processes on two slots measure the machine, not reflow).
``calls``
    (Not in the default set.)  A fan-out of 20 and of 200 trivial elements and a
    gather: the most executor calls in one wave must not grow with the elements.

Before/after: ``REFLOW_BENCH_BEFORE=/path/to/python`` names the interpreter of
another reflow tree (say main's, in its own venv); every reflow figure is then
measured with both, alternating which goes first, in the same run, and each row
says which tree it is (``before``: that interpreter, ``after``: this one).  The
raw references run once per case, between the two.

Slurm runs when ``SLURM_CONF`` points at a test cluster
(``eval "$(tests/clusters/slurm/start.sh)"`` first); otherwise the script says it
skips Slurm.  Jobs write bytecode caches (``PYTHONDONTWRITEBYTECODE`` is cleared),
as a user's would.  Exit status 1 when
a run did not succeed or a target of this tree is missed.  Run through nox:
``nox -s bench -- scheduler``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
SLURM = bool(os.environ.get("SLURM_CONF"))
EXECUTORS = ["local"] + (["slurm"] if SLURM else [])
BEFORE = os.environ.get("REFLOW_BENCH_BEFORE", "")
TREES: list[tuple[str, str]] = [("after", sys.executable)] + (
    [("before", BEFORE)] if BEFORE else []
)
"""(label, interpreter) of each reflow tree measured."""

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

LAUNCH = textwrap.dedent(
    """
    import statistics, sys, time
    from pathlib import Path
    from reflow.executors.jobs import JobSpec, JobState
    from reflow.executors.local.executor import LocalExecutor
    state, work = Path(sys.argv[1]), tuple(sys.argv[2:])
    executor = LocalExecutor(state_dir=state)
    ended, times = JobState.ended(), []
    for _ in range(5):
        spec = JobSpec("bench.launch", work, Path.cwd(), state / "logs",
                       env={"REFLOW_ARRAY_INDEX": "0"})
        t = time.perf_counter()
        job = executor.submit(spec)
        while executor.query([job])[job].state not in ended:
            time.sleep(0.002)
        times.append(time.perf_counter() - t)
    print(statistics.median(times))
    """
)

_CALLS = re.compile(r"executor calls this wave: (\d+) \(submit=(\d+) query=(\d+)\)")


def _order(case: int) -> list[tuple[str, str]]:
    """The trees in the order to measure them: which goes first alternates between cases."""
    return TREES if case % 2 == 0 else TREES[::-1]


def drive(
    root: Path, source: str, executor: str, params: dict[str, int], python: str = sys.executable
) -> dict[str, Any]:
    """Run ``source``'s workflow once with ``executor`` (or ``run2``: run_local, 2 workers)."""
    (root / "pipeline.py").write_text(source)
    out = subprocess.run(
        [
            *(python, "-c", DRIVER, str(root), str(root / "m.db"), str(root / "run")),
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


def _v(met: bool) -> str:
    return "met" if met else "NOT MET"


# -- element: one element from process start to result written --------------------------


def _sample(command: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True, timeout=300)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def _interleaved(
    commands: dict[str, Sequence[str]], env: dict[str, str], repeat: int
) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds of each command, run in turn ``repeat`` times.

    Taking turns spreads the load of a shared machine evenly over the commands
    compared; CPU time depends far less on that load than wall time does.
    """
    samples: dict[str, list[tuple[float, float]]] = {key: [] for key in commands}
    keys = list(commands)
    for rep in range(repeat):
        for key in keys[rep % len(keys) :] + keys[: rep % len(keys)]:
            samples[key].append(_sample(commands[key], env))
    return {
        key: (statistics.median(w for w, _ in got), statistics.median(c for _, c in got))
        for key, got in samples.items()
    }


def part_element() -> bool:
    print("\n## one trivial element, process start to result written (median of 15; ms)")
    print(
        f"{'how':36s} {'tree':7s} {'wall':>6s} {'cpu':>6s} {'ref wall':>9s} {'ref cpu':>8s} "
        f"{'reflow adds (wall, cpu)':>24s}"
    )
    env = {**ENV, "REFLOW_ARRAY_INDEX": "0"}
    srun = ["srun", "--quiet", "-n1", "-c1", "--mem=200M", "-t", "5"]
    with contextlib.ExitStack() as stack:
        local: dict[str, Sequence[str]] = {"ref": [sys.executable, "-c", "pass"]}
        launch: dict[str, Sequence[str]] = {}
        slurm: dict[str, Sequence[str]] = {"ref": [*srun, "true"]}
        for label, python in TREES:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            r = drive(root, CALLS, "local", {"n": 2}, python)
            run_json = root / "run" / ".reflow" / str(r["run_id"]) / "run.json"
            work = [python, "-m", "reflow.job", "work", str(run_json), "work"]
            local[label] = work
            launch[label] = [python, "-c", LAUNCH, str(root / "launch"), *work]
            slurm[label] = [*srun, *work]
        rows = [("python -m reflow.job work", _interleaved(local, env, 15))]
        # The local executor from submit to ended: each run of LAUNCH prints its median of 7.
        ended: dict[str, list[float]] = {label: [] for label, _ in TREES}
        for rep in range(3):
            for label, _ in TREES[rep % 2 :] + TREES[: rep % 2]:
                out = subprocess.run(
                    launch[label], check=True, capture_output=True, text=True, env=ENV, timeout=300
                ).stdout
                ended[label].append(float(out))
        if SLURM:
            rows.append(("srun python -m reflow.job work", _interleaved(slurm, env, 15)))
    for how, got in rows:
        ref_wall, ref_cpu = got["ref"]
        for label, _ in TREES:
            wall, cpu = got[label]
            ms = [1000 * x for x in (wall, cpu, ref_wall, ref_cpu, wall - ref_wall, cpu - ref_cpu)]
            print(
                f"{how:36s} {label:7s} {ms[0]:6.0f} {ms[1]:6.0f} {ms[2]:9.0f} {ms[3]:8.0f} "
                f"{ms[4]:12.0f} {ms[5]:11.0f}"
            )
    for label, _ in TREES:
        wall = statistics.median(ended[label])
        print(f"{'local executor: submit to ended':36s} {label:7s} {1000 * wall:6.0f}")
    print(
        "references: `python -c pass` (local), `srun true` (slurm); cpu: of the process "
        "itself (for srun, of the srun client only); no target, measured to cut"
    )
    return True


# -- pack: 2,000 elements of 5 ms --------------------------------------------------------


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
    print("\n## 2,000 elements of 5 ms, pack=100")
    print(f"{'how':38s} {'tree':7s} {'state':8s} {'seconds':>8s} {'run-dir files':>14s}")
    cases = [
        ("run --max-workers 2", "run2", 1),
        ("submit --executor local, pack=100", "local", 100),
    ]
    if SLURM:
        cases.append(("submit --executor slurm, pack=100", "slurm", 100))
    seconds: dict[tuple[str, str], float] = {}
    ok = True
    raw = 0.0
    for case, (how, executor, pack) in enumerate(cases):
        for label, python in _order(case):
            with tempfile.TemporaryDirectory() as tmp:
                r = drive(
                    Path(tmp), MANY.replace("PACK", str(pack)), executor, {"n": 2000}, python
                )
            seconds[executor, label] = r["seconds"]
            ok = ok and (r["state"] == "SUCCESS" or label != "after")
            print(f"{how:38s} {label:7s} {r['state']:8s} {r['seconds']:8.1f} {r['files']:14d}")
            if executor == "slurm" and not raw:  # the reference, between the two trees
                with tempfile.TemporaryDirectory() as tmp:
                    raw = _raw_array(Path(tmp), 20, 100)
                print(
                    f"{'raw sbatch --array=0-19, 100 x 5 ms each':38s} {'':7s} {'':8s} {raw:8.1f}"
                )
    for label, _ in TREES:
        ratio = seconds["local", label] / seconds["run2", label]
        print(
            f"target: local pack=100 within 3x of run --max-workers 2: {label} "
            f"{ratio:.2f}x -> {_v(ratio <= 3)}"
        )
        ok = ok and (ratio <= 3 or label != "after")
        if SLURM:
            ratio = seconds["slurm", label] / raw
            print(
                f"target: slurm pack=100 within 1.5x of the raw array: {label} "
                f"{ratio:.2f}x -> {_v(ratio <= 1.5)}"
            )
            ok = ok and (ratio <= 1.5 or label != "after")
    return ok


# -- pipeline: the shape ---------------------------------------------------------


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
    print("\n## find -> process[array] -> clean[array, 1:1] -> summary[gather] -> publish")
    print(
        f"{'executor':8s} {'elements':>8s} {'tree':7s} {'state':8s} {'seconds':>8s} "
        f"{'waves':>6s} {'dispatchers':>12s} {'sbatch calls':>13s} {'raw s':>7s} "
        f"{'raw sbatch':>11s} {'ratio':>6s}  target 1.3x"
    )
    ok = True
    case = 0
    for executor in EXECUTORS:
        for n in (50, 500) if executor == "slurm" else (50,):
            raw: tuple[float, int] | None = None
            for label, python in _order(case):
                with tempfile.TemporaryDirectory() as tmp:
                    r = drive(Path(tmp), PIPELINE, executor, {"n": n}, python)
                if executor == "slurm" and raw is None:  # between the two trees
                    with tempfile.TemporaryDirectory() as tmp:
                        raw = _raw_pipeline(Path(tmp), n)
                waves: list[tuple[int, int, int]] = r["waves"]
                submits = 1 + sum(s for _, s, _ in waves)  # the first dispatcher, from submit
                busy = sum(1 for _, s, _ in waves if s > 1)  # more than the next dispatcher
                tail = ""
                if raw is not None:
                    ratio = r["seconds"] / raw[0]
                    tail = f"{raw[0]:7.1f} {raw[1]:11d} {ratio:6.2f}  {_v(ratio <= 1.3)}"
                    ok = ok and (ratio <= 1.3 or label != "after")
                ok = ok and (r["state"] == "SUCCESS" or label != "after")
                print(
                    f"{executor:8s} {n:8d} {label:7s} {r['state']:8s} {r['seconds']:8.1f} "
                    f"{busy:6d} {len(waves):12d} {submits:13d} {tail}".rstrip()
                )
            case += 1
    print(
        "waves: dispatcher waves that submitted task jobs; dispatchers: every dispatcher job "
        "(the last records the end); sbatch calls: submissions, the first dispatcher included"
    )
    return ok


# -- calls: executor calls per wave (not in the default set) -----------------------------


def part_calls() -> bool:
    print("\n## executor calls per wave: fan-out of n trivial elements and a gather")
    print(
        f"{'executor':8s} {'elements':>8s} {'state':8s} {'seconds':>8s} "
        f"{'dispatchers':>12s} {'max calls/wave':>15s}"
    )
    ok = True
    for executor in EXECUTORS:
        most = {}
        for n in (20, 200):
            with tempfile.TemporaryDirectory() as tmp:
                r = drive(Path(tmp), CALLS, executor, {"n": n})
            most[n] = max((c for c, _, _ in r["waves"]), default=0)
            ok = ok and r["state"] == "SUCCESS"
            print(
                f"{executor:8s} {n:8d} {r['state']:8s} {r['seconds']:8.1f} "
                f"{len(r['waves']):12d} {most[n]:15d}"
            )
        met = most[200] <= most[20]
        print(
            f"target ({executor}): calls per wave do not grow "
            f"({most[20]} -> {most[200]}) -> {_v(met)}"
        )
        ok = ok and met
    return ok


PARTS: dict[str, Callable[[], bool]] = {
    "element": part_element,
    "pack": part_pack,
    "pipeline": part_pipeline,
    "calls": part_calls,
}
DEFAULT_PARTS = "element,pack,pipeline"


def _uptime() -> str:
    return "load average " + ", ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    chosen = os.environ.get("REFLOW_BENCH_PARTS", DEFAULT_PARTS).split(",")
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        print(f"REFLOW_BENCH_PARTS: unknown part {unknown[0]!r}; choose from {', '.join(PARTS)}")
        return 2
    if BEFORE and not Path(BEFORE).is_file():
        print(f"REFLOW_BENCH_BEFORE: no interpreter at {BEFORE}; name another tree's python")
        return 2
    if SLURM:
        print(f"slurm: measured on the cluster of SLURM_CONF={os.environ['SLURM_CONF']}")
    else:
        print('slurm: skipped, no SLURM_CONF (eval "$(tests/clusters/slurm/start.sh)" first)')
    for label, python in TREES:
        print(f"tree {label}: {python}")
    print(f"start: {_uptime()}")
    ok = True
    for name in chosen:
        ok = PARTS[name]() and ok
    print(f"\nend: {_uptime()}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

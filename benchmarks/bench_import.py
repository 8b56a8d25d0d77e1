"""How long ``import reflow`` takes in a fresh interpreter.

Prints the median of several runs of each import, measured inside a new
Python process so no earlier import is cached in ``sys.modules``.
Target (issue: monorepo and definition layer): ``import reflow`` under 60 ms.

Run through nox: ``nox -s bench -- import``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

RUNS = 15
TARGET_MS = 60.0

SNIPPETS = {
    "import reflow": "import reflow",
    "from reflow import Workflow, Result, Param, RunDir": (
        "from reflow import Workflow, Result, Param, RunDir"
    ),
    "define + validate the example pipeline": (
        "import runpy, sys; sys.argv=['x']; "
        "ns = runpy.run_path(sys.argv_path, run_name='bench'); ns['wf'].validate()"
    ),
}


def measure(code: str, example: str) -> float:
    """Milliseconds the snippet takes, timed inside a fresh interpreter."""
    program = (
        "import time, sys\n"
        f"sys.argv_path = {example!r}\n"
        "t = time.perf_counter()\n"
        f"{code}\n"
        "print((time.perf_counter() - t) * 1000)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> int:
    from pathlib import Path

    example = str(Path(__file__).resolve().parent.parent / "examples" / "pipeline.py")
    print(f"{'what':55s} {'median ms':>10s} {'min ms':>8s}")
    failed = False
    for label, code in SNIPPETS.items():
        times = [measure(code, example) for _ in range(RUNS)]
        median = statistics.median(times)
        print(f"{label:55s} {median:10.1f} {min(times):8.1f}")
        if label == "import reflow" and median > TARGET_MS:
            failed = True
    print(f"target: import reflow under {TARGET_MS:.0f} ms -> {'MISSED' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

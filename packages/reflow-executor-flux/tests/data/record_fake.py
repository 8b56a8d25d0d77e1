"""Record the Flux fake's answers into this directory (the ``fake_*`` files).

Run from the repository's development environment::

    python packages/reflow-executor-flux/tests/data/record_fake.py

It starts ``reflow_fake_schedulers`` in the ``flux`` flavour in a
temporary directory, submits a completing job, a failing job (exit 3), an
array of three elements (``--cc``), a sleeping job it then cancels and a job
``afterok`` on the failing one, and saves what flux submit, flux jobs and
flux cancel printed.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reflow_fake_schedulers import FakeScheduler

HERE = Path(__file__).resolve().parent


def main() -> int:
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeScheduler.start("flux", Path(tmp) / "f") as fake,
    ):
        log: list[str] = []

        def run(name: str, argv: list[str], ascii_ids: bool = False) -> str:
            env = dict(fake.env, **({"FLUX_F58_FORCE_ASCII": "1"} if ascii_ids else {}))
            done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
            (HERE / f"fake_{name}.txt").write_text(done.stdout)
            if done.stderr:
                (HERE / f"fake_{name}.stderr.txt").write_text(done.stderr)
            log.append(f"{name}: {' '.join(argv)}  (exit {done.returncode})")
            return done.stdout.strip()

        quiet = ["--output=/dev/null", "--error=/dev/null"]
        ok = run("submit", ["flux", "submit", *quiet, "true"])
        bad = run("submit_fail", ["flux", "submit", *quiet, "sh", "-c", "exit 3"])
        array = run("submit_cc", ["flux", "submit", "--cc=0-2", *quiet, "true"], ascii_ids=True)
        sleeper = run("submit_sleep", ["flux", "submit", *quiet, "sleep", "60"])
        after = run("submit_afterok", ["flux", "submit", f"--dependency=afterok:{bad}", "true"])
        run("submit_bad_time", ["flux", "submit", "-t", "01:00:00", "true"])
        time.sleep(2)
        run("jobs_one", ["flux", "jobs", "-a", "--json", sleeper])
        run("cancel", ["flux", "cancel", sleeper])
        time.sleep(3)
        ids = [ok, bad, *array.split(), sleeper, after, "ƒ2JL"]
        run("jobs", ["flux", "jobs", "-a", "--json", *ids])
        run("cancel_ended", ["flux", "cancel", ok])
        (HERE / "fake_commands.txt").write_text("\n".join(log) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

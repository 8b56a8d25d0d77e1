"""Record the LSF fake's answers into this directory (the ``fake_*`` files).

Run from the repository's development environment::

    python packages/reflow-executor-lsf/tests/data/record_fake.py

It starts ``reflow_fake_schedulers`` in the ``lsf`` flavour in a
temporary directory, submits a completing job, a failing job (exit 3), an
array of three elements and a sleeping job it then kills, and saves what
bsub, bjobs and bkill printed.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reflow_fake_schedulers import FakeScheduler

HERE = Path(__file__).resolve().parent
FIELDS = "jobid jobindex stat exit_code exit_reason"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, FakeScheduler.start("lsf", Path(tmp) / "f") as fake:
        log: list[str] = []

        def run(name: str, argv: list[str], stdin: str | None = None) -> str:
            done = subprocess.run(
                argv, input=stdin, capture_output=True, text=True, env=fake.env, check=False
            )
            (HERE / f"fake_{name}.txt").write_text(done.stdout)
            if done.stderr:
                (HERE / f"fake_{name}.stderr.txt").write_text(done.stderr)
            log.append(f"{name}: {' '.join(argv)}  (exit {done.returncode})")
            return done.stdout

        def job_id(text: str) -> str:
            return text.split("<", 1)[1].split(">", 1)[0]

        ok = job_id(run("bsub", ["bsub"], "#!/bin/sh\n#BSUB -J ok\n#BSUB -o /dev/null\nexit 0\n"))
        bad = job_id(
            run("bsub_fail", ["bsub"], "#!/bin/sh\n#BSUB -J bad\n#BSUB -o /dev/null\nexit 3\n")
        )
        array = job_id(
            run(
                "bsub_array",
                ["bsub"],
                '#!/bin/sh\n#BSUB -J "arr[1-3]%2"\n#BSUB -o /dev/null\nexit 0\n',
            )
        )
        sleeper = job_id(
            run("bsub_sleep", ["bsub"], "#!/bin/sh\n#BSUB -J zz\n#BSUB -o /dev/null\nsleep 60\n")
        )
        run("bsub_bad_runlimit", ["bsub", "-W", "01:00:00", "/bin/true"])
        time.sleep(2)
        run("bjobs_running", ["bjobs", "-a", "-o", FIELDS, "-json", sleeper])
        run("bkill", ["bkill", sleeper])
        time.sleep(4)
        ids = [ok, bad, array, sleeper, "99999"]
        run("bjobs", ["bjobs", "-a", "-o", FIELDS, "-json", *ids])
        run("bjobs_delimited", ["bjobs", "-a", "-noheader", "-o", f"{FIELDS} delimiter='|'", *ids])
        run("bkill_ended", ["bkill", ok, "99999"])
        (HERE / "fake_commands.txt").write_text("\n".join(log) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

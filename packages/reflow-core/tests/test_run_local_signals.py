"""run_local in a real process: __main__ functions, and Ctrl-C / SIGTERM mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from typing import Annotated
    from reflow import Result, RunDir, Workflow
    from reflow.stores.sqlite import SqliteStore

    wf = Workflow("signalled")

    @wf.job()
    def items() -> list[int]:
        return [0, 1, 2, 3]

    @wf.job(array=True)
    def slow(i: Annotated[int, Result(step="items")], run_dir: RunDir = RunDir()) -> int:
        (run_dir / f"started-{i}").write_text("")
        time.sleep(30)
        return i

    @wf.job()
    def done(xs: Annotated[list[int], Result(step="slow")]) -> int:
        return sum(xs)

    if __name__ == "__main__":
        store = SqliteStore(sys.argv[1])
        try:
            wf.run_local(sys.argv[2], store=store, max_workers=int(sys.argv[3]))
        except BaseException as exc:
            print("RAISED", type(exc).__name__, flush=True)
            raise SystemExit(3)
    """
)


def start(tmp_path: Path, workers: int) -> tuple[subprocess.Popen[str], Path, Path]:
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT)
    db, run_dir = tmp_path / "m.db", tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db), str(run_dir), str(workers)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (run_dir / "started-0").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.05)
    return proc, db, run_dir


@pytest.mark.parametrize(
    ("sig", "workers"), [(signal.SIGINT, 2), (signal.SIGTERM, 2), (signal.SIGTERM, 1)]
)
def test_a_signal_cancels_the_run_and_leaves_nothing_running(
    tmp_path: Path, sig: signal.Signals, workers: int
) -> None:
    proc, db, _ = start(tmp_path, workers)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert "RAISED" in out
    from reflow.stores.sqlite import SqliteStore

    store = SqliteStore(db)
    store.init()
    [run] = store.list_run_records()
    assert run.status.value == "CANCELLED"
    records = store.list_task_instance_records(run.run_id)
    slow = [r for r in records if r.task_name == "slow"]
    assert len(slow) == 4 and all(r.state.value == "CANCELLED" for r in slow)
    assert {r.state.value for r in records} <= {"SUCCESS", "CANCELLED"}
    store.close()


def test_no_worker_process_outlives_the_cancelled_run(tmp_path: Path) -> None:
    proc, _, _ = start(tmp_path, 2)
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert children, "expected worker processes"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    time.sleep(0.2)
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


def test_functions_defined_in_main_run_in_worker_processes(tmp_path: Path) -> None:
    script = tmp_path / "main_defined.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from typing import Annotated
            from reflow import Result, Workflow
            from reflow.stores.sqlite import SqliteStore

            wf = Workflow("mainmod")

            @wf.job()
            def items() -> list[int]:
                return [1, 2, 3]

            @wf.job(array=True)
            def double(i: Annotated[int, Result(step="items")]) -> int:
                return 2 * i

            if __name__ == "__main__":
                run = wf.run_local(sys.argv[2], store=SqliteStore(sys.argv[1]), max_workers=2)
                print(run.output("double"))
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "m.db"), str(tmp_path / "run")],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert out.strip() == "[2, 4, 6]"

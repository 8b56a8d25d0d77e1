"""The code edited while a submitted run's jobs wait, or between a failure and ``retry``.

On a cluster, jobs wait in the queue for hours and users keep editing. The
dispatcher plans an instance's identity from the code it loaded; the job
imports the script when it starts. Whatever a job ran, its output may only
be served later to the code that produced it: after the run, with the
original code put back (``restored``) or the edit kept (``kept``), the
cached rerun must give what the forced rerun gives.

What the queued or retried run itself gives is left open: the job may run
the code frozen at submit (the original value) or the edited script (the
edited value), as long as the cache records it under the right identity.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import (
    COMMANDS,
    NOT_CHECKED,
    RUN,
    Command,
    Project,
    Replace,
    Trial,
    pipeline,
)
from .harness import replace as edit_of

pytestmark = pytest.mark.slow  # each command runs the workflow three times

BEFORE = [0, 10, 20]
AFTER = [0, 1000, 2000]
EDIT = edit_of("pipeline.py", "x * 10", "x * 1000")
MODULE_EDIT = edit_of("mypkg/helpers.py", "x * 10", "x * 1000")
MODULES = {"mypkg/__init__.py": "", "mypkg/helpers.py": "def scale(x):\n    return x * 10\n"}

# `final` waits in the queue behind `gate` (after=, so no data and no identity
# part passes between them) until the test has edited the script: `gate` says
# it runs, then waits for the test's "go" file.
QUEUED = """
@wf.job()
def gate() -> str:
    ran("gate")
    private = Path(os.environ["ORACLE_DIR"])
    (private / "gate-waiting").write_text("")
    deadline = time.monotonic() + 300
    while not (private / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never said go")
        time.sleep(0.05)
    return "open"


@wf.job(after=["gate"])
def final(n: int = 3) -> list[int]:
    ran("final")
    return [x * 10 for x in range(n)]
"""

# The first attempt of `final` fails whatever its code (a node lost, say);
# the marker file is not a parameter, so it is no part of the identity.
FAILS_ONCE = """
@wf.job()
def final(n: int = 3) -> list[int]:
    ran("final")
    marker = Path(os.environ["ORACLE_DIR"]) / "failed-once"
    if not marker.exists():
        marker.write_text("")
        raise RuntimeError("the first attempt fails")
    return [x * 10 for x in range(n)]
"""

RESTORED = pytest.param(True, id="restored")
KEPT = pytest.param(False, id="kept")


def rerun(
    project: Project, first: str, command: Command, restore: bool, edit: Replace = EDIT
) -> None:
    """After the edited run ``first``: put the code back or not, rerun cached and forced, check."""
    done = project.outcome(first)
    assert done.value("final") in (BEFORE, AFTER), f"the run gave {done.value('final')!r}"
    if restore:
        edit.undo(project)
    cached = project.run(command)
    forced = project.run(command, "--force")
    Trial(done, cached, forced).check_edit(
        "final", before=NOT_CHECKED, after=BEFORE if restore else AFTER
    )


@pytest.mark.parametrize("command", COMMANDS, ids=str)
@pytest.mark.parametrize("restore", [RESTORED, KEPT])
def test_script_edited_while_the_jobs_wait_in_the_queue(
    tmp_path: Path, restore: bool, command: Command
) -> None:
    project = Project(tmp_path, {"pipeline.py": pipeline(QUEUED)})
    run_id = project.submit()
    project.wait_for_file("gate-waiting")  # the first wave is planned and its jobs queued
    EDIT(project)
    (project.private / "go").write_text("")
    assert project.wait_for(run_id) == "SUCCESS"
    rerun(project, run_id, command, restore)


@pytest.mark.parametrize("restore", [RESTORED, KEPT])
def test_user_module_edited_while_the_jobs_wait_in_the_queue(
    tmp_path: Path, restore: bool
) -> None:
    script = "from mypkg.helpers import scale\n" + QUEUED.replace("x * 10", "scale(x)")
    project = Project(tmp_path, {"pipeline.py": pipeline(script), **MODULES})
    run_id = project.submit()
    project.wait_for_file("gate-waiting")
    MODULE_EDIT(project)
    (project.private / "go").write_text("")
    assert project.wait_for(run_id) == "SUCCESS"
    rerun(project, run_id, RUN, restore, MODULE_EDIT)


@pytest.mark.parametrize("command", COMMANDS, ids=str)
@pytest.mark.parametrize("restore", [RESTORED, KEPT])
def test_script_edited_between_a_failure_and_retry(
    tmp_path: Path, restore: bool, command: Command
) -> None:
    project = Project(tmp_path, {"pipeline.py": pipeline(FAILS_ONCE)})
    run_id = project.submit()
    assert project.wait_for(run_id) == "FAILED"
    EDIT(project)
    retried = project.invoke("retry", run_id)
    assert "Marked 1 task instance(s) for retry." in retried.stdout, retried.stdout
    assert project.wait_for(run_id) == "SUCCESS"
    rerun(project, run_id, command, restore)


# `final` reads the file its Path parameter names, hashed by content; the
# file's state enters the identity at submit, the job reads it much later.
QUEUED_SOURCE = """
@wf.job()
def gate() -> str:
    ran("gate")
    private = Path(os.environ["ORACLE_DIR"])
    (private / "gate-waiting").write_text("")
    deadline = time.monotonic() + 300
    while not (private / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never said go")
        time.sleep(0.05)
    return "open"


@wf.job(after=["gate"], cache_inputs="content")
def final(source: Path) -> str:
    ran("final")
    return source.read_text()
"""
SOURCE_EDIT = edit_of("data/in.txt", "original", "edited while queued")


@pytest.mark.parametrize("command", COMMANDS, ids=str)
@pytest.mark.parametrize("restore", [RESTORED, KEPT])
def test_parameter_file_edited_while_the_jobs_wait_in_the_queue(
    tmp_path: Path, restore: bool, command: Command
) -> None:
    files = {"pipeline.py": pipeline(QUEUED_SOURCE), "data/in.txt": "original"}
    project = Project(tmp_path, files)
    source = ["--source", str(project.path("data/in.txt"))]
    run_id = project.submit(*source)
    project.wait_for_file("gate-waiting")  # the run's identities are planned
    SOURCE_EDIT(project)
    (project.private / "go").write_text("")
    assert project.wait_for(run_id) == "SUCCESS"
    done = project.outcome(run_id)
    assert done.value("final") == "edited while queued"  # the job reads the file as it is
    if restore:  # the old content back: a stale hit would give the edited text
        SOURCE_EDIT.undo(project)
    cached = project.run(command, *source)
    forced = project.run(command, "--force", *source)
    Trial(done, cached, forced).check_edit(
        "final", before=NOT_CHECKED, after="original" if restore else "edited while queued"
    )

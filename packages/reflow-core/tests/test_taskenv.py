"""Per-task environments: modules, prologue and container, checked and written into jobs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reflow import Workflow
from reflow.define.flow import JobConfig
from reflow.define.taskenv import TaskEnvironment, check_prologue
from reflow.errors import WorkflowDefinitionError
from reflow.executors import JobResources, JobSpec
from reflow.executors.taskenv import command_lines, setup_lines, wrapped_command
from reflow.testing.taskenv import fake_apptainer

LMOD = Path("/usr/share/lmod/lmod/init/bash")
needs_lmod = pytest.mark.skipif(
    not LMOD.exists() and os.environ.get("REFLOW_REQUIRE_PROGRAMS") != "1",
    reason="Lmod is not installed (apt-get install lmod; .ci/run installs it)",
)


def _job(tmp_path: Path, environment: TaskEnvironment, gpus: int = 0) -> JobSpec:
    return JobSpec(
        name="wf.task",
        command=("python3", "-c", "print('hi')"),
        workdir=tmp_path / "run",
        log_dir=tmp_path / "run" / "logs",
        resources=JobResources(gpus=gpus, environment=environment),
        binds=(str(tmp_path / "scripts"), "/opt/venv"),
    )


@pytest.mark.parametrize(
    ("keywords", "phrase"),
    [
        ({"gpus": -1}, "gpus=-1 is not valid"),
        ({"gpus": True}, "gpus=True is not valid"),
        ({"gpu_type": "a100"}, "gpu_type='a100' needs gpus= of at least 1"),
        ({"gpus": 1, "gpu_type": "a100 x"}, "gpu_type='a100 x' is not valid"),
        ({"modules": "gcc/12"}, "modules='gcc/12' is not valid; give a list"),
        ({"modules": ["gcc/12; rm -rf ~"]}, "is not a module name"),
        ({"prologue": ["echo 'open"]}, "quotes are not balanced"),
        ({"prologue": ["a\nb"]}, "line break"),
        ({"prologue": ["cat <<EOF"]}, "here-document"),
        ({"prologue": ["echo \\"]}, "ends with a backslash"),
        ({"container": "ubuntu:22.04"}, "neither an image source nor an absolute path"),
        ({"container": "docker://a b"}, "is not valid"),
    ],
)
def test_bad_values_fail_at_definition_in_one_line(
    keywords: dict[str, object], phrase: str
) -> None:
    wf = Workflow("bad")
    with pytest.raises(WorkflowDefinitionError) as caught:

        @wf.job(**keywords)  # type: ignore[arg-type]
        def task() -> None: ...

        wf.validate()
    message = str(caught.value)
    assert phrase in message and "'task'" in message and "\n" not in message


def test_good_values_are_kept_and_not_submit_options() -> None:
    config = JobConfig(
        gpus=2,
        gpu_type="a100",
        modules=["gcc/12", "cuda/12.2"],
        prologue=["export OMP_NUM_THREADS=4  # comment"],
        container="docker://python:3.12-slim",
    )
    config.check("t")
    assert config.submit_options == {}
    assert config.environment == TaskEnvironment(
        ("gcc/12", "cuda/12.2"),
        ("export OMP_NUM_THREADS=4  # comment",),
        "docker://python:3.12-slim",
    )


def test_prologue_lines_are_written_verbatim_under_set_e() -> None:
    lines = setup_lines(TaskEnvironment(prologue=check_prologue(['cd "$TMPDIR" && ls'])))
    assert lines == [
        "set -e  # reflow: a failing prologue line ends the job",
        'cd "$TMPDIR" && ls',
        "set +e",
    ]


def test_container_runs_the_command_with_every_directory_bound(tmp_path: Path) -> None:
    job = _job(tmp_path, TaskEnvironment(container="/images/tools.sif"), gpus=1)
    last = command_lines(job)[-1]
    run = tmp_path / "run"
    assert last == (
        f'exec "$reflow_runtime" exec --bind {run} '
        f"--bind {tmp_path}/scripts --bind /opt/venv --nv /images/tools.sif "
        "python3 -c 'print('\"'\"'hi'\"'\"')'"
    )


def test_a_directory_bind_cannot_express_is_refused(tmp_path: Path) -> None:
    job = _job(tmp_path / "a:b", TaskEnvironment(container="/i.sif"))
    with pytest.raises(ValueError, match="cannot express a path with ':'"):
        command_lines(job)


def test_without_an_environment_the_command_is_unchanged(tmp_path: Path) -> None:
    job = _job(tmp_path, TaskEnvironment())
    assert wrapped_command(job) == job.command
    assert command_lines(job) == ["exec python3 -c 'print('\"'\"'hi'\"'\"')'"]
    assert command_lines(job, background=True) == ["python3 -c 'print('\"'\"'hi'\"'\"')' &"]


def test_a_wrapped_command_runs_in_the_fake_container(tmp_path: Path) -> None:
    fake = fake_apptainer(tmp_path / "bin")
    argv_file = tmp_path / "argv"
    job = _job(
        tmp_path, TaskEnvironment(prologue=("export GREETING=hello",), container="docker://x/y:1")
    )
    job = JobSpec(**{**job.__dict__, "command": ("bash", "-c", 'echo "$GREETING from $0"')})
    env = {
        **os.environ,
        "PATH": f"{fake.parent}:{os.environ['PATH']}",
        "REFLOW_TEST_ARGV": str(argv_file),
    }
    done = subprocess.run(
        wrapped_command(job), env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout == "hello from bash\n"
    argv = argv_file.read_text().splitlines()
    assert argv[0] == "exec" and "docker://x/y:1" in argv and "--nv" not in argv
    assert argv[argv.index("docker://x/y:1") + 1 :] == ["bash", "-c", 'echo "$GREETING from $0"']


def _module_tree(root: Path) -> Path:
    """A module file ``reflowtest/1`` that sets ``REFLOW_TEST_MODULE``."""
    (root / "reflowtest").mkdir(parents=True)
    (root / "reflowtest" / "1.lua").write_text('setenv("REFLOW_TEST_MODULE", "loaded-by-lmod")\n')
    return root


@needs_lmod
def test_a_real_lmod_module_loads_and_a_missing_one_fails_with_its_own_error(
    tmp_path: Path,
) -> None:
    modules = _module_tree(tmp_path / "modules")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LMOD", "MODULE", "BASH_FUNC"))
    }
    env["MODULEPATH"] = str(modules)
    good = _job(tmp_path, TaskEnvironment(modules=("reflowtest/1",)))
    good = JobSpec(**{**good.__dict__, "command": ("bash", "-c", 'echo "$REFLOW_TEST_MODULE"')})
    done = subprocess.run(
        wrapped_command(good), env=env, capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (0, "loaded-by-lmod\n"), done.stderr
    bad = JobSpec(
        **{
            **good.__dict__,
            "resources": JobResources(environment=TaskEnvironment(modules=("nosuch/0",))),
        }
    )
    done = subprocess.run(
        wrapped_command(bad), env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1 and done.stdout == ""
    assert "The following module(s) are unknown" in done.stderr
    assert "reflow: module load nosuch/0 failed" in done.stderr


def _load(tmp_path: Path, name: str, text: str) -> Any:
    import importlib.util

    script = tmp_path / f"{name}.py"
    script.write_text(text)
    spec = importlib.util.spec_from_file_location(name, script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.wf


MODULE_FLOW = """
import os
from reflow import Workflow
wf = Workflow("{name}")
@wf.job(modules=["{module}"])
def show() -> str:
    return os.environ["REFLOW_TEST_MODULE"]
"""


@needs_lmod
def test_a_module_loads_in_a_local_executor_job_and_a_missing_one_fails_the_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflow import RunState
    from reflow.executors.local.executor import LocalExecutor
    from reflow.stores.sqlite import SqliteStore

    monkeypatch.setenv("MODULEPATH", str(_module_tree(tmp_path / "modules")))
    store = SqliteStore(tmp_path / "m.db")
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    good = _load(tmp_path, "modgood", MODULE_FLOW.format(name="modgood", module="reflowtest/1"))
    run = good.submit(tmp_path / "run1", store=store, executor=executor)
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("show") == "loaded-by-lmod"
    bad = _load(tmp_path, "modbad", MODULE_FLOW.format(name="modbad", module="nosuch/0"))
    run = bad.submit(tmp_path / "run2", store=store, executor=executor)
    assert run.wait(timeout=120) is RunState.FAILED
    logs = "".join(p.read_text() for p in (tmp_path / "run2" / "logs").glob("show-*.err"))
    assert "The following module(s) are unknown" in logs
    (failure,) = run.status_dict()["failed_instances"]
    assert "exit status 1" in failure["error"]
    assert "reflow: module load nosuch/0 failed" in failure["error"]
    assert "The following module(s) are unknown" in failure["error"]  # Lmod's own words


CONTAINER_FLOW = """
import os
from reflow import Workflow
wf = Workflow("{name}")
@wf.job(container="docker://python:3.12-slim", gpus=1)
def inside() -> str:
    return os.getcwd()
"""


def test_a_local_executor_job_runs_in_the_container_with_its_directories_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a fake ``apptainer`` (no real runtime can be installed here): the exact argv."""
    import sys

    from reflow import RunState
    from reflow.executors.local.executor import LocalExecutor
    from reflow.stores.sqlite import SqliteStore

    fake = fake_apptainer(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("REFLOW_TEST_ARGV", str(tmp_path / "argv"))
    wf = _load(tmp_path, "inbox", CONTAINER_FLOW.format(name="inbox"))
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    run = wf.submit(tmp_path / "run", store=SqliteStore(tmp_path / "m.db"), executor=executor)
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("inside") == str(tmp_path / "run")
    argv = (tmp_path / "argv").read_text().splitlines()
    image = argv.index("docker://python:3.12-slim")
    binds = [argv[i + 1] for i, word in enumerate(argv[:image]) if word == "--bind"]
    # The run directory (its logs and the frozen script are inside), where the script was
    # written, the Python environment.
    assert binds == [str(tmp_path / "run"), str(tmp_path), sys.prefix]
    assert argv[0] == "exec" and argv[image - 1] == "--nv"  # gpus=1
    assert argv[image + 1 : image + 5] == [sys.executable, "-m", "reflow.job", "work"]


def test_the_environment_counts_for_the_cache_and_explain_names_it(tmp_path: Path) -> None:
    from reflow.stores.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "m.db")

    def flow(modules: list[str] | None) -> Workflow:
        wf = Workflow("envcache")

        @wf.job(modules=modules)
        def t() -> int:
            return 1

        return wf

    flow(["gcc/12"]).run_local(tmp_path / "run", store=store)
    again = flow(["gcc/12"]).run_local(tmp_path / "run", store=store)
    assert "cache hit" in again.explain("t")
    other = flow(["gcc/13"]).run_local(tmp_path / "run", store=store)
    assert "the task's environment changed (modules, prologue or container)" in other.explain("t")
    plain = flow(None).run_local(tmp_path / "run", store=store)
    assert "(environment)" in plain.explain("t")  # differs from the runs with modules


def test_executor_tables_of_the_configuration_build_the_executor(tmp_path: Path) -> None:
    """``[executor.<name>]`` holds constructor keywords (``[executor.sge] gpu_resource``)."""
    from reflow.config import Config
    from reflow.errors import ReflowError
    from reflow.executors.local.executor import LocalExecutor
    from reflow.executors.resolve import default_executor, resolve_executor

    table = {"slots": 3, "state_dir": str(tmp_path / "jobs")}
    config = Config({"executor": {"name": "local", "local": table}})
    for executor in (default_executor(config), resolve_executor("local", config)):
        assert isinstance(executor, LocalExecutor) and executor.slots == 3
    bad = Config({"executor": {"local": {"gpu_resource": "gpu"}}})
    with pytest.raises(ReflowError, match="unexpected keyword argument 'gpu_resource'"):
        resolve_executor("local", bad)


@needs_lmod
@pytest.mark.parametrize("shell", ["sh", "bash"])  # LSF runs job scripts with /bin/sh
def test_modules_load_in_a_clean_non_login_shell(tmp_path: Path, shell: str) -> None:
    """No ``module`` function, no Lmod variables: only PATH, HOME and MODULEPATH."""
    modules = _module_tree(tmp_path / "modules")
    lines = setup_lines(TaskEnvironment(modules=("reflowtest/1",)))
    script = "\n".join([*lines, 'echo "$REFLOW_TEST_MODULE"'])
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MODULEPATH": str(modules)}
    done = subprocess.run(
        [shell, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (0, "loaded-by-lmod\n"), done.stderr

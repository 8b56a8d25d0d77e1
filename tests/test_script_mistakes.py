"""A workflow script's mistakes: one line naming the thing and the fix, exit 2, nothing written.

The script ends in a bare ``wf.cli()``, as the published reflow's examples do,
so the exit status must come from ``wf.cli()`` itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = """
from reflow import Workflow

wf = Workflow("mistakes")

@wf.job(time="1h30m")
def hello(name: str = "x") -> str:
    return name

@wf.job(time="90m", partiton="gpu")
def typo(name: str = "x") -> str:
    return name

wf.cli()
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    (tmp_path / "work").mkdir()
    path = tmp_path / "work" / "mistakes.py"
    path.write_text(textwrap.dedent(SCRIPT).replace(', partiton="gpu"', ""))
    return path


@pytest.fixture
def typo_script(script: Path) -> Path:
    script.write_text(textwrap.dedent(SCRIPT))
    return script


def cli(script: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("REFLOW_")}
    environ.update(
        REFLOW_STORE_PATH=str(script.parent / "store" / "m.db"),
        REFLOW_LOCAL_STATE=str(script.parent / "jobs"),
        XDG_CONFIG_HOME=str(script.parent / "xdg"),
        **env,
    )
    return subprocess.run(
        [sys.executable, str(script), *argv, "--run-dir", str(script.parent / "run")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environ,
        stdin=subprocess.DEVNULL,
    )


def assert_nothing_written(script: Path) -> None:
    assert sorted(p.name for p in script.parent.iterdir()) == ["mistakes.py"]


def test_misspelled_executor_suggests_the_name_and_exits_2(script: Path) -> None:
    done = cli(script, "submit", "--executor", "slrum")

    assert done.returncode == 2
    assert done.stderr == (
        f"mistakes: error: No executor named 'slrum' for {sys.executable} (installed: "
        "flux, local, lsf, pbs, sge, slurm). Did you mean 'slurm'?\n"
    )
    assert "pip install" not in done.stderr
    assert_nothing_written(script)


@pytest.mark.parametrize(
    ("variable", "value", "fix"),
    [
        ("REFLOW_MODE", "bogus", "use one of dry-run, submit, or unset it to submit for real."),
        (
            "REFLOW_LOG_LEVEL",
            "chatty",
            "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL, or unset it for WARNING.",
        ),
        ("REFLOW_LOCAL_SLOTS", "many", "use a whole number of at least 1."),
    ],
)
def test_bad_reflow_variable_stops_the_script(
    script: Path, variable: str, value: str, fix: str
) -> None:
    done = cli(script, "submit", **{variable: value})

    assert done.returncode == 2
    assert done.stderr == f"mistakes: error: {variable}={value!r} is not valid: {fix}\n"
    assert done.stdout == ""
    assert_nothing_written(script)


def test_submit_names_the_executor_and_warns_when_it_is_local(script: Path) -> None:
    done = cli(script, "submit")

    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.endswith(f"in {script.parent / 'run'} with executor 'local'")
    assert done.stderr == (
        "Warning: executor 'local' runs the jobs on this machine; pass --executor slurm "
        "(or pbs, lsf, sge, flux), or set [executor] name in config.toml, to use a cluster.\n"
    )


def test_submit_to_a_scheduler_does_not_warn(script: Path) -> None:
    done = cli(script, "submit", "--executor", "slurm", REFLOW_MODE="dry-run")

    assert done.returncode == 0, done.stderr
    assert "with executor 'slurm'" in done.stdout
    assert "Warning" not in done.stderr


def test_misspelled_scheduler_option_is_refused_before_the_run_is_recorded(
    typo_script: Path,
) -> None:
    done = cli(typo_script, "submit", "--executor", "slurm")

    assert done.returncode == 2
    assert done.stderr == (
        "mistakes: error: Submit option 'partiton' of task 'typo' is not a slurm option. "
        "Did you mean 'partition'? If your site's scheduler has it, add it to "
        'site_options = ["partiton"] under [executor] in config.toml.\n'
    )
    assert_nothing_written(typo_script)


def test_site_options_let_a_site_specific_option_through(typo_script: Path) -> None:
    config = typo_script.parent / "xdg" / "reflow" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[executor]\nsite_options = ["partiton"]\n')

    done = cli(typo_script, "submit", "--executor", "slurm", REFLOW_MODE="dry-run")

    assert done.returncode == 0, done.stderr
    assert "with executor 'slurm'" in done.stdout


def test_python_api_submit_refuses_a_bad_mode_before_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflow import Workflow
    from reflow.errors import ConfigError
    from reflow.stores.sqlite import SqliteStore

    wf = Workflow("api")

    @wf.job()
    def one() -> int:
        return 1

    store = SqliteStore(tmp_path / "m.db")
    monkeypatch.setenv("REFLOW_MODE", "dryrun")
    expected = r"^REFLOW_MODE='dryrun' is not valid: use one of dry-run, submit"
    with pytest.raises(ConfigError, match=expected):
        wf.submit(tmp_path / "run", store=store, executor="slurm")
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "m.db").exists()


def test_dry_run_names_the_executor(script: Path) -> None:
    done = cli(script, "submit", "--executor", "slurm", "--dry-run")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        "Dry run with executor 'slurm': nothing was submitted and no run was recorded."
    )
    assert done.stderr == ""
    assert_nothing_written(script)


@pytest.mark.parametrize(
    ("decorator", "message"),
    [
        ('pack="fast"', "Task 'hello': pack='fast' is not valid"),
        ("cpus=-1", "Task 'hello': cpus=-1 is not valid"),
    ],
)
def test_a_decorator_mistake_is_one_line_and_exit_2(
    script: Path, decorator: str, message: str
) -> None:
    # Raised while the script's top level runs, before wf.cli() can catch it.
    script.write_text(
        script.read_text().replace('@wf.job(time="1h30m")', f"@wf.job(array=True, {decorator})")
    )
    done = cli(script, "run")

    assert done.returncode == 2
    assert done.stderr.startswith(f"mistakes: error: {message}")
    assert done.stderr.count("\n") == 1, done.stderr  # no traceback
    assert_nothing_written(script)

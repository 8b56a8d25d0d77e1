"""Every test, lint, type-check, build, docs and benchmark matrix of the monorepo.

Run ``nox`` for the default sessions (what CI runs), ``nox -l`` to list them.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PACKAGES_DIR = ROOT / "packages"
CORE = "reflow-core"
STORE = "reflow-store-sqlite"
EXECUTORS = [
    "reflow-executor-slurm",
    "reflow-executor-pbs",
    "reflow-executor-lsf",
    "reflow-executor-sge",
    "reflow-executor-flux",
]
# Fake PBS/LSF/Flux commands: the test dependency of those executors' conformance tests.
FAKES = "reflow-fake-schedulers"
PACKAGES = [CORE, STORE, *EXECUTORS, FAKES]
IMPORT_NAMES = {p: "reflow" if p == CORE else p.replace("-", "_") for p in PACKAGES}
TEST_DEPS = ["pytest>=8", "hypothesis>=6"]

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True
nox.options.sessions = [
    "example",
    "lint",
    "typecheck",
    "tests",
    "integration",
    "conformance",
    "build",
    "docs",
]


def _path(package: str) -> str:
    return str(PACKAGES_DIR / package)


def _with_core(*packages: str) -> list[str]:
    """Paths to install: core and its embedded default store always come together."""
    wanted = [CORE, STORE, *(p for p in packages if p not in (CORE, STORE))]
    return [_path(p) for p in wanted]


@nox.session
def example(session: nox.Session) -> None:
    """The README's first command: the example pipeline on the embedded defaults."""
    session.install(*_with_core())
    run_dir = Path(session.create_tmp()) / "example-run"
    args = session.posargs or ["--count", "5"]
    session.run(
        "python", str(ROOT / "examples" / "pipeline.py"), "run", "--run-dir", str(run_dir), *args
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check over the whole tree."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package's sources."""
    session.install("mypy", "pytest", *(f"-e{_path(p)}" for p in PACKAGES))
    modules = [IMPORT_NAMES[p] for p in PACKAGES]
    session.run("mypy", *(arg for m in modules for arg in ("-p", m)))


@nox.session
@nox.parametrize("package", PACKAGES, ids=PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """One package's tests, in a fresh venv holding only what it declares."""
    session.install(*_with_core(package), *TEST_DEPS)
    tests_dir = PACKAGES_DIR / package / "tests"
    session.run(
        "pytest",
        str(tests_dir),
        # The conformance(<scheduler>) session runs these, against the scheduler's fake.
        f"--ignore={tests_dir / 'conformance'}",
        *session.posargs,
        env={"REFLOW_STORE_PATH": str(Path(session.create_tmp()) / "manifest.db")},
    )


@nox.session
def integration(session: nox.Session) -> None:
    """Cross-package tests (discovery, packaging, end to end) with everything installed."""
    # playwright drives the system's Chromium (tests/report); it downloads no browser here.
    # hatchling builds core's wheel and sdist for tests/test_packaging.py.
    session.install(*_with_core(*PACKAGES), *TEST_DEPS, "playwright>=1.40", "hatchling>=1.21")
    session.run(
        "pytest",
        str(ROOT / "tests"),
        *session.posargs,
        env={"REFLOW_STORE_PATH": str(Path(session.create_tmp()) / "manifest.db")},
    )


@nox.session
def build(session: nox.Session) -> None:
    """Wheels and sdists of every package, with their metadata checked."""
    session.install("build", "twine")
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    for package in PACKAGES:
        session.run("python", "-m", "build", "--outdir", str(dist), _path(package))
    session.run("twine", "check", "--strict", *(str(p) for p in sorted(dist.iterdir())))
    session.run("python", str(ROOT / "tests" / "packaging" / "check_dists.py"), str(dist))


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site; warnings are errors."""
    session.install("mkdocs>=1.6")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", str(Path(session.create_tmp()) / "site")
    )


CLUSTERS_DIR = ROOT / "tests" / "clusters"


def _cluster_blocker() -> str | None:
    """Why a real test cluster cannot be started on this machine, or None if it can."""
    if not sys.platform.startswith("linux"):
        return f"it needs Linux, and this is {sys.platform}"
    if os.geteuid() != 0:
        return "it needs root (it installs packages with apt and starts daemons)"
    if shutil.which("apt-get") is None:
        return "it needs apt-get (Debian or Ubuntu) to install the scheduler"
    return None


# Each real test cluster: the scripts directory under tests/clusters/ (start.sh, stop.sh and
# the tests run against it) and the executor package whose own tests also run against it.
CLUSTERS: dict[str, str] = {
    "slurm": "reflow-executor-slurm",
    "sge": "reflow-executor-sge",
    # The PBS executor in Torque mode, on the Torque wrappers (slurm-wlm-torque) of a real Slurm
    # cluster with its own base directory and ports.
    "pbs-torque": "reflow-executor-pbs",
}


@nox.session(name="cluster")
@nox.parametrize("scheduler", list(CLUSTERS), ids=list(CLUSTERS))
def cluster(session: nox.Session, scheduler: str) -> None:
    """Tests against a real single-host cluster of that scheduler, started here and stopped after.

    Not a default session: it needs root and apt. Skipped where it cannot run, unless
    REFLOW_REQUIRE_CLUSTERS=1 (set by CI), which turns the skip into a failure.
    """
    blocker = _cluster_blocker()
    if blocker is not None:
        message = f"cluster({scheduler}) cannot run here: {blocker}"
        if os.environ.get("REFLOW_REQUIRE_CLUSTERS") == "1":
            session.error(f"{message} (and REFLOW_REQUIRE_CLUSTERS=1)")
        session.skip(message)
    package = CLUSTERS[scheduler]
    # The package's whole tests/ runs, conformance/ too, which imports the fakes.
    session.install(*_with_core(package, FAKES), "pytest>=8")
    scripts = CLUSTERS_DIR / scheduler
    # start.sh and stop.sh read REFLOW_<SCHEDULER>_* (base directory, ports, CPUs...);
    # start.sh writes the client environment (SLURM_CONF=..., SGE_ROOT=...) to <base>/cluster.env.
    base_var = f"REFLOW_{scheduler.upper().replace('-', '_')}_BASE"
    # start.sh refuses a base directory that is a symlink or not root's own.
    base = Path(os.environ.get(base_var) or f"/tmp/reflow-{scheduler}")  # noqa: S108
    env = {base_var: str(base)}
    try:
        session.run(str(scripts / "start.sh"), env=env, external=True)
        lines = (base / "cluster.env").read_text().splitlines()
        client_env = {k: v for k, _, v in (line.partition("=") for line in lines) if k}
        session.run(
            "pytest",
            str(scripts),
            str(PACKAGES_DIR / package / "tests"),
            *session.posargs,
            env={
                **client_env,
                "REFLOW_TEST_CLUSTER": scheduler,
                "REFLOW_STORE_PATH": str(Path(session.create_tmp()) / "manifest.db"),
            },
        )
    finally:
        session.run(str(scripts / "stop.sh"), env=env, external=True)


# Schedulers that cannot run on this machine: their executors are tested against the faithful
# fakes of their commands in reflow-fake-schedulers (tests/conformance/ of each package).
FAKED = ["pbs", "lsf", "flux"]


@nox.session
@nox.parametrize("scheduler", FAKED, ids=FAKED)
def conformance(session: nox.Session, scheduler: str) -> None:
    """The executor conformance suite and the user-guide pipeline against a scheduler's fake."""
    package = f"reflow-executor-{scheduler}"
    session.install(*_with_core(package, FAKES), *TEST_DEPS)
    session.run(
        "pytest",
        str(PACKAGES_DIR / package / "tests" / "conformance"),
        *session.posargs,
        env={"REFLOW_STORE_PATH": str(Path(session.create_tmp()) / "manifest.db")},
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: print the figures the issues set targets for."""
    session.install(*_with_core(*PACKAGES))
    bench_dir = ROOT / "benchmarks"
    only = session.posargs
    for script in sorted(bench_dir.glob("bench_*.py")):
        if only and script.stem.removeprefix("bench_") not in only:
            continue
        session.run("python", str(script))

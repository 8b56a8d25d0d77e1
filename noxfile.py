"""Every test, lint, type-check, build, docs and benchmark matrix of the monorepo.

Run ``nox`` for the default sessions (what CI runs), ``nox -l`` to list them.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nox

# 2024.04.15 brought nox.project.load_toml (read below) and 2025.05.01 the support of uv 0.7+,
# which the "uv|virtualenv" backend runs when uv is installed.
nox.needs_version = ">=2025.5.1"

ROOT = Path(__file__).parent
PACKAGES_DIR = ROOT / "packages"
CORE = "reflow-core"
STORE = "reflow-store-sqlite"
# The entry-point groups through which reflow loads its plugins.
PLUGIN_GROUPS = ("reflow.executors", "reflow.stores")
TEST_DEPS = ["pytest>=8", "hypothesis>=6"]


@dataclass(frozen=True)
class Package:
    """One distribution under packages/, as its pyproject.toml and src/ folder describe it."""

    name: str
    import_name: str
    path: Path
    plugin_groups: frozenset[str]

    @property
    def is_plugin(self) -> bool:
        """Whether users install it for reflow to load: it registers a reflow entry point."""
        return bool(self.plugin_groups) and self.name != CORE

    @property
    def tests_dir(self) -> Path:
        """Where its own tests are, if it has any."""
        return self.path / "tests"


def _discover() -> dict[str, Package]:
    """Every package under packages/, so that a new one needs no edit here."""
    found: dict[str, Package] = {}
    for pyproject in sorted(PACKAGES_DIR.glob("*/pyproject.toml")):
        project = nox.project.load_toml(pyproject)["project"]
        # One import package per distribution (design §2: no namespace packages).
        src = pyproject.parent / "src"
        (source,) = (p.parent for p in src.glob("*/__init__.py"))
        groups = set(project.get("entry-points", {})) & set(PLUGIN_GROUPS)
        found[project["name"]] = Package(
            project["name"], source.name, pyproject.parent, frozenset(groups)
        )
    return found


PACKAGES = _discover()
# Published for out-of-tree vendors too, but no plugin: such packages (the fake schedulers)
# support the tests of the others and go wherever those tests run.
TEST_SUPPORT = [p for p in PACKAGES.values() if p.name != CORE and not p.is_plugin]
EXECUTORS = [
    p.name for p in PACKAGES.values() if p.is_plugin and "reflow.executors" in p.plugin_groups
]
PLUGINS = [p.name for p in PACKAGES.values() if p.is_plugin]
TESTED = [p.name for p in PACKAGES.values() if p.tests_dir.is_dir()]

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
    "minimums",
    "build",
    "docs",
]


def _path(package: str) -> str:
    return str(PACKAGES[package].path)


def _with_core(*packages: str) -> list[str]:
    """Paths to install: core and its embedded default store always come together."""
    wanted = [CORE, STORE, *(p for p in packages if p not in (CORE, STORE))]
    return [_path(p) for p in wanted]


def _test_support() -> list[str]:
    """Paths of the test-only packages, for sessions that run tests."""
    return [str(p.path) for p in TEST_SUPPORT]


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


def _test_file_groups() -> Iterator[list[str]]:
    """The test files, in as few groups as mypy can check at once.

    Test folders are not packages, so mypy names a file by its stem and refuses two files of
    one name (every conftest.py) in one run; a group holds no two modules of the same name.
    """
    folders = sorted(
        {
            path.parent
            for tree in ("packages/*/tests", "tests")
            for path in ROOT.glob(f"{tree}/**/*.py")
        }
    )
    groups: list[tuple[set[str], list[str]]] = []
    for folder in folders:
        # A folder with an __init__.py is a package: mypy names its files after it.
        names = (
            {folder.name}
            if (folder / "__init__.py").exists()
            else {p.stem for p in folder.glob("*.py")}
        )
        files = sorted(str(p.relative_to(ROOT)) for p in folder.glob("*.py"))
        group = next((g for g in groups if not g[0] & names), None)
        if group is None:
            groups.append((set(names), files))
        else:
            group[0].update(names)
            group[1].extend(files)
    for _, files in groups:
        yield files


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package's sources, the tests and this noxfile."""
    session.install(
        "mypy",
        "nox",
        *TEST_DEPS,
        # tests/report drives Chromium through it.
        "playwright>=1.40",
        *(f"-e{p.path}" for p in PACKAGES.values()),
    )
    session.run("mypy", *(arg for p in PACKAGES.values() for arg in ("-p", p.import_name)))
    session.run("mypy", "noxfile.py")
    for files in _test_file_groups():
        session.run("mypy", *files, silent=True)


@nox.session
@nox.parametrize("package", TESTED, ids=TESTED)
def tests(session: nox.Session, package: str) -> None:
    """One package's tests, in a fresh venv holding only what it declares."""
    session.install(*_with_core(package), *_test_support(), *TEST_DEPS)
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


# A fast subset that touches each declared dependency: configuration and its TOML reader
# (platformdirs, tomli before Python 3.11), rich output, the store's default location and
# plugin loading through entry points.
MINIMUMS_SMOKE = [
    "packages/reflow-core/tests/test_config.py",
    "packages/reflow-core/tests/test_env.py",
    "packages/reflow-core/tests/cli/test_output.py",
    "packages/reflow-store-sqlite/tests/test_location.py",
    "packages/reflow-executor-slurm/tests/test_slurm_plugin.py",
]


@nox.session(venv_backend="uv")
def minimums(session: nox.Session) -> None:
    """Every package at the lowest versions its dependencies allow, and a smoke test on them."""
    # On the interpreter nox runs under: run nox on Python 3.10 to check tomli's bound too.
    session.install(*TEST_DEPS)
    # lowest-direct: the lower bound of every dependency a package declares, so a bound that
    # is too low fails here rather than at a user's site. uv only: pip has no such resolution.
    session.install("--resolution=lowest-direct", *(str(p.path) for p in PACKAGES.values()))
    session.run("uv", "pip", "list", external=True)
    session.run(
        "pytest",
        *(str(ROOT / path) for path in MINIMUMS_SMOKE),
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
    """Build the documentation site, API reference included; warnings are errors."""
    # mkdocstrings reads the sources (mkdocs.yml names their folder): nothing else to install.
    session.install("mkdocs>=1.6", "mkdocstrings>=0.26", "mkdocstrings-python>=1.10")
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
    # Not a scheduler: a loopback PostgreSQL server (Debian's postgresql, run as the postgres
    # user), against which the PostgreSQL store's own tests run.
    "postgres": "reflow-store-postgres",
    # Three Slurm nodes on this machine (slurmd -N), memory enforced by OverMemoryKill and a
    # preemptable partition: the retries by reason, end to end (docs/failures.md).
    "slurm-multi": "reflow-executor-slurm",
}
SCRIPTS_ONLY = frozenset({"slurm-multi"})
"""Clusters whose session runs only the tests next to start.sh (cluster(slurm) runs the
package's too)."""


# Clusters whose session also starts a PostgreSQL test server (tests/clusters/postgres/start.sh,
# base <cluster base>-postgres, port REFLOW_SLURM_POSTGRES_PORT or 5492) and passes its
# REFLOW_TEST_POSTGRES_* settings to the tests: the user-guide pipeline runs there with the
# PostgreSQL store, its dispatchers Slurm jobs (tests/clusters/slurm/test_slurm_postgres.py).
WITH_DATABASE = frozenset({"slurm"})


@nox.session(name="cluster")
@nox.parametrize("scheduler", list(CLUSTERS), ids=list(CLUSTERS))
def cluster(session: nox.Session, scheduler: str) -> None:
    """Tests against a real single-host scheduler cluster or database server, run here.

    ``cluster(postgres)`` is the same for a store: a real PostgreSQL server, and the
    PostgreSQL store's tests against it.

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
    database = scheduler in WITH_DATABASE
    # The package's whole tests/ runs, conformance/ too, which may need the test support.
    session.install(
        *_with_core(package, *(["reflow-store-postgres"] if database else [])),
        *_test_support(),
        "pytest>=8",
    )
    scripts = CLUSTERS_DIR / scheduler
    # start.sh and stop.sh read REFLOW_<SCHEDULER>_* (base directory, ports, CPUs...);
    # start.sh writes the client environment (SLURM_CONF=..., SGE_ROOT=...,
    # REFLOW_TEST_POSTGRES_URL=...) to <base>/cluster.env.
    base_var = f"REFLOW_{scheduler.upper().replace('-', '_')}_BASE"
    # start.sh refuses a base directory that is a symlink or not root's own.
    base = Path(os.environ.get(base_var) or f"/tmp/reflow-{scheduler}")  # noqa: S108
    env = {base_var: str(base)}
    # Its own base and port, so that it never meets cluster(postgres)'s server (5491).
    pg_env = {
        "REFLOW_POSTGRES_BASE": f"{base}-postgres",
        "REFLOW_POSTGRES_PORT": os.environ.get("REFLOW_SLURM_POSTGRES_PORT", "5492"),
    }
    try:
        session.run(str(scripts / "start.sh"), env=env, external=True)
        client_env = _client_env(base)
        if database:
            session.run(str(CLUSTERS_DIR / "postgres" / "start.sh"), env=pg_env, external=True)
            server = _client_env(Path(pg_env["REFLOW_POSTGRES_BASE"]))
            client_env |= {k: v for k, v in server.items() if k.startswith("REFLOW_TEST_")}
        package_tests = (
            [] if scheduler in SCRIPTS_ONLY else [str(PACKAGES_DIR / package / "tests")]
        )
        session.run(
            "pytest",
            str(scripts),
            *package_tests,
            *session.posargs,
            env={
                **client_env,
                "REFLOW_TEST_CLUSTER": scheduler,
                "REFLOW_STORE_PATH": str(Path(session.create_tmp()) / "manifest.db"),
            },
        )
    finally:
        try:
            session.run(str(scripts / "stop.sh"), env=env, external=True)
        finally:
            if database:
                session.run(str(CLUSTERS_DIR / "postgres" / "stop.sh"), env=pg_env, external=True)


def _client_env(base: Path) -> dict[str, str]:
    """The client settings a start.sh wrote to ``<base>/cluster.env`` (KEY=VALUE lines)."""
    lines = (base / "cluster.env").read_text().splitlines()
    return {k: v for k, _, v in (line.partition("=") for line in lines) if k}


# Schedulers that cannot run on this machine: their executors are tested against the faithful
# fakes of their commands (the test-support package) in tests/conformance/ of each package.
FAKED = [
    name.removeprefix("reflow-executor-")
    for name in EXECUTORS
    if (PACKAGES[name].tests_dir / "conformance").is_dir()
]


@nox.session
@nox.parametrize("scheduler", FAKED, ids=FAKED)
def conformance(session: nox.Session, scheduler: str) -> None:
    """The executor conformance suite and the user-guide pipeline against a scheduler's fake."""
    package = f"reflow-executor-{scheduler}"
    session.install(*_with_core(package), *_test_support(), *TEST_DEPS)
    session.run(
        "pytest",
        str(PACKAGES_DIR / package / "tests" / "conformance"),
        *session.posargs,
        env={"REFLOW_STORE_PATH": str(Path(session.create_tmp()) / "manifest.db")},
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: print the figures the issues set targets for."""
    # Compiled to bytecode at install, as pip does for a user: uv does not by default, and
    # under PYTHONDONTWRITEBYTECODE every process would then compile reflow again (~60 ms).
    session.install(*_with_core(*PLUGINS), env={"UV_COMPILE_BYTECODE": "1"})
    bench_dir = ROOT / "benchmarks"
    only = session.posargs
    scripts = [
        script
        for script in sorted(bench_dir.glob("bench_*.py"))
        if not only or script.stem.removeprefix("bench_") in only
    ]
    # bench_store measures the PostgreSQL store beside SQLite on a loopback test server of
    # its own (base and port apart from the cluster sessions' servers), stopped afterwards.
    pg_env = {
        "REFLOW_POSTGRES_BASE": "/tmp/reflow-postgres-bench",  # noqa: S108
        "REFLOW_POSTGRES_PORT": os.environ.get("REFLOW_BENCH_POSTGRES_PORT", "5490"),
    }
    server = _bench_server(session, pg_env) if bench_dir / "bench_store.py" in scripts else {}
    try:
        for script in scripts:
            session.run("python", str(script), env=server)
    finally:
        if server:
            session.run(str(CLUSTERS_DIR / "postgres" / "stop.sh"), env=pg_env, external=True)


def _bench_server(session: nox.Session, pg_env: dict[str, str]) -> dict[str, str]:
    """Start the PostgreSQL test server for bench_store; its URL setting, or {} with a reason."""
    blocker = _cluster_blocker()
    if blocker is None:
        try:
            session.run(str(CLUSTERS_DIR / "postgres" / "start.sh"), env=pg_env, external=True)
        except nox.command.CommandFailed:
            session.run(str(CLUSTERS_DIR / "postgres" / "stop.sh"), env=pg_env, external=True)
            blocker = "its tests/clusters/postgres/start.sh failed (output above)"
        else:
            server = _client_env(Path(pg_env["REFLOW_POSTGRES_BASE"]))
            return {"REFLOW_TEST_POSTGRES_URL": server["REFLOW_TEST_POSTGRES_URL"]}
    session.log(f"bench_store measures SQLite only: no PostgreSQL test server, {blocker}")
    return {}

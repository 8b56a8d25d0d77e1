"""A bare install of core and its embedded store pulls in only platformdirs, rich and packaging."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# rich draws the `reflow` command's tables; pygments, markdown-it-py and mdurl are its own
# dependencies.
ALLOWED = {
    "reflow-core",
    "reflow-store-sqlite",
    "platformdirs",
    "packaging",  # checks a plugin's declared reflow-core range
    "tomli",
    "rich",
    "pygments",
    "markdown-it-py",
    "mdurl",
    "pip",
    "setuptools",
}


@pytest.mark.slow
def test_core_and_store_install_into_an_empty_venv(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(ROOT / "packages" / "reflow-core"),
            str(ROOT / "packages" / "reflow-store-sqlite"),
        ],
        check=True,
        timeout=600,
    )
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    names = {d["name"].lower().replace("_", "-") for d in json.loads(listed)}
    assert names - ALLOWED == set(), f"unexpected dependencies pulled in: {names - ALLOWED}"
    assert {"reflow-core", "reflow-store-sqlite", "platformdirs"} <= names

    out = subprocess.run(
        [str(python), "-c", "import reflow; print(reflow.__version__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert (
        out
        == subprocess.run(
            [sys.executable, "-c", "import reflow; print(reflow.__version__)"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )

    # The console script is installed and the embedded store is found as a plugin.
    plugins = subprocess.run(
        [str(env_dir / "bin" / "reflow"), "plugins", "--json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    found = {(p["kind"], p["name"]): p for p in json.loads(plugins)["plugins"]}
    assert found[("store", "sqlite")]["error"] is None


def _build(package: str, kind: str, out: Path) -> list[str]:
    """Build one package's wheel or sdist with its own backend; return the archive's file names."""
    hook = {"wheel": "build_wheel", "sdist": "build_sdist"}[kind]
    out.mkdir(parents=True)
    name = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, hatchling.build as b; print(b.{hook}(sys.argv[1]))",
            out,
        ],
        cwd=ROOT / "packages" / package,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout.split()[-1]
    if kind == "wheel":
        with zipfile.ZipFile(out / name) as wheel:
            return wheel.namelist()
    with tarfile.open(out / name) as sdist:
        return sdist.getnames()


# Every fake command reads its state directory from this variable: whatever a fake scheduler
# is renamed to, its code names it.
FAKE_MARKER = b"REFLOW_FAKE_SCHEDULER_DIR"


def _fake_scheduler_files(archive: Path, names: list[str]) -> list[str]:
    """The names in a built archive that are, or hold, fake scheduler code."""
    found = [n for n in names if "fake_scheduler" in n or "fake-scheduler" in n]
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            found += [n for n in names if FAKE_MARKER in wheel.read(n)]
    else:
        with tarfile.open(archive) as sdist:
            for member in sdist.getmembers():
                data = sdist.extractfile(member) if member.isfile() else None
                if data is not None and FAKE_MARKER in data.read():
                    found.append(member.name)
    return sorted(set(found))


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_core_distribution_ships_no_fake_scheduler(tmp_path: Path, kind: str) -> None:
    """The fake PBS/LSF/Flux commands are reflow-fake-schedulers', not every user's."""
    core = _build("reflow-core", kind, tmp_path / "core")
    (archive,) = (tmp_path / "core").iterdir()
    # The conformance suites stay in core: this is a real, complete core distribution.
    assert any(n.endswith("reflow/testing/pipeline.py") for n in core)
    assert _fake_scheduler_files(archive, core) == []

    fakes = _build("reflow-fake-schedulers", kind, tmp_path / "fakes")
    (archive,) = (tmp_path / "fakes").iterdir()
    # The check finds the fakes where they are.
    assert any(n.endswith("reflow_fake_schedulers/pbs.py") for n in fakes)
    assert any(
        n.endswith("reflow_fake_schedulers/_common.py")
        for n in _fake_scheduler_files(archive, fakes)
    )

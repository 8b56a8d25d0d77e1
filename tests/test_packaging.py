"""A bare install of core and its embedded store pulls in only platformdirs and rich."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# rich draws the `reflow` command's tables; pygments, markdown-it-py and mdurl are its own
# dependencies.
ALLOWED = {
    "reflow-core",
    "reflow-store-sqlite",
    "platformdirs",
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

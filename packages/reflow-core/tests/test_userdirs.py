"""reflow's user directories are the ones platformdirs gives, without importing it on Linux."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reflow import userdirs

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reflow computes them itself on Linux only"
)

HOME = "/home/alice"


def _environ(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> None:
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "ANDROID_DATA", "ANDROID_ROOT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    "environ",
    [
        {"HOME": HOME},
        {"HOME": HOME, "XDG_CONFIG_HOME": "/srv/conf", "XDG_CACHE_HOME": "/scratch/cache"},
        {"HOME": HOME, "XDG_CONFIG_HOME": "", "XDG_CACHE_HOME": ""},  # empty: the default
        {"HOME": HOME + "/", "XDG_CACHE_HOME": "/scratch/cache/"},
        {},  # no HOME at all: the password database's
    ],
    ids=["home", "xdg", "empty", "slashes", "no-home"],
)
def test_the_directories_are_the_ones_platformdirs_gives(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]
) -> None:
    from platformdirs import user_cache_dir, user_config_dir

    _environ(monkeypatch, environ)
    assert userdirs.user_config_dir() == Path(user_config_dir("reflow", appauthor=False))
    assert userdirs.user_cache_dir() == Path(user_cache_dir("reflow", appauthor=False))


def test_relative_xdg_variables_and_home_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The XDG rules ignore a relative directory (as platformdirs 4 does; 3 used it)."""
    import pwd

    _environ(monkeypatch, {"HOME": HOME, "XDG_CONFIG_HOME": "rel/conf", "XDG_CACHE_HOME": "r"})
    assert userdirs.user_config_dir() == Path(HOME, ".config", "reflow")
    assert userdirs.user_cache_dir() == Path(HOME, ".cache", "reflow")
    _environ(monkeypatch, {"HOME": "relative/home"})
    assert userdirs.user_cache_dir() == Path(pwd.getpwuid(os.getuid()).pw_dir, ".cache", "reflow")


def test_finding_the_configuration_imports_no_platformdirs(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from reflow.config import default_config_path, default_store_path\n"
        "print(default_config_path(), default_store_path())\n"
        "assert 'platformdirs' not in sys.modules, 'platformdirs was imported'\n"
    )
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        f"{tmp_path}/.config/reflow/config.toml",
        f"{tmp_path}/.cache/reflow/manifest.db",
    ]

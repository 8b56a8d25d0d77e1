"""The user's configuration and cache directories of reflow.

On Linux these follow the XDG base directory rules, as :mod:`platformdirs`
does there: ``$XDG_CONFIG_HOME/reflow`` and ``$XDG_CACHE_HOME/reflow`` when
the variable holds an absolute path, else ``~/.config/reflow`` and
``~/.cache/reflow`` (a home that is unset or not absolute is taken from the
password database).  Computed here because importing :mod:`platformdirs`
cost ~5 ms of every process's first run and of every ``reflow`` command;
elsewhere (macOS, Windows, Android) :mod:`platformdirs` answers.  Nothing
is created.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["user_cache_dir", "user_config_dir"]

_APP = "reflow"


def user_config_dir() -> Path:
    """Where reflow's configuration file is looked for (``~/.config/reflow`` on Linux)."""
    if _xdg_platform():
        return _xdg_home("XDG_CONFIG_HOME", ".config") / _APP
    from platformdirs import user_config_dir as platform_dir

    return Path(platform_dir(_APP, appauthor=False))


def user_cache_dir() -> Path:
    """Where reflow keeps its default store and local job state (``~/.cache/reflow`` on Linux)."""
    if _xdg_platform():
        return _xdg_home("XDG_CACHE_HOME", ".cache") / _APP
    from platformdirs import user_cache_dir as platform_dir

    return Path(platform_dir(_APP, appauthor=False))


def _xdg_platform() -> bool:
    """Linux, but not Android (whose directories :mod:`platformdirs` knows)."""
    return sys.platform.startswith("linux") and not (
        os.environ.get("ANDROID_DATA") == "/data" and os.environ.get("ANDROID_ROOT") == "/system"
    )


def _xdg_home(variable: str, default: str) -> Path:
    """The variable's directory if absolute (XDG ignores the others), else ``~/default``."""
    given = Path(os.environ.get(variable, ""))
    if given.is_absolute():
        return given
    return _home() / default


def _home() -> Path:
    home = Path(os.environ.get("HOME", ""))
    if home.is_absolute():
        return home
    import pwd

    return Path(pwd.getpwuid(os.getuid()).pw_dir)

"""The user configuration: a TOML file, overridden by ``REFLOW_*`` variables.

The file lives at :func:`default_config_path` (``~/.config/reflow/config.toml``
on Linux) unless ``REFLOW_CONFIG`` or an explicit path names another one::

    [executor]
    name = "slurm"                  # default executor ("local" if not set)

    site_options = ["licenses"]     # extra option names this site's scheduler has

    [executor.submit_options]       # defaults for task jobs
    partition = "compute"
    account = "proj42"

    [dispatch.submit_options]       # defaults for the short dispatcher jobs
    partition = "short"

    [store]
    path = "/shared/reflow/manifest.db"   # an SQLite file; or, for any store:
    # url = "sqlite:///shared/reflow/manifest.db"

    [cache]
    inputs = "stat"                 # how Path values count: stat, content or path

    [notify]                        # see reflow.notify.settings
    webhook = "https://hooks.example.org/reflow"
    email = "alice@example.org"
    on = ["end", "first_failure"]   # end, failure, first_failure
    [retries]                       # tasks without retries= (see "When jobs fail")
    count = 2                       # automatic retries by reason
    on = ["TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"]
    max_mem = "256G"                # no attempt asks for more, whatever the task says
    max_time = "2-00:00:00"

Submit options use scheduler-agnostic keys (``partition``, ``account``,
``qos``, ...); each executor translates them to its own flags.  Any other key
must be one of the executor's own options (``known_options``) or listed in
``site_options``, and is passed to the scheduler as written.

Precedence, highest first: options given on a task, ``REFLOW_*`` environment
variables, the configuration file, built-in defaults.  Loading the
configuration only reads: it never creates a file or directory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reflow import env
from reflow.define.filepolicy import DEFAULT_POLICY, check_policy
from reflow.define.graph import did_you_mean
from reflow.define.retrysettings import retry_settings
from reflow.define.submitoptions import (
    SUBMIT_OPTION_ALIASES,
    SUBMIT_OPTION_KEYS,
    canonical_submit_options,
)
from reflow.errors import ConfigError
from reflow.notify.settings import KEYS as NOTIFY_KEYS
from reflow.notify.settings import notify_settings
from reflow.urlpasswords import without_password
from reflow.userdirs import user_cache_dir, user_config_dir

if TYPE_CHECKING:
    from reflow.define.retrypolicy import Retry

__all__ = [
    "DATABASE_NAME",
    "DEFAULT_EXECUTOR",
    "MIN_MAX_JOBS",
    "SQLITE",
    "SUBMIT_OPTION_ALIASES",
    "SUBMIT_OPTION_KEYS",
    "Config",
    "canonical_submit_options",
    "config_path",
    "default_config_path",
    "default_store_path",
    "load_config",
    "sqlite_url",
    "store_url",
    "write_example_config",
]

logger = logging.getLogger(__name__)

MIN_MAX_JOBS = 3
"""The smallest cap on a run's queued jobs: the running dispatcher, the next one, one task job."""

DEFAULT_EXECUTOR = "local"
"""Executor used when neither the file nor ``REFLOW_EXECUTOR`` names one."""

_EXECUTOR_TABLES = ("local", "slurm", "pbs", "lsf", "sge", "flux")
"""``[executor.<name>]``: keywords of that executor's constructor (``gpu_resource`` for sge)."""

_SCHEMA: dict[str, frozenset[str]] = {
    "executor": frozenset(
        {"name", "submit_options", "site_options", "mode", "python", *_EXECUTOR_TABLES}
    ),
    "dispatch": frozenset({"submit_options"}),
    "store": frozenset({"path", "url", "share_cache"}),
    "cache": frozenset({"inputs"}),
    "notify": NOTIFY_KEYS,
    "submit": frozenset({"pack", "max_jobs"}),
    "retries": frozenset({"count", "on", "backoff", "max_mem", "max_time"}),
}
"""The sections of the file and the keys each holds (submit option tables are open)."""

_TASK_ENV: dict[str, str] = {
    "partition": env.REFLOW_PARTITION,
    "account": env.REFLOW_ACCOUNT,
    "qos": env.REFLOW_QOS,
}
_DISPATCH_ENV: dict[str, str] = {
    "partition": env.REFLOW_DISPATCH_PARTITION,
    "account": env.REFLOW_DISPATCH_ACCOUNT,
}


def default_config_path() -> Path:
    """Return where the configuration file is looked for by default.

    Returns
    -------
    Path
        ``config.toml`` in the user configuration directory
        (:func:`reflow.userdirs.user_config_dir`: ``~/.config/reflow/config.toml``
        on Linux, honouring ``XDG_CONFIG_HOME``; :mod:`platformdirs` elsewhere).
        The path may not exist; nothing is created.
    """
    return user_config_dir() / "config.toml"


def config_path() -> Path:
    """The published reflow-hpc name of :func:`default_config_path`.

    ``$XDG_CONFIG_HOME/reflow/config.toml`` when ``XDG_CONFIG_HOME`` is set,
    else ``~/.config/reflow/config.toml`` (on Linux).
    """
    return default_config_path()


EXAMPLE_CONFIG = """\
# reflow configuration; every key is optional.
# REFLOW_* environment variables override what is written here.

[executor]
# name = "slurm"                  # local, slurm, pbs, lsf, sge or flux
# mode = "sbatch"                 # "dry-run" prints jobs instead of submitting them
# python = "/usr/bin/python3"     # interpreter the jobs run with

[executor.submit_options]         # defaults for task jobs
# partition = "compute"
# account = "proj42"

[dispatch.submit_options]         # defaults for the short dispatcher jobs
# partition = "short"

[submit]
# max_jobs = 500                  # at most this many jobs of a run queued at once

[store]
# path = "~/.cache/reflow/manifest.db"   # an SQLite file
# url = "sqlite:///home/me/reflow.db"    # or any store by URL (wins over path)
# share_cache = false                    # true: other users' results may serve yours
"""
"""The commented template :func:`write_example_config` writes."""


def write_example_config(
    path: str | os.PathLike[str] | None = None, overwrite: bool = False
) -> Path:
    """Write a commented example configuration file and return its path.

    Parameters
    ----------
    path : str, os.PathLike or None
        Where to write it; :func:`config_path` when ``None``.  Missing parent
        directories are created.
    overwrite : bool
        Replace an existing file.  Without it an existing file is left as it
        is, so a user's settings are never lost.

    Returns
    -------
    Path
        The file written (or left in place).

    Raises
    ------
    ConfigError
        If the file cannot be written.
    """
    file = config_path() if path is None else Path(path).expanduser()
    if file.exists() and not overwrite:
        logger.info("Configuration file %s exists; left as it is (pass overwrite=True)", file)
        return file
    # mkdir(parents=True) under a file says "File exists"; name the real obstacle instead.
    blocker = next((p for p in file.parents if p.exists() and not p.is_dir()), None)
    try:
        if blocker is not None:
            raise NotADirectoryError(0, f"{blocker} is not a directory")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"Cannot write the example configuration {file}: {exc.strerror or exc}. "
            "Name a file in a directory you can write."
        ) from None
    return file


class Config:
    """Loaded user configuration.

    Values from ``REFLOW_*`` environment variables take precedence over the
    file.  Use :func:`load_config` to read the file; build a ``Config``
    directly to configure reflow from code or in tests.

    Parameters
    ----------
    data : dict or None
        The parsed TOML document; ``None`` means an empty configuration.
    source : Path or None
        The file ``data`` was read from, used in error messages and to resolve
        a relative ``[store] path``.
    environ : Mapping[str, str] or None
        Environment to read ``REFLOW_*`` variables from; ``None`` means a
        snapshot of :data:`os.environ` taken now.

    Raises
    ------
    ConfigError
        If a known section or key has the wrong type (for example
        ``submit_options`` that is not a table, or ``executor.name`` that is
        not a string).

    Examples
    --------
    >>> config = Config(
    ...     {"executor": {"name": "slurm", "submit_options": {"queue": "compute"}}},
    ...     environ={"REFLOW_ACCOUNT": "proj42"},
    ... )
    >>> config.executor_name
    'slurm'
    >>> config.executor_submit_options
    {'partition': 'compute', 'account': 'proj42'}
    >>> config.task_submit_options({"partition": "gpu"})
    {'partition': 'gpu', 'account': 'proj42'}
    """

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        *,
        source: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._source = source
        self._environ: dict[str, str] = dict(os.environ if environ is None else environ)
        self._data: dict[str, Any] = {} if data is None else data
        self._origin = f"configuration file {source}" if source is not None else "configuration"
        if not isinstance(self._data, dict):
            raise ConfigError(
                f"The {self._origin} must be a table of sections, got {type(self._data).__name__}."
            )
        self._warn_unknown()
        executor = self._table(self._data, "executor")
        dispatch = self._table(self._data, "dispatch")
        store = self._table(self._data, "store")
        cache = self._table(self._data, "cache")
        self._notify = self._table(self._data, "notify")
        notify_settings(self._notify, {})  # checked on load, like every other section
        submit = self._table(self._data, "submit")
        self._file_executor_name = self._string(executor, "executor.name")
        self._file_executor_mode = self._string(executor, "executor.mode")
        self._file_executor_python = self._string(executor, "executor.python")
        self._file_store_path = self._string(store, "store.path")
        self._file_store_url = self._url(store, "store.url")
        self._file_share_cache = self._flag(store, "store.share_cache")
        self._site_options = self._names(executor, "executor.site_options")
        self._file_cache_inputs = self._policy(cache, "cache.inputs")
        self._file_pack = self._pack(self._table(self._data, "submit"))
        self._file_max_jobs = self._max_jobs(submit.get("max_jobs"))
        self._file_submit_options = self._submit_options(executor, "executor.submit_options")
        self._file_dispatch_options = self._submit_options(dispatch, "dispatch.submit_options")
        self._retries = retry_settings(self._table(self._data, "retries"), self._origin)

    # -- validation of the file's shape -------------------------------------------

    def _warn_unknown(self) -> None:
        """Warn about sections and keys reflow does not read: most are typos.

        A warning rather than an error, so a file shared with a newer reflow
        still loads; it names the file, the key and the closest known one.
        """
        for section, table in self._data.items():
            if section not in _SCHEMA:
                import difflib  # here: every run loads the config, few have a typo (~2 ms)

                close = difflib.get_close_matches(section, list(_SCHEMA), n=1, cutoff=0.6)
                logger.warning(
                    "Unknown section [%s] in the %s is ignored.%s",
                    section,
                    self._origin,
                    f" Did you mean [{close[0]}]?" if close else "",
                )
                continue
            if not isinstance(table, dict):
                continue  # _table() reports the wrong type
            for key in table:
                if key not in _SCHEMA[section]:
                    logger.warning(
                        "Unknown key %r in [%s] of the %s is ignored.%s",
                        key,
                        section,
                        self._origin,
                        did_you_mean(key, _SCHEMA[section]),
                    )

    def _table(self, parent: Mapping[str, Any], dotted: str) -> dict[str, Any]:
        value = parent.get(dotted.rsplit(".", 1)[-1])
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(
                f"[{dotted}] in the {self._origin} must be a table, got "
                f"{type(value).__name__} {value!r}. Write it as a [{dotted}] section."
            )
        return value

    def _string(self, table: Mapping[str, Any], dotted: str) -> str | None:
        key = dotted.rsplit(".", 1)[-1]
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            section, _, _ = dotted.rpartition(".")
            raise ConfigError(
                f"{dotted} in the {self._origin} must be a non-empty string, got "
                f'{type(value).__name__} {value!r}. Write it as {key} = "..." under [{section}].'
            )
        return value

    def _url(self, table: Mapping[str, Any], dotted: str) -> str | None:
        value = self._string(table, dotted)
        if value is None:
            return None
        fix = env.store_url_fix(value)
        if fix is not None:  # checked on load, so a typo fails before any run is recorded
            shown = without_password(value)
            raise ConfigError(f"{dotted} = {shown!r} in the {self._origin} is not valid: {fix}.")
        return value.strip()

    def _max_jobs(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < MIN_MAX_JOBS:
            raise ConfigError(
                f"submit.max_jobs in the {self._origin} must be a whole number of at least "
                f"{MIN_MAX_JOBS}, got {value!r}. Write it as max_jobs = 500 under [submit]."
            )
        return value

    def _flag(self, table: Mapping[str, Any], dotted: str) -> bool | None:
        key = dotted.rsplit(".", 1)[-1]
        value = table.get(key)
        if value is None or isinstance(value, bool):
            return value
        section, _, _ = dotted.rpartition(".")
        raise ConfigError(
            f"{dotted} in the {self._origin} must be true or false, got "
            f"{type(value).__name__} {value!r}. Write it as {key} = true under [{section}]."
        )

    def _count(self, table: Mapping[str, Any], dotted: str) -> int | None:
        key = dotted.rsplit(".", 1)[-1]
        value = table.get(key)
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            return value
        section, _, _ = dotted.rpartition(".")
        raise ConfigError(
            f"{dotted} in the {self._origin} must be a whole number of at least 1, got "
            f"{type(value).__name__} {value!r}. Write it as {key} = 100 under [{section}]."
        )

    def _pack(self, table: Mapping[str, Any]) -> int | str | None:
        """``[submit] pack``: a whole number of at least 1, or ``"auto"``."""
        if table.get("pack") == "auto":
            return "auto"
        try:
            return self._count(table, "submit.pack")
        except ConfigError:
            raise ConfigError(
                f"submit.pack in the {self._origin} must be a whole number of at least 1 "
                f'or "auto", got {table.get("pack")!r}. Write it as pack = 100 or '
                'pack = "auto" under [submit].'
            ) from None

    def _names(self, table: Mapping[str, Any], dotted: str) -> tuple[str, ...]:
        value = table.get(dotted.rsplit(".", 1)[-1], [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            section, _, key = dotted.rpartition(".")
            raise ConfigError(
                f"{dotted} in the {self._origin} must be a list of option names, got "
                f'{value!r}. Write it as {key} = ["licenses"] under [{section}].'
            )
        return tuple(v.strip().lower().replace("-", "_") for v in value)

    def _policy(self, table: Mapping[str, Any], dotted: str) -> str | None:
        value = table.get(dotted.rsplit(".", 1)[-1])
        if value is None:
            return None
        try:
            return check_policy(value, dotted, f" in the {self._origin}")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def _submit_options(self, table: Mapping[str, Any], dotted: str) -> dict[str, Any]:
        options = self._table(table, dotted)
        for key, value in options.items():
            if isinstance(value, dict):
                raise ConfigError(
                    f"Submit option {key!r} in [{dotted}] of the {self._origin} is a table; "
                    "submit option values must be strings, numbers, booleans or lists."
                )
        return canonical_submit_options(options, where=f"[{dotted}] in the {self._origin}")

    def _env_options(self, variables: Mapping[str, str]) -> dict[str, str]:
        options: dict[str, str] = {}
        for key, variable in variables.items():
            value = env.get(variable, self._environ)
            if value is not None:
                options[key] = value
        return options

    # -- public view --------------------------------------------------------------

    @property
    def source(self) -> Path | None:
        """The file this configuration was read from, or ``None``."""
        return self._source

    @property
    def data(self) -> dict[str, Any]:
        """A deep copy of the parsed file, as a plain dict."""
        import copy

        return copy.deepcopy(self._data)

    @property
    def executor_name(self) -> str:
        """Name of the default executor.

        ``REFLOW_EXECUTOR``, else ``[executor] name``, else ``"local"``.
        """
        from_env = env.get(env.REFLOW_EXECUTOR, self._environ)
        if from_env is not None:
            return from_env.strip()
        if self._file_executor_name is None:
            return DEFAULT_EXECUTOR
        return self._file_executor_name.strip()

    def executor_settings(self, name: str) -> dict[str, Any]:
        """``[executor.<name>]``: keywords for that executor's constructor, as written.

        For example ``[executor.sge] gpu_resource = "gpu"``; an executor that
        does not take a keyword fails with one line naming it.
        """
        executor = self._table(self._data, "executor")
        return dict(self._table(executor, f"executor.{name}"))

    @property
    def site_options(self) -> tuple[str, ...]:
        """``[executor] site_options``: submit option names to accept beyond the executor's own.

        For options a site adds to its scheduler (a Slurm plugin's flag, a
        PBS custom resource); any other name an executor does not know is
        refused as a typo.  Written in canonical form (``-`` becomes ``_``).
        """
        return self._site_options

    @property
    def submit_options(self) -> dict[str, Any]:
        """``[executor.submit_options]`` as written in the file, canonicalised.

        Unlike :attr:`executor_submit_options`, environment variables are not
        applied.
        """
        return dict(self._file_submit_options)

    @property
    def executor_submit_options(self) -> dict[str, Any]:
        """Default submit options for task jobs, with canonical keys.

        ``[executor.submit_options]`` overlaid by ``REFLOW_PARTITION``,
        ``REFLOW_ACCOUNT`` and ``REFLOW_QOS``.
        """
        return {**self._file_submit_options, **self._env_options(_TASK_ENV)}

    @property
    def max_jobs(self) -> int | None:
        """``[submit] max_jobs``: the default cap on a run's queued jobs (``None``: no cap)."""
        return self._file_max_jobs

    @property
    def dispatch_submit_options(self) -> dict[str, Any]:
        """Submit options for the dispatcher jobs, with canonical keys.

        ``[dispatch.submit_options]`` overlaid by ``REFLOW_DISPATCH_PARTITION``
        and ``REFLOW_DISPATCH_ACCOUNT``.  The task job defaults are not
        inherited: a dispatcher usually belongs on a different, short partition.
        """
        return {**self._file_dispatch_options, **self._env_options(_DISPATCH_ENV)}

    @property
    def store_path(self) -> Path | None:
        """Path of the shared manifest database, or ``None`` for the store's default.

        ``REFLOW_STORE_PATH``, else ``[store] path``; ``~`` is expanded.  A
        relative path in the file is taken relative to the file's directory.
        """
        from_env = env.get(env.REFLOW_STORE_PATH, self._environ)
        if from_env is not None:
            return Path(from_env).expanduser()
        if self._file_store_path is None:
            return None
        path = Path(self._file_store_path).expanduser()
        if not path.is_absolute() and self._source is not None:
            path = self._source.parent / path
        return path

    @property
    def notify(self) -> dict[str, Any]:
        """The ``[notify]`` table as written (:func:`reflow.notify.notify_settings` checks it)."""
        return dict(self._notify)

    @property
    def share_cache(self) -> bool:
        """Whether the cache may serve results of other users' runs in the same store.

        ``REFLOW_SHARE_CACHE``, else ``[store] share_cache``, else ``False``:
        by default a run reuses only its own user's results, since a shared
        cache lets another user's output stand for yours.
        """
        from_env = env.checked(env.REFLOW_SHARE_CACHE, self._environ)
        if from_env is not None:
            return from_env.strip().lower() in env.TRUE_WORDS
        return bool(self._file_share_cache)

    @property
    def store_url(self) -> str:
        """The URL of the manifest store this configuration selects (see :func:`store_url`)."""
        return store_url(self, self._environ)

    @property
    def default_store_path(self) -> Path:
        """The manifest database a store opens when given none (reflow-hpc's name).

        :attr:`store_path` when set, else ``manifest.db`` in reflow's user
        cache directory (``~/.cache/reflow/manifest.db`` on Linux); the same
        answer as :func:`default_store_path` with this configuration's
        environment.
        """
        return default_store_path(self, self._environ)

    @property
    def executor_mode(self) -> str | None:
        """``REFLOW_MODE``, else ``[executor] mode`` (``"dry-run"`` prints jobs), else ``None``."""
        from_env = env.get(env.REFLOW_MODE, self._environ)
        if from_env is not None:
            return from_env.strip()
        return self._file_executor_mode

    @property
    def executor_partition(self) -> str | None:
        """The default partition (queue) of task jobs, from :attr:`executor_submit_options`."""
        value = self.executor_submit_options.get("partition")
        return None if value is None else str(value)

    @property
    def executor_python(self) -> str | None:
        """``[executor] python``: the interpreter jobs should run with, or ``None``.

        reflow itself runs jobs with the interpreter that submitted them; this
        value is kept for code written for reflow-hpc that reads it.
        """
        return self._file_executor_python

    @property
    def cache_inputs(self) -> str:
        """How a ``Path`` in a task's parameters, inputs and outputs counts for the cache.

        ``[cache] inputs`` (``"stat"``, ``"content"`` or ``"path"``), else
        ``"stat"``; a task's own ``cache_inputs=`` wins.  See
        :mod:`reflow.cache.filestate`.
        """
        return self._file_cache_inputs or DEFAULT_POLICY

    @property
    def pack(self) -> int | str | None:
        """``[submit] pack``: elements per array task of array tasks without ``pack=``.

        ``None`` when unset (one element per array task); ``"auto"`` to choose
        from measured run times.  See :mod:`reflow.engine.scheduler.packing`.
        """
        return self._file_pack

    @property
    def retry_default(self) -> Retry | None:
        """The policy of tasks without ``retries=``: ``[retries]``, else ``None``."""
        return self._retries[0]

    @property
    def retry_limits(self) -> dict[str, int | None]:
        """``[retries] max_mem`` (bytes) and ``max_time`` (seconds): no attempt asks for more."""
        return self._retries[1]

    def task_submit_options(self, task_options: Mapping[str, Any]) -> dict[str, Any]:
        """Merge a task's own submit options with the configured defaults.

        Precedence, highest first: ``task_options`` (from the task decorator),
        the ``REFLOW_*`` environment variables, ``[executor.submit_options]``.
        A ``None`` value in ``task_options`` removes that option, so a task can
        opt out of a configured default.

        Parameters
        ----------
        task_options : Mapping[str, Any]
            The options given on the task; any spelling
            :func:`canonical_submit_options` accepts.

        Returns
        -------
        dict[str, Any]
            The options to submit the task with, with canonical keys and no
            ``None`` values.

        Raises
        ------
        ConfigError
            If ``task_options`` sets one option twice with different values.
        """
        merged = {
            **self.executor_submit_options,
            **canonical_submit_options(task_options, where="the task's submit options"),
        }
        return {key: value for key, value in merged.items() if value is not None}

    def __repr__(self) -> str:
        return f"Config(source={self._source!r}, executor_name={self.executor_name!r})"


DATABASE_NAME = "manifest.db"
"""File name of the SQLite manifest database in the user cache directory."""

SQLITE = "sqlite"
"""The scheme of the default store, the SQLite one (``sqlite:///abs/path.db``)."""


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """The URL of the SQLite database at ``path``: ``sqlite:///`` and its absolute path.

    ``~`` is expanded and a relative path is taken from the working directory.

    Examples
    --------
    >>> sqlite_url("/shared/reflow/manifest.db")
    'sqlite:///shared/reflow/manifest.db'
    """
    return f"{SQLITE}://{Path(path).expanduser().absolute().as_posix()}"


def default_store_path(
    config: Config | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """Return the path of the shared SQLite manifest database.

    The first of these that is set wins:

    1. the ``REFLOW_STORE_PATH`` environment variable;
    2. ``[store] path`` in the configuration;
    3. ``manifest.db`` in the user cache directory, typically
       ``~/.cache/reflow/manifest.db`` on Linux.

    ``REFLOW_STORE`` and ``[store] url`` are not looked at: this is the file
    the SQLite store opens when given no path (see :func:`store_url` for the
    store that is selected).

    Parameters
    ----------
    config : Config or None
        Configuration; ``None`` loads the user's configuration file.
    environ : Mapping[str, str] or None
        Environment to read ``REFLOW_STORE_PATH`` from; ``None`` means
        :data:`os.environ` now.

    Returns
    -------
    Path
        An absolute path (``~`` expanded).  Nothing is created.
    """
    from_env = env.get(env.REFLOW_STORE_PATH, environ)
    if from_env is not None:
        return Path(from_env).expanduser().absolute()
    if config is None:
        config = load_config(environ=environ)
    configured = config.store_path
    if configured is not None:
        return Path(configured).expanduser().absolute()
    return user_cache_dir().absolute() / DATABASE_NAME


def store_url(config: Config | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Return the URL of the manifest store the environment and configuration select.

    The first of these that is set wins; the environment beats the file, and
    at the same level a URL beats a path:

    1. ``REFLOW_STORE`` (a URL);
    2. ``REFLOW_STORE_PATH`` (an SQLite file);
    3. ``[store] url`` in the configuration;
    4. ``[store] path`` in the configuration (an SQLite file);
    5. the SQLite file ``manifest.db`` in the user cache directory.

    Parameters
    ----------
    config : Config or None
        Configuration; ``None`` loads the user's configuration file.
    environ : Mapping[str, str] or None
        Environment to read the variables from; ``None`` means
        :data:`os.environ` now.

    Returns
    -------
    str
        ``scheme://...``; a path becomes ``sqlite:///abs/path.db``.

    Raises
    ------
    ConfigError
        If ``REFLOW_STORE`` is not a URL; the one-line message names the
        variable and the fix.

    Examples
    --------
    >>> store_url(Config({}, environ={}), {"REFLOW_STORE_PATH": "/shared/m.db"})
    'sqlite:///shared/m.db'
    """
    from_env = env.checked(env.REFLOW_STORE, environ)
    if from_env is not None:
        return from_env.strip()
    if env.get(env.REFLOW_STORE_PATH, environ) is None:
        if config is None:
            config = load_config(environ=environ)
        if config._file_store_url is not None:
            return config._file_store_url
    return sqlite_url(default_store_path(config, environ))


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read the user configuration.

    The file is ``path`` if given, else the one named by ``REFLOW_CONFIG``,
    else :func:`default_config_path`.  A missing default file, or a missing
    ``path`` (as in reflow-hpc), gives an empty configuration and a log line;
    a missing file named by ``REFLOW_CONFIG`` is an error.  Nothing is ever
    written or created.

    Parameters
    ----------
    path : str, os.PathLike or None
        Configuration file to read.
    environ : Mapping[str, str] or None
        Environment for ``REFLOW_*`` variables; ``None`` means :data:`os.environ`.

    Returns
    -------
    Config
        The configuration, with ``environ`` applied over the file.

    Raises
    ------
    ConfigError
        If the file ``REFLOW_CONFIG`` names is missing, or the file is unreadable, is not valid
        TOML, or has a known key of the wrong type.
    """
    environ = dict(os.environ if environ is None else environ)
    if path is not None:
        file, named_by = Path(path).expanduser(), "the path passed to load_config()"
    elif (from_env := env.get(env.REFLOW_CONFIG, environ)) is not None:
        file, named_by = Path(from_env).expanduser(), f"the {env.REFLOW_CONFIG} variable"
    else:
        file, named_by = default_config_path(), None

    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        if named_by is None:
            logger.debug("No configuration file at %s; using defaults", file)
            return Config(None, environ=environ)
        if path is not None:
            # reflow-hpc returned the defaults here; code written for it relies on that.
            logger.warning("No configuration file at %s; using the defaults", file)
            return Config(None, environ=environ)
        hint = f"Create it, or unset {env.REFLOW_CONFIG} to use {default_config_path()}."
        raise ConfigError(
            f"Configuration file {file} (named by {named_by}) does not exist. {hint}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read configuration file {file}: {exc}.") from exc

    data = _parse_toml(text, file)
    logger.debug("Loaded configuration from %s", file)
    return Config(data, source=file, environ=environ)


def _parse_toml(text: str, file: Path) -> dict[str, Any]:
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

    try:
        data: dict[str, Any] = tomllib.loads(text)
        return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"Configuration file {file} is not valid TOML: {exc}. Fix the file at that "
            "line and column."
        ) from exc

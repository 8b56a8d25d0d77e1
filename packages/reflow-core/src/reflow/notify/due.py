"""Which notifications are due for a run now, each sent once: :func:`notify_due`.

Whoever may have finished the run calls it: each dispatcher after its wave,
and ``run_local`` when its run ends.  An event is claimed by creating a file
in the run's bookkeeping folder with ``O_EXCL`` before it is sent, so two
callers (a wave and a user's ``reflow resume``, say) never both send it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reflow._types import RunState, TaskState
from reflow.errors import ConfigError, ReflowError
from reflow.notify.message import message
from reflow.notify.settings import NotifySettings, notify_settings, parse_events
from reflow.runs.context import recorded_run_dir
from reflow.runs.files import read_json
from reflow.runs.layout import RunLayout

if TYPE_CHECKING:
    from reflow.config import Config
    from reflow.stores import RunRecord, Store

__all__ = ["due_events", "notify_due", "run_events", "run_notify_events"]

logger = logging.getLogger(__name__)


def run_notify_events(config: Config, chosen: Sequence[str]) -> tuple[str, ...]:
    """The events ``submit --notify`` chose, checked; the configuration's ``on`` if none.

    Raises
    ------
    ConfigError
        If an event is unknown, or the configuration names nowhere to send to.
    """
    settings = notify_settings(config.notify)
    if not settings.enabled:
        raise ConfigError(
            '--notify needs somewhere to send to: set webhook = "https://..." or '
            'email = "you@example.org" under [notify] in the configuration.'
        )
    names = [n for item in chosen for n in item.split(",") if n.strip()]
    return parse_events(names, "--notify") if names else settings.on


def run_events(layout: RunLayout, settings: NotifySettings) -> tuple[str, ...]:
    """The events notified for this run: ``--notify``'s if given, else the configuration's."""
    try:
        chosen = read_json(layout.notify_file)
    except FileNotFoundError:
        return settings.on
    return parse_events(chosen.get("on"), str(layout.notify_file))


def due_events(record: RunRecord, events: tuple[str, ...], has_failure: bool) -> list[str]:
    """The notifications ``record``'s run asks for now, by claim name.

    An ended run sends one message: ``failure`` when it failed and that is
    asked for, else ``end``.  ``first_failure`` is due while the run goes on;
    once it has ended, its end message names the first failure instead.

    Examples
    --------
    >>> from datetime import datetime
    >>> from reflow.stores import RunRecord
    >>> rec = RunRecord("r", "wf", "u", datetime.now(), RunState.FAILED, {})
    >>> due_events(rec, ("end", "failure"), True), due_events(rec, ("first_failure",), True)
    (['failure'], [])
    """
    if record.status not in RunState.terminal():
        return ["first_failure"] if has_failure and "first_failure" in events else []
    if record.status is RunState.FAILED and "failure" in events:
        return ["failure"]
    return ["end"] if "end" in events else []


def _claim(layout: RunLayout, event: str) -> bool:
    """Create the event's claim file; ``False`` if it exists (someone sent it already).

    ``end`` and ``failure`` share one claim: a run ends once.
    """
    path = layout.notified_file("first_failure" if event == "first_failure" else "end")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    return True


def notify_due(store: Store, run_id: str, config: Config | None = None) -> list[str]:
    """Send the notifications of ``run_id`` that are due and not yet sent; return their events.

    Never raises (short of an interrupt): a configuration that cannot be read,
    a run directory that cannot be written, a dead webhook or mail server are
    logged, and the run is left as it is.

    Parameters
    ----------
    store : Store
        The run's store.
    run_id : str
        The run.
    config : Config, optional
        The configuration whose ``[notify]`` section applies (the workflow's);
        the user's (:func:`reflow.config.load_config`) when not given.
    """
    try:
        if config is None:
            # lazy: the configuration (and its TOML parser) only when a run may notify
            from reflow.config import load_config

            config = load_config()
        settings = notify_settings(config.notify, os.environ)
        if not settings.enabled:
            return []
        record = store.get_run_record(run_id)
        run_dir: Path | None = None if record is None else recorded_run_dir(record)
        if record is None or run_dir is None:
            return []
        layout = RunLayout(run_dir, run_id)
        failed = store.first_task_instance_records(run_id, None, [TaskState.FAILED], limit=1)
        sent = []
        for event in due_events(record, run_events(layout, settings), bool(failed)):
            if _claim(layout, event):
                # lazy: smtplib, ssl, urllib and email take ~40 ms to import; only to send
                from reflow.notify.send import deliver

                deliver(settings, message(store, record, event))
                sent.append(event)
        return sent
    except (ReflowError, OSError, ValueError) as exc:
        logger.warning("run %s: notifications not sent: %s", run_id, exc)
        return []

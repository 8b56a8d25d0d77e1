"""Notifications when a run ends or first fails: a webhook and/or an email.

:mod:`.settings` reads the ``[notify]`` configuration, :mod:`.message` builds
what is sent from the store, :mod:`.send` delivers it and :mod:`.due` decides
when, once per run and event, for whoever finishes the run (the last
dispatcher, or the ``run_local`` process).
"""

from __future__ import annotations

from reflow.notify.settings import EVENTS, NotifySettings, notify_settings

# notify_due is imported from reflow.notify.due: the configuration imports this
# package for its keys, and must not pull the store and the run layout with it.
__all__ = ["EVENTS", "NotifySettings", "notify_settings"]

"""The ``[notify]`` section of the configuration, checked: :class:`NotifySettings`.

::

    [notify]
    webhook = "https://hooks.example.org/reflow"   # HTTP POST of a small JSON
    email = "alice@example.org"                     # one address or a list
    on = ["end", "first_failure"]                   # end, failure, first_failure
    smtp = "smtp.example.org:587"                   # else the local sendmail
    smtp_user = "alice"
    smtp_starttls = true
    from = "reflow@example.org"

Secrets (``webhook_token``, ``smtp_password``) may be in the file too, but
are better in ``REFLOW_NOTIFY_WEBHOOK_TOKEN`` and ``REFLOW_NOTIFY_SMTP_PASSWORD``;
either way they are read when a notification is sent and are never written
anywhere by reflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reflow import env
from reflow.errors import ConfigError

__all__ = ["EVENTS", "KEYS", "NotifySettings", "notify_settings", "parse_events"]

EVENTS = ("end", "failure", "first_failure")
"""When to notify: the run ended (any way), it ended FAILED, an instance failed (first)."""

DEFAULT_EVENTS = ("end",)

KEYS = frozenset(
    {
        "webhook",
        "webhook_token",
        "email",
        "on",
        "smtp",
        "smtp_user",
        "smtp_password",
        "smtp_starttls",
        "from",
    }
)
"""The keys ``[notify]`` holds (the configuration's schema lists the same)."""


@dataclass(frozen=True)
class NotifySettings:
    """Where and when to notify; secrets kept out of ``repr``.

    Attributes
    ----------
    webhook : str or None
        URL that receives an HTTP POST of the JSON message.
    emails : tuple of str
        Addresses that receive the message by email.
    on : tuple of str
        The events notified (see :data:`EVENTS`).
    smtp : str or None
        ``host`` or ``host:port`` of an SMTP server; the local ``sendmail`` when ``None``.
    smtp_user, smtp_starttls, sender
        SMTP login name, whether to upgrade with STARTTLS, the ``From`` address.
    webhook_token, smtp_password : str or None
        Secrets, from the environment or the file, never shown.
    """

    webhook: str | None = None
    emails: tuple[str, ...] = ()
    on: tuple[str, ...] = DEFAULT_EVENTS
    smtp: str | None = None
    smtp_user: str | None = None
    smtp_starttls: bool = False
    sender: str | None = None
    webhook_token: str | None = field(default=None, repr=False)
    smtp_password: str | None = field(default=None, repr=False)

    @property
    def enabled(self) -> bool:
        """Whether there is anywhere to send to."""
        return bool(self.webhook or self.emails)


def parse_events(value: Any, where: str) -> tuple[str, ...]:
    """``on`` as a tuple of known events, or one line naming the bad one.

    Raises
    ------
    ConfigError
        If ``value`` is not a list of names from :data:`EVENTS`.
    """
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f'{where} must be a list such as ["end", "failure"], got {value!r}.')
    events = tuple(n.strip().lower().replace("-", "_") for n in names)
    for event in events:
        if event not in EVENTS:
            raise ConfigError(
                f"{where}: {event!r} is not a notification event; use {', '.join(EVENTS)}."
            )
    return events


def _text(table: Mapping[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"notify.{key} in the configuration must be a non-empty string, got {value!r}. "
            f'Write it as {key} = "..." under [notify].'
        )
    return value.strip()


def notify_settings(
    table: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> NotifySettings:
    """The settings of a ``[notify]`` table, with the secrets of ``environ`` over the file's.

    Raises
    ------
    ConfigError
        If a key has the wrong type, ``webhook`` is not an http(s) URL, an
        address has no ``@`` or ``on`` names an unknown event.
    """
    webhook = _text(table, "webhook")
    if webhook is not None and not webhook.startswith(("http://", "https://")):
        raise ConfigError(
            "notify.webhook in the configuration must be an http:// or https:// URL."
        )
    raw_emails = table.get("email", [])
    emails = [raw_emails] if isinstance(raw_emails, str) else raw_emails
    if not isinstance(emails, list) or not all(isinstance(e, str) and "@" in e for e in emails):
        raise ConfigError(
            f"notify.email in the configuration must be an address or a list of them, "
            f'got {raw_emails!r}. Write it as email = "you@example.org" under [notify].'
        )
    starttls = table.get("smtp_starttls", False)
    if not isinstance(starttls, bool):
        raise ConfigError(
            f"notify.smtp_starttls in the configuration must be true or false, got {starttls!r}."
        )
    smtp = _text(table, "smtp")
    if smtp is not None and not smtp.partition(":")[2].isdigit() and ":" in smtp:
        raise ConfigError(
            f'notify.smtp = {smtp!r} in the configuration must be "host" or "host:port".'
        )
    on = table.get("on")
    return NotifySettings(
        webhook=webhook,
        emails=tuple(e.strip() for e in emails),
        on=DEFAULT_EVENTS if on is None else parse_events(on, "notify.on in the configuration"),
        smtp=smtp,
        smtp_user=_text(table, "smtp_user"),
        smtp_starttls=starttls,
        sender=_text(table, "from"),
        webhook_token=env.get(env.REFLOW_NOTIFY_WEBHOOK_TOKEN, environ)
        or _text(table, "webhook_token"),
        smtp_password=env.get(env.REFLOW_NOTIFY_SMTP_PASSWORD, environ)
        or _text(table, "smtp_password"),
    )

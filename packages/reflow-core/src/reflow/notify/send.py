"""Delivering a notification: an HTTP POST, an email by SMTP or by the local sendmail.

Every error is logged (without secrets) and swallowed: a notification that
cannot be sent never changes the run.
"""

from __future__ import annotations

import json
import logging
import shutil
import smtplib
import socket
import subprocess
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reflow.notify.message import message_text, subject
from reflow.notify.settings import NotifySettings

__all__ = ["SENDMAIL", "SEND_TIMEOUT", "deliver", "send_email", "send_webhook"]

logger = logging.getLogger(__name__)

SEND_TIMEOUT = 10.0
"""Seconds a webhook or mail server may take: a dead one must not hold the dispatcher."""

SENDMAIL = "/usr/sbin/sendmail"
"""Where ``sendmail`` is looked for when ``PATH`` has none (a job's or cron's ``PATH``
often lacks ``/usr/sbin``)."""


def _where(url: str) -> str:
    """A URL as it may be logged: scheme and host only (its path may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}"


def send_webhook(settings: NotifySettings, data: dict[str, Any]) -> None:
    """POST ``data`` as JSON to the webhook (with ``Authorization: Bearer`` if a token is set).

    Raises
    ------
    OSError
        If the server cannot be reached or answers with an error status.
    """
    assert settings.webhook is not None
    request = urllib.request.Request(  # noqa: S310 (the settings allow http(s) URLs only)
        settings.webhook,
        data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "reflow"},
        method="POST",
    )
    if settings.webhook_token:
        request.add_header("Authorization", f"Bearer {settings.webhook_token}")
    with urllib.request.urlopen(request, timeout=SEND_TIMEOUT) as answer:  # noqa: S310 (http(s) only)
        answer.read()


def _email(settings: NotifySettings, data: dict[str, Any]) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = subject(data)
    mail["From"] = settings.sender or f"reflow@{socket.getfqdn()}"
    mail["To"] = ", ".join(settings.emails)
    mail.set_content(message_text(data))
    return mail


def send_email(settings: NotifySettings, data: dict[str, Any]) -> None:
    """Mail the message through the configured SMTP server, else the local ``sendmail``.

    Raises
    ------
    OSError
        If the server or ``sendmail`` fails (:class:`smtplib.SMTPException` is one).
    """
    mail = _email(settings, data)
    if settings.smtp:
        host, _, port = settings.smtp.partition(":")  # the port is checked by the settings
        with smtplib.SMTP(host, int(port or 25), timeout=SEND_TIMEOUT) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(mail)
        return
    sendmail = shutil.which("sendmail") or SENDMAIL
    if not Path(sendmail).exists():
        raise OSError(
            f"there is no sendmail on PATH nor at {sendmail}: install one (an MTA such as "
            "exim4 or postfix), or name an SMTP server with [notify] smtp"
        )
    done = subprocess.run(
        [sendmail, "-t", "-oi"],
        input=mail.as_bytes(),
        capture_output=True,
        timeout=SEND_TIMEOUT * 3,
        check=False,
    )
    if done.returncode != 0:
        # One warning line: an MTA may write several lines of complaint.
        lines = done.stderr.decode(errors="replace").splitlines()
        why = "; ".join(line.strip() for line in lines if line.strip())[:500] or "no message"
        raise OSError(f"{sendmail} exited with {done.returncode}: {why}")


def deliver(settings: NotifySettings, data: dict[str, Any]) -> bool:
    """Send ``data`` everywhere ``settings`` names; ``True`` if every one took it.

    Never raises: a failure is logged as a warning naming where it went
    (never a token or password) and why.
    """
    ok = True
    if settings.webhook:
        try:
            send_webhook(settings, data)
        except (OSError, ValueError) as exc:
            ok = False
            logger.warning(
                "run %s: the %s notification to %s failed: %s",
                data["run_id"],
                data["event"],
                _where(settings.webhook),
                _safe(exc, settings),
            )
    if settings.emails:
        try:
            send_email(settings, data)
        except (OSError, ValueError, smtplib.SMTPException, subprocess.SubprocessError) as exc:
            ok = False
            logger.warning(
                "run %s: the %s email to %s failed: %s",
                data["run_id"],
                data["event"],
                ", ".join(settings.emails),
                _safe(exc, settings),
            )
    return ok


def _safe(exc: BaseException, settings: NotifySettings) -> str:
    """An error's text with any secret (or the webhook's full URL) taken out."""
    text = str(exc) or type(exc).__name__
    for secret in (settings.webhook_token, settings.smtp_password, settings.webhook):
        if secret:
            text = text.replace(secret, "***")
    return text

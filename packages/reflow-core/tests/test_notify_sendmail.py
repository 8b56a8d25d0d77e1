"""Email notifications through the local ``sendmail`` (no ``[notify] smtp``).

A fake ``sendmail`` first on ``PATH`` records its argv and the message it was
given on stdin, as the MTA would receive it, so the tests read what the user
would get: its recipients, subject and body.
"""

from __future__ import annotations

import email
import json
import logging
import os
import sys
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from reflow import RunState
from reflow.testing.scripts import load_template

SCRIPT = """
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job()
def items(n: int = 2) -> list[int]:
    return list(range(n))

@wf.job(array=True)
def square(i: Annotated[int, Result(step="items")], fail: int = -1) -> int:
    if i == fail:
        raise ValueError(f"element {{i}} is bad")
    return i * i
"""

FAKE_SENDMAIL = """#!{python}
import json, os, sys
from pathlib import Path

calls = Path({calls!r})
message = sys.stdin.buffer.read()
n = len(list(calls.glob("*.json")))
(calls / f"{{n}}.json").write_text(json.dumps({{"argv": sys.argv[1:]}}))
(calls / f"{{n}}.eml").write_bytes(message)
if os.environ.get("FAKE_SENDMAIL_FAIL"):
    sys.stderr.write("sendmail: cannot connect to the relay\\nsendmail: message kept\\n")
    sys.exit(75)
"""


@pytest.fixture
def sendmail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ``sendmail`` first on PATH; returns the folder its calls are recorded in."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "sendmail-calls"
    bin_dir.mkdir()
    calls.mkdir()
    fake = bin_dir / "sendmail"
    fake.write_text(FAKE_SENDMAIL.format(python=sys.executable, calls=str(calls)))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return calls


def configure(tmp_path: Path, **notify: Any) -> None:
    """Write ``[notify]`` (no ``smtp``: mail goes through sendmail) into the test's config."""
    lines = ["[notify]"] + [f"{key} = {json.dumps(value)}" for key, value in notify.items()]
    (tmp_path / "no-config.toml").write_text("\n".join(lines) + "\n")


def sent(calls: Path) -> list[tuple[list[str], Message]]:
    """Each sendmail call: its arguments and the message it read."""
    found = sorted(calls.glob("*.json"), key=lambda p: int(p.stem))
    return [
        (
            json.loads(p.read_text())["argv"],
            email.message_from_bytes(p.with_suffix(".eml").read_bytes()),
        )
        for p in found
    ]


def body(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_a_finished_run_mails_its_outcome_through_sendmail(
    tmp_path: Path, store: Any, sendmail: Path
) -> None:
    configure(tmp_path, email=["alice@example.org", "bob@example.org"], on=["end"])
    mod = load_template(tmp_path, "mail_ok", SCRIPT)
    run = mod.wf.run_local(tmp_path / "run", store=store)
    [(argv, mail)] = sent(sendmail)
    # -t: the recipients are read from the message's own To:; -oi: a lone "." is no end.
    assert argv == ["-t", "-oi"]
    assert mail["To"] == "alice@example.org, bob@example.org"
    assert mail["Subject"] == f"reflow: run {run.run_id} SUCCESS"
    assert mail["From"].startswith("reflow@")
    text = body(mail)
    assert f"Run       {run.run_id}" in text and "Workflow  mail_ok" in text
    assert "State     SUCCESS" in text and "Instances SUCCESS 3" in text
    assert f"reflow status {run.run_id}" in text and "First failure" not in text


def test_a_failed_run_mails_its_failure_and_the_command_to_see_it(
    tmp_path: Path, store: Any, sendmail: Path
) -> None:
    configure(tmp_path, email="alice@example.org", on=["failure"], **{"from": "lab@example.org"})
    mod = load_template(tmp_path, "mail_fail", SCRIPT)
    run = mod.wf.run_local(tmp_path / "run", store=store, on_error="continue", fail=1)
    assert store.get_run_record(run.run_id).status is RunState.FAILED
    [(_, mail)] = sent(sendmail)
    assert (mail["To"], mail["From"]) == ("alice@example.org", "lab@example.org")
    assert mail["Subject"] == f"reflow: run {run.run_id} FAILED"
    text = body(mail)
    assert "State     FAILED" in text
    assert "First failure: square[1]: ValueError: element 1 is bad" in text
    assert f"reflow logs {run.run_id} square[1]" in text


def notify_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("reflow.notify")]


def test_a_failing_sendmail_is_one_warning_line_and_the_run_still_succeeds(
    tmp_path: Path,
    store: Any,
    sendmail: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("FAKE_SENDMAIL_FAIL", "1")
    configure(tmp_path, email="alice@example.org")
    mod = load_template(tmp_path, "mail_refused", SCRIPT)
    with caplog.at_level(logging.WARNING, logger="reflow.notify"):
        run = mod.wf.run_local(tmp_path / "run", store=store)
    assert store.get_run_record(run.run_id).status is RunState.SUCCESS
    assert len(sent(sendmail)) == 1  # tried once, not again
    [warning] = notify_warnings(caplog)
    assert "\n" not in warning
    assert warning.startswith(f"run {run.run_id}: the end email to alice@example.org failed: ")
    assert warning.endswith(
        "sendmail exited with 75: sendmail: cannot connect to the relay; sendmail: message kept"
    )


def test_no_sendmail_at_all_is_one_warning_naming_the_fix_and_the_run_still_succeeds(
    tmp_path: Path,
    store: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # the run's own processes are started by path
    monkeypatch.setattr("reflow.notify.send.SENDMAIL", str(tmp_path / "no" / "sendmail"))
    configure(tmp_path, email="alice@example.org")
    mod = load_template(tmp_path, "mail_none", SCRIPT)
    with caplog.at_level(logging.WARNING, logger="reflow.notify"):
        run = mod.wf.run_local(tmp_path / "run", store=store)
    assert store.get_run_record(run.run_id).status is RunState.SUCCESS
    [warning] = notify_warnings(caplog)
    assert warning == (
        f"run {run.run_id}: the end email to alice@example.org failed: there is no sendmail on "
        f"PATH nor at {tmp_path / 'no' / 'sendmail'}: install one (an MTA such as exim4 or "
        "postfix), or name an SMTP server with [notify] smtp"
    )

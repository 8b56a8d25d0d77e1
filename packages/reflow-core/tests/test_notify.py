"""Notifications: a local HTTP server, SMTP sink and fake sendmail receive what a run sends.

Both servers are started by the tests, on ports the system chooses.  The
SMTP sink speaks just enough SMTP for :mod:`smtplib` (EHLO, AUTH PLAIN, MAIL,
RCPT, DATA, QUIT) and keeps what it was told.  Without ``[notify] smtp`` mail
goes to ``sendmail``: a fake one first on ``PATH`` records its argv and the
message it read, as the MTA would receive it.
"""

from __future__ import annotations

import base64
import email
import json
import logging
import os
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from reflow import RunState
from reflow.config import Config
from reflow.errors import ConfigError
from reflow.executors.local.executor import LocalExecutor
from reflow.notify import notify_settings
from reflow.testing.scripts import load_template

TOKEN = "tok-4f1d2a9e-never-on-disk"
PASSWORD = "pw-77c0b3-never-on-disk"

PIPELINE = """
from pathlib import Path
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

TWO_BRANCHES = """
import time
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job()
def bad() -> int:
    raise RuntimeError("bad input")

@wf.job()
def quick() -> list[int]:
    return [1]

@wf.job(array=True)
def later(x: Annotated[int, Result(step="quick")]) -> int:
    # A fan-out over quick's returned list, so not submitted ahead: the wave after
    # quick's submits it, sees bad's failure, and it still runs then.
    time.sleep(3)
    return x + 1
"""


@dataclass
class Received:
    """What the servers were sent."""

    posts: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    mails: list[email.message.Message] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


@pytest.fixture
def webhook() -> Iterator[tuple[str, Received]]:
    """A local HTTP server keeping each POSTed JSON with its Authorization header."""
    got = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.posts.append((json.loads(body), self.headers.get("Authorization")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook/secret-path", got
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_sink() -> Iterator[tuple[str, Received]]:
    """A local SMTP server that accepts every message (and an AUTH PLAIN login)."""
    got = Received()

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        def handle(self) -> None:
            self.reply("220 sink ready")
            while line := self.rfile.readline().decode().rstrip("\r\n"):
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    self.reply("250-sink")
                    self.reply("250 AUTH PLAIN")
                elif verb == "AUTH":
                    got.logins.append(base64.b64decode(line.split()[-1]).decode())
                    self.reply("235 ok")
                elif verb == "DATA":
                    self.reply("354 go on")
                    data = b""
                    while (chunk := self.rfile.readline()) != b".\r\n":
                        data += chunk
                    got.mails.append(email.message_from_bytes(data))
                    self.reply("250 kept")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("250 ok")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", got
    server.shutdown()
    server.server_close()


def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **notify: Any) -> None:
    """Write ``[notify]`` into the test's configuration file; secrets in the environment."""
    lines = ["[notify]"] + [f"{key} = {json.dumps(value)}" for key, value in notify.items()]
    (tmp_path / "no-config.toml").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("REFLOW_NOTIFY_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("REFLOW_NOTIFY_SMTP_PASSWORD", PASSWORD)


def files_holding(root: Path, secret: str) -> list[Path]:
    """The files under ``root`` whose bytes contain ``secret``."""
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_a_finished_run_posts_once_and_mails_without_writing_a_secret(
    tmp_path: Path,
    store: Any,
    monkeypatch: pytest.MonkeyPatch,
    webhook: tuple[str, Received],
    smtp_sink: tuple[str, Received],
) -> None:
    url, got = webhook
    smtp, mailed = smtp_sink
    configure(
        tmp_path,
        monkeypatch,
        webhook=url,
        email="alice@example.org",
        smtp=smtp,
        smtp_user="alice",
        **{"from": "reflow@example.org"},
    )
    mod = load_template(tmp_path, "notify_ok", PIPELINE)
    run = mod.wf.run_local(tmp_path / "run", store=store)
    [(data, auth)] = got.posts
    assert auth == f"Bearer {TOKEN}"
    assert data["event"] == "end" and data["state"] == "SUCCESS"
    assert data["run_id"] == run.run_id and data["workflow"] == "notify_ok"
    assert data["counts"] == {"SUCCESS": 3}
    assert data["tasks"]["square"] == {"SUCCESS": 2}
    assert data["first_failure"] is None
    assert data["status_command"] == f"reflow status {run.run_id}"
    [mail] = mailed.mails
    assert mail["Subject"] == f"reflow: run {run.run_id} SUCCESS"
    assert mail["To"] == "alice@example.org"
    assert mailed.logins == [f"\0alice\0{PASSWORD}"]  # the password reached the server only
    assert not files_holding(tmp_path / "run", TOKEN) + files_holding(tmp_path / "run", PASSWORD)


def test_a_failed_run_names_its_first_failure_and_how_to_see_it(
    tmp_path: Path,
    store: Any,
    monkeypatch: pytest.MonkeyPatch,
    webhook: tuple[str, Received],
) -> None:
    url, got = webhook
    configure(tmp_path, monkeypatch, webhook=url, on=["failure"])
    mod = load_template(tmp_path, "notify_fail", PIPELINE)
    ok = mod.wf.run_local(tmp_path / "run", store=store, on_error="continue", fail=99)
    assert got.posts == []  # on = ["failure"]: a success says nothing
    run = mod.wf.run_local(tmp_path / "run", store=store, on_error="continue", fail=1)
    assert run.run_id != ok.run_id
    [(data, _)] = got.posts
    assert data["event"] == "failure" and data["state"] == "FAILED"
    assert data["first_failure"]["instance"] == "square[1]"
    assert data["first_failure"]["error"] == "ValueError: element 1 is bad"
    assert data["logs_command"] == f"reflow logs {run.run_id} square[1]"


def test_a_dead_webhook_does_not_change_the_run(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configure(tmp_path, monkeypatch, webhook=f"http://127.0.0.1:{port}/hook/{TOKEN}")
    mod = load_template(tmp_path, "notify_dead", PIPELINE)
    with caplog.at_level(logging.WARNING, logger="reflow.notify"):
        run = mod.wf.run_local(tmp_path / "run", store=store)
    assert store.get_run_record(run.run_id).status is RunState.SUCCESS
    [warning] = [r.getMessage() for r in caplog.records if r.name.startswith("reflow.notify")]
    assert f"the end notification to http://127.0.0.1:{port} failed" in warning
    assert TOKEN not in warning  # the URL's path may hold a token: never logged


def test_a_submitted_run_sends_its_first_failure_then_its_failure(
    tmp_path: Path,
    store: Any,
    monkeypatch: pytest.MonkeyPatch,
    webhook: tuple[str, Received],
) -> None:
    url, got = webhook
    configure(tmp_path, monkeypatch, webhook=url)  # on = ["end"] by default ...
    mod = load_template(tmp_path, "notify_sub", TWO_BRANCHES)
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    run = mod.wf.submit(
        tmp_path / "run",
        store=store,
        executor=executor,
        notify=["first_failure,failure"],  # ... and this run asks for these instead
    )
    assert run.wait(timeout=120) is RunState.FAILED
    # The dispatcher records the end, then sends: the message may follow wait() by a moment.
    deadline = time.monotonic() + 30
    while len(got.posts) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    events = [(data["event"], data["state"]) for data, _ in got.posts]
    assert events == [("first_failure", "RUNNING"), ("failure", "FAILED")]
    first, auth = got.posts[0]
    assert auth == f"Bearer {TOKEN}"  # the dispatcher job had it from its environment only
    assert first["first_failure"]["instance"] == "bad"
    assert first["tasks"]["later"] in ({"SUBMITTED": 1}, {"PENDING": 1})  # still to run
    assert json.loads((tmp_path / "run" / ".reflow" / run.run_id / "notify.json").read_text()) == {
        "on": ["first_failure", "failure"]
    }
    for root in (tmp_path / "run", tmp_path / "jobs"):  # run dir, job scripts and logs
        assert not files_holding(root, TOKEN)
    # A retried run that fails again says so again (its claims were cleared).
    assert run.retry("bad", executor=executor, quiet=True) == 1
    assert run.wait(timeout=120) is RunState.FAILED
    deadline = time.monotonic() + 30
    while len(got.posts) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [data["event"] for data, _ in got.posts[2:]] == ["failure"]


def test_notify_without_a_destination_or_with_an_unknown_event_is_one_line(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = load_template(tmp_path, "notify_bad", PIPELINE)
    executor = LocalExecutor(state_dir=tmp_path / "jobs")
    with pytest.raises(ConfigError, match=r"--notify needs somewhere to send to: set webhook"):
        mod.wf.submit(tmp_path / "run", store=store, executor=executor, notify=[])
    mod.wf.config = Config({"notify": {"email": "a@example.org"}})
    with pytest.raises(ConfigError, match=r"'ends' is not a notification event; use end, "):
        mod.wf.submit(tmp_path / "run", store=store, executor=executor, notify=["ends"])
    assert store.list_runs() == []  # checked before anything was recorded
    # A bad [notify] stops the configuration from loading, as any bad section does.
    with pytest.raises(ConfigError, match=r"notify.webhook .* must be an http:// or https://"):
        Config({"notify": {"webhook": "hooks.example.org"}})
    with pytest.raises(ConfigError, match=r"notify.on .*: 'ends' is not a notification event"):
        notify_settings({"on": ["ends"]})


def test_run_local_sends_a_first_failure_while_the_rest_goes_on(
    tmp_path: Path,
    store: Any,
    monkeypatch: pytest.MonkeyPatch,
    webhook: tuple[str, Received],
) -> None:
    url, got = webhook
    configure(tmp_path, monkeypatch, webhook=url, on=["first_failure", "failure"])
    slow = TWO_BRANCHES.replace("time.sleep(3)", "time.sleep(HEARTBEAT_SECONDS + 2)").replace(
        "import time", "import time\nfrom reflow.runs.liveness import HEARTBEAT_SECONDS"
    )
    mod = load_template(tmp_path, "notify_local_first", slow)
    run = mod.wf.run_local(tmp_path / "run", store=store, on_error="continue", max_workers=2)
    assert store.get_run_record(run.run_id).status is RunState.FAILED
    # The heartbeat while `later` still ran sent the first failure; the end, the failure.
    events = [(data["event"], data["state"]) for data, _ in got.posts]
    assert events == [("first_failure", "RUNNING"), ("failure", "FAILED")]
    assert got.posts[0][0]["first_failure"]["instance"] == "bad"


# -- email through the local sendmail (no [notify] smtp) -------------------------------------

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
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch, sendmail: Path
) -> None:
    configure(tmp_path, monkeypatch, email=["alice@example.org", "bob@example.org"], on=["end"])
    mod = load_template(tmp_path, "mail_ok", PIPELINE)
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
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch, sendmail: Path
) -> None:
    configure(
        tmp_path,
        monkeypatch,
        email="alice@example.org",
        on=["failure"],
        **{"from": "lab@example.org"},
    )
    mod = load_template(tmp_path, "mail_fail", PIPELINE)
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
    configure(tmp_path, monkeypatch, email="alice@example.org")
    mod = load_template(tmp_path, "mail_refused", PIPELINE)
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
    configure(tmp_path, monkeypatch, email="alice@example.org")
    mod = load_template(tmp_path, "mail_none", PIPELINE)
    with caplog.at_level(logging.WARNING, logger="reflow.notify"):
        run = mod.wf.run_local(tmp_path / "run", store=store)
    assert store.get_run_record(run.run_id).status is RunState.SUCCESS
    [warning] = notify_warnings(caplog)
    assert warning == (
        f"run {run.run_id}: the end email to alice@example.org failed: there is no sendmail on "
        f"PATH nor at {tmp_path / 'no' / 'sendmail'}: install one (an MTA such as exim4 or "
        "postfix), or name an SMTP server with [notify] smtp"
    )

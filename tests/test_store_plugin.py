"""A third-party store, installed as a real entry point, is opened by its URL scheme.

The plugin is a distribution written into a temporary directory on
``sys.path`` (a ``*.dist-info`` with ``entry_points.txt``), exactly what
``pip install`` leaves behind: core finds it through the ``reflow.stores``
group, never by name.  Its store is the SQLite store under the scheme
``memtest``, so whatever works through it went through the seam.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from reflow import Workflow, plugins
from reflow._types import RunState
from reflow.cli.main import main
from reflow.errors import PluginNotFoundError, ReflowError
from reflow.run import Run
from reflow.runs.creation import user_name
from reflow.stores import Store, StoreError, open_store
from reflow.testing.scripts import load_script

PLUGIN = '''
"""A store plugin as a third party writes one: it imports only reflow.stores and its base."""

from pathlib import Path

from reflow.stores import StoreError
from reflow_store_sqlite import SqliteStore

SCHEME = "memtest://"


class MemtestStore(SqliteStore):
    """The SQLite store, opened as memtest:///abs/path.db."""

    @property
    def url(self):
        return SCHEME + self.path.as_posix()

    @classmethod
    def from_url(cls, url, config=None, *, create=True):
        rest = url[len(SCHEME):] if url.startswith(SCHEME) else ""
        if not rest.startswith("/"):
            raise StoreError(f"not a memtest URL: {url!r}")
        return cls(Path(rest), create=create)


class NotAStore:
    """Registered in the store group by mistake."""


class PwtestStore(SqliteStore):
    """A server-like store: pwtest://USER@host/abs/path.db, the password from PWTEST_PASSWORD.

    Naive on purpose: it would give back any URL it was opened with, password
    included, and it puts PWTEST_LEAKY into its URL as a password when set.
    """

    def __init__(self, path, url, **kwargs):
        super().__init__(path, **kwargs)
        self._opened_with = url

    @property
    def url(self):
        import os

        leaky = os.environ.get("PWTEST_LEAKY")
        if leaky:
            return self._opened_with.replace("@", f":{leaky}@", 1)
        return self._opened_with

    @classmethod
    def from_url(cls, url, config=None, *, create=True):
        import os

        if not os.environ.get("PWTEST_PASSWORD"):
            raise StoreError("pwtest: authentication failed (PWTEST_PASSWORD)")
        path = url.split("@", 1)[1].split("/", 1)[1].split("?", 1)[0]
        return cls(Path("/" + path), url, create=create)
'''

ENTRY_POINTS = """\
[reflow.stores]
memtest = memtest_store:MemtestStore
notastore = memtest_store:NotAStore
pwtest = memtest_store:PwtestStore
"""

METADATA = "Metadata-Version: 2.1\nName: memtest-store\nVersion: 1.0\n"


@pytest.fixture
def memtest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Install the ``memtest`` store plugin for this process and its children."""
    site = tmp_path / "site"
    (site / "memtest_store-1.0.dist-info").mkdir(parents=True)
    (site / "memtest_store.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    (site / "memtest_store-1.0.dist-info" / "METADATA").write_text(METADATA, encoding="utf-8")
    (site / "memtest_store-1.0.dist-info" / "entry_points.txt").write_text(
        ENTRY_POINTS, encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    # Dispatcher jobs are other processes: they must find the plugin too.
    inherited = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(site), inherited) if p))
    plugins.clear_cache()
    yield tmp_path
    sys.modules.pop("memtest_store", None)
    plugins.clear_cache()


def test_open_store_loads_the_store_its_entry_point_names(memtest: Path) -> None:
    url = f"memtest://{(memtest / 'm.db').as_posix()}"
    store = open_store(url)
    assert type(store).__name__ == "MemtestStore"
    assert type(store).__module__ == "memtest_store"
    assert isinstance(store, Store)
    assert store.url == url
    store.insert_run("r1", "wf", "me", {})
    assert open_store(url).get_run_record("r1") is not None
    assert (memtest / "m.db").is_file()


def test_reflow_runs_reads_the_store_reflow_store_names(
    memtest: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"memtest://{(memtest / 'm.db').as_posix()}"
    with open_store(url) as store:
        store.insert_run("memtest-run-1", "memtest_wf", user_name(), {})
        store.update_run_status("memtest-run-1", RunState.SUCCESS)
    monkeypatch.setenv("REFLOW_STORE", url)
    assert main(["runs"]) == 0
    assert "memtest-run-1" in capsys.readouterr().out


def _workflow(name: str) -> Workflow:
    wf = Workflow(name)

    @wf.job()
    def double(n: int = 3) -> int:
        return 2 * n

    return wf


DOUBLE = """
from reflow import Workflow

wf = Workflow("{name}")


@wf.job()
def double(n: int = 3) -> int:
    return 2 * n
"""
"""A one-task workflow script; its dispatcher jobs load it from its file."""


def _submit_double(directory: Path, name: str, url: str) -> Run:
    """Submit :data:`DOUBLE` as ``name`` to the store at ``url`` (local executor); check it."""
    module = load_script(directory, name, DOUBLE.format(name=name))
    run: Run = module.wf.submit(directory / "run", store=open_store(url), executor="local")
    assert run.wait(timeout=120) is RunState.SUCCESS
    assert run.output("double") == 6
    return run


def test_a_local_run_is_recorded_in_the_store_reflow_store_names(
    memtest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"memtest://{(memtest / 'm.db').as_posix()}"
    monkeypatch.setenv("REFLOW_STORE", url)
    run = _workflow("memtest_local").run_local(memtest / "run")
    assert type(run.store).__name__ == "MemtestStore"
    assert run.output("double") == 6
    record = open_store(url).get_run_record(run.run_id)
    assert record is not None and record.status is RunState.SUCCESS


def test_a_submitted_runs_dispatcher_reopens_the_store_by_its_url(
    memtest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"memtest://{(memtest / 'm.db').as_posix()}"
    monkeypatch.setenv("REFLOW_LOCAL_STATE", str(memtest / "jobs"))
    _submit_double(memtest, "memtest_submit", url)
    # Each dispatcher job was handed the run's run.json, whose context names the
    # store by its URL, not its file: that is what made it open the memtest store
    # through the entry point.
    specs = [json.loads(p.read_text()) for p in (memtest / "jobs").rglob("spec.json")]
    dispatchers = [
        spec["command"]
        for spec in specs
        if spec["command"][1:4] == ["-m", "reflow.job", "dispatch"]
    ]
    assert dispatchers
    for command in dispatchers:
        assert not any("m.db" in part for part in command)
        assert json.loads(Path(command[-1]).read_text())["store_url"] == url


def test_an_unknown_scheme_names_the_installed_stores_and_the_way_to_install(
    memtest: Path,
) -> None:
    with pytest.raises(PluginNotFoundError) as caught:
        open_store("memtset:///x.db")
    message = str(caught.value)
    assert "No store named 'memtset'" in message
    installed = message.split("installed: ", 1)[1].split(")", 1)[0]
    assert {"memtest", "sqlite"} <= set(installed.split(", "))
    assert "memtest" in message.split(")", 1)[1]  # did you mean


def test_a_plugin_class_that_is_not_a_store_is_refused(memtest: Path) -> None:
    with pytest.raises(StoreError, match=r"'notastore' \(memtest_store\.NotAStore\) is not a"):
        open_store("notastore:///x.db")


SECRET = "s3cret"


def _pwtest_url(where: Path) -> str:
    return f"pwtest://alice@dbhost/{(where / 'pw.db').as_posix().lstrip('/')}"


@pytest.mark.parametrize(
    "url",
    [
        "pwtest://alice:s3cret@dbhost/{where}/pw.db",
        "pwtest://alice@dbhost/{where}/pw.db?sslmode=require&password=s3cret",
    ],
)
def test_a_store_url_with_a_password_is_refused_wherever_it_is_configured(
    url: str,
    memtest: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PWTEST_PASSWORD", SECRET)
    url = url.format(where=memtest.as_posix().lstrip("/"))
    with pytest.raises(StoreError) as caught:
        open_store(url)
    assert SECRET not in str(caught.value)
    assert "~/.pgpass" in str(caught.value)

    monkeypatch.setenv("REFLOW_STORE", url)
    assert main(["runs"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "PGPASSWORD" in err and SECRET not in err

    monkeypatch.delenv("REFLOW_STORE")
    config = memtest / "config.toml"
    config.write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
    monkeypatch.setenv("REFLOW_CONFIG", str(config))
    assert main(["runs"]) == 2
    err = capsys.readouterr().err
    assert "[store] url" in err or "store.url" in err
    assert len(err.splitlines()) == 1 and SECRET not in err
    assert not (memtest / "pw.db").exists()


def test_a_store_whose_url_would_carry_a_password_records_no_run(
    memtest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PWTEST_PASSWORD", SECRET)
    monkeypatch.setenv("PWTEST_LEAKY", SECRET)
    store = open_store(_pwtest_url(memtest))
    with pytest.raises(ReflowError) as caught:
        _workflow("pwtest_leaky").run_local(memtest / "run", store=store)
    assert SECRET not in str(caught.value)
    assert store.list_run_records() == []
    assert not list((memtest / "run").rglob("run.json"))


def _files_holding(root: Path, text: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_no_password_reaches_the_run_its_record_job_scripts_or_command_lines(
    memtest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password comes from the client's own means; nothing reflow writes holds it."""
    url = _pwtest_url(memtest)
    monkeypatch.setenv("PWTEST_PASSWORD", SECRET)  # as PGPASSWORD would be
    monkeypatch.setenv("REFLOW_LOCAL_STATE", str(memtest / "jobs"))
    run = _submit_double(memtest, "pwtest_submit", url)
    record = open_store(url).get_run_record(run.run_id)
    assert record is not None and record.context is not None
    assert record.context.store_url == url
    assert SECRET not in repr(record)
    assert _files_holding(memtest / "run", SECRET) == []  # run.json, results, logs
    specs = list((memtest / "jobs").rglob("spec.json"))
    assert specs  # the job scripts and their command lines
    assert _files_holding(memtest / "jobs", SECRET) == []
    assert _files_holding(memtest, SECRET) == []  # the store's own file too

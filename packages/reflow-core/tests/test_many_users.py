"""Many users in one store: each run records its user; the cache serves your results only.

The user is what :func:`reflow.runs.creation.user_name` reads (``getpass``,
which reads ``LOGNAME`` first), so a test switches user by setting it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reflow import Workflow
from reflow.cli.main import main
from reflow.errors import ConfigError
from reflow.stores import Store, TaskInstanceRecord
from reflow.stores.sqlite import SqliteStore
from reflow.testing.workflows import THREE_STEPS_JOINED, three_steps


def pipeline() -> Workflow:
    """A singleton, a whole array (copied in one step when cached) and a join."""
    return three_steps("shared")


def _as(monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    monkeypatch.setenv("LOGNAME", user)


def _statuses(store: Store, run_id: str) -> list[str]:
    return [i.cache_info.get("status", "") for i in store.list_task_instance_records(run_id)]


def test_the_cache_serves_only_your_own_results_by_default(
    store: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "alice")
    alice = pipeline().run_local(tmp_path / "a", store=store)
    _as(monkeypatch, "bob")
    bob = pipeline().run_local(tmp_path / "b", store=store)
    assert _statuses(store, bob.run_id) == ["miss"] * 5  # bob ran everything again
    again = pipeline().run_local(tmp_path / "b", store=store)
    assert _statuses(store, again.run_id) == ["hit"] * 5  # bob's own results serve bob
    assert again.output("join") == THREE_STEPS_JOINED
    users = {r.run_id: r.user_id for r in store.list_run_records()}
    assert users == {alice.run_id: "alice", bob.run_id: "bob", again.run_id: "bob"}


@pytest.mark.parametrize("how", ["env", "config"])
def test_a_shared_cache_serves_other_users_results(
    how: str, store: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "env":
        monkeypatch.setenv("REFLOW_SHARE_CACHE", "true")
    else:
        config = tmp_path / "config.toml"
        config.write_text("[store]\nshare_cache = true\n", encoding="utf-8")
        monkeypatch.setenv("REFLOW_CONFIG", str(config))
    _as(monkeypatch, "alice")
    pipeline().run_local(tmp_path / "a", store=store)
    _as(monkeypatch, "bob")
    bob = pipeline().run_local(tmp_path / "b", store=store)
    assert _statuses(store, bob.run_id) == ["hit"] * 5  # alice's results stood for bob's


def test_share_cache_takes_only_a_yes_or_a_no(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REFLOW_SHARE_CACHE", "sometimes")
    assert main(["runs"]) == 2
    assert "REFLOW_SHARE_CACHE='sometimes' is not valid" in capsys.readouterr().err
    monkeypatch.delenv("REFLOW_SHARE_CACHE")
    config = tmp_path / "config.toml"
    config.write_text('[store]\nshare_cache = "yes"\n', encoding="utf-8")
    from reflow.config import load_config

    with pytest.raises(ConfigError, match=r"store\.share_cache .* must be true or false"):
        load_config(config)


class OldStore(SqliteStore):
    """A store written before the cache lookups took ``user_id=``."""

    def find_cached_many(  # type: ignore[override]
        self, task_name: str, identities: Any
    ) -> dict[str, TaskInstanceRecord]:
        return super().find_cached_many(task_name, identities)

    def copy_cached_array(  # type: ignore[override]
        self, task_name: str, identity: str, run_id: str
    ) -> tuple[str, int] | None:
        return super().copy_cached_array(task_name, identity, run_id)


def test_a_store_without_user_lookups_still_keeps_caches_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OldStore(tmp_path / "old.db") as store:
        _as(monkeypatch, "alice")
        pipeline().run_local(tmp_path / "a", store=store)
        _as(monkeypatch, "bob")
        bob = pipeline().run_local(tmp_path / "b", store=store)
        assert _statuses(store, bob.run_id) == ["miss"] * 5
        again = pipeline().run_local(tmp_path / "b", store=store)
        assert _statuses(store, again.run_id) == ["hit"] * 5


def test_reflow_runs_shows_your_runs_unless_all_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shared.db"
    monkeypatch.setenv("REFLOW_STORE_PATH", str(path))
    with SqliteStore(path) as store:
        _as(monkeypatch, "alice")
        alice = pipeline().run_local(tmp_path / "a", store=store)
        _as(monkeypatch, "bob")
        bob = pipeline().run_local(tmp_path / "b", store=store)
    capsys.readouterr()
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert bob.run_id in out and alice.run_id not in out
    assert "1 run(s) of other users not shown; --all-users shows them." in out
    assert main(["runs", "--all-users"]) == 0
    out = capsys.readouterr().out
    assert bob.run_id in out and alice.run_id in out
    assert "USER" in out and "alice" in out and "other users" not in out
    assert main(["status", alice.run_id]) == 0  # another user's run, named by its id
    assert alice.run_id in capsys.readouterr().out
    _as(monkeypatch, "alice")
    assert main(["status", "latest"]) == 0  # alice's newest, though bob's is newer
    assert capsys.readouterr().out.splitlines()[0].split() == ["Run", alice.run_id]
    _as(monkeypatch, "carol")
    assert main(["status", "latest"]) == 0  # no run of hers: the newest of anyone's
    assert capsys.readouterr().out.splitlines()[0].split() == ["Run", bob.run_id]


def test_a_lost_run_is_taken_over_by_its_own_user_only(
    store: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import subprocess
    import sys

    from reflow import RunState
    from reflow.stores import RunOwner

    _as(monkeypatch, "alice")
    lost = pipeline().run_local(tmp_path / "run", store=store)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store.update_run_status(lost.run_id, RunState.RUNNING)  # its driver died mid-run
    store.set_run_owner(lost.run_id, RunOwner(host=socket.gethostname(), pid=gone.pid))
    _as(monkeypatch, "bob")
    pipeline().run_local(tmp_path / "run", store=store)
    record = store.get_run_record(lost.run_id)
    assert record is not None and record.status is RunState.RUNNING  # not bob's to close
    _as(monkeypatch, "alice")
    pipeline().run_local(tmp_path / "run", store=store)
    record = store.get_run_record(lost.run_id)
    assert record is not None and record.status is RunState.CANCELLED

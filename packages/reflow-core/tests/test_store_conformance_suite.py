"""The store conformance suite fails on stores that break the contract.

The suite is run by pytest in a subprocess against the SQLite store and three
deliberately broken variants of it; the test checks which suite tests fail.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("reflow_store_sqlite")

SUITE = textwrap.dedent(
    """
    import sqlite3

    from reflow.testing.store import StoreConformance
    from reflow_store_sqlite import SqliteStore
    from reflow_store_sqlite.schema import TASK_STATE_CODES
    from reflow._types import TaskState


    def force_state(store, instance_id, state):
        # Write behind the store's back, as a careless implementation would.
        with sqlite3.connect(store.path) as conn:
            conn.execute(
                "UPDATE task_instances SET state = ? WHERE id = ?",
                (TASK_STATE_CODES[state], instance_id),
            )


    class SuccessCanRunAgain(SqliteStore):
        def update_task_running(self, instance_id):
            force_state(self, instance_id, TaskState.RUNNING)


    class RetryFromAnyState(SqliteStore):
        def mark_for_retry(self, instance_id):
            force_state(self, instance_id, TaskState.RETRYING)


    class CacheIgnoresState(SqliteStore):
        def find_cached_record(self, task_name, identity):
            for run in self.list_run_records():
                for record in self.list_task_instance_records(run.run_id, task_name):
                    if identity and record.identity == identity:
                        return record
            return None


    class Base(StoreConformance):
        store_class = SqliteStore

        def make_store(self, tmp_path):
            return self.store_class(tmp_path / "manifest.db")

        def open_peer(self, store, tmp_path):
            return self.store_class(store.path)


    class TestIntact(Base):
        __test__ = True


    class TestSuccessCanRunAgain(Base):
        __test__ = True
        store_class = SuccessCanRunAgain


    class TestRetryFromAnyState(Base):
        __test__ = True
        store_class = RetryFromAnyState


    class TestCacheIgnoresState(Base):
        __test__ = True
        store_class = CacheIgnoresState
    """
)


def _outcomes(report: Path) -> dict[str, dict[str, str]]:
    """Map class name -> test name -> 'passed', 'failed' or 'skipped'."""
    outcomes: dict[str, dict[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        cls = case.get("classname", "").rsplit(".", 1)[-1]
        name = case.get("name", "")
        result = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            result = "failed"
        elif case.find("skipped") is not None:
            result = "skipped"
        outcomes.setdefault(cls, {})[name] = result
    return outcomes


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    work = tmp_path_factory.mktemp("suite")
    (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (work / "test_suite_on_broken_stores.py").write_text(SUITE, encoding="utf-8")
    report = work / "report.xml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--import-mode=importlib",
            f"--junitxml={report}",
            # The 64-case transition matrix adds time, not evidence, here: the
            # store package runs it in full.
            "-k",
            "not test_transition_rules",
            "test_suite_on_broken_stores.py",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    return _outcomes(report)


def _failed(results: dict[str, str]) -> set[str]:
    return {name for name, result in results.items() if result == "failed"}


def _targeted(results: dict[str, str]) -> set[str]:
    """Return the failures, checking that most of the suite still passed."""
    failed = _failed(results)
    assert 0 < len(failed) < len(results) // 4, sorted(failed)
    return failed


def test_intact_store_passes_everything(outcomes: dict[str, dict[str, str]]) -> None:
    intact = outcomes["TestIntact"]
    assert len(intact) > 50
    assert _failed(intact) == set()
    assert set(intact.values()) == {"passed"}


def test_success_to_running_is_caught(outcomes: dict[str, dict[str, str]]) -> None:
    failed = _targeted(outcomes["TestSuccessCanRunAgain"])
    assert "test_success_never_goes_back_to_running" in failed


def test_retry_from_any_state_is_caught(outcomes: dict[str, dict[str, str]]) -> None:
    failed = _targeted(outcomes["TestRetryFromAnyState"])
    refused = {
        f"test_retry_refused_from_other_states[{state}]"
        for state in ("PENDING", "SUBMITTED", "RUNNING", "SUCCESS", "RETRYING", "SKIPPED")
    }
    assert refused <= failed


def test_cache_hit_on_unfinished_instance_is_caught(
    outcomes: dict[str, dict[str, str]],
) -> None:
    failed = _targeted(outcomes["TestCacheIgnoresState"])
    assert {
        "test_find_cached_across_runs_most_recent",
        "test_find_cached_only_matches_successful_same_task",
    } <= failed

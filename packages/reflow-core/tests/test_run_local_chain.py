"""run_local's fixed cost per task on a chain: few store statements, every result recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from reflow import Result, Workflow
from reflow.stores import TaskState
from reflow.stores.sqlite import SqliteStore

TASKS = 40


def chain(length: int) -> Workflow:
    wf = Workflow("chain")

    @wf.job(name="t0")
    def first(n: int = 0) -> int:
        return n

    def make(k: int) -> None:
        def step(x: int) -> int:
            return x + 1

        step.__annotations__ = {"x": Annotated[int, Result(step=f"t{k - 1}")], "return": int}
        wf.job(name=f"t{k}")(step)

    for k in range(1, length):
        make(k)
    return wf


def test_a_chain_records_every_task_with_a_few_statements_and_no_commit_of_its_own(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "manifest.db")
    store.init()
    statements: list[str] = []
    store._connection().set_trace_callback(statements.append)
    run = chain(TASKS).run_local(tmp_path / "run", store=store, n=1)
    store._connection().set_trace_callback(None)

    records = store.list_task_instance_records(run.run_id)
    assert len(records) == TASKS
    assert {r.state for r in records} == {TaskState.SUCCESS}
    assert store.get_singleton_output(run.run_id, f"t{TASKS - 1}") == TASKS
    # No task takes the store's write lock of its own: each instance is inserted
    # ended, with the others finished since the last write (at most every 2 s;
    # here, at the end), so another run writing the same store never waits
    # for this chain's tasks one by one.
    commits = sum(s.startswith("COMMIT") for s in statements)
    assert commits <= 10, f"{commits} commits for {TASKS} tasks"
    # One INSERT per instance; names of tasks read once, not in every statement
    # that names the task (the rest is the run's creation: names, specs, edges).
    assert sum(s.startswith("INSERT INTO task_instances") for s in statements) == TASKS
    per_task = len(statements) / TASKS
    assert per_task <= 10, f"{per_task:.1f} statements per task"

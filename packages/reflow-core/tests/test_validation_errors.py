"""Every definition error names the task and parameter, and says what to do."""

from __future__ import annotations

from typing import Annotated

import pytest

from reflow import Result, RunDir, Workflow
from reflow.errors import (
    AnnotationError,
    CycleError,
    UnknownTaskError,
    WiringError,
    WorkflowDefinitionError,
)


class Blob:
    """A type that cannot be given on the command line."""


def test_unknown_task_suggests_the_closest_name() -> None:
    wf = Workflow("typo")

    @wf.job()
    def prepare() -> list[str]:
        return []

    @wf.job(array=True)
    def process(item: Annotated[str, Result(step="prepair")]) -> str:
        return item

    with pytest.raises(UnknownTaskError) as info:
        wf.validate()
    msg = str(info.value)
    assert "'process'" in msg and "'item'" in msg and "'prepair'" in msg
    assert "Did you mean 'prepare'?" in msg


def test_unknown_after_task_is_named() -> None:
    wf = Workflow("after")

    @wf.job(after=["clean_up"])
    def step() -> None: ...

    @wf.job()
    def cleanup() -> None: ...

    with pytest.raises(UnknownTaskError, match=r"'step' after=\['clean_up'\].*'cleanup'"):
        wf.validate()


def test_cycle_names_the_tasks_on_it() -> None:
    wf = Workflow("cycle")

    @wf.job()
    def start() -> int:
        return 1

    @wf.job()
    def a(x: Annotated[int, Result(step="c")], y: Annotated[int, Result(step="start")]) -> int:
        return x

    @wf.job()
    def b(x: Annotated[int, Result(step="a")]) -> int:
        return x

    @wf.job()
    def c(x: Annotated[int, Result(step="b")]) -> int:
        return x

    with pytest.raises(CycleError) as info:
        wf.validate()
    assert set(info.value.cycle) == {"a", "b", "c"}
    assert info.value.cycle[0] == info.value.cycle[-1]
    assert "start" not in str(info.value)
    assert " -> " in str(info.value)


def test_self_dependency_is_a_cycle() -> None:
    wf = Workflow("self")

    @wf.job(after=["me"])
    def me() -> None: ...

    with pytest.raises(CycleError, match="me -> me"):
        wf.validate()


def test_fan_out_over_a_non_list_suggests_broadcast_or_a_list() -> None:
    wf = Workflow("w")

    @wf.job()
    def load() -> str:
        return ""

    @wf.job(array=True)
    def use(text: Annotated[str, Result(step="load")]) -> str:
        return text

    with pytest.raises(WorkflowDefinitionError) as info:
        wf.validate()
    msg = str(info.value)
    assert "'use'" in msg and "'text'" in msg and "'load' (str)" in msg
    assert "returns a list" in msg


def test_fan_out_over_a_non_list_of_another_type_suggests_broadcast() -> None:
    wf = Workflow("w")

    @wf.job()
    def load() -> dict:  # type: ignore[type-arg]
        return {}

    @wf.job(array=True)
    def use(text: Annotated[str, Result(step="load")]) -> str:
        return text

    with pytest.raises(WiringError) as info:
        wf.validate()
    msg = str(info.value)
    assert "'use'" in msg and "'text'" in msg
    assert "list[str]" in msg and "broadcast=True" in msg


def test_singleton_receiving_a_list_suggests_array_true() -> None:
    wf = Workflow("w")

    @wf.job()
    def files() -> list[str]:
        return []

    @wf.job()
    def one(path: Annotated[str, Result(step="files")]) -> str:
        return path

    with pytest.raises(WiringError, match=r"'one' parameter 'path'.*array=True"):
        wf.validate()


def test_gather_into_a_non_list_suggests_list() -> None:
    wf = Workflow("w")

    @wf.job()
    def files() -> list[str]:
        return []

    @wf.job(array=True)
    def each(path: Annotated[str, Result(step="files")]) -> int:
        return 1

    @wf.job()
    def total(n: Annotated[int, Result(step="each")]) -> int:
        return n

    with pytest.raises(WiringError, match=r"'total' parameter 'n'.*list\[int\]"):
        wf.validate()


def test_wrong_element_type_is_named() -> None:
    wf = Workflow("w")

    @wf.job()
    def nums() -> list[int]:
        return []

    @wf.job(array=True)
    def each(path: Annotated[str, Result(step="nums")]) -> int:
        return 1

    with pytest.raises(
        WiringError, match=r"'each' parameter 'path' \(str\).*Annotate 'path' as int"
    ):
        wf.validate()


def test_broadcast_of_an_array_is_refused() -> None:
    wf = Workflow("w")

    @wf.job()
    def files() -> list[str]:
        return []

    @wf.job(array=True)
    def each(p: Annotated[str, Result(step="files")]) -> str:
        return p

    @wf.job(array=True)
    def again(
        p: Annotated[str, Result(step="files")],
        q: Annotated[str, Result(step="each", broadcast=True)],
    ) -> str:
        return p

    with pytest.raises(WiringError, match=r"'again' parameter 'q'.*cannot broadcast"):
        wf.validate()


def test_array_task_without_result_is_refused() -> None:
    wf = Workflow("w")

    @wf.job(array=True)
    def lonely(n: int = 3) -> int:
        return n

    with pytest.raises(WorkflowDefinitionError, match=r"'lonely' is an array task.*no Result"):
        wf.validate()


def test_array_task_with_only_broadcast_inputs_is_refused() -> None:
    wf = Workflow("w")

    @wf.job()
    def cfg() -> dict:  # type: ignore[type-arg]
        return {}

    @wf.job(array=True)
    def lonely(c: Annotated[dict, Result(step="cfg", broadcast=True)]) -> int:  # type: ignore[type-arg]
        return 1

    with pytest.raises(WorkflowDefinitionError, match=r"'lonely'.*all broadcast"):
        wf.validate()


@pytest.mark.parametrize("name", ["run_dir", "store_path", "force", "force_tasks", "executor"])
def test_parameter_clashing_with_cli_options_is_refused_at_registration(name: str) -> None:
    wf = Workflow("w")
    namespace: dict[str, object] = {}
    exec(f"def task({name}: str = 'x') -> None: ...", namespace)
    with pytest.raises(WorkflowDefinitionError) as info:
        wf.job(name="task")(namespace["task"])  # type: ignore[type-var]
    flag = "--" + name.replace("_", "-")
    assert f"parameter {name!r}" in str(info.value) and flag in str(info.value)
    assert "task" not in wf.tasks


def test_run_dir_typed_as_rundir_is_fine() -> None:
    wf = Workflow("w")

    @wf.job()
    def task(run_dir: RunDir = RunDir()) -> None: ...

    wf.validate()


def test_unresolvable_annotation_is_an_error_not_a_flag() -> None:
    wf = Workflow("w")
    namespace: dict[str, object] = {}
    exec("def task(x: 'Missing' = 1) -> int: ...", namespace)
    wf.job(name="task")(namespace["task"])  # type: ignore[type-var]
    with pytest.raises(AnnotationError) as info:
        wf.validate()
    msg = str(info.value)
    assert "'task'" in msg and "'x'" in msg and "Missing" in msg


def test_forward_reference_resolves_once_defined() -> None:
    namespace: dict[str, object] = {"Annotated": Annotated, "Result": Result}
    exec(
        "def late(x: 'Later') -> 'list[Later]': ...\n",
        namespace,
    )
    wf = Workflow("w")
    wf.job(name="late")(namespace["late"])  # type: ignore[type-var]
    assert not wf.tasks["late"].resolved
    exec("class Later(str): pass", namespace)
    with pytest.raises(AnnotationError, match="cannot be given on the command line"):
        # resolves now; a custom class still cannot be a flag, and says so
        wf.validate()
    assert wf.tasks["late"].resolved


def test_unsupported_cli_type_names_the_parameter() -> None:
    wf = Workflow("w")

    @wf.job()
    def task(b: Blob) -> None: ...

    with pytest.raises(AnnotationError, match=r"'task' parameter 'b' has type .*Blob"):
        wf.validate()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"cpus": 0}, "cpus=0"),
        ({"time": "2x"}, "time='2x'"),
        ({"time": 3600}, "time=3600"),
        ({"mem": "lots"}, "mem='lots'"),
        ({"array_parallelism": 0, "array": True}, "array_parallelism=0"),
        ({"array_parallelism": 2}, "only to array tasks"),
        ({"version": ""}, "version=''"),
    ],
)
def test_bad_resources_are_refused_with_the_task_name(
    kwargs: dict[str, object], fragment: str
) -> None:
    wf = Workflow("w")

    def heavy() -> None: ...

    with pytest.raises(WorkflowDefinitionError) as info:
        wf.job(**kwargs)(heavy)  # type: ignore[arg-type]
    assert "Task 'heavy'" in str(info.value)
    assert fragment in str(info.value)
    assert "heavy" not in wf.tasks


def test_duplicate_task_name_and_bad_names() -> None:
    wf = Workflow("w")

    @wf.job()
    def a() -> None: ...

    with pytest.raises(WorkflowDefinitionError, match="'a' is already registered"):
        wf.job(name="a")(a)
    with pytest.raises(WorkflowDefinitionError, match="Task name 'bad name'"):
        wf.job(name="bad name")(a)


def test_decorator_without_parentheses_explains() -> None:
    wf = Workflow("w")
    with pytest.raises(WorkflowDefinitionError, match=r"needs parentheses.*@wf.job\(\)"):

        @wf.job  # type: ignore[arg-type]
        def a() -> None: ...


def test_var_args_are_refused() -> None:
    wf = Workflow("w")
    with pytest.raises(WorkflowDefinitionError, match=r"'a' parameter 'rest'.*\*args"):

        @wf.job()
        def a(*rest: int) -> None: ...


def test_mixed_steps_are_refused() -> None:
    wf = Workflow("w")

    @wf.job()
    def items() -> list[str]:
        return []

    @wf.job(array=True)
    def each(x: Annotated[str, Result(step="items")]) -> str:
        return x

    @wf.job()
    def one() -> str:
        return ""

    @wf.job(array=True)
    def mixed(x: Annotated[str, Result(steps=["each", "one"])]) -> str:
        return x

    with pytest.raises(WiringError, match=r"'mixed' parameter 'x' combines"):
        wf.validate()

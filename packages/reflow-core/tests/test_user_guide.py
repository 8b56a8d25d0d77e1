"""The user guide's examples: each defines a workflow, validates it, and checks the
inferred wiring and the generated command-line flags."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest

from reflow import Flow, Param, Result, RunDir, WireMode, Workflow
from reflow.cli.script.parser import build_parameter_parser


def modes(wf: Workflow, task: str, param: str) -> list[WireMode]:
    return list(wf.wiring()[task][param].modes)


def flags(wf: Workflow) -> dict[str, str]:
    return {rp.cli_flag(): rp.task_name for rp in wf.cli_params()}


def test_task_resources_are_recorded() -> None:
    wf = Workflow("res")

    @wf.job()
    def cleanup() -> None: ...

    @wf.job(
        cpus=4,
        time="02:00:00",
        mem="16G",
        array=True,
        array_parallelism=10,
        cache=True,
        version="2",
        after=["cleanup"],
        partition="gpu",
    )
    def process(item: Annotated[str, Result(step="prepare")]) -> str:
        return item

    @wf.job()
    def prepare() -> list[str]:
        return []

    wf.validate()
    cfg = wf.tasks["process"].config
    assert (cfg.cpus, cfg.time, cfg.mem, cfg.array, cfg.array_parallelism) == (
        4,
        "02:00:00",
        "16G",
        True,
        10,
    )
    assert cfg.version == "2" and cfg.after == ["cleanup"]
    assert cfg.submit_options == {"partition": "gpu"}
    assert wf.tasks["process"].dependencies == ["prepare", "cleanup"]
    assert wf._topological_order().index("process") > wf._topological_order().index("cleanup")


def test_plain_and_annotated_parameters_become_flags() -> None:
    wf = Workflow("ingest")

    @wf.job()
    def ingest(
        source: Annotated[str, Param(help="Input file", short="-s")],
        limit: Annotated[int, Param(help="Max rows")] = 100,
        run_dir: RunDir = RunDir(),
    ) -> str:
        return source

    assert flags(wf) == {"--source": "ingest", "--limit": "ingest"}
    parser = build_parameter_parser(wf)
    ns = parser.parse_args(["-s", "data.csv"])
    assert (ns.source, ns.limit) == ("data.csv", 100)
    assert parser.parse_args(["--source", "x", "--limit", "7"]).limit == 7
    help_text = parser.format_help()
    assert "Input file (required)" in help_text
    assert "Max rows (default: 100)" in help_text
    assert "--run-dir" not in help_text
    assert wf.tasks["ingest"].run_dir_params == ("run_dir",)


def test_local_namespacing_gives_each_task_its_own_flag() -> None:
    wf = Workflow("ns")

    @wf.job()
    def step_a(chunk: Annotated[int, Param(namespace="local")] = 256) -> str:
        return ""

    @wf.job()
    def step_b(chunk: Annotated[int, Param(namespace="local")] = 512) -> str:
        return ""

    assert flags(wf) == {"--step-a-chunk": "step_a", "--step-b-chunk": "step_b"}
    ns = build_parameter_parser(wf).parse_args(["--step-b-chunk", "1"])
    assert (ns.step_a_chunk, ns.step_b_chunk) == (256, 1)


def test_literal_choices() -> None:
    wf = Workflow("train")

    @wf.job()
    def train(backend: Annotated[Literal["cpu", "gpu", "tpu"], Param(help="Device")]) -> str:
        return backend

    parser = build_parameter_parser(wf)
    assert parser.parse_args(["--backend", "gpu"]).backend == "gpu"
    with pytest.raises(SystemExit):
        parser.parse_args(["--backend", "fpga"])
    assert wf.describe()["cli_params"][0]["choices"] == ["cpu", "gpu", "tpu"]


def test_direct_wiring() -> None:
    wf = Workflow("direct")

    @wf.job()
    def step_a() -> str:
        return "hello"

    @wf.job()
    def step_b(msg: Annotated[str, Result(step="step_a")]) -> str:
        return msg.upper()

    assert modes(wf, "step_b", "msg") == [WireMode.DIRECT]
    assert flags(wf) == {}


def fan_out_gather() -> Workflow:
    wf = Workflow("fan")

    @wf.job()
    def find_files() -> list[str]:
        return ["a.txt", "b.txt", "c.txt"]

    @wf.job(array=True)
    def process(path: Annotated[str, Result(step="find_files")]) -> str:
        return path.upper()

    @wf.job()
    def report(results: Annotated[list[str], Result(step="process")]) -> str:
        return f"processed {len(results)} files"

    return wf


def test_fan_out_and_gather() -> None:
    wf = fan_out_gather()
    assert modes(wf, "process", "path") == [WireMode.FAN_OUT]
    assert modes(wf, "report", "results") == [WireMode.GATHER]
    assert wf._topological_order() == ["find_files", "process", "report"]


def test_chain_and_chain_of_lists() -> None:
    wf = Workflow("chain")

    @wf.job()
    def find_files() -> list[str]:
        return []

    @wf.job(array=True)
    def step_1(item: Annotated[str, Result(step="find_files")]) -> str:
        return item.lower()

    @wf.job(array=True)
    def step_2(item: Annotated[str, Result(step="step_1")]) -> str:
        return item.strip()

    @wf.job(array=True)
    def split(item: Annotated[str, Result(step="step_2")]) -> list[str]:
        return item.split()

    @wf.job(array=True)
    def count(words: Annotated[list[str], Result(step="split")]) -> int:
        return len(words)

    @wf.job(array=True)
    def each_word(word: Annotated[str, Result(step="split")]) -> str:
        return word

    assert modes(wf, "step_2", "item") == [WireMode.CHAIN]
    assert modes(wf, "count", "words") == [WireMode.CHAIN]
    assert modes(wf, "each_word", "word") == [WireMode.CHAIN_FLATTEN]


def test_gather_of_lists_flattens() -> None:
    wf = Workflow("flat")

    @wf.job()
    def seeds() -> list[int]:
        return [1, 2]

    @wf.job(array=True)
    def expand(seed: Annotated[int, Result(step="seeds")]) -> list[str]:
        return [str(seed)] * seed

    @wf.job()
    def flat(items: Annotated[list[str], Result(step="expand")]) -> int:
        return len(items)

    @wf.job()
    def nested(items: Annotated[list[list[str]], Result(step="expand")]) -> int:
        return len(items)

    assert modes(wf, "flat", "items") == [WireMode.GATHER_FLATTEN]
    assert modes(wf, "nested", "items") == [WireMode.GATHER]


def test_broadcast_explicit_and_inferred() -> None:
    wf = Workflow("bc")

    @wf.job()
    def load_config() -> dict:  # type: ignore[type-arg]
        return {"threshold": 0.5}

    @wf.job()
    def find_images() -> list[str]:
        return ["x.png"]

    @wf.job()
    def all_labels() -> list[str]:
        return ["cat", "dog"]

    @wf.job(array=True)
    def classify(
        image: Annotated[str, Result(step="find_images")],
        labels: Annotated[list[str], Result(step="all_labels")],
        config: Annotated[dict, Result(step="load_config", broadcast=True)],  # type: ignore[type-arg]
    ) -> str:
        return image

    assert modes(wf, "classify", "image") == [WireMode.FAN_OUT]
    assert modes(wf, "classify", "labels") == [WireMode.BROADCAST]
    assert modes(wf, "classify", "config") == [WireMode.BROADCAST]
    assert wf.wiring()["classify"]["config"].broadcast is True


def test_steps_concatenate_several_upstreams() -> None:
    wf = Workflow("multi")

    @wf.job()
    def source_a() -> list[str]:
        return ["a"]

    @wf.job()
    def source_b() -> list[str]:
        return ["b"]

    @wf.job(array=True)
    def process(item: Annotated[str, Result(steps=["source_a", "source_b"])]) -> str:
        return item

    @wf.job()
    def together(items: Annotated[list[str], Result(steps=["source_a", "source_b"])]) -> int:
        return len(items)

    w = wf.wiring()["process"]["item"]
    assert w.steps == ("source_a", "source_b")
    assert list(w.modes) == [WireMode.FAN_OUT, WireMode.FAN_OUT]
    assert modes(wf, "together", "items") == [WireMode.DIRECT, WireMode.DIRECT]
    assert wf.tasks["process"].dependencies == ["source_a", "source_b"]


def test_ordering_without_data() -> None:
    wf = Workflow("order")

    @wf.job(after=["step_a"])
    def step_b() -> None: ...

    @wf.job()
    def step_a() -> None: ...

    assert wf._topological_order() == ["step_a", "step_b"]
    assert wf.describe()["tasks"][1]["dependencies"] == ["step_a"]


def test_flow_reuse_with_prefix_rewrites_references() -> None:
    ingestion = Flow("ingest")

    @ingestion.job()
    def download(url: str = "http://example.invalid") -> list[str]:
        return ["file_1", "file_2"]

    @ingestion.job(array=True, after=["download"])
    def validate(item: Annotated[str, Result(step="download")]) -> str:
        return item

    wf = Workflow("pipeline")
    wf.include(ingestion, prefix="raw")
    wf.include(ingestion, prefix="ref")

    @wf.job()
    def merge(
        raw: Annotated[list[str], Result(step="raw_validate")],
        ref: Annotated[list[str], Result(step="ref_validate")],
    ) -> int:
        return len(raw) + len(ref)

    assert list(wf.tasks)[:4] == ["raw_download", "raw_validate", "ref_download", "ref_validate"]
    assert wf.tasks["raw_validate"].result_deps["item"].steps == ["raw_download"]
    assert wf.tasks["ref_validate"].config.after == ["ref_download"]
    assert modes(wf, "raw_validate", "item") == [WireMode.FAN_OUT]
    assert modes(wf, "merge", "ref") == [WireMode.GATHER]
    # the flow itself is untouched and still usable elsewhere
    assert ingestion.tasks["validate"].result_deps["item"].steps == ["download"]
    # a shared global parameter across both copies is one flag
    assert flags(wf) == {"--url": "raw_download"}


def test_include_twice_without_prefix_is_an_error() -> None:
    flow = Flow("f")

    @flow.job()
    def a() -> None: ...

    wf = Workflow("w")
    wf.include(flow)
    with pytest.raises(ValueError, match=r"task 'a' already exists.*prefix"):
        wf.include(flow)

"""The user guide's pipeline: list inputs, process each in an array job, gather a report.

Run ``python examples/pipeline.py --help`` to see the command line reflow
generates from the task signatures, and ``python examples/pipeline.py describe``
to see the tasks, their wiring and their parameters.
"""

from __future__ import annotations

from typing import Annotated, Literal

from reflow import Param, Result, RunDir, Workflow

wf = Workflow("example")


@wf.job(cpus=1, time="00:05:00", mem="1G")
def find_inputs(
    count: Annotated[int, Param(help="How many inputs to make", short="-n")] = 5,
) -> list[str]:
    """Name the inputs to process."""
    return [f"sample_{i:03d}" for i in range(count)]


@wf.job()
def load_settings(
    method: Annotated[Literal["upper", "title"], Param(help="How to transform names")] = "upper",
) -> dict[str, str]:
    """Settings every array element needs in full."""
    return {"method": method}


@wf.job(array=True, array_parallelism=4, cpus=1, time="00:10:00", mem="2G")
def process(
    name: Annotated[str, Result(step="find_inputs")],
    settings: Annotated[dict[str, str], Result(step="load_settings", broadcast=True)],
    run_dir: RunDir = RunDir(),
) -> str:
    """Transform one input (one array element per input)."""
    out = name.upper() if settings["method"] == "upper" else name.title()
    (run_dir / f"{name}.txt").write_text(out + "\n")
    return out


@wf.job(report=True)
def report(outputs: Annotated[list[str], Result(step="process")]) -> str:
    """Gather every element's output into one line."""
    return f"{len(outputs)} processed: {', '.join(outputs)}"


if __name__ == "__main__":
    raise SystemExit(wf.cli())

"""``Workflow.include(flow, prefix=)`` keeps every job option of the flow's tasks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from reflow import Flow, Workflow


def test_included_task_keeps_every_job_option() -> None:
    flow = Flow("ingest")

    @flow.job(cpus=3, mem="2G", time="01:00:00", version="7", cache_inputs="content")
    def load(src: Path) -> int:
        return len(src.read_bytes())

    wf = Workflow("lab")
    wf.include(flow, prefix="raw")
    original = flow.tasks["load"].config
    included = wf.tasks["raw_load"].config
    # The content policy decides the cache identity: losing it in include() made an included
    # task count its input files by stat instead of content.
    assert included.cache_inputs == "content"
    for f in dataclasses.fields(original):
        assert getattr(included, f.name) == getattr(original, f.name), f.name
    # The copy is the included task's own: renaming never aliases the flow's lists.
    assert included.submit_options is not original.submit_options

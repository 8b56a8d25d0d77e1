"""Small workflows that tests of the store and the cache share.

:func:`three_steps` is a singleton, a whole array (copied in one step when it
is cached) and a join: every way a run's results are recorded, looked up and
served from the cache, in five instances.  Its outputs are known:
``inputs`` gives ``["s0", "s1", "s2"]``, ``upper`` the same upper-cased and
``join`` ``"S0,S1,S2"``.
"""

from __future__ import annotations

from typing import Annotated

from reflow import Result, Workflow

__all__ = ["THREE_STEPS_JOINED", "three_steps"]

THREE_STEPS_JOINED = "S0,S1,S2"
"""The output of :func:`three_steps`'s ``join`` (with the default ``count=3``)."""


def three_steps(workflow_name: str) -> Workflow:
    """A new workflow ``workflow_name``: ``inputs`` -> the array ``upper`` -> ``join``.

    Parameters
    ----------
    workflow_name : str
        The workflow's name (runs of equal names and parameters share the cache).

    Returns
    -------
    Workflow
        The workflow, five instances a run.
    """
    wf = Workflow(workflow_name)

    @wf.job()
    def inputs(count: int = 3) -> list[str]:
        return [f"s{i}" for i in range(count)]

    @wf.job(array=True)
    def upper(name: Annotated[str, Result(step="inputs")]) -> str:
        return name.upper()

    @wf.job()
    def join(names: Annotated[list[str], Result(step="upper")]) -> str:
        return ",".join(names)

    return wf

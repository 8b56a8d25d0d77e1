"""Test suites that reflow plugins run against themselves.

Each module holds a conformance suite: a pytest base class with
``__test__ = False`` that a plugin's own tests subclass, set ``__test__ = True``
on, and complete with a factory method.  An out-of-tree plugin runs exactly the
tests reflow's own plugins pass.

- :mod:`reflow.testing.store`: :class:`~reflow.testing.store.StoreConformance`
  for manifest stores (``reflow.stores`` entry points).
- :mod:`reflow.testing.pipeline`: the user guide's pipeline, run on any executor.
- :mod:`reflow.testing.scripts`: :func:`~reflow.testing.scripts.load_script`, a
  workflow script written by a test and imported as jobs import it, and
  :func:`~reflow.testing.scripts.load_template` for a script naming its workflow.
- :mod:`reflow.testing.localjobs`: the jobs the local executor was given, read
  back in submission order (names, specs, count).
- :mod:`reflow.testing.calls`: :class:`~reflow.testing.calls.CallLog`, a list
  that tasks append to from ``run_local``'s worker processes.

Fake PBS Pro, LSF and Flux commands to run these suites against live in their
own distribution, ``reflow-fake-schedulers`` (:mod:`reflow_fake_schedulers`),
so the reflow-core wheel does not ship them.

This package imports nothing on import; the suites import pytest, so import
them only from tests.
"""

from __future__ import annotations

__all__: list[str] = []

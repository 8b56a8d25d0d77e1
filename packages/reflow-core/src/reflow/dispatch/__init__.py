"""Command-line compatibility for jobs queued by reflow-core 0.x before the layers re-cut.

Jobs already waiting in a scheduler's queue run ``python -m reflow.dispatch.dispatcher``
and ``python -m reflow.dispatch.worker``: these two modules keep those command lines
working for one release.  The code lives in :mod:`reflow.engine.scheduler`.
"""

"""Scheduler-mode execution: submit, dispatcher waves, workers and their files.

A submitted run advances through short dispatcher jobs.  Each wave ingests
the result files workers wrote, reconciles the store with one batched
executor query, plans and submits every runnable task (one array job per
array task), and chains the next dispatcher after this wave's jobs.  Workers
never open the store: they read an inputs file and write a result file in
the run directory (see :mod:`reflow.runs.files`).
"""

from __future__ import annotations

__all__: list[str] = []

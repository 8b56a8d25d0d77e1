"""What the executor remembers of its jobs between processes: submit times and deletions.

Grid Engine's accounting cannot tell a job deleted with ``qdel`` from one
that killed itself (both read ``failed 100``, exit status 137), and a job
deleted while it waited leaves no record at all; and ``qacct`` reads the
whole accounting file unless told from when on.  So the executor keeps, per
job it submitted, one small JSON file in its state directory:
``{"submitted": <epoch seconds>, "cancelled": ["*" | task, ...]}``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["JobBook"]

logger = logging.getLogger(__name__)

WHOLE = "*"
"""Marks a job deleted as a whole (all its tasks)."""


class JobBook:
    """The submit times and deletions of an executor's jobs, one file per job id.

    Parameters
    ----------
    directory : Path
        Where the files live; created (mode 0700) on the first write.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[str, dict[str, Any]] = {}

    def _path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.json"

    def _load(self, job_id: str) -> dict[str, Any]:
        if job_id not in self._cache:
            try:
                data = json.loads(self._path(job_id).read_text(encoding="utf-8"))
                self._cache[job_id] = data if isinstance(data, dict) else {}
            except FileNotFoundError:
                self._cache[job_id] = {}
            except (OSError, ValueError) as exc:
                path = self._path(job_id)
                logger.warning("Ignoring the unreadable job record %s: %s", path, exc)
                self._cache[job_id] = {}
        return self._cache[job_id]

    def _save(self, job_id: str, data: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(job_id)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)
        self._cache[job_id] = data

    def submitted(self, job_id: str, when: float | None = None) -> None:
        """Record a new job (replacing the record of an earlier job with the same id)."""
        try:
            self._save(job_id, {"submitted": time.time() if when is None else when})
        except OSError as exc:
            logger.warning("Cannot record job %s in %s: %s", job_id, self.directory, exc)

    def submit_time(self, job_id: str) -> float | None:
        """When the job was submitted, or ``None`` if it is not recorded."""
        value = self._load(job_id).get("submitted")
        return float(value) if isinstance(value, int | float) else None

    def cancelled(self, natives: Iterable[str]) -> None:
        """Record that reflow deleted these jobs (``123``) or tasks (``123.4``)."""
        by_job: dict[str, set[str]] = {}
        for native in natives:
            job_id, _, task = native.partition(".")
            by_job.setdefault(job_id, set()).add(task or WHOLE)
        for job_id, tasks in by_job.items():
            data = dict(self._load(job_id))
            data["cancelled"] = sorted(set(data.get("cancelled", [])) | tasks)
            try:
                self._save(job_id, data)
            except OSError as exc:
                logger.warning("Cannot record the deletion of job %s: %s", job_id, exc)

    def was_cancelled(self, job_id: str, task: int | None = None) -> bool:
        """Whether reflow deleted the job, or the given task of it."""
        marks = self._load(job_id).get("cancelled", [])
        return WHOLE in marks or (task is not None and str(task) in marks)

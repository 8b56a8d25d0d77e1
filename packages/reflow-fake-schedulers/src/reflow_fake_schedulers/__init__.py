"""Fakes of the PBS Pro, LSF and Flux commands, for testing executors without a cluster.

:class:`FakeScheduler` writes small executables (``qsub``/``qstat``/``qdel``,
``bsub``/``bjobs``/``bkill``, ``flux``) into a directory and starts one local
runner that really runs the submitted jobs as background processes: arrays,
throttles, dependencies, walltime kills, cancels and a slot limit.  The commands
accept the grammar the real tools document and answer in their output formats;
they refuse what the real tools refuse::

    from reflow_fake_schedulers import FakeScheduler

    with FakeScheduler.start("pbs", state_dir=tmp_path / "fake") as fake:
        fake.apply(monkeypatch)          # PATH and REFLOW_FAKE_SCHEDULER_DIR
        job_id = subprocess.run(["qsub", "job.sh"], ...).stdout.strip()

See ``docs/fake-schedulers.md`` for what each flavour accepts and its limits.
"""

from __future__ import annotations

from reflow_fake_schedulers.fake import FLAVOURS, FakeScheduler, FakeSchedulerError

__all__ = ["FLAVOURS", "FakeScheduler", "FakeSchedulerError"]

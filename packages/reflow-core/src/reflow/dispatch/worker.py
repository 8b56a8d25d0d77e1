"""``python -m reflow.dispatch.worker``: the worker command line of jobs queued before 0.4.

Remove after one release: new jobs run ``python -m reflow.job work <run.json> <task>``
(:mod:`reflow.job`).
"""

from __future__ import annotations

from reflow.engine.scheduler.worker import main

if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m reflow.dispatch.dispatcher``: the dispatcher command line of jobs queued before 0.4.

Remove after one release: new jobs run ``python -m reflow.job dispatch <run.json>``
(:mod:`reflow.job`).
"""

from __future__ import annotations

from reflow.engine.scheduler.dispatcher import main

if __name__ == "__main__":
    raise SystemExit(main())

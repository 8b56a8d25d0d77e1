"""``python -m reflow.dispatch.dispatcher``: the dispatcher command line of jobs queued before 0.4.

Remove after one release: new jobs name :mod:`reflow.engine.scheduler.dispatcher`.
"""

from __future__ import annotations

from reflow.engine.scheduler.dispatcher import main

if __name__ == "__main__":
    raise SystemExit(main())

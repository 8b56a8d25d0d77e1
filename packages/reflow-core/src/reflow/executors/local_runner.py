"""``python -m reflow.executors.local_runner``: local jobs queued before 0.4.

Remove after one release: new supervisors run ``python -m reflow.job local-job <job dir>``
(:mod:`reflow.job`).
"""

from __future__ import annotations

from reflow.executors.local.runner import main

if __name__ == "__main__":
    raise SystemExit(main())

"""Run the ``reflow`` command as ``python -m reflow``."""

from __future__ import annotations

from reflow.cli.main import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())

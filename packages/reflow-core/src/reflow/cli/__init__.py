"""Command-line interfaces: the `reflow` command and the generated workflow CLI."""

from __future__ import annotations

__all__: list[str] = []

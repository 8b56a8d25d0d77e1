"""The report's Content-Security-Policy: the page makes no request at all."""

from __future__ import annotations

__all__ = ["CSP"]

CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "frame-src 'self' about:; form-action 'none'; base-uri 'none'"
)
"""Inline style and ``data:`` images, no request at all: the page's, and each embedded
HTML result's own (a browser may not pass the page's on to a sandboxed ``srcdoc`` frame)."""

"""How the ``reflow`` command prints: rich tables and colour on a terminal, plain text when piped.

A command builds a :class:`Document` (lines and :class:`Table` objects) and
hands it to :class:`Printer`.  On a terminal the printer renders it with
`rich <https://rich.readthedocs.io>`_ (imported only then, so scripts that
pipe the output never pay for it); otherwise it writes aligned plain text
without a single escape code.  ``--json`` output goes through
:meth:`Printer.json`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

__all__ = [
    "STATE_STYLES",
    "Cell",
    "Document",
    "Line",
    "Printer",
    "Table",
    "format_size",
    "state_cell",
]

STATE_STYLES: dict[str, str] = {
    "SUCCESS": "green",
    "FAILED": "bold red",
    "CANCELLED": "magenta",
    "RUNNING": "yellow",
    "SUBMITTED": "cyan",
    "PENDING": "dim",
    "RETRYING": "yellow",
    "SKIPPED": "dim",
    "LOST": "bold red",
}
"""The colour of each task and run state on a terminal."""


@dataclass(frozen=True)
class Cell:
    """One table cell: its text and, on a terminal, its rich style."""

    text: str
    style: str = ""


def state_cell(state: str) -> Cell:
    """A cell holding a state name in its colour."""
    return Cell(state, STATE_STYLES.get(state, ""))


def format_size(size: int) -> str:
    """A size in bytes as people read it: ``1.2 MB``, ``340.0 kB``."""
    return f"{size / 1e6:.1f} MB" if size >= 1_000_000 else f"{size / 1e3:.1f} kB"


@dataclass(frozen=True)
class Line:
    """One line of text (may be empty), styled on a terminal."""

    text: str = ""
    style: str = ""


@dataclass
class Table:
    """Rows under named columns.

    Attributes
    ----------
    columns : Sequence[str]
        Column headings.
    right : frozenset[int]
        Positions of the columns aligned to the right (numbers).
    rows : list[list[Cell]]
        The rows, added with :meth:`add`.
    """

    columns: Sequence[str]
    right: frozenset[int] = frozenset()
    rows: list[list[Cell]] = field(default_factory=list)

    def add(self, *cells: str | Cell) -> None:
        """Append a row; plain strings become unstyled cells."""
        if len(cells) != len(self.columns):
            raise ValueError(f"a row of {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append([c if isinstance(c, Cell) else Cell(c) for c in cells])

    def plain(self) -> list[str]:
        """The table as aligned text lines (headings first), without trailing spaces."""
        grid = [list(self.columns)] + [[" ".join(c.text.split()) for c in r] for r in self.rows]
        widths = [max(len(row[i]) for row in grid) for i in range(len(self.columns))]
        lines = []
        for row in grid:
            cells = [
                text.rjust(width) if i in self.right else text.ljust(width)
                for i, (text, width) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  ".join(cells).rstrip())
        return lines


Document = list[Line | Table]
"""What a command shows: lines and tables, in order."""


def _widths(table: Table) -> list[str]:
    """The longest text of each column (headings included), for measuring."""
    return [
        max([name, *(row[i].text for row in table.rows)], key=len)
        for i, name in enumerate(table.columns)
    ]


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or odd stream
        return False


class Printer:
    """Writes documents to a stream: with rich on a terminal, as plain text otherwise.

    Parameters
    ----------
    stream : IO[str] or None
        Where to write; ``None`` means ``sys.stdout`` at the time of writing.
    rich : bool or None
        Force rich rendering on or off; ``None`` decides by whether the
        stream is a terminal.
    """

    def __init__(self, stream: IO[str] | None = None, *, rich: bool | None = None) -> None:
        self._stream = stream
        self._rich = rich
        self._console: Console | None = None

    @property
    def stream(self) -> IO[str]:
        """The output stream."""
        return self._stream if self._stream is not None else sys.stdout

    @property
    def rich(self) -> bool:
        """Whether output is rendered with rich (a terminal)."""
        return self._rich if self._rich is not None else _is_terminal(self.stream)

    def console(self) -> Console:
        """The rich console writing to :attr:`stream` (rich is imported here)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=False)
        return self._console

    # -- writing -------------------------------------------------------------------------

    def show(self, document: Iterable[Line | Table]) -> None:
        """Print a document."""
        items = list(document)
        if self.rich:
            console = self.console()
            # A table wider than the terminal is printed whole (the terminal wraps
            # its lines) rather than cropped: its ids and counts must stay readable.
            needed = max(
                [sum(len(r) + 3 for r in _widths(t)) + 1 for t in items if isinstance(t, Table)]
                or [0]
            )
            if needed > console.width:
                from rich.console import Console

                console = Console(
                    file=self.stream, highlight=False, width=needed, force_terminal=True
                )
            console.print(self.renderable(items), crop=False)
        else:
            self.stream.write(self.plain(items))
            self.stream.flush()

    def line(self, text: str = "", style: str = "") -> None:
        """Print one line."""
        self.show([Line(text, style)])

    def json(self, data: Any) -> None:
        """Print ``data`` as indented JSON (never coloured, so scripts can parse it)."""
        self.stream.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        self.stream.flush()

    # -- rendering -----------------------------------------------------------------------

    @staticmethod
    def plain(document: Iterable[Line | Table]) -> str:
        """A document as plain text, ending in a newline."""
        lines: list[str] = []
        for item in document:
            lines.extend(item.plain() if isinstance(item, Table) else [item.text])
        return "\n".join(lines) + "\n"

    @staticmethod
    def renderable(document: Iterable[Line | Table]) -> RenderableType:
        """A document as one rich renderable (for printing, or for a live view)."""
        from rich import box
        from rich.console import Group
        from rich.table import Table as RichTable
        from rich.text import Text

        parts: list[RenderableType] = []
        for item in document:
            if isinstance(item, Line):
                parts.append(Text(item.text, style=item.style, no_wrap=False))
                continue
            table = RichTable(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
            last = len(item.columns) - 1
            for i, name in enumerate(item.columns):
                # Ids and counts are never shortened (people copy them); the last
                # column (an error line, a path) wraps instead.
                width = max([len(name), *(len(row[i].text) for row in item.rows)])
                table.add_column(
                    name,
                    justify="right" if i in item.right else "left",
                    no_wrap=i != last,
                    min_width=width if i != last else None,
                )
            for row in item.rows:
                table.add_row(*(Text(c.text, style=c.style) for c in row))
            parts.append(table)
        return Group(*parts)

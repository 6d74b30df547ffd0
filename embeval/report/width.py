"""Tables that are readable at any width.

* stdout is not a terminal (CI logs, ``| tee``, ``| head``): the width comes from ``COLUMNS`` when
  set, else it is wide enough for the content — nothing is ever cut;
* in a terminal narrower than a table: columns that are empty everywhere are dropped, long cells
  wrap (never ``…``), and the key columns (metric names, labels) keep their full width; when even
  that does not fit, the table is printed at the width it needs and the terminal wraps its lines.
"""

from __future__ import annotations

import os
import sys

WIDE = 10_000  # "wide enough": Rich tables do not expand, so they take their content's width


def table_width() -> int | None:
    """The width for tables on stdout: None in a terminal (Rich measures it), else ``COLUMNS`` when
    set, else :data:`WIDE` (see the module docstring)."""
    if sys.stdout.isatty():
        return None
    cols = os.environ.get("COLUMNS", "")
    return int(cols) if cols.isdigit() and int(cols) > 0 else WIDE


def _cell_widths(table, index: int) -> list[int]:
    from rich.text import Text

    col = table.columns[index]
    out = []
    for cell in col.cells:
        text = cell if isinstance(cell, Text) else Text.from_markup(cell) if isinstance(cell, str) else None
        out.append(0 if text is None else max((len(line) for line in text.plain.splitlines()), default=0))
    return out


def fit_table(table, keep: tuple[str, ...] = ("metric",)):
    """Drop all-empty columns, make every column wrap instead of cutting, and give the key columns
    (header in ``keep``, and the first column) their full width. Returns the minimum width the table
    needs so that no key cell is cut."""
    from rich.text import Text

    drop = []
    for i, col in enumerate(table.columns):
        cells = list(col.cells)
        if cells and all((c.plain if isinstance(c, Text) else str(c)).strip() == "" for c in cells):
            drop.append(i)
    for i in reversed(drop):
        del table.columns[i]
    need = 1
    for i, col in enumerate(table.columns):
        widths = _cell_widths(table, i)
        header = len(Text.from_markup(col.header).plain) if isinstance(col.header, str) else 4
        if i == 0 or str(col.header) in keep:
            col.no_wrap = True
            col.min_width = max([*widths, header])
            need += col.min_width + 3
        else:
            col.overflow = "fold"
            words = [len(w) for c in col.cells for w in (c.plain if isinstance(c, Text) else str(c)).split()]
            need += min(max([*words, header, 4]), 12) + 3
    return need


def print_fitted(console, table, keep: tuple[str, ...] = ("metric",)) -> None:
    """Print ``table`` so that nothing is cut (see :func:`fit_table`)."""
    need = fit_table(table, keep)
    console.print(table, width=max(console.width, need) if need > console.width else None)


# Tables whose cells must stay whole (numbers, metric names): the compare tables ------------------


def text_width(text: str) -> int:
    """The widest line of ``text`` (plain, no markup), in terminal cells."""
    from rich.cells import cell_len

    return max((cell_len(line) for line in str(text).splitlines()), default=0)


def word_width(text: str) -> int:
    """The widest word of ``text``: the narrowest a column may get when it wraps at spaces."""
    from rich.cells import cell_len

    return max((cell_len(w) for w in str(text).split()), default=0)


def table_need(widths: list[int]) -> int:
    """Width of a boxed Rich table whose columns have these content widths (1 cell of padding on
    each side, one rule between columns and at both edges)."""
    return sum(widths) + 3 * len(widths) + 1


def available(console) -> int:
    """The width a table may take on ``console`` (its width: the terminal's, ``COLUMNS`` off a
    terminal, or :data:`WIDE`)."""
    return int(console.width)


def chunks(key: int, widths: list[int], avail: int) -> list[list[int]]:
    """Split columns (content widths ``widths``, after a key column of width ``key``) into runs that
    each fit ``avail`` with the key column repeated; a column too wide even alone gets a run of its
    own (that table is printed wider than ``avail`` rather than cut)."""
    out: list[list[int]] = []
    cur: list[int] = []
    for i, w in enumerate(widths):
        if cur and table_need([key, *(widths[j] for j in cur), w]) > avail:
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


def print_whole(console, table, need: int) -> None:
    """Print ``table`` at least ``need`` wide, so that Rich never narrows a column below the width
    its cells were measured to need (a table wider than the terminal wraps at the terminal, but no
    number or name is split by Rich)."""
    console.print(table, width=max(console.width, need) if need > console.width else None)

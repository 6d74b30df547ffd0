"""Untrusted text made inert wherever it goes: spreadsheets (CSV formula injection), terminals and CI
logs (control characters), Markdown (table pipes, raw HTML, link syntax), LaTeX (special characters,
blank lines that end a paragraph) and matplotlib (mathtext); and paths as a published report shows
them (never absolute: relative to the working folder, else the file name).

Every id, name, path and text that comes from an input file reaches these sinks only through the
functions here, so a hostile input cannot run a formula, forge a terminal line, break a table or
crash a figure.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

# OWASP "CSV Injection": a cell starting with one of these is a formula in Excel/LibreOffice/Sheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?(?:inf|nan)$", re.IGNORECASE)


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text: a string starting with ``= + - @``, tab or CR
    (or with the escape quote itself) gets a leading ``'``, as OWASP recommends. Numbers, and
    strings that are plain numbers such as ``-0.5``, are left alone. :func:`csv_uncell` undoes it."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    if value.startswith("'") and len(value) > 1 and (value[1] in FORMULA_START or value[1] == "'"):
        return "'" + value  # so that reading back strips exactly one quote
    return value


def csv_uncell(value: str) -> str:
    """Undo :func:`csv_cell` (for files embeval wrote and reads back: ids and texts)."""
    if len(value) > 1 and value[0] == "'" and (value[1] in FORMULA_START or value[1] == "'"):
        return value[1:]
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [csv_cell(v) for v in values]


def csv_frame(frame):
    """A copy of a pandas DataFrame with every text cell passed through :func:`csv_cell`."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype).startswith(("string", "str")):
            out[col] = out[col].map(csv_cell)
    out.columns = [csv_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


# Terminal: C0 controls (except none), DEL, C1 controls, and the Unicode line/paragraph separators
# and bidi overrides that can make a line look like another.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def term(text: Any) -> str:
    """``text`` safe to print on one terminal line: control characters shown as ``\\x1b``,
    ``\\n``, ``\\u202e`` … (as Python's repr writes them); everything else unchanged."""
    s = str(text)
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), s)


def md_cell(text: Any) -> str:
    """A Markdown table cell: HTML escaped (``<script>`` is shown, never run), ``|`` escaped,
    newlines and other control characters made visible, backticks escaped, and ``[`` ``]`` escaped so
    that no link or image (``[x](javascript:alert(1))``, ``![](https://tracker)``) is ever live."""
    s = term(html.escape(str(text), quote=False))
    s = s.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    return s.replace("[", "\\[").replace("]", "\\]")


def md_code(text: Any) -> str:
    """Text for inside a Markdown code span: no backtick can end it, no newline can break it."""
    return term(str(text)).replace("`", "'").replace("|", "\\|")


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "|": r"\textbar{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def tex_cell(text: Any) -> str:
    """Text for a LaTeX table cell or caption, shown literally: whitespace runs (newlines included: a
    blank line would end the paragraph inside ``tabular``) folded to one space, other control
    characters made visible (:func:`term`), and LaTeX's special characters escaped."""
    s = term(" ".join(str(text).split()))
    return "".join(_TEX.get(ch, ch) for ch in s)


def public_path(path: Any) -> str:
    """A path as a published report (a pull-request comment, a Markdown table) shows it: never
    absolute, since an absolute path tells the world a user name and a folder layout. Relative to
    the working folder when the file is under it, else its file name; relative paths and URIs
    unchanged."""
    import os
    from pathlib import Path

    text = str(path)
    if "://" in text or not os.path.isabs(text):
        return text
    try:
        return str(Path(text).relative_to(Path.cwd()))
    except ValueError:
        return Path(text).name or text


def mpl_text(text: Any) -> str:
    """Text that matplotlib shows literally: every ``$`` escaped so mathtext never parses it."""
    return str(text).replace("$", r"\$")


def check_encodable(text: str, path: object, where: str) -> None:
    """Raise InputError naming ``where`` when ``text`` cannot be written as UTF-8 (a lone
    surrogate such as ``"\\ud800"`` from a JSON escape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        from embeval.errors import InputError

        bad = text[exc.start : exc.end].encode("unicode_escape").decode("ascii")
        raise InputError(path, f"text holds {bad}, a lone surrogate that is not valid Unicode", where=where) from None


class _SafeWriter:
    def __init__(self, writer):
        self._w = writer

    def writerow(self, row: Iterable[Any]):
        return self._w.writerow(csv_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]):
        for row in rows:
            self.writerow(row)


def csv_writer(buf, **kwargs) -> _SafeWriter:
    """``csv.writer(buf, lineterminator="\\n", **kwargs)`` whose every cell goes through
    :func:`csv_cell`: the one way embeval writes CSV rows."""
    import csv

    kwargs.setdefault("lineterminator", "\n")
    return _SafeWriter(csv.writer(buf, **kwargs))


def plain_text_figures(fn):
    """Decorator for every function that draws with matplotlib: names from inputs are drawn as
    plain text (``text.parse_math`` off, so ``$\\frac{x$`` is neither parsed nor a crash), and
    matplotlib's per-glyph "Glyph … missing" warnings do not reach the terminal."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import warnings

        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from")
            warnings.filterwarnings("ignore", message=r".*missing from (current )?font")
            return fn(*args, **kwargs)

    return wrapper


def rich_literal(text: Any) -> str:
    """Text for a Rich console shown literally: markup escaped (a path like ``d[/b]x.npy`` is no
    closing tag) and control characters made visible (:func:`term`)."""
    from rich.markup import escape

    return escape(term(text))

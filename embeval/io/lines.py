"""Line-by-line reading of UTF-8 text inputs, with every decoding or JSON problem turned into one
:class:`~embeval.errors.InputError` naming the file and the line.

Lines end at ``\\n`` only (a stray ``\\r`` inside a line stays part of it; ``\\r\\n`` endings are
stripped by the callers that care), so row *i* of a ``.txt`` file is the same row whichever reader
sees it. A UTF-8 byte-order mark at the start of the file is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embeval.errors import InputError


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(lineno, line)`` (1-based; the line keeps its ``\\n``). A byte sequence that is not
    UTF-8 raises ``InputError(path, "not UTF-8 text (byte offset N)", where="line L")`` where N is
    the offset of the first bad byte from the start of the file."""
    offset = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                start = exc.start + (3 if lineno == 1 and raw.startswith(b"\xef\xbb\xbf") else 0)
                raise InputError(path, f"not UTF-8 text (byte offset {offset + start})",
                                 where=f"line {lineno}") from None
            offset += len(raw)
            yield lineno, line


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(lineno, record)`` for each non-blank line of a JSON Lines file. Invalid UTF-8,
    invalid JSON, and a line that is not a JSON object raise InputError naming the line."""
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"invalid JSON: {exc.msg}", where=f"line {lineno}") from None
        except RecursionError:
            raise InputError(path, "invalid JSON: nested too deeply", where=f"line {lineno}") from None
        if not isinstance(rec, dict):
            raise InputError(path, f"expected a JSON object, got {type(rec).__name__}", where=f"line {lineno}")
        yield lineno, rec


def not_utf8_error(path: str | Path) -> InputError:
    """The error for a file a third-party reader (pandas) failed to decode: the file is scanned
    again to name the line and byte offset of the first bad byte (the reader's own position is
    relative to its buffer, not to the file)."""
    try:
        for _ in iter_lines(path):
            pass
    except InputError as exc:
        return exc
    return InputError(path, "not UTF-8 text")


@contextmanager
def table_errors(path: str | Path) -> Iterator[None]:
    """Map whatever pandas/pyarrow raise while reading a table file to one InputError line."""
    import pandas as pd

    p = Path(path)
    try:
        yield
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError(p, "file is empty") from None
    except pd.errors.ParserError as exc:
        raise InputError(p, f"ragged rows or malformed table: {_last_line(exc)}") from None
    except UnicodeDecodeError:
        raise not_utf8_error(p) from None
    except Exception as exc:
        raise InputError(p, f"could not read {p.suffix} file (truncated or corrupt?): {_last_line(exc)}") from None


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__

"""Line-by-line reading of UTF-8 text inputs, with every decoding or JSON problem turned into one
:class:`~embeval.errors.InputError` naming the file and the line.

Lines end at ``\\n`` only (a stray ``\\r`` inside a line stays part of it; ``\\r\\n`` endings are
stripped by the callers that care), so row *i* of a ``.txt`` file is the same row whichever reader
sees it. A UTF-8 byte-order mark at the start of the file is dropped.
"""

from __future__ import annotations

import json
import re
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
                raise InputError(
                    path, f"not UTF-8 text (byte offset {offset + start})", where=f"line {lineno}"
                ) from None
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
        if "\\u" in line and _SURROGATE_ESCAPE.search(line):  # only a \uD800-\uDFFF escape can make one
            _check_strings(rec, path, f"line {lineno}")
        yield lineno, rec


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_strings(value, path, where: str) -> None:
    """Every string in a parsed JSON value must be valid Unicode (no lone surrogate)."""
    from embeval.safety import check_encodable

    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            check_encodable(v, path, where)
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


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


def read_csv(path: str | Path, **kwargs):
    """``pandas.read_csv`` as every loader uses it: a row with more fields than the header is an
    error (pandas would otherwise take the first column as an index, shifting every column, or
    drop the extra field with only a warning)."""
    import warnings

    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        return pd.read_csv(path, index_col=False, **kwargs)


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
    except pd.errors.ParserWarning:
        raise InputError(p, "ragged rows: a row has more fields than the header") from None
    except pd.errors.ParserError as exc:
        raise InputError(p, f"ragged rows or malformed table: {_last_line(exc)}") from None
    except UnicodeDecodeError:
        raise not_utf8_error(p) from None
    except Exception as exc:
        raise InputError(p, f"could not read {p.suffix} file (truncated or corrupt?): {_last_line(exc)}") from None


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__

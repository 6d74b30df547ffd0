"""Ids are strings, exactly as written.

Every loader hands its raw id values to :func:`clean_ids`: text stays as it is (``000`` stays
``000``), integers become their decimal text, and a missing id (None, NaN, an empty cell, or one
of the usual missing-value words ``NA``, ``N/A``, ``NaN``, ``null``, ``None``) is an error naming
the row, as is a value that is not a scalar, a boolean, or text that is not valid Unicode.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from embeval.errors import InputError
from embeval.safety import check_encodable

MISSING_WORDS = frozenset({"", "na", "n/a", "nan", "null", "none", "<na>", "#n/a"})


def clean_ids(values, path: object, where: Callable[[int], str] | None = None) -> np.ndarray:
    """A length-n str array of ids; InputError naming the row for a missing or unusable id."""
    where = where or (lambda row: f"row {row}")
    arr = values if isinstance(values, np.ndarray) else None
    if arr is not None:
        if arr.ndim != 1:
            raise InputError(path, f"the id array must be 1-D (one id per row), got shape {arr.shape}")
        if arr.dtype.kind in "US":
            out = arr.astype(str)
            _check_text_ids(out, path, where)
            return out
        if arr.dtype.kind in "iu":
            return arr.astype(str)
        values = arr.tolist()
    out = np.empty(len(values), dtype=object)
    for row, v in enumerate(values):
        out[row] = _one(v, path, where, row)
    return out.astype(str) if len(out) else np.empty(0, dtype=str)


def _check_text_ids(ids: np.ndarray, path, where) -> None:
    for row, s in enumerate(ids.tolist()):
        if s.strip().lower() in MISSING_WORDS:
            raise InputError(path, f"missing id ({s!r})", where=where(row))


def _one(v, path, where, row) -> str:
    if v is None:
        raise InputError(path, "missing id (null)", where=where(row))
    if isinstance(v, bytes):
        try:
            v = v.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(path, "id is not UTF-8 text", where=where(row)) from None
    if isinstance(v, str):
        if v.strip().lower() in MISSING_WORDS:
            raise InputError(path, f"missing id ({v!r})", where=where(row))
        check_encodable(v, path, where(row))
        return v
    if isinstance(v, (bool, np.bool_)):
        raise InputError(path, f"id {v!r} is a boolean; ids must be text or integers", where=where(row))
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        f = float(v)
        if math.isnan(f):
            raise InputError(path, "missing id (NaN)", where=where(row))
        return repr(f) if not isinstance(v, np.floating) else str(v)
    try:  # pandas.NA and friends
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            raise InputError(path, "missing id (null)", where=where(row))
    except ImportError:  # pragma: no cover
        pass
    raise InputError(path, f"id must be a single value (text or integer), got {type(v).__name__}", where=where(row))


def id_source(path, ids, id_col: str) -> str:
    """The file's name for messages, saying so when it had no ids (row numbers stand in)."""
    if np.array_equal(ids, np.arange(len(ids)).astype(str)):
        return row_number_source(path, id_col)
    return str(path)


def row_number_source(path, id_col: str) -> str:
    """The name for messages of a file without ids (row numbers stand in)."""
    return f"{path} (it has no {id_col!r} column or array, so its ids are row numbers)"

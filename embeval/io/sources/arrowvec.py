"""Arrow record batches -> (vectors, ids, labels): shared by the LanceDB and Hugging Face readers."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from embeval.errors import InputError
from embeval.io.sources.spec import SourceSpec, param
from embeval.progress import NULL, Progress


def pick_vector_column(schema, wanted: str | None, fallback: str, shown: str) -> str:
    """``wanted`` (from the URI) must exist; else ``fallback`` (--vector-col) when present; else the
    one list-of-numbers column of the schema."""
    import pyarrow as pa

    names = list(schema.names)
    if wanted:
        if wanted not in names:
            raise InputError(shown, f"no column {wanted!r} (columns: {', '.join(names)})")
        return wanted
    if fallback in names:
        return fallback
    listy = [
        f.name
        for f in schema
        if (pa.types.is_list(f.type) or pa.types.is_large_list(f.type) or pa.types.is_fixed_size_list(f.type))
    ]
    if len(listy) == 1:
        return listy[0]
    raise InputError(
        shown,
        f"no vector column {fallback!r} and {len(listy)} list columns among "
        f"{', '.join(names)}; name one with ?column=NAME",
    )


def pick_columns(s: SourceSpec, schema, id_col, vector_col, label_col) -> tuple[str, str | None, str | None]:
    """(vector, id, label) column names for source ``s`` in ``schema``: ``?column=``/``?id=``/``?label=``
    override the defaults; a default id column that is absent means row numbers, a named one is an error."""
    vcol = pick_vector_column(schema, param(s, "column", None), vector_col, s.shown)
    icol = param(s, "id", id_col)
    if icol not in schema.names:
        if "id" in s.params:
            raise InputError(s.shown, f"no id column {icol!r} (columns: {', '.join(schema.names)})")
        icol = None
    lcol = param(s, "label", label_col)
    if lcol is not None and lcol not in schema.names:
        raise InputError(s.shown, f"no label column {lcol!r} (columns: {', '.join(schema.names)})")
    return vcol, icol, lcol


def _vectors_of(col, shown: str, row0: int, dim: int | None) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
        raise InputError(shown, f"vector column holds {t}, not lists of numbers")
    if col.null_count:
        bad = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError(shown, "missing vector (null)", where=f"row {row0 + bad}")
    if pa.types.is_fixed_size_list(t):
        width = t.list_size
        values = col.values.slice(col.offset * width, len(col) * width)
    else:
        lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        width = int(lengths[0]) if len(lengths) else (dim or 0)
        ragged = lengths != width
        if ragged.any():
            bad = int(np.flatnonzero(ragged)[0])
            raise InputError(
                shown, f"ragged rows: {lengths[bad]} values where row {row0} has {width}", where=f"row {row0 + bad}"
            )
        values = pc.list_flatten(col)
    if dim is not None and width != dim:
        raise InputError(shown, f"ragged rows: {width} values where earlier rows have {dim}", where=f"row {row0}")
    vt = values.type
    if not (pa.types.is_floating(vt) or pa.types.is_integer(vt)):
        raise InputError(shown, f"vectors must be numeric, got {vt}")
    if values.null_count:
        raise InputError(shown, "a vector holds a null value", where=f"rows {row0}..{row0 + len(col) - 1}")
    flat = values.to_numpy(zero_copy_only=False)
    with np.errstate(over="ignore"):
        return flat.astype(np.float32, copy=False).reshape(len(col), width)


def collect(
    batches: Iterable,
    *,
    vector_col: str,
    id_col: str | None,
    label_col: str | None,
    shown: str,
    total: int | None,
    progress: Progress = NULL,
    what: str = "reading",
):
    """Concatenate record batches into float32 vectors (n×d), str ids (row numbers when ``id_col``
    is None) and labels (None when ``label_col`` is None), ticking ``progress`` per batch."""
    vecs = RowBuffer(total)
    ids, labels = [], []
    n, dim = 0, None
    with progress.task(f"{what} {shown}", total=total) as task:
        for b in batches:
            v = _vectors_of(b.column(vector_col), shown, n, dim)
            dim = v.shape[1]
            vecs.add(v)
            if id_col is not None:
                ids.append(np.asarray(b.column(id_col).to_pylist(), dtype=object).astype(str))
            if label_col is not None:
                labels.append(np.asarray(b.column(label_col).to_pylist(), dtype=object))
            n += len(v)
            task.advance(len(v))
    if n == 0:
        raise InputError(shown, "no rows")
    vectors = vecs.result()
    id_arr = np.concatenate(ids) if id_col is not None else np.arange(n).astype(str)
    lab = np.concatenate(labels) if label_col is not None else None
    return np.ascontiguousarray(vectors, dtype=np.float32), id_arr, lab


class RowBuffer:
    """float32 row blocks gathered into one n×d array. When the row count is known in advance
    (``total``) the rows go straight into one preallocated array, so peak memory is the result
    itself rather than the blocks plus their concatenation; extra rows (a table that grew while
    being read) are appended after it."""

    def __init__(self, total: int | None):
        self.total = total
        self.out: np.ndarray | None = None
        self.filled = 0
        self.extra: list[np.ndarray] = []

    def add(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32)
        if self.out is None and self.total and not self.extra:
            self.out = np.empty((self.total, block.shape[1]), dtype=np.float32)
        if self.out is not None and not self.extra and self.filled + len(block) <= len(self.out):
            self.out[self.filled : self.filled + len(block)] = block
            self.filled += len(block)
        else:
            self.extra.append(block)

    def result(self) -> np.ndarray:
        head = [] if self.out is None else [self.out[: self.filled]]
        parts = head + self.extra
        if len(parts) == 1:
            return np.ascontiguousarray(parts[0])
        return np.concatenate(parts).astype(np.float32, copy=False)

"""Load embedding files (SPEC §2) and validate them once.

Formats: ``.npy`` (memory-mapped), ``.npz`` (named arrays), ``.parquet`` (a list vector column or
one column per dimension), ``.csv``/``.tsv`` (one column per dimension), ``.jsonl``
(``{"id": ..., "embedding": [...]}``). Optional id and label columns; files without ids get row
numbers as ids. Every problem raises :class:`~embeval.errors.InputError` naming file, row and issue.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embeval.errors import InputError
from embeval.io.lines import iter_jsonl, table_errors

EMBEDDING_SUFFIXES = (".npy", ".npz", ".parquet", ".csv", ".tsv", ".jsonl")


@dataclass
class EmbeddingSet:
    """Validated vectors: ``vectors`` n×d float32, ``ids`` length-n str array, optional labels."""

    vectors: np.ndarray
    ids: np.ndarray
    path: str
    labels: np.ndarray | None = None
    texts: list[str] | None = None
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.vectors.shape[0]

    @property
    def d(self) -> int:
        return self.vectors.shape[1]

    def describe(self) -> dict:
        from embeval.io.fileinfo import file_info

        return {**file_info(self.path), "n": self.n, "d": self.d, **self.info}


def load_embeddings(
    path: str | Path,
    *,
    id_col: str = "id",
    vector_col: str = "embedding",
    label_col: str | None = None,
    min_rows: int = 2,
) -> EmbeddingSet:
    """Read and validate one embedding file. ``label_col`` must exist when given."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file")
    if p.is_dir():
        raise InputError(p, "is a folder, expected an embedding file (" + ", ".join(EMBEDDING_SUFFIXES) + ")")
    suffix = p.suffix.lower()
    if suffix not in EMBEDDING_SUFFIXES:
        raise InputError(p, f"unsupported extension {suffix or '(none)'!r}; expected one of "
                            + ", ".join(EMBEDDING_SUFFIXES) + " (or texts with --model)")
    if p.stat().st_size == 0:
        raise InputError(p, "file is empty")
    reader = {".npy": _read_npy, ".npz": _read_npz, ".parquet": _read_table, ".csv": _read_table,
              ".tsv": _read_table, ".jsonl": _read_jsonl}[suffix]
    vectors, ids, labels = reader(p, id_col=id_col, vector_col=vector_col, label_col=label_col)
    if label_col is not None and labels is None:
        raise InputError(p, f"no label column {label_col!r}")
    emb = EmbeddingSet(vectors=vectors, ids=ids, path=str(p), labels=labels)
    validate(emb, min_rows=min_rows)
    return emb


# ---------------------------------------------------------------- validation


def validate(emb: EmbeddingSet, *, min_rows: int = 2) -> None:
    """Checks run exactly once, right after loading."""
    v = emb.vectors
    if v.ndim != 2:
        raise InputError(emb.path, f"expected a 2-D array (rows × dimensions), got shape {v.shape}")
    n, d = v.shape
    if n == 0:
        raise InputError(emb.path, "no rows")
    if d == 0:
        raise InputError(emb.path, "vectors have 0 dimensions")
    if n < min_rows:
        raise InputError(emb.path, f"only {n} row; at least {min_rows} are needed")
    finite = np.isfinite(v).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(emb.path, f"non-finite value (NaN or inf) in {len(bad)} row(s)",
                         where=_where(emb, bad[0]))
    zero = ~v.any(axis=1)
    if zero.any():
        bad = np.flatnonzero(zero)
        raise InputError(emb.path, f"zero-norm vector in {len(bad)} row(s); cosine is undefined",
                         where=_where(emb, bad[0]))
    norms = row_norms64(v)
    unusable = ~(np.isfinite(norms) & (norms > 0))
    if unusable.any():
        bad = np.flatnonzero(unusable)
        raise InputError(emb.path, f"vector norm too large or too small to normalise in {len(bad)} row(s)",
                         where=_where(emb, bad[0]))
    if len(emb.ids) != n:
        raise InputError(emb.path, f"{len(emb.ids)} ids for {n} rows")
    uniq, _first, counts = np.unique(emb.ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        raise InputError(emb.path, f"duplicate id {str(dup[0])!r} ({int((counts > 1).sum())} ids repeated)")
    if emb.labels is not None and len(emb.labels) != n:
        raise InputError(emb.path, f"{len(emb.labels)} labels for {n} rows")


def row_norms64(v: np.ndarray, block_elements: int = 1 << 22) -> np.ndarray:
    """Euclidean norm of each row of an n×d array, accumulated in float64 in row blocks of at most
    ``block_elements`` values (no full float64 copy). Finite float32 rows never overflow or
    underflow here (‖x‖² ≤ d·(3.4e38)² < 1.8e308), unlike a float32 sum of squares (1e20² = inf)."""
    out = np.empty(v.shape[0], dtype=np.float64)
    step = max(1, block_elements // max(1, v.shape[1]))
    for s in range(0, v.shape[0], step):
        block = np.asarray(v[s:s + step], dtype=np.float64)
        out[s:s + step] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return out


def check_same_dim(*sets: EmbeddingSet) -> None:
    first = sets[0]
    for other in sets[1:]:
        if other.d != first.d:
            raise InputError(other.path, f"dimension {other.d} does not match {first.path} ({first.d})")


def _where(emb: EmbeddingSet, row: int) -> str:
    rid = emb.ids[row] if len(emb.ids) > row else str(row)
    return f"row {row}, id {rid}" if str(rid) != str(row) else f"row {row}"


def _row_ids(n: int) -> np.ndarray:
    return np.arange(n).astype(str)


def _as_float32(p: Path, arr) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiub":
        raise InputError(p, f"vectors must be numeric, got dtype {arr.dtype}")
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(arr, dtype=np.float32)


# ---------------------------------------------------------------- readers


def _open_npy(p: Path) -> np.ndarray:
    try:
        return np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(p, f"not a readable .npy file (truncated or corrupt?): {exc}") from None


def _npy_to_float32(p: Path, arr: np.ndarray) -> np.ndarray:
    """Convert a memory-mapped n×d array in chunks: the map is read once, straight into float32."""
    if arr.dtype.kind not in "fiub":
        raise InputError(p, f"vectors must be numeric, got dtype {arr.dtype}")
    out = np.empty(arr.shape, dtype=np.float32)
    step = max(1, (1 << 26) // max(1, arr.shape[1] * arr.itemsize))
    try:
        for s in range(0, arr.shape[0], step):
            with np.errstate(over="ignore"):
                out[s:s + step] = arr[s:s + step]
    except (ValueError, OSError) as exc:
        raise InputError(p, f"could not read data (truncated?): {exc}") from None
    return out


def _read_npy(p: Path, **_):
    arr = _open_npy(p)
    if arr.ndim != 2:
        hint = (" (a stacked pair of sets: pass it alone, as in 'embeval gap FILE.npy')"
                if arr.ndim == 3 and arr.shape[0] == 2 else "")
        raise InputError(p, f"expected a 2-D array (rows × dimensions), got shape {arr.shape}{hint}")
    return _npy_to_float32(p, arr), _row_ids(arr.shape[0]), None


def load_stacked_pair(path: str | Path, *, min_rows: int = 2) -> tuple[EmbeddingSet, EmbeddingSet]:
    """Read one ``.npy`` holding two sets stacked as shape (2, n, d), as published by the
    "Mind the Gap" repository (Liang et al. 2022: ``[image_features, text_features]``).

    Returns (A, B) = (arr[0], arr[1]), each validated like any embedding file; their ``info``
    says which slice they are (``"part": "[0]"``) and messages name the slice.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file")
    if p.is_dir() or p.suffix.lower() != ".npy":
        raise InputError(p, "a single input must be a .npy of shape (2, n, d) holding both sets; "
                            "otherwise pass two embedding files A B")
    if p.stat().st_size == 0:
        raise InputError(p, "file is empty")
    arr = _open_npy(p)
    if arr.ndim != 3 or arr.shape[0] != 2:
        raise InputError(p, f"a single input must have shape (2, n, d) (two stacked sets), got "
                            f"shape {arr.shape}; otherwise pass two embedding files A B")
    sets = []
    for part in (0, 1):
        emb = EmbeddingSet(vectors=_npy_to_float32(p, arr[part]), ids=_row_ids(arr.shape[1]),
                           path=str(p), info={"part": f"[{part}]"})
        try:
            validate(emb, min_rows=min_rows)
        except InputError as exc:
            where = f"set [{part}]" + (f", {exc.where}" if exc.where else "")
            raise InputError(p, exc.problem, where=where) from None
        sets.append(emb)
    return sets[0], sets[1]


def _read_npz(p: Path, *, id_col, vector_col, label_col):
    try:
        with np.load(p, allow_pickle=False) as z:
            names = list(z.files)
            if vector_col in names:
                key = vector_col
            else:
                numeric2d = [k for k in names if z[k].ndim == 2]
                if len(numeric2d) != 1:
                    raise InputError(p, f"no array named {vector_col!r} and {len(numeric2d)} 2-D arrays "
                                        f"among {names}; name one with --vector-col")
                key = numeric2d[0]
            vectors = _as_float32(p, z[key])
            ids = z[id_col].astype(str) if id_col in names else _row_ids(vectors.shape[0])
            labels = z[label_col] if label_col and label_col in names else None
    except InputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(p, f"not a readable .npz file (truncated or corrupt?): {exc}") from None
    return vectors, ids, labels


def _read_jsonl(p: Path, *, id_col, vector_col, label_col):
    vectors: list[Any] = []
    ids: list[str] = []
    labels: list[Any] = []
    dim = None
    for lineno, rec in iter_jsonl(p):
        if vector_col not in rec:
            raise InputError(p, f"no {vector_col!r} field", where=f"line {lineno}")
        vec = rec[vector_col]
        if not isinstance(vec, list):
            raise InputError(p, f"{vector_col!r} is not a list", where=f"line {lineno}")
        if dim is None:
            dim = len(vec)
        elif len(vec) != dim:
            raise InputError(p, f"ragged rows: {len(vec)} values where earlier rows have {dim}",
                             where=f"line {lineno}")
        if not all(type(x) in (int, float) for x in vec):  # JSON numbers: not str, bool, null, list
            bad = next(x for x in vec if type(x) not in (int, float))
            raise InputError(p, f"vectors must hold numbers only, found {json.dumps(bad)}",
                             where=f"line {lineno}")
        vectors.append(vec)
        ids.append(str(rec[id_col]) if id_col in rec else str(len(ids)))
        if label_col:
            labels.append(rec.get(label_col))
    if not vectors:
        raise InputError(p, "no rows")
    try:
        arr = np.asarray(vectors, dtype=np.float64)
    except OverflowError:  # an integer beyond float64
        raise InputError(p, "a vector value is too large for a float") from None
    lab = np.asarray(labels, dtype=object) if label_col and any(x is not None for x in labels) else None
    return _as_float32(p, arr), np.asarray(ids, dtype=str), lab


def _read_frame(p: Path):
    import pandas as pd

    with table_errors(p):
        if p.suffix.lower() == ".parquet":
            return pd.read_parquet(p)
        sep = "\t" if p.suffix.lower() == ".tsv" else ","
        df = pd.read_csv(p, sep=sep)
        # A header that is all numbers means there was no header.
        if len(df.columns) and all(_is_number(c) for c in df.columns):
            df = pd.read_csv(p, sep=sep, header=None)
        return df


def _is_number(x) -> bool:
    try:
        float(x)
        return True
    except (TypeError, ValueError):
        return False


def _read_table(p: Path, *, id_col, vector_col, label_col):
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    df = _read_frame(p)
    if len(df) == 0:
        raise InputError(p, "no rows")
    cols = [c for c in df.columns]
    ids = df[id_col].astype(str).to_numpy() if id_col in cols else _row_ids(len(df))
    labels = df[label_col].to_numpy() if label_col and label_col in cols else None
    if vector_col in cols:
        col = df[vector_col]
        lengths = col.map(lambda v: len(v) if hasattr(v, "__len__") else -1).to_numpy()
        if (lengths < 0).any():
            row = int(np.flatnonzero(lengths < 0)[0])
            raise InputError(p, f"{vector_col!r} is not a list", where=f"row {row}")
        if (lengths != lengths[0]).any():
            row = int(np.flatnonzero(lengths != lengths[0])[0])
            raise InputError(p, f"ragged rows: {lengths[row]} values where row 0 has {lengths[0]}",
                             where=f"row {row}")
        try:
            arr = np.stack([np.asarray(v, dtype=np.float64) for v in col.to_numpy()])
        except (ValueError, TypeError):
            raise InputError(p, f"{vector_col!r} must hold numbers only") from None
        return _as_float32(p, arr), ids, labels
    skip = {id_col, label_col, "label", "text"}  # a default-named label column is never a dimension
    dims = [c for c in cols if c not in skip]
    if not dims:
        raise InputError(p, f"no vector column {vector_col!r} and no dimension columns")
    block = df[dims]
    bad = [c for c in dims if not is_numeric_dtype(block[c].dtype) or is_bool_dtype(block[c].dtype)]
    if bad:
        raise InputError(p, f"column {str(bad[0])!r} is not numeric (pass --id-col/--label-col for "
                            "non-vector columns)")
    arr = block.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(arr).any():
        row = int(np.flatnonzero(np.isnan(arr).any(axis=1))[0])
        raise InputError(p, "missing or NaN value (ragged rows?)", where=_where_id(ids, row))
    return _as_float32(p, arr), ids, labels


def _where_id(ids, row: int) -> str:
    return f"row {row}, id {ids[row]}" if str(ids[row]) != str(row) else f"row {row}"

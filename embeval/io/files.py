"""One embedding file (SPEC §2): the per-format readers, :class:`EmbeddingSet` and its validation.

Formats: ``.npy`` (memory-mapped), ``.npz`` (named arrays), ``.parquet`` (a list vector column or
one column per dimension), ``.csv``/``.tsv`` (one column per dimension), ``.jsonl``
(``{"id": ..., "embedding": [...]}``). Optional id and label columns; files without ids get row
numbers as ids. Every problem raises :class:`~embeval.errors.InputError` naming file, row and issue.

Shards (:mod:`embeval.io.shards`) read each shard through :func:`load_embedding_file`; the entry
point that also takes shard folders and source URIs is :func:`embeval.io.embeddings.load_embeddings`,
above both.
"""

from __future__ import annotations

import json
import zipfile
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embeval.errors import InputError
from embeval.io.ids import clean_ids
from embeval.io.lines import iter_jsonl, read_csv, table_errors

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

        if "source" in self.info or "shards" in self.info:  # a source (io.sources) or shards (io.shards): no file hash
            return {"path": self.path, "n": self.n, "d": self.d, **self.info}
        return {**file_info(self.path), "n": self.n, "d": self.d, **self.info}


def load_embedding_file(
    path: str | Path,
    *,
    id_col: str = "id",
    vector_col: str = "embedding",
    label_col: str | None = None,
    min_rows: int = 2,
) -> EmbeddingSet:
    """Read and validate one embedding file (one of :data:`EMBEDDING_SUFFIXES`). ``label_col``
    must exist when given."""
    from embeval.io.paths import require_file

    p = Path(path)
    if p.is_dir():
        hint = ""
        if (p / "state.json").exists() or (p / "dataset_dict.json").exists():
            hint = f"; a Hugging Face save_to_disk folder: pass hf-disk://{p}"
        elif any(p.glob("*.lance")):
            hint = f"; a LanceDB database: pass lancedb://{p}?table=NAME"
        raise InputError(p, "is a folder, expected an embedding file (" + ", ".join(EMBEDDING_SUFFIXES) + ")" + hint)
    suffix = p.suffix.lower()
    if suffix not in EMBEDDING_SUFFIXES:
        raise InputError(
            p,
            f"unsupported extension {suffix or '(none)'!r}; expected one of "
            + ", ".join(EMBEDDING_SUFFIXES)
            + ", a .faiss/.index file, a source URI "
            "(lancedb://, postgresql://, hf-disk://, faiss://) or texts with `model`",
        )
    require_file(p)
    reader = {
        ".npy": _read_npy,
        ".npz": _read_npz,
        ".parquet": _read_table,
        ".csv": _read_table,
        ".tsv": _read_table,
        ".jsonl": _read_jsonl,
    }[suffix]
    # A table library may fail lazily (a corrupt string column converted after the read): every
    # failure while reading a table file is one InputError.
    with table_errors(p) if suffix in (".parquet", ".csv", ".tsv") else nullcontext():
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
        raise InputError(emb.path, f"non-finite value (NaN or inf) in {len(bad)} row(s)", where=_where(emb, bad[0]))
    zero = ~v.any(axis=1)
    if zero.any():
        bad = np.flatnonzero(zero)
        raise InputError(
            emb.path, f"zero-norm vector in {len(bad)} row(s); cosine is undefined", where=_where(emb, bad[0])
        )
    norms = row_norms64(v)
    unusable = ~(np.isfinite(norms) & (norms > 0))
    if unusable.any():
        bad = np.flatnonzero(unusable)
        raise InputError(
            emb.path, f"vector norm too large or too small to normalise in {len(bad)} row(s)", where=_where(emb, bad[0])
        )
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
        block = np.asarray(v[s : s + step], dtype=np.float64)
        out[s : s + step] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return out


def check_same_dim(*sets: EmbeddingSet) -> None:
    first = sets[0]
    for other in sets[1:]:
        if other.d != first.d:
            raise InputError(other.path, f"dimension {other.d} does not match {first.path} ({first.d})")


def _where(emb: EmbeddingSet, row: int) -> str:
    return _where_id(emb.ids, row)


_ABSENT = object()


def _row_ids(n: int) -> np.ndarray:
    return np.arange(n).astype(str)


NUMERIC_KINDS = "fiu"  # booleans are refused in every format (as in CSV, parquet and JSON)


def _check_numeric(p: Path, dtype) -> None:
    if dtype.kind == "b":
        raise InputError(p, "vectors are booleans; embeddings must be numbers (cast to float first)")
    if dtype.kind not in NUMERIC_KINDS:
        raise InputError(p, f"vectors must be numeric, got dtype {dtype}")


def _to_f32(p: Path, src: np.ndarray, out: np.ndarray | None = None, row0: int = 0, where=None) -> np.ndarray:
    """``src`` as float32; a finite value beyond float32's range (±3.4e38) is an error naming the
    row, never reported as NaN/inf later."""
    with np.errstate(over="ignore", invalid="ignore"):
        conv = np.asarray(src, dtype=np.float32)
    if src.dtype.kind == "f" and src.dtype.itemsize > 4:
        over = np.isinf(conv) & np.isfinite(src)
        if over.any():
            r, c = (int(x[0]) for x in np.nonzero(over))
            raise InputError(
                p,
                f"value {float(src[r, c]):.4g} is too large for float32 (largest ±3.4e38); scale the vectors down",
                where=(where or _row_name)(row0 + r),
            )
    if out is not None:
        out[row0 : row0 + len(conv)] = conv
        return out
    return np.ascontiguousarray(conv)


def _row_name(row: int) -> str:
    return f"row {row}"


def _as_float32(p: Path, arr, where=None) -> np.ndarray:
    arr = np.asarray(arr)
    _check_numeric(p, arr.dtype)
    if arr.ndim != 2:  # validate() names the shape
        return np.asarray(arr, dtype=np.float32)
    return _to_f32(p, arr, where=where)


# ---------------------------------------------------------------- readers


NPY_MAGIC = b"\x93NUMPY"


def _open_npy(p: Path) -> np.ndarray:
    with open(p, "rb") as fh:
        head = fh.read(len(NPY_MAGIC))
    if head != NPY_MAGIC:
        raise InputError(p, "not a .npy file (no NumPy header: another format renamed to .npy?)")
    try:
        with np.errstate(all="ignore"):  # a header with an overflowing shape is an error below, not a warning
            return np.load(p, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc) or "Python objects" in str(exc):
            raise InputError(
                p,
                "holds Python objects (an object array), not numbers; embeval never loads "
                "pickled data: save a numeric array",
            ) from None
        raise InputError(p, f"not a readable .npy file (truncated or corrupt?): {_first_line(exc)}") from None
    except Exception as exc:  # numpy's header parser raises SyntaxError, TokenError, TypeError, ...
        raise InputError(p, f"not a readable .npy file (truncated or corrupt?): {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _npy_to_float32(p: Path, arr: np.ndarray) -> np.ndarray:
    """Convert a memory-mapped n×d array in chunks: the map is read once, straight into float32."""
    _check_numeric(p, arr.dtype)
    out = np.empty(arr.shape, dtype=np.float32)
    step = max(1, (1 << 26) // max(1, arr.shape[1] * arr.itemsize))
    try:
        for s in range(0, arr.shape[0], step):
            _to_f32(p, np.asarray(arr[s : s + step]), out, s)
    except (ValueError, OSError) as exc:
        raise InputError(p, f"could not read data (truncated?): {_first_line(exc)}") from None
    return out


def _read_npy(p: Path, **_):
    arr = _open_npy(p)
    if arr.ndim != 2:
        hint = (
            " (a stacked pair of sets: pass it alone, as in 'embeval gap FILE.npy')"
            if arr.ndim == 3 and arr.shape[0] == 2
            else ""
        )
        raise InputError(p, f"expected a 2-D array (rows × dimensions), got shape {arr.shape}{hint}")
    return _npy_to_float32(p, arr), _row_ids(arr.shape[0]), None


def load_stacked_pair(path: str | Path, *, min_rows: int = 2) -> tuple[EmbeddingSet, EmbeddingSet]:
    """Read one ``.npy`` holding two sets stacked as shape (2, n, d), as published by the
    "Mind the Gap" repository (Liang et al. 2022: ``[image_features, text_features]``).

    Returns (A, B) = (arr[0], arr[1]), each validated like any embedding file; their ``info``
    says which slice they are (``"part": "[0]"``) and messages name the slice.
    """
    from embeval.io.paths import require_file

    p = Path(path)
    if p.is_dir() or p.suffix.lower() != ".npy":
        raise InputError(
            p,
            "a single input must be a .npy of shape (2, n, d) holding both sets; "
            "otherwise pass two embedding files A B",
        )
    require_file(p)
    arr = _open_npy(p)
    if arr.ndim != 3 or arr.shape[0] != 2:
        raise InputError(
            p,
            f"a single input must have shape (2, n, d) (two stacked sets), got "
            f"shape {arr.shape}; otherwise pass two embedding files A B",
        )
    sets = []
    for part in (0, 1):
        emb = EmbeddingSet(
            vectors=_npy_to_float32(p, arr[part]), ids=_row_ids(arr.shape[1]), path=str(p), info={"part": f"[{part}]"}
        )
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
                    raise InputError(
                        p,
                        f"no array named {vector_col!r} and {len(numeric2d)} 2-D arrays "
                        f"among {names}; name one with `vector_col`",
                    )
                key = numeric2d[0]
            vectors = _as_float32(p, z[key])
            ids = clean_ids(z[id_col], p) if id_col in names else _row_ids(vectors.shape[0])
            labels = z[label_col] if label_col and label_col in names else None
    except InputError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise InputError(
                p, "holds Python objects (an object array), not numbers; embeval never loads pickled data"
            ) from None
        raise InputError(p, f"not a readable .npz file (truncated or corrupt?): {_first_line(exc)}") from None
    except MemoryError:
        raise InputError(
            p, "not a readable .npz file: an array header claims more memory than there is (corrupt?)"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise InputError(p, f"not a readable .npz file (truncated or corrupt?): {_first_line(exc)}") from None
    except Exception as exc:  # numpy's header parser raises SyntaxError, TokenError, TypeError, ...
        raise InputError(p, f"not a readable .npz file (truncated or corrupt?): {_first_line(exc)}") from None
    return vectors, ids, labels


def _read_jsonl(p: Path, *, id_col, vector_col, label_col):
    vectors: list[Any] = []
    ids: list[Any] = []
    labels: list[Any] = []
    lines: list[int] = []
    dim = None
    for lineno, rec in iter_jsonl(p):
        lines.append(lineno)
        if vector_col not in rec:
            raise InputError(p, f"no {vector_col!r} field", where=f"line {lineno}")
        vec = rec[vector_col]
        if not isinstance(vec, list):
            raise InputError(p, f"{vector_col!r} is not a list", where=f"line {lineno}")
        if dim is None:
            dim = len(vec)
        elif len(vec) != dim:
            raise InputError(p, f"ragged rows: {len(vec)} values where earlier rows have {dim}", where=f"line {lineno}")
        if not all(type(x) in (int, float) for x in vec):  # JSON numbers: not str, bool, null, list
            bad = next(x for x in vec if type(x) not in (int, float))
            raise InputError(p, f"vectors must hold numbers only, found {json.dumps(bad)}", where=f"line {lineno}")
        vectors.append(vec)
        ids.append(rec.get(id_col, _ABSENT))
        if label_col:
            labels.append(rec.get(label_col))
    if not vectors:
        raise InputError(p, "no rows")
    try:
        arr = np.asarray(vectors, dtype=np.float64)
    except OverflowError:  # an integer beyond float64
        raise InputError(p, "a vector value is too large for a float") from None
    lab = np.asarray(labels, dtype=object) if label_col and any(x is not None for x in labels) else None
    absent = [i for i, v in enumerate(ids) if v is _ABSENT]
    if len(absent) == len(ids):
        ids_arr = _row_ids(len(ids))
    elif absent:
        raise InputError(p, f"no {id_col!r} field (other lines have one)", where=f"line {lines[absent[0]]}")
    else:
        ids_arr = clean_ids(ids, p, lambda row: f"line {lines[row]}")
    return _as_float32(p, arr), ids_arr, lab


# Cells pandas would read as missing in a numeric column (keep_default_na is off for text columns).
NA_CELLS = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "#N/A", "<NA>", "-NaN", "-nan"]


def _read_frame(p: Path, text_cols=()):
    """A table file as a DataFrame. In .csv/.tsv the columns named in ``text_cols`` (id, label,
    text) are read as text exactly as written (``000`` stays ``000``, ``NA`` stays ``NA`` for the
    id check to refuse); the others are parsed as numbers."""
    import pandas as pd

    with table_errors(p):
        if p.suffix.lower() == ".parquet":
            return pd.read_parquet(p)
        sep = "\t" if p.suffix.lower() == ".tsv" else ","
        header = list(read_csv(p, sep=sep, nrows=0, dtype=str).columns)
        other = next((c for c in (";", "\t", "|", ",") if c != sep and len(header) == 1 and c in header[0]), None)
        if other is not None:
            shown = {"\t": "tab"}.get(other, repr(other))
            fix = "rename it to .tsv" if other == "\t" else f"convert it to {'tabs' if sep == chr(9) else 'commas'}"
            raise InputError(
                p,
                f"one column only, and its first line holds {shown}: the file seems to be "
                f"{shown}-separated, but {p.suffix.lower()} is read "
                f"{'tab' if sep == chr(9) else 'comma'}-separated; {fix}",
            )
        numeric = [_is_number(c) for c in header]
        if header and sum(numeric) >= len(header) - 1 and not any(c in text_cols for c in header):
            # The first line is data, not a header.
            if not numeric[0] and all(numeric[1:]):
                second = header[1] if len(header) > 1 else ""
                raise InputError(
                    p,
                    f"the first line looks like data ({header[0]!r}, {second}…), not a header; "
                    "add a header line such as 'id,d0,d1,…'",
                )
            if all(numeric):
                return read_csv(p, sep=sep, header=None, keep_default_na=False, na_values=NA_CELLS)
        texts = [c for c in header if c in text_cols]
        return read_csv(
            p,
            sep=sep,
            dtype={c: str for c in texts},
            keep_default_na=False,
            na_values={c: NA_CELLS for c in header if c not in texts},
        )


def _is_number(x) -> bool:
    try:
        float(x)
        return True
    except (TypeError, ValueError):
        return False


def _read_table(p: Path, *, id_col, vector_col, label_col):
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    df = _read_frame(p, text_cols=tuple(c for c in (id_col, label_col, "label", "text") if c))
    if len(df) == 0:
        raise InputError(p, "no rows")
    cols = [c for c in df.columns]
    line = _row_namer(p, cols)
    if id_col in cols:
        raw = df[id_col].tolist()
        if p.suffix.lower() != ".parquet":
            from embeval.safety import csv_uncell

            raw = [csv_uncell(v) if isinstance(v, str) else v for v in raw]
        ids = clean_ids(raw, p, line)
    else:
        ids = _row_ids(len(df))
    labels = df[label_col].to_numpy() if label_col and label_col in cols else None
    if vector_col in cols:
        col = df[vector_col]
        lengths = col.map(lambda v: len(v) if hasattr(v, "__len__") else -1).to_numpy()
        if (lengths < 0).any():
            row = int(np.flatnonzero(lengths < 0)[0])
            raise InputError(p, f"{vector_col!r} is not a list", where=line(row))
        if (lengths != lengths[0]).any():
            row = int(np.flatnonzero(lengths != lengths[0])[0])
            raise InputError(p, f"ragged rows: {lengths[row]} values where row 0 has {lengths[0]}", where=line(row))
        rows = [np.asarray(v) for v in col.to_numpy()]
        for row, v in enumerate(rows):
            if v.dtype.kind not in NUMERIC_KINDS:
                raise InputError(
                    p,
                    f"{vector_col!r} must hold numbers only, found {v.dtype} values (text or booleans)",
                    where=_where_id(ids, row, line),
                )
        try:
            arr = np.stack([v.astype(np.float64) for v in rows])
        except (ValueError, TypeError):
            raise InputError(p, f"{vector_col!r} must hold numbers only") from None
        return _as_float32(p, arr, lambda row: _where_id(ids, row, line)), ids, labels
    skip = {id_col, label_col, "label", "text"}  # a default-named label column is never a dimension
    dims = [c for c in cols if c not in skip]
    if not dims:
        raise InputError(p, f"no vector column {vector_col!r} and no dimension columns")
    block = df[dims]
    bad = [c for c in dims if not is_numeric_dtype(block[c].dtype) or is_bool_dtype(block[c].dtype)]
    if bad:
        raise InputError(p, f"column {str(bad[0])!r} is not numeric (pass `id_col`/`label_col` for non-vector columns)")
    arr = block.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(arr).any():
        row = int(np.flatnonzero(np.isnan(arr).any(axis=1))[0])
        raise InputError(p, "missing or NaN value (ragged rows?)", where=_where_id(ids, row, line))
    if p.suffix.lower() != ".parquet" and np.isinf(arr).any():
        _check_overflow(p, df, dims, arr, lambda row: _where_id(ids, row, line))
    return _as_float32(p, arr, lambda row: _where_id(ids, row, line)), ids, labels


def _row_namer(p: Path, cols):
    """How errors name a row: a CSV/TSV row by its line in the file (1-based, the header line
    counted), as JSONL does; a parquet row by its number."""
    if p.suffix.lower() == ".parquet":
        return _row_name
    first = 1 if all(isinstance(c, int) for c in cols) else 2  # header=None: integer column names

    def line(row: int) -> str:
        return f"line {row + first}"

    return line


def _check_overflow(p: Path, df, dims, arr: np.ndarray, where) -> None:
    """An infinite value read from a CSV/TSV cell: 'inf' written as such is left to the finite
    check; a number beyond float range (1e400) is named as too large, not as NaN or inf."""
    r, c = (int(x[0]) for x in np.nonzero(np.isinf(arr)))
    sep = "\t" if p.suffix.lower() == ".tsv" else ","
    header = None if all(isinstance(x, int) for x in df.columns) else 0
    raw = read_csv(p, sep=sep, header=header, dtype=str, keep_default_na=False)[dims[c]].iloc[r]
    if str(raw).strip().lower().lstrip("+-") not in ("inf", "infinity"):
        raise InputError(
            p,
            f"value {str(raw).strip()} is too large for float32 (largest ±3.4e38); scale the vectors down",
            where=where(r),
        )


def _where_id(ids, row: int, name=_row_name) -> str:
    rid = ids[row] if len(ids) > row else str(row)
    return f"{name(row)}, id {str(rid)!r}" if str(rid) != str(row) else name(row)


def from_memory(
    vectors, *, name: str, ids=None, labels=None, min_rows: int = 2, shown: str | None = None
) -> EmbeddingSet:
    """An in-memory n×d matrix as an EmbeddingSet, with the conversions and checks a file gets
    (float32 with the range check, clean string ids, :func:`validate`). ``name`` (e.g. "argument
    `x`") names it in errors instead of a path, ``shown`` (e.g. "<x array>") in the report's
    inputs; nothing is written."""
    from embeval.io.ids import clean_ids

    p = Path(name)
    arr = _as_float32(p, vectors)
    if isinstance(vectors, np.ndarray) and np.shares_memory(arr, vectors):
        arr = arr.copy()  # the diagnostics normalise the rows in place: never the caller's array
    n = arr.shape[0] if arr.ndim else 0
    id_arr = _row_ids(n) if ids is None else clean_ids(np.asarray([str(i) for i in ids]), name)
    if ids is not None and len(id_arr) != n:
        raise InputError(name, f"{len(id_arr)} ids for {n} rows")
    emb = EmbeddingSet(
        vectors=arr,
        ids=id_arr,
        path=name,
        labels=None if labels is None else np.asarray(labels),
        info={"source": "memory", "path": shown or name},
    )
    validate(emb, min_rows=min_rows)
    return emb

"""Labels for label-aware diagnostics (SPEC §2): a column of the embeddings file, or a separate
one-column file row-aligned with the embeddings.

Label files: ``.txt`` (one label per line), ``.csv``/``.tsv``/``.parquet`` (a ``label`` column, a
named column, or the only column), ``.jsonl`` (a ``label`` field per line), ``.npy`` (a 1-D array).
Every label becomes a string; a missing or empty label is an error naming the row.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np

from embeval.errors import InputError
from embeval.io.lines import iter_jsonl, iter_lines, read_csv, table_errors

LABEL_SUFFIXES = (".txt", ".csv", ".tsv", ".parquet", ".jsonl", ".npy")


def load_labels(path: str | Path, column: str | None = None) -> np.ndarray:
    """Read a label file into a length-n array of str. ``column`` names the column/field
    (default: ``label``, or the only column of a one-column table)."""
    from embeval.io.paths import require_file

    p = Path(path)
    if p.is_dir():
        raise InputError(p, "is a folder, expected a label file (" + ", ".join(LABEL_SUFFIXES) + ")")
    suffix = p.suffix.lower()
    if suffix not in LABEL_SUFFIXES:
        raise InputError(
            p, f"unsupported extension {suffix or '(none)'!r} for labels; expected one of " + ", ".join(LABEL_SUFFIXES)
        )
    require_file(p)
    reader = {
        ".txt": _read_txt,
        ".csv": _read_table,
        ".tsv": _read_table,
        ".parquet": _read_table,
        ".jsonl": _read_jsonl,
        ".npy": _read_npy,
    }[suffix]
    with table_errors(p) if suffix in (".csv", ".tsv", ".parquet") else nullcontext():
        values = reader(p, column)
    return clean_labels(values, p)


def clean_labels(values, path: str | Path, column: str | None = None) -> np.ndarray:
    """Labels as a str array; a missing (None/NaN) or blank label raises, naming the row."""
    out = np.empty(len(values), dtype=object)
    for row, v in enumerate(values):
        if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()):
            where = f"row {row}" + (f", column {column!r}" if column else "")
            raise InputError(path, "missing label", where=where)
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)  # 3.0 from a float column reads as "3"
        out[row] = str(v).strip()
    return out.astype(str)


def check_labels(labels: np.ndarray, n: int, path: str | Path, emb_path: str | Path) -> None:
    """Labels must be row-aligned with the embeddings and name at least two classes."""
    if len(labels) != n:
        hint = ""
        if len(labels) == n - 1 and Path(path).suffix.lower() in (".csv", ".tsv"):
            hint = " (a .csv label file needs a header row: is it missing?)"
        raise InputError(
            path,
            f"{len(labels)} labels, but {emb_path} has {n} rows; labels must be row-aligned with the embeddings{hint}",
        )
    classes = np.unique(labels)
    if len(classes) < 2:
        raise InputError(
            path, f"every row has the label {str(classes[0])!r}; label diagnostics need at least 2 classes"
        )
    if len(classes) == n:
        raise InputError(path, f"all {n} labels are different; label diagnostics need classes with at least 2 rows")


def _read_txt(p: Path, column):
    lines = [line.rstrip("\n").rstrip("\r") for _, line in iter_lines(p)]  # only \n ends a line
    while lines and not lines[-1].strip():
        lines.pop()  # trailing blank lines are not labels
    return lines


def _read_npy(p: Path, column):
    try:
        with np.errstate(all="ignore"):
            arr = np.load(p, allow_pickle=False)
    except MemoryError:
        raise InputError(
            p, "not a readable .npy file of labels: its header claims more memory than there is (corrupt?)"
        ) from None
    except Exception as exc:  # numpy's header parser raises SyntaxError, TokenError, TypeError, ...
        text = str(exc).strip().splitlines()
        raise InputError(p, f"not a readable .npy file of labels: {text[0] if text else type(exc).__name__}") from None
    if arr.ndim != 1:
        raise InputError(p, f"expected a 1-D array of labels, got shape {arr.shape}")
    return arr.tolist()


def _read_jsonl(p: Path, column):
    key = column or "label"
    out = []
    for lineno, rec in iter_jsonl(p):
        if key not in rec:
            raise InputError(p, f"no {key!r} field", where=f"line {lineno}")
        out.append(rec[key])
    return out


def _read_table(p: Path, column):
    import pandas as pd

    with table_errors(p):
        if p.suffix.lower() == ".parquet":
            df = pd.read_parquet(p)
        else:
            df = read_csv(
                p, sep="\t" if p.suffix.lower() == ".tsv" else ",", dtype=str, keep_default_na=False, na_values=[""]
            )
    cols = list(df.columns)
    if column is not None:
        if column not in cols:
            raise InputError(p, f"no label column {column!r} (columns: {', '.join(map(str, cols))})")
        key = column
    elif "label" in cols:
        key = "label"
    elif len(cols) == 1:
        key = cols[0]
    else:
        raise InputError(p, f"{len(cols)} columns and none is named 'label'; name one with `label_col`")
    return df[key].tolist()

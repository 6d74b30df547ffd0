"""Write embeddings in every format embeval reads, atomically (temp file beside, then rename)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from embeval.errors import UsageError
from embeval.io.atomic import atomic_path
from embeval.io.files import EMBEDDING_SUFFIXES


def save_embeddings(path: str | Path, vectors: np.ndarray, ids, *, texts=None) -> None:
    """``.npy`` (vectors only; ids are row numbers), ``.npz`` (embedding, id), ``.parquet``
    (id, embedding[, text]), ``.csv``/``.tsv`` (id, d0..dN), ``.jsonl`` ({"id", "embedding"})."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in EMBEDDING_SUFFIXES:
        raise UsageError(
            f"`output` {p}: unsupported suffix {suffix or '(none)'!r}; use one of " + ", ".join(EMBEDDING_SUFFIXES)
        )
    with atomic_path(p) as tmp:
        _write(tmp, suffix, np.asarray(vectors, dtype=np.float32), np.asarray(ids).astype(str), texts)


def _write(tmp: Path, suffix: str, v: np.ndarray, ids: np.ndarray, texts) -> None:
    if suffix == ".npy":
        with open(tmp, "wb") as fh:
            np.save(fh, v)
    elif suffix == ".npz":
        with open(tmp, "wb") as fh:
            np.savez(fh, embedding=v, id=ids)
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = {
            "id": pa.array(ids.tolist()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), v.shape[1]),
        }
        if texts is not None:
            cols["text"] = pa.array(list(texts))
        pq.write_table(pa.table(cols), tmp)
    elif suffix in (".csv", ".tsv"):
        import pandas as pd

        df = pd.DataFrame(v, columns=[f"d{i}" for i in range(v.shape[1])])
        from embeval.safety import csv_cell

        df.insert(0, "id", [csv_cell(i) for i in ids.tolist()])  # read back by csv_uncell
        df.to_csv(tmp, sep="\t" if suffix == ".tsv" else ",", index=False, float_format="%.9g")
    else:  # .jsonl
        with open(tmp, "w", encoding="utf-8") as fh:
            for i, row in zip(ids, v):
                fh.write(json.dumps({"id": str(i), "embedding": [float(x) for x in row]}) + "\n")

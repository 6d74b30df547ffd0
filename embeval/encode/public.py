"""The function ``embeval.encode(texts, model="default", ...)``: texts (a list, a text file or a
BEIR folder) in, an n×d float32 array out, optionally written to a file.

The package :mod:`embeval.encode` is callable and runs :func:`encode`; it sits here, in the
encode layer, so that nothing below the Python API imports :mod:`embeval.python_api`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from embeval.encode.base import encode_texts
from embeval.encode.config import EncoderConfig
from embeval.errors import UsageError
from embeval.progress import as_progress


def _is_path(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def encode(
    texts: Any,
    *,
    model: str = "default",
    role: str = "document",
    batch_size: int = 32,
    max_seq_length: int | None = None,
    normalize: bool = True,
    device: str | None = None,
    prompt: str = "",
    cache: bool = True,
    cache_dir: str | None = None,
    text_col: str = "text",
    output: str | Path | None = None,
    progress: Any = False,
):
    """Encode texts (a list of strings, or a text file / BEIR folder) and return an n×d float32
    array; with ``output`` also write them (.npy .npz .parquet .csv .tsv .jsonl, ids kept).
    Vectors are read from and added to the embedding cache (``cache=False`` to skip it)."""
    if role not in ("document", "query"):
        raise UsageError("role must be 'document' or 'query'")
    cfg = EncoderConfig(
        model=model,
        batch_size=batch_size,
        max_seq_length=max_seq_length,
        normalize=normalize,
        device=device,
        cache=cache,
        cache_dir=cache_dir,
        **({"query_prompt": prompt} if role == "query" else {"document_prompt": prompt}),
    )
    if _is_path(texts):
        from embeval.io.texts import load_texts

        ts = load_texts(texts, text_col=text_col)
        items, ids, source = ts.texts, ts.ids, ts.path
    elif isinstance(texts, str):
        raise UsageError("encode: pass a list of texts")
    else:
        items = list(texts)
        ids, source = [str(i) for i in range(len(items))], "texts"
    vectors = encode_texts(items, cfg, role=role, progress=as_progress(progress), source=source)
    if output is not None:
        from embeval.io.writers import save_embeddings

        save_embeddings(output, vectors, ids, texts=items)
    return vectors

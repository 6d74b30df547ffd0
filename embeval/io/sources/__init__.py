"""Embedding sources that are not plain files: vector stores, Hugging Face datasets, FAISS indexes.

A *source spec* is a URI (``lancedb://PATH?table=T&column=vector``,
``postgresql://USER@HOST/DB?table=T&column=embedding&id=id``, ``hf-disk://PATH?column=embedding``,
``faiss://PATH``) or a FAISS index file (``.faiss``/``.index``). :func:`read_source` reads one in
batches; :func:`embeval.io.embeddings.load_embeddings` turns it into the same validated
:class:`~embeval.io.embeddings.EmbeddingSet` as a file.

Every library (lancedb, psycopg, datasets, faiss) is imported inside the reader that uses it.
Credentials never leave this package: the set's ``path`` and every message use
:func:`redact`, and driver errors are scrubbed of the password before they become an InputError.
"""

from __future__ import annotations

import os

from embeval.errors import InputError
from embeval.io.sources.spec import (
    BATCH_ROWS,
    FAISS_SUFFIXES,
    OUR_PARAMS,
    SCHEMES,
    SourceData,
    SourceSpec,
    connection_part,
    holds_password,
    local_path,
    param,
    parse_spec,
    redact,
    scrub,
    secrets_of,
    source_kind,
    split_uri,
    unknown_source,
)
from embeval.progress import NULL, Progress

__all__ = [
    "BATCH_ROWS",
    "FAISS_SUFFIXES",
    "OUR_PARAMS",
    "SCHEMES",
    "SourceData",
    "SourceSpec",
    "connection_part",
    "holds_password",
    "local_path",
    "param",
    "parse_spec",
    "read_source",
    "redact",
    "scrub",
    "secrets_of",
    "source_kind",
    "split_uri",
    "unknown_source",
]


def read_source(
    spec: str,
    *,
    id_col: str = "id",
    vector_col: str = "embedding",
    label_col: str | None = None,
    progress: Progress = NULL,
) -> tuple[SourceSpec, SourceData]:
    """Read an embedding source (see the module docstring): its parsed spec and what its reader
    returned. :func:`embeval.io.embeddings.load_embeddings` wraps it into a validated EmbeddingSet
    (this package does not import the loader, which imports it)."""
    s = parse_spec(os.fspath(spec))
    if s.kind == "lancedb":
        from embeval.io.sources.lance import read_lancedb as reader
    elif s.kind == "postgres":
        from embeval.io.sources.postgres import read_postgres as reader
    elif s.kind == "hf":
        from embeval.io.sources.hf import read_hf_disk as reader
    else:
        from embeval.io.sources.faiss_index import read_faiss as reader
    got = reader(s, id_col=id_col, vector_col=vector_col, label_col=label_col, progress=progress)
    if label_col is not None and got.labels is None:
        raise InputError(s.shown, f"no label column {label_col!r}")
    return s, got

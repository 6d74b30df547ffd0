"""Load embeddings (SPEC §2): the entry point :func:`load_embeddings` dispatches to one embedding
file (:mod:`embeval.io.files`, where the readers, :class:`EmbeddingSet` and validation live), a
folder or glob of shards (:mod:`embeval.io.shards`) or a source (:mod:`embeval.io.sources`).

The names of :mod:`embeval.io.files` are importable from here too.
"""

from __future__ import annotations

from pathlib import Path

from embeval.io.files import (
    EMBEDDING_SUFFIXES,
    NA_CELLS,
    NUMERIC_KINDS,
    EmbeddingSet,
    check_same_dim,
    from_memory,
    load_embedding_file,
    load_stacked_pair,
    row_norms64,
    validate,
)
from embeval.io.remote import is_url
from embeval.io.shards import is_shard_spec, load_file, load_sharded
from embeval.io.sources import read_source, source_kind, unknown_source
from embeval.progress import NULL, Progress

__all__ = [
    "EMBEDDING_SUFFIXES",
    "NA_CELLS",
    "NUMERIC_KINDS",
    "EmbeddingSet",
    "check_same_dim",
    "from_memory",
    "load_embedding_file",
    "load_embeddings",
    "load_stacked_pair",
    "row_norms64",
    "validate",
]


def load_embeddings(
    path: str | Path,
    *,
    id_col: str = "id",
    vector_col: str = "embedding",
    label_col: str | None = None,
    min_rows: int = 2,
    progress: Progress = NULL,
) -> EmbeddingSet:
    """Read and validate one embedding file, a folder or glob of shards (:mod:`embeval.io.shards`), or a
    source URI / FAISS index file (:mod:`embeval.io.sources`: LanceDB, PostgreSQL+pgvector, Hugging Face
    datasets on disk, FAISS). ``label_col`` must exist when given."""
    if is_url(path):  # object storage through fsspec (embeval.io.remote): shards or one file
        if is_shard_spec(path):
            return load_sharded(path, id_col=id_col, vector_col=vector_col, label_col=label_col, min_rows=min_rows)
        return load_file(str(path), id_col=id_col, vector_col=vector_col, label_col=label_col, min_rows=min_rows)
    if isinstance(path, str) and "://" in path and source_kind(path) is None:
        raise unknown_source(path)
    if source_kind(path) is not None:
        spec, got = read_source(str(path), id_col=id_col, vector_col=vector_col, label_col=label_col, progress=progress)
        emb = EmbeddingSet(
            vectors=got.vectors, ids=got.ids, path=spec.shown, labels=got.labels, info={"source": spec.kind, **got.info}
        )
        validate(emb, min_rows=min_rows)
        return emb
    if is_shard_spec(path):  # a folder or glob of shards (embeval.io.shards)
        return load_sharded(path, id_col=id_col, vector_col=vector_col, label_col=label_col, min_rows=min_rows)
    return load_embedding_file(path, id_col=id_col, vector_col=vector_col, label_col=label_col, min_rows=min_rows)

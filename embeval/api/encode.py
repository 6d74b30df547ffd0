"""``embeval encode``: texts to a vector file."""

from __future__ import annotations

from pathlib import Path

from embeval.encode import encode_texts
from embeval.errors import UsageError
from embeval.io.embeddings import EMBEDDING_SUFFIXES
from embeval.io.texts import load_texts
from embeval.io.writers import save_embeddings
from embeval.progress import NULL, Progress


def encode_file(
    file: str | Path,
    output: str | Path,
    *,
    encoder,
    role: str = "document",
    text_col: str = "text",
    id_col: str = "id",
    progress: Progress = NULL,
) -> tuple[int, int]:
    """Encode a text file (or a BEIR corpus) and write vectors with ids; returns (n, d)."""
    from embeval.io.outputs import check_outputs
    from embeval.options import check_encoder

    check_encoder(encoder)
    if Path(output).suffix.lower() not in EMBEDDING_SUFFIXES:
        raise UsageError(f"`output` {output}: use one of {', '.join(EMBEDDING_SUFFIXES)}")
    check_outputs({"`output`": output}, inputs=[file])
    ts = load_texts(file, text_col=text_col, id_col=id_col)
    _warn_npy_ids(output, ts.ids)
    vectors = encode_texts(ts.texts, encoder, role=role, progress=progress, source=ts.path)
    save_embeddings(output, vectors, ts.ids, texts=ts.texts)
    return vectors.shape


def _warn_npy_ids(output: str | Path, ids) -> None:
    """A .npy file holds only the vectors: ids that are not the row numbers 0 … n-1 would be lost
    without a word (read back, row i gets id "i")."""
    if Path(output).suffix.lower() != ".npy":
        return
    ids = [str(i) for i in ids]
    lost = next((i for row, i in enumerate(ids) if i != str(row)), None)
    if lost is not None:
        import warnings

        from embeval.notices import DroppedDataWarning

        warnings.warn(
            f"{output}: a .npy file holds only the vectors, so the ids (such as {lost!r}) are not kept "
            "and row numbers stand in for them; write .npz or .parquet to keep the ids",
            DroppedDataWarning,
            stacklevel=3,
        )

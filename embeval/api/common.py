"""What every command's orchestrator shares: choosing diagnostics (with the skip-with-note
policy of a default run, from :mod:`embeval.diagnostics.choose`), loading an input (vectors, or
texts encoded), encoding settings, checking retrieval options before any file is read."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from embeval.diagnostics.choose import resolve_metrics, run_diagnostic
from embeval.diagnostics.registry import parse_ks
from embeval.encode import encode_texts, encoder_identity
from embeval.errors import UsageError
from embeval.index.search import check_threads, resolve_params
from embeval.io.embeddings import EmbeddingSet, load_embeddings, validate
from embeval.io.texts import TextSet, is_beir_folder, load_texts
from embeval.progress import NULL, Progress

__all__ = [
    "check_retrieval_options",
    "encoding_settings",
    "load_input",
    "note_fallback",
    "records_cache",
    "resolve_metrics",
    "run_diagnostic",
    "warn_unused",
]


def load_input(
    path: str | Path | EmbeddingSet | TextSet,
    *,
    encoder=None,
    role: str = "document",
    text_col: str = "text",
    id_col: str = "id",
    vector_col: str = "embedding",
    label_col: str | None = None,
    progress: Progress = NULL,
):
    """An EmbeddingSet from an embedding file, or from texts encoded with ``encoder``
    (an :class:`~embeval.encode.EncoderConfig`; its ``texts`` are then kept). Data loaded already
    (an EmbeddingSet, or a TextSet to encode) is taken as it is: the edge (a file, or the Python
    API's arrays) loads and validates once."""
    if isinstance(path, EmbeddingSet):
        if encoder is not None:
            raise UsageError(f"{path.path} holds vectors: `model` encodes texts")
        return path
    if isinstance(path, TextSet):
        if encoder is None:
            raise UsageError(f"{path.path} holds texts: pass `model` (e.g. `model` default) to encode them")
        return _encoded(path, encoder, role, progress, path.path, memory=True)
    if encoder is None:
        p = Path(path)
        if p.suffix.lower() == ".txt" or is_beir_folder(p):
            raise UsageError(f"{path} holds texts: pass `model` (e.g. `model` default) to encode them")
        return load_embeddings(path, id_col=id_col, vector_col=vector_col, label_col=label_col, progress=progress)

    ts = load_texts(path, text_col=text_col, id_col=id_col, label_col=label_col)
    return _encoded(ts, encoder, role, progress, str(path))


def _encoded(ts: TextSet, encoder, role: str, progress: Progress, path: str, memory: bool = False) -> EmbeddingSet:
    vectors = encode_texts(ts.texts, encoder, role=role, progress=progress, source=ts.path)
    emb = EmbeddingSet(
        vectors=vectors,
        ids=np.asarray(ts.ids, dtype=str),
        path=path,
        labels=None if ts.labels is None else np.asarray(ts.labels),
        texts=ts.texts,
        info={"model": encoder_identity(encoder), **({"source": "memory", "path": ts.shown or path} if memory else {})},
    )
    validate(emb)
    return emb


def records_cache(fn):
    """Record in ``report.settings["cache"]`` how many texts the embedding cache served (hits) and
    the model encoded (misses), when the report encoded texts."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from embeval.encode.base import track_cache

        with track_cache() as stats:
            report = fn(*args, **kwargs)
        if stats.hits or stats.misses or stats.model_loaded:
            report.settings["cache"] = stats.as_dict()
        return report

    return wrapper


def warn_unused(options: dict[str, tuple[Any, str]], chosen: set[str]) -> None:
    """Warn (IgnoredOptionWarning) about each setting that was given although the diagnostic it
    tunes is not among the chosen ones, instead of silently doing nothing."""
    from embeval.notices import IgnoredOptionWarning

    for option, (value, diag) in options.items():
        if value is not None and diag not in chosen:
            warnings.warn(
                f"the `{option}` setting has no effect: it tunes {diag}, which is not among the chosen metrics",
                IgnoredOptionWarning,
                stacklevel=3,
            )


def encoding_settings(encoder, role: str) -> dict:
    """The encoder settings that change the vectors (the model identity is in the inputs)."""
    return {
        "model": encoder.model,
        "max_seq_length": encoder.max_seq_length,
        "normalize": encoder.normalize,
        "prompt": encoder.prompt(role),
    }


def in_memory(x: Any) -> bool:
    """Data the caller loaded (an EmbeddingSet, texts, labels or qrels in memory), not a path."""
    return not isinstance(x, (str, Path))


def describe_source(x: Any, name: str | None = None, **extra: Any) -> dict[str, Any]:
    """A report's ``inputs`` entry for a file (path, size, sha256) or for data given in memory
    (named ``name``, or its own ``.path`` name)."""
    from embeval.io.fileinfo import file_info

    if in_memory(x):
        return {"path": name or getattr(x, "path", "<memory>"), "source": "memory", **extra}
    return {**file_info(x), **extra}


def note_fallback(report, compute, notes: list[str] | None = None) -> None:
    """Say in ``report`` when ``compute``'s device is one only encoding uses (mps, xpu, …): the
    device asked for in its settings, and a note (in ``notes``, default the report's) that the
    O(n²) work ran on the CPU."""
    note = compute.fallback_note()
    if note:
        report.settings["device_requested"] = compute.device
        (report.notes if notes is None else notes).append(note)


def check_retrieval_options(
    *,
    k="1,10,100",
    index="flat",
    index_params=None,
    threads=None,
    seed=0,
    encoder=None,
    split=None,
    **_: Any,
) -> None:
    """Usage errors first: they must not wait for (large) files to load or texts to encode."""
    from embeval.options import check_encoder, check_index_params, check_options, check_split

    check_options(seed=seed, threads=threads)
    check_index_params(index_params)
    check_encoder(encoder)
    if split is not None:
        check_split(split)
    parse_ks(k)
    resolve_params(index, None, index_params)
    check_threads(threads)

"""What every command's orchestrator shares: choosing diagnostics (with the skip-with-note
policy of a default run), loading an input (vectors, or texts encoded), encoding settings."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from embeval.diagnostics.registry import Diagnostic, all_diagnostics, parse_spec, split_specs
from embeval.encode import encode_texts, encoder_identity
from embeval.errors import EmbevalError, InputError, UsageError
from embeval.io.embeddings import EmbeddingSet, load_embeddings, validate
from embeval.io.texts import is_beir_folder, load_texts
from embeval.progress import NULL, Progress


def resolve_metrics(specs: list[str] | None, family: str | tuple[str, ...], available: set[str],
                    hints: dict[str, str] | None = None) -> list[tuple[Diagnostic, dict]]:
    """Parse ``--metric`` values (comma-separated, repeatable). Default: every default diagnostic of
    ``family`` whose needs are in ``available``. Asking for one whose needs are missing is an error
    (``hints`` overrides the default "how to provide it" text per need)."""
    hints = {**_NEEDS_HINT, **(hints or {})}
    if not specs:
        return [(d, d.defaults()) for d in all_diagnostics(family) if d.default and d.needs <= available]
    chosen = []
    for text in specs:
        for spec in split_specs(text):
            diag, params = parse_spec(spec, family)
            missing = diag.needs - available
            if missing:
                raise UsageError(f"metric {diag.name} needs {', '.join(sorted(missing))} "
                                 f"({hints.get(next(iter(missing)), '')})")
            chosen.append((diag, params))
    return chosen


def run_diagnostic(diag: Diagnostic, context, params: dict, *, explicit: bool, notes: list[str]) -> list:
    """Run one diagnostic. In a default run (no --metric) one that cannot apply to this input
    (too few rows for its k, no distinct rows, ...) is skipped with a note instead of failing the
    whole report; a diagnostic the user asked for by name still fails loudly."""
    try:
        return diag.func(context, **params)
    except InputError:
        raise
    except EmbevalError as exc:  # a UsageError, or a kNN that needs more rows than there are
        if explicit:
            raise
        notes.append(f"skipped {diag.name}: {exc}")
        return []


_NEEDS_HINT = {"pairs": "pass `pairs` OTHER with row-aligned vectors", "labels": "pass `labels` or `label_col`"}


def load_input(
    path: str | Path,
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
    (an :class:`~embeval.encode.EncoderConfig`; its ``texts`` are then kept)."""
    if encoder is None:
        p = Path(path)
        if p.suffix.lower() == ".txt" or is_beir_folder(p):
            raise UsageError(f"{path} holds texts: pass `model` (e.g. `model` default) to encode them")
        return load_embeddings(path, id_col=id_col, vector_col=vector_col, label_col=label_col, progress=progress)

    ts = load_texts(path, text_col=text_col, id_col=id_col, label_col=label_col)
    vectors = encode_texts(ts.texts, encoder, role=role, progress=progress, source=ts.path)
    emb = EmbeddingSet(vectors=vectors, ids=np.asarray(ts.ids, dtype=str), path=str(path),
                       labels=None if ts.labels is None else np.asarray(ts.labels),
                       texts=ts.texts, info={"model": encoder_identity(encoder)})
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
            warnings.warn(f"the `{option}` setting has no effect: it tunes {diag}, which is not among the "
                          "chosen metrics", IgnoredOptionWarning, stacklevel=3)


def encoding_settings(encoder, role: str) -> dict:
    """The encoder settings that change the vectors (the model identity is in the inputs)."""
    return {"model": encoder.model, "max_seq_length": encoder.max_seq_length, "normalize": encoder.normalize,
            "prompt": encoder.prompt(role)}

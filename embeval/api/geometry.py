"""``embeval geometry``: geometry (and label-aware) diagnostics of one embedding set."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from embeval.api.cluster import cluster_route, geometry_on_cluster
from embeval.api.common import (
    describe_source,
    encoding_settings,
    in_memory,
    load_input,
    note_fallback,
    records_cache,
    resolve_metrics,
    run_diagnostic,
    warn_unused,
)
from embeval.compute.context import DEFAULT_COMPUTE, ComputeContext
from embeval.diagnostics.baselines import attach_baselines
from embeval.diagnostics.items import ITEMS_K_DEFAULT, check_item_settings, item_table
from embeval.diagnostics.scale import plan_geometry
from embeval.diagnostics.series import geometry_series
from embeval.diagnostics.space import Space
from embeval.errors import InputError, UsageError
from embeval.io.embeddings import EmbeddingSet, check_same_dim
from embeval.io.labels import check_labels, clean_labels, load_labels
from embeval.io.texts import TextSet
from embeval.options import check_encoder, check_options
from embeval.progress import NULL, Progress
from embeval.results import Report


@cluster_route(geometry_on_cluster)
@records_cache
def geometry_report(
    file: str | Path | EmbeddingSet | TextSet,
    *,
    metrics: list[str] | None = None,
    pairs: str | Path | EmbeddingSet | TextSet | None = None,
    sample: int = 0,
    normalize: bool = True,
    id_col: str = "id",
    vector_col: str = "embedding",
    text_col: str = "text",
    encoder=None,
    labels: str | Path | Sequence | None = None,
    label_col: str | None = None,
    items: bool = False,
    items_k: int | None = None,
    near_dup_threshold: float = 0.99,
    seed: int = 0,
    progress: Progress = NULL,
    compute: ComputeContext = DEFAULT_COMPUTE,
    cluster: str | None = None,
    checkpoint: str | Path | None = None,
) -> Report:
    """Geometry diagnostics of one embedding file, plus the label-aware ones when ``labels`` (a
    row-aligned label file; ``label_col`` names its column) or ``label_col`` alone (a column of
    ``file``) is given. ``items=True`` attaches the per-item triage table as ``report.items``, with ``items_k``
    neighbours (None: 10, or rows − 1 when fewer, with a note; a value given is refused outside
    1 … rows − 1).

    ``compute`` (a :class:`~embeval.compute.context.ComputeContext`, checked where it was made):
    its ``device`` (auto|cpu|cuda|cuda:N) runs the O(n²) work there. Before any O(n²) work its cost
    is estimated; above its ``budget`` seconds (None: no limit) each O(n²) diagnostic switches to
    its estimated form (``exact: false`` in its params; see :mod:`embeval.diagnostics.scale`)
    unless ``exact``.

    ``cluster`` (``local:N`` or a scheduler address; default ``$EMBEVAL_CLUSTER``): run over the
    shards of the inputs on Dask instead (:mod:`embeval.api.cluster`, :mod:`embeval.distributed`);
    ``checkpoint`` (a folder) keeps each finished tile there, so the same call again resumes
    (:mod:`embeval.distributed.checkpoint`)."""
    check_options(
        seed=seed,
        sample=sample,
        items_k=items_k if items else None,
        near_dup_threshold=near_dup_threshold if items else None,
    )
    _check_sample_exact(sample, compute.exact)
    check_encoder(encoder)
    available = {"pairs"} if pairs is not None else set()
    if labels is not None or label_col is not None:
        available.add("labels")
    chosen = resolve_metrics(metrics, ("geometry", "labels"), available)
    warn_unused({"sample": (sample or None, "uniformity")}, {d.name for d, _ in chosen})
    lab = None
    labels_name = "argument `labels`" if in_memory(labels) else str(labels)
    if labels is not None:  # read (and reject) a label file before any encoding; labels given in memory, cleaned
        lab = (
            load_labels(labels, column=label_col)
            if isinstance(labels, (str, Path))
            else clean_labels(labels, labels_name)
        )
    load = dict(encoder=encoder, text_col=text_col, id_col=id_col, vector_col=vector_col, progress=progress)
    _reading_note(file, progress)
    emb = load_input(file, label_col=label_col if labels is None else None, **load)
    if not normalize:
        _check_raw_scale(emb)
    inputs = {"embeddings": emb.describe()}
    lab = _check_labels(emb, lab, labels, labels_name, label_col, inputs)
    other = None
    if pairs is not None:
        other = load_input(pairs, **load)
        check_same_dim(emb, other)
        if other.n != emb.n:
            raise UsageError(
                f"`pairs` {other.path}: {other.n} rows, but {emb.path} has {emb.n}; pairs must be row-aligned"
            )
        inputs["pairs"] = other.describe()
    # The vectors were loaded here: normalise them in place, so one float32 copy exists, not two.
    space = Space.build(
        emb.vectors,
        normalize=normalize,
        pairs=None if other is None else other.vectors,
        labels=lab,
        seed=seed,
        progress=progress,
        inplace=True,
    )
    report = Report("geometry", inputs=inputs, settings={"seed": seed, "normalized": normalize})
    if lab is not None:
        report.settings["classes"] = len(space.label_codes()[1])
        if label_col is not None:
            report.settings["label_col"] = label_col
    if sample:
        report.settings["sample"] = sample
    k_items = _items_k(items_k, space.n, report.notes) if items else 0
    if items:
        check_item_settings(space.n, k_items, near_dup_threshold)
    if sample:
        chosen = [
            (d, {**p, "sample": sample} if d.name == "uniformity" and not p.get("sample") else p) for d, p in chosen
        ]
    _plan_scale(space, chosen, report, compute, items=items)
    # One kNN search serves every kNN diagnostic and the item table: ask for the largest k first.
    ks = [p["k"] for _, p in chosen if isinstance(p.get("k"), int)] + ([k_items] if items else [])
    if ks and 1 <= max(ks) < space.n:
        space.knn_rows(max(ks))
    for diag, params in chosen:
        report.results.extend(run_diagnostic(diag, space, params, explicit=bool(metrics), notes=report.notes))
    attach_baselines(report.results, space.n, space.x.shape[1], seed, unit=normalize)
    report.notes.append(
        "rows L2-normalised before every diagnostic"
        if normalize
        else "rows used as given (not L2-normalised); angles and cosines use unit rows"
    )
    if items:
        report.items = item_table(space, emb.ids, texts=emb.texts, k=k_items, near_dup_threshold=near_dup_threshold)
        report.settings.update({"items_k": k_items, "near_dup_threshold": near_dup_threshold})
    if encoder is not None:
        report.settings["encoding"] = encoding_settings(encoder, role="document")

    hub_k = next((params.get("k") for diag, params in chosen if diag.name == "hubness"), None)
    report.series.update(geometry_series(space, hub_k))
    return report


def _reading_note(path, progress: Progress, big: int = 64 << 20) -> None:
    """Say so before reading a file large enough to take seconds (so a run is never silent)."""
    if in_memory(path):
        return
    try:
        size = Path(path).stat().st_size
    except OSError:
        return
    if size >= big:
        progress.note(f"reading {Path(path).name} ({size / 2**20:,.0f} MiB)")


def _check_sample_exact(sample: int, exact: bool) -> None:
    if sample and exact:
        raise UsageError(
            f"`sample` {sample} and `exact` conflict: `sample` estimates uniformity from random pairs, "
            "`exact` asks for every diagnostic exactly; give one of them"
        )


def _items_k(items_k: int | None, n: int, notes: list[str]) -> int:
    """The per-item table's k: as given (checked by the caller), or the default 10 fitted to a
    small input (rows − 1, with a note) instead of refused."""
    if items_k is not None:
        return items_k
    k = min(ITEMS_K_DEFAULT, n - 1)
    if k < ITEMS_K_DEFAULT:
        notes.append(f"per-item table with k = {k} neighbours (the default {ITEMS_K_DEFAULT} needs more than {n} rows)")
    return k


def _plan_scale(space, chosen, report: Report, compute: ComputeContext, *, items: bool) -> None:
    """Pick the compute back end on ``compute.device``, estimate the O(n²) work, and (over the budget)
    switch the O(n²) diagnostics to their estimated forms: sets ``space.backend``/``space.plan``,
    and records the decision in the report's settings and notes and on the progress display."""
    backend = compute.backend(rows=space.n)
    plan = plan_geometry(
        space.n,
        space.x.shape[1],
        [(d.name, p) for d, p in chosen],
        backend=backend,
        device=backend.device,
        budget=compute.budget,
        exact=compute.exact,
        seed=space.seed,
        full_knn=items,
    )
    space.backend, space.plan = backend, plan
    settings = plan.settings()
    if backend.device == "cpu" and plan.estimate_s is None:  # small work on the CPU: where and how, no estimate
        settings = {"device": settings["device"], "exact": settings["exact"]}
    report.settings.update(settings)
    note_fallback(report, compute)
    note = plan.note()
    if note:
        report.notes.append(note)
        space.progress.note(note)
    elif plan.estimate_s is not None:
        space.progress.note(
            f"exact O(n²) work on {space.n:,} × {space.x.shape[1]} rows: estimated "
            f"{plan.estimate_s:.0f} s on {backend.device}"
        )


def _check_labels(emb, lab, labels, labels_name, label_col, inputs):
    """Row-aligned labels from a label file (already read: ``lab``) or from a column of the input
    file (validated), or None. Records the label file among the report's inputs."""
    if labels is not None:
        check_labels(lab, emb.n, labels_name, emb.path)
        inputs["labels"] = describe_source(labels, name=labels_name, n=len(lab))
        return lab
    if label_col is not None:
        lab = clean_labels(emb.labels, emb.path, label_col)
        check_labels(lab, emb.n, emb.path, emb.path)
        return lab
    return None


# Squared distances of raw rows are computed in float32: ‖x − y‖² ≤ 4·max‖x‖² must stay below 3.4e38.
MAX_RAW_NORM = 9e18


def _check_raw_scale(emb) -> None:
    """Under normalize=False, rows so long that float32 squared distances overflow would turn
    uniformity and intrinsic_dim into NaN; say so instead."""
    from embeval.io.embeddings import row_norms64

    norms = row_norms64(emb.vectors)
    if norms.max() > MAX_RAW_NORM:
        row = int(norms.argmax())
        raise InputError(
            emb.path,
            f"row norm {norms[row]:.3g} is too large for un-normalised diagnostics "
            f"(squared distances would overflow float32 beyond a norm of {MAX_RAW_NORM:.0e}); "
            "rescale the vectors or keep the default normalisation",
            where=f"row {row}",
        )

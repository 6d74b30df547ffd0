"""Library entry points: one function per command, returning a :class:`Report`.

The CLI and the batch runner call these; they know nothing of the terminal.
"""

from __future__ import annotations

from pathlib import Path

from embeval.diagnostics.registry import Diagnostic, all_diagnostics, parse_spec, split_specs
from embeval.errors import UsageError
from embeval.progress import NULL, Progress
from embeval.report.results import Report


def resolve_metrics(specs: list[str] | None, family: str, available: set[str]) -> list[tuple[Diagnostic, dict]]:
    """Parse ``--metric`` values (comma-separated, repeatable). Default: every default diagnostic of
    ``family`` whose needs are in ``available``. Asking for one whose needs are missing is an error."""
    if not specs:
        return [(d, d.defaults()) for d in all_diagnostics(family) if d.default and d.needs <= available]
    chosen = []
    for text in specs:
        for spec in split_specs(text):
            diag, params = parse_spec(spec, family)
            missing = diag.needs - available
            if missing:
                raise UsageError(f"metric {diag.name} needs {', '.join(sorted(missing))} "
                                 f"({_NEEDS_HINT.get(next(iter(missing)), '')})")
            chosen.append((diag, params))
    return chosen


_NEEDS_HINT = {"pairs": "pass --pairs OTHER with row-aligned vectors", "labels": "pass --labels or --label-col"}


def geometry_report(
    file: str | Path,
    *,
    metrics: list[str] | None = None,
    pairs: str | Path | None = None,
    sample: int = 0,
    normalize: bool = True,
    id_col: str = "id",
    vector_col: str = "embedding",
    labels: str | Path | None = None,
    label_col: str | None = None,
    items: bool = False,
    items_k: int = 10,
    near_dup_threshold: float = 0.99,
    seed: int = 0,
    progress: Progress = NULL,
) -> Report:
    """Geometry diagnostics of one embedding file, plus the label-aware ones when ``labels`` (a
    row-aligned label file; ``label_col`` names its column) or ``label_col`` alone (a column of
    ``file``) is given. ``items=True`` attaches the per-item triage table as ``report.items``."""
    from embeval.diagnostics.space import Space
    from embeval.io.embeddings import check_same_dim, load_embeddings

    available = {"pairs"} if pairs is not None else set()
    if labels is not None or label_col is not None:
        available.add("labels")
    chosen = resolve_metrics(metrics, ("geometry", "labels"), available)
    if sample < 0:
        raise UsageError("--sample must be positive")
    emb = load_embeddings(file, id_col=id_col, vector_col=vector_col,
                          label_col=label_col if labels is None else None)
    inputs = {"embeddings": emb.describe()}
    lab = _load_labels(emb, labels, label_col, inputs)
    other = None
    if pairs is not None:
        other = load_embeddings(pairs, id_col=id_col, vector_col=vector_col)
        check_same_dim(emb, other)
        if other.n != emb.n:
            raise UsageError(f"--pairs {pairs}: {other.n} rows, but {file} has {emb.n}; pairs must be row-aligned")
        inputs["pairs"] = other.describe()
    space = Space.build(emb.vectors, normalize=normalize, pairs=None if other is None else other.vectors,
                        labels=lab, seed=seed, progress=progress)
    report = Report("geometry", inputs=inputs, settings={"seed": seed, "normalized": normalize})
    if lab is not None:
        report.settings["classes"] = int(len(space.label_codes()[1]))
        if label_col is not None:
            report.settings["label_col"] = label_col
    if sample:
        report.settings["sample"] = sample
    if items:
        from embeval.diagnostics.items import check_item_settings

        check_item_settings(space.n, items_k, near_dup_threshold)
    # One FAISS search serves every kNN diagnostic and the item table: ask for the largest k first.
    ks = [p["k"] for _, p in chosen if isinstance(p.get("k"), int)] + ([items_k] if items else [])
    if ks and 1 <= max(ks) < space.n:
        space.knn(max(ks))
    for diag, params in chosen:
        if diag.name == "uniformity" and sample and not params.get("sample"):
            params = {**params, "sample": sample}
        report.results.extend(diag.func(space, **params))
    report.notes.append("rows L2-normalised before every diagnostic" if normalize
                        else "rows used as given (--no-normalize); angles and cosines use unit rows")
    if items:
        from embeval.diagnostics.items import item_table

        report.items = item_table(space, emb.ids, texts=emb.texts, k=items_k,
                                  near_dup_threshold=near_dup_threshold)
        report.settings.update({"items_k": items_k, "near_dup_threshold": near_dup_threshold})
    return report


def _load_labels(emb, labels, label_col, inputs):
    """Row-aligned labels from a label file or from a column of the embeddings file (validated),
    or None. Records the label file among the report's inputs."""
    from embeval.io.labels import check_labels, clean_labels, load_labels

    if labels is not None:
        from embeval.io.fileinfo import file_info

        lab = load_labels(labels, column=label_col)
        check_labels(lab, emb.n, labels, emb.path)
        inputs["labels"] = {**file_info(labels), "n": len(lab)}
        return lab
    if label_col is not None:
        lab = clean_labels(emb.labels, emb.path, label_col)
        check_labels(lab, emb.n, emb.path, emb.path)
        return lab
    return None

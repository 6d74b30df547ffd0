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
    seed: int = 0,
    progress: Progress = NULL,
) -> Report:
    from embeval.diagnostics.space import Space
    from embeval.io.embeddings import check_same_dim, load_embeddings

    available = {"pairs"} if pairs is not None else set()
    chosen = resolve_metrics(metrics, "geometry", available)
    if sample < 0:
        raise UsageError("--sample must be positive")
    emb = load_embeddings(file, id_col=id_col, vector_col=vector_col)
    inputs = {"embeddings": emb.describe()}
    other = None
    if pairs is not None:
        other = load_embeddings(pairs, id_col=id_col, vector_col=vector_col)
        check_same_dim(emb, other)
        if other.n != emb.n:
            raise UsageError(f"--pairs {pairs}: {other.n} rows, but {file} has {emb.n}; pairs must be row-aligned")
        inputs["pairs"] = other.describe()
    space = Space.build(emb.vectors, normalize=normalize, pairs=None if other is None else other.vectors,
                        seed=seed, progress=progress)
    report = Report("geometry", inputs=inputs, settings={"seed": seed, "normalized": normalize})
    if sample:
        report.settings["sample"] = sample
    for diag, params in chosen:
        if diag.name == "uniformity" and sample and not params.get("sample"):
            params = {**params, "sample": sample}
        report.results.extend(diag.func(space, **params))
    report.notes.append("rows L2-normalised before every diagnostic" if normalize
                        else "rows used as given (--no-normalize); angles and cosines use unit rows")
    return report

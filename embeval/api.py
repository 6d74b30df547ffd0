"""Library entry points: one function per command, returning a :class:`Report`.

The CLI and the batch runner call these; they know nothing of the terminal.
"""

from __future__ import annotations

from pathlib import Path

from embeval.diagnostics.registry import Diagnostic, all_diagnostics, parse_spec, split_specs
from embeval.errors import UsageError
from embeval.progress import NULL, Progress
from embeval.report.results import Report


def resolve_metrics(specs: list[str] | None, family: str, available: set[str],
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


def gap_report(
    a: str | Path,
    b: str | Path | None = None,
    *,
    paired: bool = False,
    metrics: list[str] | None = None,
    folds: int | None = None,
    k: int | None = None,
    shift_lambda: float | None = None,
    export_gap: str | Path | None = None,
    plot: str | Path | None = None,
    id_col: str = "id",
    vector_col: str = "embedding",
    seed: int = 0,
    progress: Progress = NULL,
) -> Report:
    """Gap between two embedding sets (SPEC §3): ``a`` and ``b`` embedding files, or ``a`` alone
    holding both as a (2, n, d) ``.npy`` ("Mind the Gap" layout, A = [0], B = [1]).

    ``paired``: row i of A is the partner of row i of B (adds alignment, matched/unmatched cosine,
    A→B and B→A retrieval, and the same retrieval after closing the gap). ``folds``, ``k`` and
    ``shift_lambda`` override the parameters of linear_separability, knn_mixing and gap_shift.
    ``export_gap`` (.npy/.csv/.json) and ``plot`` (.png/.svg/.pdf) are written, atomically,
    only after every metric has been computed.
    """
    import numpy as np

    from embeval.diagnostics.gap import GapSpace, centroid_cosine_value, gap_vector, pca_2d
    from embeval.io.embeddings import check_same_dim, load_embeddings, load_stacked_pair
    from embeval.report.export import check_vector_path, write_vector
    from embeval.report.plots import check_plot_path, gap_figure

    # Usage first: nothing is loaded or computed for a command that cannot finish.
    if export_gap is not None:
        check_vector_path(export_gap)
    if plot is not None:
        check_plot_path(plot)
    if shift_lambda is not None and not paired:
        raise UsageError("--shift-lambda applies to the paired gap_shift; add --paired")
    chosen = resolve_metrics(metrics, "gap", {"pairs"} if paired else set(),
                             hints={"pairs": "pass --paired when row i of A is the partner of row i of B"})
    overrides = {"linear_separability": ("folds", folds), "knn_mixing": ("k", k),
                 "gap_shift": ("lam", shift_lambda)}

    notes = []
    if b is None:
        set_a, set_b = load_stacked_pair(a)
        name_a, name_b = f"{Path(a).name}[0]", f"{Path(a).name}[1]"
        notes.append(f"A = {name_a}, B = {name_b} (one (2, n, d) file)")
    else:
        set_a = load_embeddings(a, id_col=id_col, vector_col=vector_col)
        set_b = load_embeddings(b, id_col=id_col, vector_col=vector_col)
        check_same_dim(set_a, set_b)
        name_a, name_b = Path(a).name, Path(b).name
    if paired and set_a.n != set_b.n:
        raise UsageError(f"--paired needs row-aligned sets of equal size: A ({name_a}) has {set_a.n} rows, "
                         f"B ({name_b}) has {set_b.n}")

    space = GapSpace.build(set_a.vectors, set_b.vectors, paired=paired, seed=seed, progress=progress)
    report = Report("gap", inputs={"a": set_a.describe(), "b": set_b.describe()},
                    settings={"seed": seed, "paired": paired, "normalized": True})
    for diag, params in chosen:
        key, value = overrides.get(diag.name, (None, None))
        if value is not None:
            params = {**params, key: value}
        report.results.extend(diag.func(space, **params))

    notes.append("rows L2-normalised before every diagnostic; gap = ‖mean(Â) − mean(B̂)‖")
    names = {r.metric for r in report.results}
    if "linear_separability" in names:
        notes.append("linear_separability: balanced accuracy (0.5 = chance) of a standardised logistic "
                     "regression, stratified seeded k-fold")
    shifted = next((r for r in report.results if r.metric == "shifted_gap"), None)
    if shifted is not None:
        notes.append(f"shifted_*: A and B each moved ½λ along the gap direction and re-normalised, "
                     f"λ = {shifted.params['lambda']:.4f} (Liang et al. 2022)")
    if "uniformity_cross" in names:
        notes.append("uniformity_cross: " + ("partners (i = j) left out" if paired else "all A×B pairs"))

    g = gap_vector(space.a, space.b)
    gap_norm = float(np.linalg.norm(g))
    if export_gap is not None:
        write_vector(export_gap, g, name="gap_vector",
                     meta={"definition": "mean(A_hat) - mean(B_hat), rows L2-normalised",
                           "a": name_a, "b": name_b, "norm": gap_norm})
        notes.append(f"gap vector (d={g.shape[0]}) written to {export_gap}")
    if plot is not None:
        pa, pb, ratio = pca_2d(space.a, space.b)
        title = f"gap = {gap_norm:.3f}, centroid cosine = {centroid_cosine_value(space.a, space.b):.3f}"
        sep = report.value("linear_separability")
        if sep is not None:
            title += f", separability = {sep:.3f}"
        gap_figure(pa, pb, plot, paired=paired, label_a=f"A: {name_a}", label_b=f"B: {name_b}",
                   title=title, seed=seed,
                   axis_labels=(f"PC 1 ({100 * ratio[0]:.1f}% of variance)",
                                f"PC 2 ({100 * ratio[1]:.1f}% of variance)"))
        notes.append(f"picture written to {plot}")
    else:
        notes.append("add --plot gap.png for a 2-D picture of both sets")
    report.notes.extend(notes)
    return report

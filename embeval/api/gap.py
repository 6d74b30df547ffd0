"""``embeval gap``: the gap between two embedding sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embeval.api.cluster import cluster_route, gap_on_cluster
from embeval.api.common import (
    load_input,
    note_fallback,
    records_cache,
    resolve_metrics,
    run_diagnostic,
    warn_unused,
)
from embeval.compute.context import DEFAULT_COMPUTE, ComputeContext
from embeval.diagnostics import all_diagnostics
from embeval.diagnostics.gap import GapSpace, centroid_cosine_value, gap_vector, pca_2d
from embeval.diagnostics.registry import Diagnostic
from embeval.diagnostics.scale import plan_gap
from embeval.diagnostics.series import gap_series
from embeval.errors import UsageError
from embeval.io.embeddings import EmbeddingSet, check_same_dim, load_stacked_pair
from embeval.io.texts import TextSet
from embeval.progress import NULL, Progress
from embeval.results import Report


def _load_sets(a, b, load: dict, notes: list[str], name_a, name_b):
    """Sets A and B (loaded here from files, or taken as loaded at the edge) and their default names."""
    if b is None:
        if load["encoder"] is not None:
            raise UsageError("with `model` pass two text inputs A B (a single input is a (2, n, d) .npy)")
        if not isinstance(a, (str, Path)):
            raise UsageError("`b` is missing: a single input A is a (2, n, d) .npy holding A = [0] and B = [1]")
        set_a, set_b = load_stacked_pair(a)
        default_a, default_b = f"{Path(a).name}[0]", f"{Path(a).name}[1]"
        notes.append(f"A = {name_a or default_a}, B = {name_b or default_b} (one (2, n, d) file)")
        return set_a, set_b, default_a, default_b
    set_a = load_input(a, role="query", **load)
    set_b = load_input(b, role="document", **load)
    check_same_dim(set_a, set_b)
    return set_a, set_b, Path(set_a.path).name, Path(set_b.path).name  # .path: a source URI without its password


def _with_drift(chosen: list[tuple[Diagnostic, dict]]) -> list[tuple[Diagnostic, dict]]:
    """``chosen`` plus the drift family's diagnostics not chosen already (``drift=True``)."""
    names = {d.name for d, _ in chosen}
    return chosen + [(d, d.defaults()) for d in all_diagnostics("drift") if d.name not in names]


def _drift_notes(names: set[str], results=()) -> list[str]:
    out = []
    if "drift_p" in names:
        out.append("drift_p: permutation p-value of the unbiased MMD² (small = A and B differ)")
    if "c2st_auc" in names:
        out.append("c2st_auc: held-out AUC of a classifier telling B from A (0.5 = no drift); c2st_p its p-value")
    combined = next((r for r in results if r.metric == "drift_any_p"), None)
    if combined is not None:
        out.append(
            "drift_any_p: the one drift decision, both tests Holm-corrected (min(1, 2·min(drift_p, c2st_p))); "
            "gate on it (--fail-if 'drift_any_p < 0.01')"
        )
        p1, p2 = combined.params.get("drift_p"), combined.params.get("c2st_p")
        if p1 is not None and p2 is not None and (p1 < 0.01) != (p2 < 0.01):
            found, missed = (
                ("MMD (drift_p)", "classifier (c2st_p)") if p1 < p2 else ("classifier (c2st_p)", "MMD (drift_p)")
            )
            out.append(
                f"the drift tests disagree at 0.01: the {found} test finds a difference the {missed} test does not; "
                f"they look at different things, and drift_any_p = {combined.value:.4g} counts either"
            )
    return out


@cluster_route(gap_on_cluster)
@records_cache
def gap_report(
    a: str | Path | EmbeddingSet | TextSet,
    b: str | Path | EmbeddingSet | TextSet | None = None,
    *,
    paired: bool = False,
    metrics: list[str] | None = None,
    folds: int | None = None,
    k: int | None = None,
    shift_lambda: float | None = None,
    projection: bool = False,
    id_col: str = "id",
    vector_col: str = "embedding",
    text_col: str = "text",
    encoder=None,
    name_a: str | None = None,
    name_b: str | None = None,
    seed: int = 0,
    progress: Progress = NULL,
    drift: bool = False,
    compute: ComputeContext = DEFAULT_COMPUTE,
    cluster: str | None = None,
    checkpoint: str | Path | None = None,
) -> Report:
    """Gap between two embedding sets (SPEC §3): ``a`` and ``b`` embedding files, or ``a`` alone
    holding both as a (2, n, d) ``.npy`` ("Mind the Gap" layout, A = [0], B = [1]). With an
    ``encoder`` (:class:`~embeval.encode.EncoderConfig`) ``a`` and ``b`` are texts, A encoded with
    the query role and B with the document role.

    ``paired``: row i of A is the partner of row i of B (adds alignment, matched/unmatched cosine,
    A→B and B→A retrieval, and the same retrieval after closing the gap). ``folds``, ``k`` and
    ``shift_lambda`` override the parameters of linear_separability, knn_mixing and gap_shift.
    ``name_a`` / ``name_b`` name the sets ("images", "captions") in notes, pictures and the HTML
    report (default: the file names).

    ``report.artifacts`` holds the gap vector (``gap_vector``, with ``gap_vector_meta``) and, with
    ``projection``, both sets on the top two principal components of A∪B (``gap_projection``:
    what :func:`embeval.report.plots.gap_figure` draws). The library writes no file.

    ``drift`` adds the drift family's two-sample tests (``mmd2``/``drift_p`` and
    ``c2st_auc``/``c2st_p``, and the combined decision ``drift_any_p``,
    :mod:`embeval.diagnostics.drift`); they can also be named in ``metrics``.

    ``compute`` (a :class:`~embeval.compute.context.ComputeContext`, checked where it was made):
    its ``device`` (auto|cpu|cuda|cuda:N) runs the O(n²) work there. Before it, its cost is
    estimated; above its ``budget`` seconds (None: no limit) the set uniformities, knn_mixing and the
    paired AUCs switch to their estimated forms (``exact: false`` in their params; see
    :func:`embeval.diagnostics.scale.plan_gap`) unless ``exact``.

    ``cluster`` (``local:N`` or a scheduler address; default ``$EMBEVAL_CLUSTER``): run over the
    shards of the inputs on Dask instead (:mod:`embeval.api.cluster`, :mod:`embeval.distributed`);
    ``checkpoint`` (a folder) keeps each finished tile there, so the same call again resumes
    (:mod:`embeval.distributed.checkpoint`).
    """
    # Usage first: nothing is loaded or computed for a command that cannot finish.
    from embeval.options import check_encoder, check_options

    check_options(seed=seed, folds=folds, k=k, shift_lambda=shift_lambda)
    check_encoder(encoder)
    if shift_lambda is not None and not paired:
        raise UsageError("`shift_lambda` applies to the paired gap_shift; add `paired`")
    chosen = resolve_metrics(
        metrics,
        ("gap", "drift"),
        {"pairs"} if paired else set(),
        hints={"pairs": "pass `paired` when row i of A is the partner of row i of B"},
    )
    chosen = _with_drift(chosen) if drift else chosen
    overrides = {"linear_separability": ("folds", folds), "knn_mixing": ("k", k), "gap_shift": ("lam", shift_lambda)}
    warn_unused(
        {"folds": (folds, "linear_separability"), "k": (k, "knn_mixing"), "shift_lambda": (shift_lambda, "gap_shift")},
        {d.name for d, _ in chosen},
    )

    notes: list[str] = []
    load = dict(encoder=encoder, text_col=text_col, id_col=id_col, vector_col=vector_col, progress=progress)
    set_a, set_b, default_a, default_b = _load_sets(a, b, load, notes, name_a, name_b)
    name_a, name_b = name_a or default_a, name_b or default_b
    if paired and set_a.n != set_b.n:
        raise UsageError(
            f"`paired` needs row-aligned sets of equal size: A ({name_a}) has {set_a.n} rows, "
            f"B ({name_b}) has {set_b.n}"
        )

    backend = compute.backend(rows=set_a.n + set_b.n)
    space = GapSpace.build(set_a.vectors, set_b.vectors, paired=paired, seed=seed, progress=progress, backend=backend)
    report = Report(
        "gap",
        inputs={"a": set_a.describe(), "b": set_b.describe()},
        settings={"seed": seed, "paired": paired, "normalized": True, "names": {"a": name_a, "b": name_b}},
    )
    space.plan = plan_gap(
        space.n_a,
        space.n_b,
        space.a.shape[1],
        [d.name for d, _ in chosen],
        backend=backend,
        device=backend.device,
        budget=compute.budget,
        exact=compute.exact,
        seed=seed,
    )
    if space.plan.estimate_s is not None:
        report.settings.update(space.plan.settings())
    note_fallback(report, compute, notes)
    plan_note = space.plan.note()
    if plan_note:
        notes.append(plan_note)
        progress.note(plan_note)
    for diag, params in chosen:
        key, value = overrides.get(diag.name, (None, None))
        if value is not None:
            params = {**params, key: value}
        report.results.extend(run_diagnostic(diag, space, params, explicit=bool(metrics), notes=report.notes))

    names = {r.metric for r in report.results}
    # The gap's definition only next to the gap itself (not for -m mmd,c2st alone).
    notes.append(
        "rows L2-normalised before every diagnostic" + ("; gap = ‖mean(Â) − mean(B̂)‖" if "gap" in names else "")
    )
    if "linear_separability" in names:
        notes.append(
            "linear_separability: balanced accuracy (0.5 = chance) of a standardised logistic "
            "regression, stratified seeded k-fold"
        )
    shifted = next((r for r in report.results if r.metric == "shifted_gap"), None)
    if shifted is not None:
        notes.append(
            f"shifted_*: A and B each moved ½λ along the gap direction and re-normalised, "
            f"λ = {shifted.params['lambda']:.4f} (Liang et al. 2022)"
        )
    notes += _drift_notes(names, report.results)
    if "uniformity_cross" in names:
        notes.append("uniformity_cross: " + ("partners (i = j) left out" if paired else "all A×B pairs"))

    g = gap_vector(space.a, space.b)
    gap_norm = float(np.linalg.norm(g))
    report.artifacts["gap_vector"] = g
    report.artifacts["gap_vector_meta"] = {
        "definition": "mean(A_hat) - mean(B_hat), rows L2-normalised",
        "a": name_a,
        "b": name_b,
        "norm": gap_norm,
    }
    if projection:
        pa, pb, ratio = pca_2d(space.a, space.b)
        title = f"gap = {gap_norm:.3f}, centroid cosine = {centroid_cosine_value(space.a, space.b):.3f}"
        sep = report.get("linear_separability")
        if sep is not None:
            title += f", separability = {sep:.3f}"
        report.artifacts["gap_projection"] = {
            "pa": pa,
            "pb": pb,
            "paired": paired,
            "label_a": f"A: {name_a}",
            "label_b": f"B: {name_b}",
            "title": title,
            "seed": seed,
            "axis_labels": (f"PC 1 ({100 * ratio[0]:.1f}% of variance)", f"PC 2 ({100 * ratio[1]:.1f}% of variance)"),
        }
    report.notes.extend(notes)

    report.series["gap_pca"] = gap_series(space.a, space.b, paired=paired, seed=seed)
    return report

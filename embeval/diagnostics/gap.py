"""Gap between two embedding sets A and B (SPEC §3): modalities (images vs texts) or the two sides
of an asymmetric retriever (queries vs documents).

Liang et al. 2022, "Mind the Gap: Understanding the Modality Gap in Multi-modal Contrastive
Representation Learning" (NeurIPS): the two sides of a contrastive model occupy different cones of
the sphere; ``gap`` is the distance between their centroids. Fahim et al. 2024, "It's Not a
Modality Gap": how linearly separable the two sides are. Wang & Isola 2020: uniformity and
alignment.

Every function takes unit-normalised float32 rows (n_a×d and n_b×d); the registered diagnostics
take a :class:`GapSpace`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embeval.compute import ExpSqDist, cross_pair_sum
from embeval.diagnostics.geometry import ALIGNMENT, alignment_value, uniformity_exact
from embeval.diagnostics.pairsum import log_mean
from embeval.diagnostics.registry import HIGHER, LOWER, NEITHER, Diagnostic, Output, Param, parse_ks, register
from embeval.diagnostics.retrieval import evaluate_retrieval
from embeval.diagnostics.space import l2_normalize
from embeval.errors import UsageError
from embeval.progress import NULL, Progress
from embeval.results import Result

# ---------------------------------------------------------------- outputs (declared once)

GAP = Output(
    "gap",
    LOWER,
    "‖mean(Â) − mean(B̂)‖, centroids not re-normalised (Liang et al. 2022); `--export-gap` writes the vector",
)
CENTROID_COSINE = Output("centroid_cosine", HIGHER, "cosine of the two centroids; 1 = they point the same way")
LINEAR_SEPARABILITY = Output(
    "linear_separability",
    LOWER,
    "stratified, seeded k-fold (`folds`, default 5) balanced accuracy of a standardised, class-balanced logistic "
    "regression telling A from B (Fahim et al. 2024). 0.5 = no gap, 1.0 = fully separable; sets over `max_rows` "
    "(10,000) rows are subsampled (seeded)",
    identity=("folds", "C", "max_rows"),
)
_T = ("t",)
UNIFORMITY_A = Output("uniformity_a", LOWER, "uniformity (t=2) of A, exact in blocks", identity=_T)
UNIFORMITY_B = Output("uniformity_b", LOWER, "uniformity (t=2) of B, exact in blocks", identity=_T)
UNIFORMITY_JOINT = Output("uniformity_joint", LOWER, "uniformity (t=2) of A∪B, exact in blocks", identity=_T)
UNIFORMITY_CROSS = Output(
    "uniformity_cross",
    LOWER,
    "log mean exp(−t‖âᵢ − b̂ⱼ‖²) across the sets, in blocks. With `--paired` the partners (i = j) are left out "
    "(they are what `alignment` measures); without it every A×B pair counts",
    identity=_T,
)
KNN_MIXING = Output(
    "knn_mixing",
    HIGHER,
    "share of each row's k nearest neighbours in A∪B (k=10, FAISS) from the other set, averaged over all rows; "
    "params give A's and B's shares and `expected_if_mixed` = 2·n_A·n_B/(n(n−1))",
    identity=("k",),
)
MATCHED_COSINE = Output("matched_cosine", HIGHER, "paired: mean cosine of partners cos(âᵢ, b̂ᵢ)")
UNMATCHED_COSINE = Output(
    "unmatched_cosine",
    LOWER,
    "paired: mean cosine of non-partners cos(âᵢ, b̂ⱼ), i ≠ j (closed form)",
)
SHIFTED_GAP = Output(
    "shifted_gap",
    NEITHER,
    "paired: the gap after closing it: u = gap/‖gap‖, Â' = normalise(Â − ½λu), B̂' = normalise(B̂ + ½λu), λ = "
    "‖gap‖ unless `lam` (`--shift-lambda`) (Liang et al.'s shift); λ is in `params`",
)


def _paired_retrieval_outputs(prefix: str, what: str) -> tuple[Output, ...]:
    return tuple(
        Output(f"{prefix}{side}_{name}", HIGHER, f"{what}{text}")
        for name, text in (
            ("recall@K", "recall@K of each row's partner"),
            ("auc_global", "pooled AUC of partners vs non-partners"),
            ("auc_query", "mean per-row AUC of the partner vs the rest"),
        )
        for side in ("a2b", "b2a")
    )


PAIRED_RETRIEVAL = _paired_retrieval_outputs("", "")
SHIFTED_RETRIEVAL = _paired_retrieval_outputs("shifted_", "after the shift: ")


@dataclass
class GapSpace:
    """Two validated sets to compare.

    a, b:    n_a×d and n_b×d float32 unit rows.
    paired:  row i of ``a`` is the partner of row i of ``b`` (then n_a = n_b).
    """

    a: np.ndarray
    b: np.ndarray
    paired: bool = False
    seed: int = 0
    progress: Progress = NULL
    backend: Any = None  # embeval.compute back end for the O(n²) passes (None: NumPy on the CPU)
    plan: Any = None  # embeval.diagnostics.scale.ScalePlan (None or exact: every O(n²) pass exact)
    _knn: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls, a, b, *, paired: bool = False, seed: int = 0, progress: Progress = NULL, backend: Any = None
    ) -> GapSpace:
        """L2-normalise both sets (rows must be non-zero and finite, as the loaders guarantee)."""
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
            raise UsageError(f"A and B must be 2-D with the same dimension, got {a.shape} and {b.shape}")
        if paired and a.shape[0] != b.shape[0]:
            raise UsageError(f"paired sets need the same number of rows, got {a.shape[0]} and {b.shape[0]}")
        a, b = l2_normalize(a), l2_normalize(b)
        return cls(a=a, b=b, paired=paired, seed=seed, progress=progress, backend=backend)

    @property
    def n_a(self) -> int:
        return self.a.shape[0]

    @property
    def n_b(self) -> int:
        return self.b.shape[0]

    @property
    def n(self) -> int:
        return self.n_a + self.n_b

    def joint(self) -> np.ndarray:
        """A∪B: the rows of A, then the rows of B ((n_a+n_b)×d float32)."""
        return np.concatenate([self.a, self.b], axis=0)

    def knn(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine k nearest other rows in A∪B (indices < n_a are A), cached for the largest k."""
        from embeval.compute import knn

        if self._knn is None or self._knn[1].shape[1] < k:
            self._knn = knn(
                self.joint(), k, backend=self.backend, progress=self.progress, label=f"kNN search in A∪B (k={k})"
            )
        sims, idx = self._knn
        return sims[:, :k], idx[:, :k]


# ---------------------------------------------------------------- pure functions


def gap_vector(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """mean(Â) − mean(B̂), float64 (d,). Centroids are not re-normalised (Liang et al. 2022)."""
    return a.mean(axis=0, dtype=np.float64) - b.mean(axis=0, dtype=np.float64)


def centroid_cosine_value(a: np.ndarray, b: np.ndarray) -> float:
    """cos(mean(Â), mean(B̂)): 1 = the two centroids point the same way."""
    ca, cb = a.mean(axis=0, dtype=np.float64), b.mean(axis=0, dtype=np.float64)
    den = float(np.linalg.norm(ca) * np.linalg.norm(cb))
    return float(ca @ cb) / den if den > 0 else math.nan


def cross_uniformity(
    a: np.ndarray,
    b: np.ndarray,
    t: float = 2.0,
    *,
    skip_matched: bool = False,
    progress: Progress = NULL,
    backend: Any = None,
) -> float:
    """log mean exp(−t‖â_i − b̂_j‖²) over pairs (i in A, j in B), exact, in blocks.

    With ``skip_matched`` (paired sets, n_a = n_b) the matched pairs i = j are left out, so the
    value describes non-partners only (the partners are what ``alignment`` measures); otherwise all
    n_a·n_b pairs count. Lower = the two sets are spread apart from each other.
    """
    count = a.shape[0] * b.shape[0] - (min(a.shape[0], b.shape[0]) if skip_matched else 0)
    if count <= 0:
        raise UsageError("cross-set uniformity needs at least one pair of rows from different sets")
    total = cross_pair_sum(
        a,
        b,
        ExpSqDist(t, True),
        skip_diagonal=skip_matched,
        progress=progress,
        label="cross-set uniformity",
        backend=backend,
    )
    return log_mean(total, count, "uniformity_cross")


def linear_separability_value(
    a: np.ndarray,
    b: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    C: float = 1.0,
    max_rows: int = 10000,
    progress: Progress = NULL,
) -> dict:
    """Cross-validated balanced accuracy of a logistic regression telling A (class 0) from B
    (class 1) (Fahim et al. 2024).

    Features are standardised (fit on each training fold); ``class_weight="balanced"``; folds are
    ``StratifiedKFold(folds, shuffle=True, random_state=seed)``. Balanced accuracy is the mean of
    the two per-class recalls, so 0.5 = chance (no gap) whatever n_a/n_b is, 1.0 = fully
    separable; it equals plain accuracy when n_a = n_b. A set larger than ``max_rows`` is first
    subsampled (seeded, without replacement).

    Returns {"value", "fold_std", "n_a", "n_b", "converged"}.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if folds < 2:
        raise UsageError(f"linear_separability needs at least 2 folds, got {folds}")
    rng = np.random.default_rng(seed)
    if a.shape[0] > max_rows:
        a = a[np.sort(rng.choice(a.shape[0], max_rows, replace=False))]
    if b.shape[0] > max_rows:
        b = b[np.sort(rng.choice(b.shape[0], max_rows, replace=False))]
    smallest = min(a.shape[0], b.shape[0])
    if folds > smallest:
        raise UsageError(
            f"linear_separability with {folds} folds needs at least {folds} rows in each "
            f"set; the smaller has {smallest} (use `folds`)"
        )
    x = np.concatenate([a, b], axis=0)
    y = np.concatenate([np.zeros(a.shape[0], dtype=np.int64), np.ones(b.shape[0], dtype=np.int64)])
    scores, converged = [], True
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with progress.task("linear separability (cross-validation)", total=folds) as task:
        for train, test in cv.split(x, y):
            model = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                model.fit(x[train], y[train])
            converged &= not any(issubclass(w.category, ConvergenceWarning) for w in caught)
            scores.append(balanced_accuracy_score(y[test], model.predict(x[test])))
            task.advance(1)
    return {
        "value": float(np.mean(scores)),
        "fold_std": float(np.std(scores)),
        "n_a": int(a.shape[0]),
        "n_b": int(b.shape[0]),
        "converged": bool(converged),
    }


def knn_mixing_from_neighbours(idx: np.ndarray, n_a: int) -> dict:
    """Share of neighbours from the other set, from kNN indices over A∪B (rows < n_a are A).

    idx: (n_a+n_b)×k int64. Returns {"value" (mean over all rows), "a_share" (mean over rows of A),
    "b_share" (over rows of B), "expected" (the value if A and B were perfectly mixed: a row of A
    has n_b of its n−1 possible neighbours in B, so 2·n_a·n_b / (n(n−1)) on average)}.
    """
    n = idx.shape[0]
    n_b = n - n_a
    in_b = idx >= n_a
    other = np.empty(idx.shape, dtype=bool)
    other[:n_a] = in_b[:n_a]
    other[n_a:] = ~in_b[n_a:]
    per_row = other.mean(axis=1)
    return {
        "value": float(per_row.mean()),
        "a_share": float(per_row[:n_a].mean()),
        "b_share": float(per_row[n_a:].mean()),
        "expected": 2.0 * n_a * n_b / (n * (n - 1)),
    }


def matched_unmatched_cosine(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean cos(â_i, b̂_i) over partners, and mean cos(â_i, b̂_j) over i≠j, the latter in closed
    form: (Σâ·Σb̂ − Σ_i â_i·b̂_i) / (n(n−1)). a, b: n×d unit rows, row-aligned, n ≥ 2."""
    n = a.shape[0]
    diag = np.einsum("ij,ij->i", a.astype(np.float64), b.astype(np.float64))
    sa, sb = a.sum(axis=0, dtype=np.float64), b.sum(axis=0, dtype=np.float64)
    return float(diag.mean()), float((sa @ sb - diag.sum()) / (n * (n - 1)))


def shift_sets(a: np.ndarray, b: np.ndarray, lam: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Close the gap along its own direction (Liang et al. 2022, §4 and their shift code):
    u = g/‖g‖ with g = mean(Â) − mean(B̂); Â' = normalise(Â − ½λu), B̂' = normalise(B̂ + ½λu).

    λ = ‖g‖ by default (each centroid moves half the gap towards the other; the paper's "delta"
    with a unit gap vector). Returns (Â', B̂', λ). A zero gap leaves both sets unchanged.
    """
    g = gap_vector(a, b)
    norm = float(np.linalg.norm(g))
    if lam is None:
        lam = norm
    if norm == 0.0:
        return a, b, float(lam)
    step = (0.5 * lam * g / norm).astype(np.float32)
    return l2_normalize(a - step), l2_normalize(b + step), float(lam)


def pca_2d(a: np.ndarray, b: np.ndarray, block: int = 65536) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project A and B on the top two principal components of A∪B.

    The components are the top eigenvectors of the d×d scatter matrix Σ(x − μ)(x − μ)ᵀ of A∪B,
    accumulated in float64 over row blocks (memory d², not n·d, beyond the inputs); this equals
    an SVD of the centred data. Returns (n_a×2, n_b×2, explained variance ratio of the two
    components). Each component's sign is fixed so that A's centroid has non-negative
    coordinates (reproducible pictures). a, b: n_a×d and n_b×d float32.
    """
    d = a.shape[1]
    n = a.shape[0] + b.shape[0]
    mu = (a.sum(axis=0, dtype=np.float64) + b.sum(axis=0, dtype=np.float64)) / n
    scatter = np.zeros((d, d), dtype=np.float64)
    for part in (a, b):
        for s in range(0, part.shape[0], block):
            x = part[s : s + block].astype(np.float64) - mu
            scatter += x.T @ x
    evals, evecs = np.linalg.eigh(scatter)
    order = np.argsort(evals)[::-1]
    evals = np.maximum(evals[order], 0.0)
    comps = np.zeros((d, 2), dtype=np.float64)
    m = min(2, d)
    comps[:, :m] = evecs[:, order[:m]]
    pa = (a.astype(np.float64) - mu) @ comps
    pb = (b.astype(np.float64) - mu) @ comps
    signs = np.where(pa.mean(axis=0) < 0, -1.0, 1.0)
    pa *= signs
    pb *= signs
    total = evals.sum()
    ratio = np.zeros(2)
    if total > 0:
        ratio[:m] = evals[:m] / total
    return pa, pb, ratio


# ---------------------------------------------------------------- diagnostics on a GapSpace


def _n(space: GapSpace) -> int:
    return space.n


def gap(space: GapSpace) -> list[Result]:
    g = gap_vector(space.a, space.b)
    return [
        GAP(float(np.linalg.norm(g)), n=_n(space)),
        CENTROID_COSINE(centroid_cosine_value(space.a, space.b), n=_n(space)),
    ]


def linear_separability(space: GapSpace, folds: int = 5, C: float = 1.0, max_rows: int = 10000) -> list[Result]:
    r = linear_separability_value(
        space.a, space.b, folds=folds, seed=space.seed, C=C, max_rows=max_rows, progress=space.progress
    )
    params = {"folds": folds, "C": C, "score": "balanced accuracy", "fold_std": round(r["fold_std"], 4)}
    if r["n_a"] < space.n_a or r["n_b"] < space.n_b:
        params["subsampled"] = f"{r['n_a']}+{r['n_b']} rows"
    if not r["converged"]:
        params["converged"] = False
    return [LINEAR_SEPARABILITY(r["value"], params, n=r["n_a"] + r["n_b"])]


def _estimating(space: GapSpace, name: str) -> bool:
    """Does the run's plan estimate ``name``? (Spaces without a plan, e.g. a cluster's, run exact.)"""
    plan = getattr(space, "plan", None)
    return plan is not None and not plan.exact and name in plan.estimated


def cross_uniformity_sampled(
    a: np.ndarray, b: np.ndarray, t: float, m: int, seed: int, *, skip_matched: bool = False, progress: Progress = NULL
) -> tuple[float, float, float]:
    """Estimate of :func:`cross_uniformity` from ``m`` pairs (i in A, j in B) drawn uniformly with
    replacement (seeded; with ``skip_matched`` i ≠ j), streamed in blocks; (estimate, ci_low,
    ci_high) on the log scale, the CI from the 95% normal interval of the mean."""
    n_a, n_b = a.shape[0], b.shape[0]
    rng = np.random.default_rng(seed)
    shift = None
    s1 = s2 = 0.0
    block = 1 << 14
    with progress.task("cross-set uniformity (sampled pairs)", total=m) as task:
        for s in range(0, m, block):
            size = min(block, m - s)
            i = rng.integers(0, n_a, size=size)
            if skip_matched:
                j = rng.integers(0, n_b - 1, size=size)
                j += j >= i
            else:
                j = rng.integers(0, n_b, size=size)
            diff = a[i].astype(np.float64) - b[j]
            v = np.exp(-t * np.einsum("ij,ij->i", diff, diff))
            if shift is None:
                shift = float(v.mean())
            v -= shift
            s1 += float(v.sum())
            s2 += float(v @ v)
            task.advance(size)
    mean = (shift or 0.0) + s1 / m
    var = max(s2 / m - (s1 / m) ** 2, 0.0) * m / (m - 1) if m > 1 else math.inf
    half = 1.96 * math.sqrt(var / m)
    lo = math.log(mean - half) if mean - half > 0 else -math.inf
    return log_mean(mean, 1.0, "uniformity_cross"), lo, math.log(mean + half)


def set_uniformity(space: GapSpace, t: float = 2.0) -> list[Result]:
    p = space.progress
    skip = space.paired
    if _estimating(space, "uniformity_cross"):
        from embeval.diagnostics.geometry import uniformity_sampled

        m, seed = space.plan.pair_sample, space.seed
        est = {"t": t, "sample": m, "estimator": "sampled pairs", "exact": False}
        out = []
        for output, x, n in (
            (UNIFORMITY_A, space.a, space.n_a),
            (UNIFORMITY_B, space.b, space.n_b),
            (UNIFORMITY_JOINT, space.joint(), space.n),
        ):
            val, lo, hi = uniformity_sampled(x, t, m, seed, progress=p)
            out.append(output(val, est, n=n, ci_low=lo, ci_high=hi))
        val, lo, hi = cross_uniformity_sampled(space.a, space.b, t, m, seed, skip_matched=skip, progress=p)
        out.append(
            UNIFORMITY_CROSS(
                val,
                {**est, "pairs": "i≠j (partners left out)" if skip else "all A×B"},
                n=space.n,
                ci_low=lo,
                ci_high=hi,
            )
        )
        return out
    cross = cross_uniformity(space.a, space.b, t, skip_matched=skip, progress=p, backend=space.backend)
    return [
        UNIFORMITY_A(uniformity_exact(space.a, t, progress=p, backend=space.backend), {"t": t}, n=space.n_a),
        UNIFORMITY_B(uniformity_exact(space.b, t, progress=p, backend=space.backend), {"t": t}, n=space.n_b),
        UNIFORMITY_JOINT(uniformity_exact(space.joint(), t, progress=p, backend=space.backend), {"t": t}, n=space.n),
        UNIFORMITY_CROSS(cross, {"t": t, "pairs": "i≠j (partners left out)" if skip else "all A×B"}, n=space.n),
    ]


def knn_mixing(space: GapSpace, k: int = 10) -> list[Result]:
    if k < 1:
        raise UsageError(f"k must be at least 1, got {k}")
    if k >= space.n:
        raise UsageError(f"knn_mixing k={k} needs more than {k} rows in A∪B; there are {space.n}")
    if _estimating(space, "knn_mixing"):
        return _knn_mixing_estimated(space, k)
    _, idx = space.knn(k)
    r = knn_mixing_from_neighbours(idx, space.n_a)
    params = {
        "k": k,
        "a_share": round(r["a_share"], 4),
        "b_share": round(r["b_share"], 4),
        "expected_if_mixed": round(r["expected"], 4),
    }
    return [KNN_MIXING(r["value"], params, n=space.n)]


def _knn_mixing_estimated(space: GapSpace, k: int) -> list[Result]:
    """knn_mixing on the plan's seeded query rows, each searched against all of A∪B (so each row's
    share is exact); the mean over all rows is estimated with a 95% CI. a_share/b_share are the
    means over the sampled rows of A and of B."""
    from embeval.compute import knn

    rows = space.plan.knn_queries
    _, idx = knn(
        space.joint(),
        k,
        queries=rows,
        backend=space.backend,
        progress=space.progress,
        label=f"kNN search in A∪B (k={k}, {len(rows):,} queries)",
    )
    return knn_mixing_on_rows(rows, idx, space.n_a, space.n_b, k)


def knn_mixing_on_rows(rows: np.ndarray, idx: np.ndarray, n_a: int, n_b: int, k: int) -> list[Result]:
    """The estimated knn_mixing from the k neighbours ``idx`` (rows of A∪B) of the seeded query
    rows ``rows``: the mean share of other-set neighbours with a 95% CI (shared by one machine and
    the cluster, :mod:`embeval.distributed.gap`)."""
    from embeval.diagnostics.scale import mean_ci

    in_a = rows < n_a
    other = np.where(in_a[:, None], idx >= n_a, idx < n_a)
    per_row = other.mean(axis=1)
    val, lo, hi = mean_ci(per_row)
    n = n_a + n_b
    params = {
        "k": k,
        "a_share": round(float(per_row[in_a].mean()), 4) if in_a.any() else math.nan,
        "b_share": round(float(per_row[~in_a].mean()), 4) if (~in_a).any() else math.nan,
        "expected_if_mixed": round(2.0 * n_a * n_b / (n * (n - 1)), 4),
        "exact": False,
        "sample": len(rows),
        "estimator": "seeded query rows against all rows",
    }
    return [KNN_MIXING(val, params, n=n, ci_low=lo, ci_high=hi)]


def paired_similarity(space: GapSpace, alpha: float = 2.0) -> list[Result]:
    matched, unmatched = matched_unmatched_cosine(space.a, space.b)
    n = space.n_a
    return [
        ALIGNMENT(alignment_value(space.a, space.b, alpha), {"alpha": alpha}, n=n),
        MATCHED_COSINE(matched, n=n),
        UNMATCHED_COSINE(unmatched, {"pairs": "i≠j"}, n=n),
    ]


_RETRIEVAL_KEEP = ("recall@", "auc_global", "auc_query")


def paired_retrieval_results(
    a: np.ndarray,
    b: np.ndarray,
    *,
    ks: tuple[int, ...],
    prefix: str = "",
    seed: int = 0,
    progress: Progress = NULL,
    plan: Any = None,
) -> list[Result]:
    """A→B and B→A retrieval where row i of one set is the only relevant item for row i of the
    other (identity qrels), through the retrieval family's own evaluation (FAISS search, recall@K,
    auc_global, auc_query). Metric names are prefixed ``{prefix}a2b_`` and ``{prefix}b2a_``."""
    n = a.shape[0]
    if ks[-1] > n:
        raise UsageError(f"recall@{ks[-1]} needs at least {ks[-1]} rows in each set; there are {n}")
    ids = [str(i) for i in range(n)]
    qrels: dict[str, dict[str, float]] = {i: {i: 1.0} for i in ids}
    out: list[Result] = []
    for direction, (q, c) in (("a2b_", (a, b)), ("b2a_", (b, a))):
        results, _ = evaluate_retrieval(
            q,
            c,
            qrels,
            ids,
            ids,
            ks=ks,
            auc=True,
            separation=False,
            per_query=False,
            prefix=prefix + direction,
            progress=progress,
            seed=seed,
            plan=plan,
        )
        base = len(prefix + direction)
        out.extend(r for r in results if r.metric[base:].startswith(_RETRIEVAL_KEEP))
    return out


def paired_retrieval(space: GapSpace, ks: str = "1,5") -> list[Result]:
    return paired_retrieval_results(
        space.a,
        space.b,
        ks=parse_ks(ks, "ks"),
        seed=space.seed,
        progress=space.progress,
        plan=_auc_plan(space, "paired_retrieval"),
    )


def _auc_plan(space: GapSpace, name: str):
    """The plan for this diagnostic's all-pairs AUC passes (None: exact)."""
    return space.plan if _estimating(space, name) else None


def gap_shift(space: GapSpace, lam: float | None = None, ks: str = "1,5") -> list[Result]:
    """The paired retrieval after :func:`shift_sets`; ``shifted_gap`` carries λ in its params."""
    a2, b2, lam = shift_sets(space.a, space.b, lam)
    out = [SHIFTED_GAP(float(np.linalg.norm(gap_vector(a2, b2))), {"lambda": round(lam, 6)}, n=space.n)]
    out.extend(
        paired_retrieval_results(
            a2,
            b2,
            ks=parse_ks(ks, "ks"),
            prefix="shifted_",
            seed=space.seed,
            progress=space.progress,
            plan=_auc_plan(space, "gap_shift"),
        )
    )
    return out


F = "gap"
register(
    Diagnostic(
        "gap",
        F,
        gap,
        "‖mean(Â) − mean(B̂)‖ (lower = closer) and the centroids' cosine (higher = closer) "
        "(Liang et al. 2022, 'Mind the Gap')",
        outputs=(GAP, CENTROID_COSINE),
    )
)
register(
    Diagnostic(
        "linear_separability",
        F,
        linear_separability,
        "cross-validated balanced accuracy of a logistic regression telling A from B; 0.5 = no gap (Fahim et al. 2024)",
        outputs=(LINEAR_SEPARABILITY,),
        order_invariant=False,  # the seeded folds are drawn over row positions
        params={
            "folds": Param(int, 5, "cross-validation folds (stratified, seeded)", low=2),
            "C": Param(float, 1.0, "inverse L2 regularisation strength", low=0, low_open=True),
            "max_rows": Param(int, 10000, "subsample each set to at most this many rows", low=2),
        },
    )
)
register(
    Diagnostic(
        "set_uniformity",
        F,
        set_uniformity,
        "uniformity of A, of B, of A∪B, and across the sets (Wang & Isola 2020); lower = more spread",
        outputs=(UNIFORMITY_A, UNIFORMITY_B, UNIFORMITY_JOINT, UNIFORMITY_CROSS),
        params={"t": Param(float, 2.0, "temperature", low=0, low_open=True)},
    )
)
register(
    Diagnostic(
        "knn_mixing",
        F,
        knn_mixing,
        "share of each row's k nearest neighbours in A∪B that come from the other set; 0 = never mix",
        outputs=(KNN_MIXING,),
        params={"k": Param(int, 10, "neighbours", low=1)},
    )
)
register(
    Diagnostic(
        "paired_similarity",
        F,
        paired_similarity,
        "row-aligned pairs: alignment ‖â_i − b̂_i‖^alpha (lower better), matched cosine (higher "
        "better), unmatched cosine over i≠j (lower better)",
        outputs=(ALIGNMENT, MATCHED_COSINE, UNMATCHED_COSINE),
        needs=frozenset({"pairs"}),
        params={"alpha": Param(float, 2.0, "alignment exponent", low=0, low_open=True)},
    )
)
register(
    Diagnostic(
        "paired_retrieval",
        F,
        paired_retrieval,
        "A→B and B→A retrieval of each row's partner: recall@K, auc_global, auc_query",
        outputs=PAIRED_RETRIEVAL,
        needs=frozenset({"pairs"}),
        params={"ks": Param(str, "1,5", "recall cut-offs, comma-separated")},
    )
)
register(
    Diagnostic(
        "gap_shift",
        F,
        gap_shift,
        "shifted_gap and the paired retrieval again after moving A and B ½λ each along the gap "
        "direction and re-normalising (Liang et al. 2022); compare with the unshifted values",
        outputs=(SHIFTED_GAP, *SHIFTED_RETRIEVAL),
        needs=frozenset({"pairs"}),
        params={
            "lam": Param(float, None, "shift distance λ (default ‖gap‖)", low=0),
            "ks": Param(str, "1,5", "recall cut-offs, comma-separated"),
        },
    )
)

"""What changes between two embeddings of the same items (OLD and NEW, matched by id), and whether a
linear map can bridge them (``embeval diff``).

Both sides are L2-normalised rows (cosine geometry, as every embeval diagnostic); the dimensions
may differ. Definitions (X = OLD, Y = NEW, n items, features centred over the items):

- **Linear CKA** (Kornblith, Norouzi, Lee & Hinton 2019, "Similarity of Neural Network
  Representations Revisited", ICML, eq. 5 with HSIC of Gretton et al. 2005):
  CKA = ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on centred features, the same as
  HSIC(K, L) / √(HSIC(K, K) HSIC(L, L)) with K = XXᵀ, L = YYᵀ, HSIC = tr(KHLH)/(n−1)². 1 when Y is
  an orthogonal rotation or an isotropic scaling of X; invariant to neither general linear maps
  nor to the choice of items.
- **Debiased CKA**: the same ratio with the unbiased HSIC estimator of Song, Smola, Gretton,
  Bedo & Borgwardt 2012 ("Feature Selection via Dependence Maximization", JMLR 13, eq. 5),
  HSIC₁ = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3)), K̃ = K with a zero
  diagonal (as used for CKA by Nguyen, Raghu & Kornblith 2021; Kornblith et al.'s published
  ``feature_space_linear_cka(debiased=True)``). Needs n ≥ 4; its expectation does not grow with
  the dimension as the biased form's does.
  CI: percentile bootstrap over items (B resamples), re-centred on the bootstrap median (duplicated
  rows bias a resample's CKA upward); above ``ci_rows`` items the bootstrap runs on
  a seeded subset of m rows and its spread is scaled by √(m/n) (an m-out-of-n bootstrap, Bickel,
  Götze & van Zwet 1997), centred on the all-n value; ``params`` say which.
- **kNN overlap@k**: for item i, Jaccard |N_old(i) ∩ N_new(i)| / |N_old(i) ∪ N_new(i)| of its k
  nearest *other* items in OLD and in NEW (exact search among all n); its mean over items (a 95%
  normal CI over items) and the share of items whose k-NN set is unchanged. Above the budget the
  mean is estimated on a seeded subset of items, their neighbours still exact among all n.
- **With queries** (each side's embedding of the same queries), per query: ``query_overlap@k`` =
  |top-k_old ∩ top-k_new| / k, and ``rbo@k`` = the extrapolated rank-biased overlap RBO_ext of the
  two top-k lists (Webber, Moffat & Zobel 2010, "A Similarity Measure for Indefinite Rankings",
  TOIS 28(4), eq. 32 with equal lengths: RBO_ext = X_k/k·pᵏ + (1−p)/p·Σ_{d≤k} X_d/d·pᵈ, X_d the
  overlap of the two depth-d prefixes).
- **With qrels**: each side's ranking metrics (:mod:`embeval.diagnostics.retrieval`), and the change
  ``delta_*`` = NEW − OLD with a paired bootstrap CI and sign-flip p-value over queries; the score
  scale (positive/negative pair scores each side) and what OLD's best threshold (Youden's J) means
  on NEW's scores (its TPR and FPR there).
- **Bridge**: on a seeded calibration subset of items, maps NEW → OLD are fitted: orthogonal
  Procrustes (equal dims; W = UVᵀ from the SVD UΣVᵀ = YᵀX, Schönemann 1966) and a ridge-regularised
  affine map (any dims; W = (ȲᵀȲ + αI)⁻¹ȲᵀX̄ on centred rows, b = mean(X) − mean(Y)W). On held-out
  items the mapped NEW vectors (normalised) search the OLD items: ``bridge_top1`` = share whose
  nearest OLD item is their own, ``bridge_overlap@k`` = Jaccard of their k nearest OLD items (self
  left out) with the item's own k-NN in OLD. With queries and qrels: ``bridge_retention_*`` = the
  metric of mapped NEW queries against the OLD corpus ÷ that of NEW queries against the NEW corpus
  (full re-embedding), with a paired bootstrap CI of the ratio and the paired p-value of the
  difference. All as a curve over calibration sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embeval.diagnostics.qrels import AlignedQrels
from embeval.diagnostics.ranking import RANKING_METRICS
from embeval.diagnostics.registry import HIGHER, NEITHER, Diagnostic, Output, Param, register
from embeval.errors import UsageError
from embeval.progress import NULL, Progress
from embeval.results import Result

# ----------------------------------------------------------------------------- outputs (declared once)

CKA = Output("cka", HIGHER, "linear CKA of OLD vs NEW over the items (Kornblith et al. 2019); 1 = same geometry")
CKA_DEBIASED = Output(
    "cka_debiased",
    HIGHER,
    "linear CKA with the unbiased HSIC (Song et al. 2012), as Nguyen et al. 2021; bootstrap CI over items",
)
KNN_OVERLAP = Output(
    "knn_overlap@K",
    HIGHER,
    "mean over items of the Jaccard overlap of each item's K nearest other items in OLD and in NEW (1 = unchanged)",
)
KNN_UNCHANGED = Output("knn_unchanged@K", HIGHER, "share of items whose K nearest other items are the same set")
QUERY_OVERLAP = Output(
    "query_overlap@K", HIGHER, "with queries: mean |top-K OLD ∩ top-K NEW| / K of each query's results"
)
RBO = Output(
    "rbo@K",
    HIGHER,
    "with queries: mean extrapolated rank-biased overlap RBO_ext of each query's top-K lists (Webber et al. 2010)",
    identity=("p",),
)
_SIDE_TEXT = {"old": "OLD's", "new": "NEW's"}
CHANGE_OUTPUTS: dict[str, Output] = {}
for _m in RANKING_METRICS:
    for _side in ("old", "new"):
        CHANGE_OUTPUTS[f"{_side}_{_m}"] = Output(f"{_side}_{_m}@K", HIGHER, f"with qrels: {_SIDE_TEXT[_side]} {_m}@K")
    CHANGE_OUTPUTS[f"delta_{_m}"] = Output(
        f"delta_{_m}@K", HIGHER, f"with qrels: NEW − OLD {_m}@K, paired bootstrap CI; sign-flip p-value in params"
    )
SCALE_OUTPUTS = {
    f"{side}_{what}": Output(f"{side}_{what}", NEITHER, f"with qrels: {_SIDE_TEXT[side]} {text}")
    for side in ("old", "new")
    for what, text in (
        ("pos_score_mean", "mean score of relevant (query, document) pairs"),
        ("neg_score_mean", "mean score of the other pairs"),
        ("pos_score_std", "standard deviation of relevant pair scores"),
        ("neg_score_std", "standard deviation of the other pair scores"),
        ("best_threshold", "threshold maximising TPR − FPR (Youden's J); TPR/FPR in params"),
    )
}
OLD_THRESHOLD_TPR = Output(
    "old_threshold_tpr_on_new", HIGHER, "with qrels: TPR of OLD's best threshold applied to NEW's scores"
)
OLD_THRESHOLD_FPR = Output(
    "old_threshold_fpr_on_new", NEITHER, "with qrels: FPR of OLD's best threshold applied to NEW's scores"
)
BRIDGE_IDENTITY = ("map", "calibration")
BRIDGE_TOP1 = Output(
    "bridge_top1",
    HIGHER,
    "held-out items whose mapped NEW vector has its own OLD vector nearest among all OLD items",
    identity=BRIDGE_IDENTITY,
)
BRIDGE_OVERLAP = Output(
    "bridge_overlap@K",
    HIGHER,
    "held-out items: Jaccard of the K nearest OLD items of the mapped NEW vector with the item's K-NN in OLD",
    identity=BRIDGE_IDENTITY,
)
BRIDGE_COSINE = Output(
    "bridge_cosine",
    HIGHER,
    "held-out items: mean cosine of the mapped NEW vector and the OLD one",
    identity=BRIDGE_IDENTITY,
)
BRIDGE_RETENTION = {
    m: Output(
        f"bridge_retention_{m}@K",
        HIGHER,
        f"with qrels: {m}@K of mapped NEW queries vs the OLD corpus ÷ NEW queries vs the NEW corpus; bootstrap CI",
        identity=BRIDGE_IDENTITY,
    )
    for m in RANKING_METRICS
}

# ----------------------------------------------------------------------------- the context


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0), dtype=np.float32)


@dataclass
class DiffSpace:
    """OLD and NEW rows of the same items (row i ↔ row i), unit rows, and what the diff shares.

    queries_old/new: the same queries embedded by each side (row-aligned), or None; ``aligned``:
    qrels aligned to the queries and the items, or None. ``sample``: rows whose neighbourhoods are
    compared (None: all). ``paired``: a function (old, new, seed) -> object with ``mean_delta``,
    ``ci_low``, ``ci_high``, ``p_value``, ``method``; None: :func:`embeval.stats.paired.paired_test`.
    """

    old: np.ndarray
    new: np.ndarray
    queries_old: np.ndarray | None = None
    queries_new: np.ndarray | None = None
    aligned: AlignedQrels | None = None
    seed: int = 0
    sample: int | None = None
    backend: Any = None
    progress: Progress = NULL
    paired: Callable[..., Any] | None = None
    maps: dict[str, dict[str, Any]] = field(default_factory=dict)
    curve: list[dict[str, Any]] = field(default_factory=list)
    per_item: dict[str, np.ndarray] = field(default_factory=dict)
    per_query_rows: list[dict[str, Any]] = field(default_factory=list)
    _knn: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)
    _rows: np.ndarray | None = field(default=None, repr=False)
    _runs: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, old: np.ndarray, new: np.ndarray, **kw: Any) -> DiffSpace:
        if old.shape[0] != new.shape[0]:
            raise UsageError(f"OLD has {old.shape[0]} rows and NEW {new.shape[0]}; they must be matched row by row")
        for key in ("queries_old", "queries_new"):
            if kw.get(key) is not None:
                kw[key] = unit_rows(kw[key])
        return cls(unit_rows(old), unit_rows(new), **kw)

    @property
    def n(self) -> int:
        return int(self.old.shape[0])

    @property
    def same_dim(self) -> bool:
        return self.old.shape[1] == self.new.shape[1]

    def rows(self) -> np.ndarray:
        """The items whose neighbourhoods are compared: all, or a seeded sample (sorted)."""
        if self._rows is None:
            if self.sample is None or self.sample >= self.n:
                self._rows = np.arange(self.n, dtype=np.int64)
            else:
                rng = np.random.default_rng(self.seed)
                self._rows = np.sort(rng.choice(self.n, self.sample, replace=False)).astype(np.int64)
        return self._rows

    def knn(self, side: str, k: int) -> np.ndarray:
        """Indices (rows()×k) of the k nearest other items of each compared item, exact among all n."""
        if not 1 <= k < self.n:
            raise UsageError(f"`k` {k} must be between 1 and the number of items − 1 ({self.n - 1})")
        key = (side, k)
        if key not in self._knn:
            from embeval.compute import knn

            x = self.old if side == "old" else self.new
            rows = self.rows()
            _, idx = knn(
                x,
                k,
                queries=None if len(rows) == self.n else rows,
                backend=self.backend,
                progress=self.progress,
                label=f"kNN in {side.upper()} (k={k})",
            )
            self._knn[key] = idx
        return self._knn[key]

    def top(self, side: str, k: int) -> np.ndarray:
        """Top-k item rows of each query against its own side's items."""
        from embeval.compute import search

        if self.queries_old is None or self.queries_new is None:
            raise UsageError("query overlap needs `queries_old` and `queries_new`")
        key = ("query-" + side, k)
        if key not in self._knn:
            q = self.queries_old if side == "old" else self.queries_new
            x = self.old if side == "old" else self.new
            self._knn[key] = search(
                q, x, min(k, self.n), backend=self.backend, progress=self.progress, label=f"top-{k} in {side.upper()}"
            )[1]
        return self._knn[key]


@dataclass
class DiffItems:
    """The per-item table (``--items``): columns of equal length, most moved items first."""

    columns: dict[str, np.ndarray]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.columns["id"])

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.columns)


# ----------------------------------------------------------------------------- CKA


def _gram_sums(x: np.ndarray, y: np.ndarray, block: int = 65536) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(XᵀX, YᵀY, XᵀY) of the centred float64 rows, accumulated in blocks (bounded memory)."""
    mx = x.mean(axis=0, dtype=np.float64)
    my = y.mean(axis=0, dtype=np.float64)
    dx, dy = x.shape[1], y.shape[1]
    xx, yy, xy = np.zeros((dx, dx)), np.zeros((dy, dy)), np.zeros((dx, dy))
    for s in range(0, x.shape[0], block):
        a = x[s : s + block].astype(np.float64) - mx
        b = y[s : s + block].astype(np.float64) - my
        xx += a.T @ a
        yy += b.T @ b
        xy += a.T @ b
    return xx, yy, xy


def _debias(xty: float, ssr_x: np.ndarray, ssr_y: np.ndarray, sq_x: float, sq_y: float, n: int) -> float:
    """n(n−3)·HSIC₁ for centred features (Kornblith et al.'s published helper)."""
    return float(xty - n / (n - 2.0) * ssr_x.dot(ssr_y) + sq_x * sq_y / ((n - 1) * (n - 2)))


def linear_cka(x: np.ndarray, y: np.ndarray, debiased: bool = False) -> float:
    """Linear CKA of two row-matched sets (n×d₁, n×d₂), feature form (O(n·d₁·d₂)); see the module docstring."""
    n = x.shape[0]
    if debiased and n < 4:
        raise UsageError(f"debiased CKA needs at least 4 items; there are {n}")
    xx, yy, xy = _gram_sums(x, y)
    hxy, hxx, hyy = float((xy**2).sum()), float((xx**2).sum()), float((yy**2).sum())
    if debiased:
        xc = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
        yc = y.astype(np.float64) - y.mean(axis=0, dtype=np.float64)
        sx, sy = np.einsum("ij,ij->i", xc, xc), np.einsum("ij,ij->i", yc, yc)
        tx, ty = float(sx.sum()), float(sy.sum())
        hxy = _debias(hxy, sx, sy, tx, ty, n)
        hxx = _debias(hxx, sx, sx, tx, tx, n)
        hyy = _debias(hyy, sy, sy, ty, ty, n)
        if hxx <= 0 or hyy <= 0:
            return math.nan
        return hxy / math.sqrt(hxx * hyy)
    denom = math.sqrt(hxx * hyy)
    return hxy / denom if denom > 0 else math.nan


def _centre_gram(k: np.ndarray) -> np.ndarray:
    return k - k.mean(axis=0, keepdims=True) - k.mean(axis=1, keepdims=True) + k.mean()


def _cka_from_grams(k: np.ndarray, l_: np.ndarray) -> tuple[float, float]:
    """(CKA, debiased CKA) from two (uncentred) linear Gram matrices of the same rows."""
    n = k.shape[0]
    kc, lc = _centre_gram(k), _centre_gram(l_)
    hxy, hxx, hyy = float((kc * lc).sum()), float((kc * kc).sum()), float((lc * lc).sum())
    biased = hxy / math.sqrt(hxx * hyy) if hxx > 0 and hyy > 0 else math.nan
    # Debiased, on the centred Gram matrices (= centred features): Kornblith's helper in Gram form.
    dk, dl = np.diag(kc).copy(), np.diag(lc).copy()
    tk, tl = float(dk.sum()), float(dl.sum())
    dxy = _debias(hxy, dk, dl, tk, tl, n)
    dxx = _debias(hxx, dk, dk, tk, tk, n)
    dyy = _debias(hyy, dl, dl, tl, tl, n)
    deb = dxy / math.sqrt(dxx * dyy) if dxx > 0 and dyy > 0 else math.nan
    return biased, deb


def cka_bootstrap(
    x: np.ndarray, y: np.ndarray, *, n_boot: int, ci_rows: int, seed: int, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, int]:
    """Bootstrap deviations of (CKA, debiased CKA) from their value on the rows bootstrapped, scaled
    by √(m/n): returns (low offsets, high offsets, m). CI = all-n value + offsets."""
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    rows = np.arange(n) if n <= ci_rows else np.sort(rng.choice(n, ci_rows, replace=False))
    m = len(rows)
    xs, ys = x[rows].astype(np.float64), y[rows].astype(np.float64)
    k, l_ = xs @ xs.T, ys @ ys.T
    base = np.array(_cka_from_grams(k, l_))
    devs = np.empty((n_boot, 2))
    for b in range(n_boot):
        idx = rng.integers(0, m, m)
        devs[b] = np.array(_cka_from_grams(k[idx][:, idx], l_[idx][:, idx])) - base
    scale = math.sqrt(m / n)
    a = (1 - confidence) / 2
    # Re-centred on the bootstrap median: a resample's duplicated rows bias CKA upward, so plain
    # percentiles can miss the value itself.
    med = np.nanmedian(devs, axis=0)
    lo, hi = (np.nanquantile(devs, [a, 1 - a], axis=0) - med) * scale
    return lo, hi, m


def cka(space: DiffSpace, n_boot: int = 200, ci_rows: int = 500) -> list[Result]:
    if space.n < 4:
        raise UsageError(f"CKA needs at least 4 items; there are {space.n}")
    with space.progress.task("CKA", total=None):
        b = linear_cka(space.old, space.new)
        d = linear_cka(space.old, space.new, debiased=True)
        lo, hi, m = cka_bootstrap(space.old, space.new, n_boot=n_boot, ci_rows=ci_rows, seed=space.seed)
    params: dict[str, Any] = {"bootstrap": n_boot, "bootstrap_rows": m}
    if m < space.n:
        params["ci_method"] = f"m-out-of-n bootstrap on {m} seeded rows, spread × √(m/n)"
    return [
        CKA(b, params, n=space.n, ci_low=b + lo[0], ci_high=b + hi[0]),
        CKA_DEBIASED(d, params, n=space.n, ci_low=d + lo[1], ci_high=d + hi[1]),
    ]


# ----------------------------------------------------------------------------- overlaps


def set_overlap(a: np.ndarray, b: np.ndarray, block: int = 65536) -> np.ndarray:
    """|row_i(a) ∩ row_i(b)| for two m×k arrays of distinct indices per row (−1 = empty slot)."""
    out = np.empty(a.shape[0], dtype=np.int64)
    for s in range(0, a.shape[0], block):
        x, y = a[s : s + block], b[s : s + block]
        eq = (x[:, :, None] == y[:, None, :]) & (x[:, :, None] >= 0)
        out[s : s + block] = eq.any(axis=2).sum(axis=1)
    return out


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row Jaccard |A ∩ B| / |A ∪ B| of two m×k arrays of k distinct indices each."""
    inter = set_overlap(a, b)
    return inter / (2 * a.shape[1] - inter)


def rbo_ext(a: np.ndarray, b: np.ndarray, p: float = 0.9) -> np.ndarray:
    """Per-row extrapolated RBO (Webber et al. 2010, eq. 32) of two m×k rankings of equal depth k
    (distinct items per row)."""
    m, k = a.shape
    # Item a[i, r] joins the overlap at depth max(r, position in b) + 1.
    eq = a[:, :, None] == b[:, None, :]
    pos_b = np.where(eq.any(axis=2), eq.argmax(axis=2), k)  # k: absent
    enter = np.maximum(np.arange(k)[None, :], pos_b) + 1  # in 1..k+1
    counts = np.zeros((m, k + 2), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(m), k), enter.ravel()), 1)
    x_d = np.cumsum(counts, axis=1)[:, 1 : k + 1]  # X_d for d = 1..k
    d = np.arange(1, k + 1)
    pd_ = p**d
    return x_d[:, -1] / k * p**k + (1 - p) / p * (x_d / d * pd_).sum(axis=1)


def _mean_ci(v: np.ndarray) -> tuple[float, float | None, float | None]:
    from embeval.diagnostics.scale import mean_ci

    if len(v) < 2:
        return float(v.mean()), None, None
    m, lo, hi = mean_ci(v)
    return m, max(lo, 0.0), min(hi, 1.0)


def knn_overlap(space: DiffSpace, k: int = 10) -> list[Result]:
    rows = space.rows()
    jac = jaccard(space.knn("old", k), space.knn("new", k))
    space.per_item[f"knn_overlap@{k}"] = jac
    mean, lo, hi = _mean_ci(jac)
    params: dict[str, Any] = {"items": len(rows)}
    if len(rows) < space.n:
        params.update(exact=False, sample=len(rows), estimator="seeded subset of items, neighbours among all n")
    unchanged = float(np.mean(jac >= 1.0 - 1e-12))
    return [
        KNN_OVERLAP(mean, params, n=len(rows), ci_low=lo, ci_high=hi, name=f"knn_overlap@{k}"),
        KNN_UNCHANGED(unchanged, params, n=len(rows), name=f"knn_unchanged@{k}"),
    ]


def query_overlap(space: DiffSpace, k: int = 10, p: float = 0.9) -> list[Result]:
    if not 0 < p < 1:
        raise UsageError(f"`p` {p} must be in (0, 1)")
    kk = min(k, space.n)
    a, b = space.top("old", kk), space.top("new", kk)
    ov = set_overlap(a, b) / kk
    rb = rbo_ext(a, b, p)
    space.per_item[f"query_overlap@{k}"] = ov
    space.per_item[f"rbo@{k}"] = rb
    m1, lo1, hi1 = _mean_ci(ov)
    m2, lo2, hi2 = _mean_ci(rb)
    q = int(a.shape[0])
    return [
        QUERY_OVERLAP(m1, {"queries": q}, n=q, ci_low=lo1, ci_high=hi1, name=f"query_overlap@{k}"),
        RBO(m2, {"p": p, "queries": q}, n=q, ci_low=lo2, ci_high=hi2, name=f"rbo@{k}"),
    ]


# ----------------------------------------------------------------------------- retrieval change and score scale


def _run(space: DiffSpace, key: str, queries: np.ndarray, corpus: np.ndarray, depth: int):
    """A cached RetrievalRun of ``queries`` (all query rows) against ``corpus``, judged by the qrels."""
    from embeval.diagnostics.retrieval import RetrievalRun
    from embeval.index.search import resolve_params

    if space.aligned is None:
        raise UsageError("this diff output needs `qrels` (and the queries of both sides)")
    run = space._runs.get(key)
    if run is None or run.depth < depth:
        run = RetrievalRun(
            queries=np.ascontiguousarray(queries[space.aligned.query_rows], dtype=np.float32),
            corpus=corpus,
            aligned=space.aligned,
            depth=depth,
            index_params=resolve_params("flat", corpus.shape[0], None),
            seed=space.seed,
            progress=space.progress,
            backend=space.backend,
        )
        space._runs[key] = run
    return run


def _sides(space: DiffSpace, k: int):
    if space.queries_old is None or space.queries_new is None:
        raise UsageError("this diff output needs `queries_old`, `queries_new` and `qrels`")
    return _run(space, "old", space.queries_old, space.old, k), _run(space, "new", space.queries_new, space.new, k)


def _paired(space: DiffSpace, old: np.ndarray, new: np.ndarray):
    if space.paired is None:
        from embeval.stats.paired import paired_test

        return paired_test(old, new, seed=space.seed)
    return space.paired(old, new, seed=space.seed)


def retrieval_change(space: DiffSpace, k: int = 10) -> list[Result]:
    old_run, new_run = _sides(space, k)
    out: list[Result] = []
    for m in RANKING_METRICS:
        vo, vn = old_run.per_query(m, k), new_run.per_query(m, k)
        t = _paired(space, vo, vn)
        q = len(vo)
        out.append(CHANGE_OUTPUTS[f"old_{m}"](float(vo.mean()), n=q, name=f"old_{m}@{k}"))
        out.append(CHANGE_OUTPUTS[f"new_{m}"](float(vn.mean()), n=q, name=f"new_{m}@{k}"))
        out.append(
            CHANGE_OUTPUTS[f"delta_{m}"](
                t.mean_delta,
                {"p_value": t.p_value, "method": t.method},
                n=q,
                ci_low=t.ci_low,
                ci_high=t.ci_high,
                name=f"delta_{m}@{k}",
            )
        )
        for i, qid in enumerate(space.aligned.query_ids if space.aligned else []):
            space.per_query_rows.append({"query_id": qid, "metric": f"old_{m}@{k}", "value": float(vo[i])})
            space.per_query_rows.append({"query_id": qid, "metric": f"new_{m}@{k}", "value": float(vn[i])})
    return out


def score_scale(space: DiffSpace) -> list[Result]:
    old_run, new_run = _sides(space, 1)
    out: list[Result] = []
    stats = {}
    for side, run in (("old", old_run), ("new", new_run)):
        st = run.auc_stats()
        stats[side] = st
        thr, tpr, fpr = st.levels.best_threshold()
        n = run.m
        out += [
            SCALE_OUTPUTS[f"{side}_pos_score_mean"](float(st.pos_scores.mean()), n=n),
            SCALE_OUTPUTS[f"{side}_pos_score_std"](float(st.pos_scores.std()), n=n),
            SCALE_OUTPUTS[f"{side}_neg_score_mean"](float(st.neg_mean), n=n),
            SCALE_OUTPUTS[f"{side}_neg_score_std"](float(st.neg_std), n=n),
            SCALE_OUTPUTS[f"{side}_best_threshold"](thr, {"tpr": tpr, "fpr": fpr}, n=n),
        ]
    thr_old = out[4].value
    from embeval.compute.backend import dot_error_bound

    # Scores within float32 rounding of the threshold count as reaching it: the same pair scored by
    # a rotated copy must not fall below OLD's threshold by a rounding error.
    tol = dot_error_bound(max(space.old.shape[1], space.new.shape[1]))
    tpr, fpr = new_tpr_fpr(new_run, thr_old - tol)
    params = {"threshold": thr_old, "tolerance": tol}
    out += [
        OLD_THRESHOLD_TPR(tpr, params, n=new_run.m),
        OLD_THRESHOLD_FPR(fpr, params, n=new_run.m),
    ]
    return out


def new_tpr_fpr(run, threshold: float) -> tuple[float, float]:
    """TPR and FPR of 'score ≥ threshold' over every (query, item) pair of a RetrievalRun, counted
    exactly in one blocked pass (positives: the qrels' relevant pairs)."""
    q, c = run.queries, run.corpus
    n_pos = int(run.aligned.pos_doc.shape[0])
    ge = 0
    block = max(1, 2_000_000 // max(c.shape[0], 1))
    for s in range(0, q.shape[0], block):
        ge += int(np.count_nonzero(q[s : s + block] @ c.T >= threshold))
    pos_scores = run.auc_stats().pos_scores
    tp = int(np.count_nonzero(pos_scores >= threshold))
    n_neg = q.shape[0] * c.shape[0] - n_pos
    return tp / max(n_pos, 1), (ge - tp) / max(n_neg, 1)


# ----------------------------------------------------------------------------- bridge


def procrustes(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Orthogonal W minimising ‖src·W − dst‖_F (Schönemann 1966): W = UVᵀ, UΣVᵀ = srcᵀdst."""
    u, _, vt = np.linalg.svd(src.astype(np.float64).T @ dst.astype(np.float64), full_matrices=False)
    return u @ vt


def ridge_map(src: np.ndarray, dst: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Affine (W, b) minimising ‖(src − μ_s)W − (dst − μ_d)‖² + α‖W‖², b = μ_d − μ_s W."""
    s64, d64 = src.astype(np.float64), dst.astype(np.float64)
    ms, md = s64.mean(axis=0), d64.mean(axis=0)
    a = s64 - ms
    w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ (d64 - md))
    return w, md - ms @ w


def apply_map(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return unit_rows((x.astype(np.float64) @ w + b).astype(np.float32))


def _sizes(spec: str, calibration: int, available: int) -> list[int]:
    if spec == "auto":
        sizes = [s for s in (100, 250, 500, 1000, 2000, 4000, 8000, 16000) if s < calibration]
    else:
        try:
            sizes = [int(t) for t in spec.split(",") if t.strip()]
        except ValueError:
            raise UsageError(f"`sizes` {spec!r}: expected comma-separated integers or 'auto'") from None
    out = sorted({min(s, available) for s in [*sizes, calibration] if s > 0})
    return [s for s in out if s >= 2]


def _bridge_eval(space: DiffSpace, held: np.ndarray, w, b, k: int, old_knn: np.ndarray) -> dict[str, Any]:
    from embeval.compute import search

    mapped = apply_map(space.new[held], w, b)
    cos = float(np.einsum("ij,ij->i", mapped, space.old[held]).mean())
    _, idx = search(mapped, space.old, k + 1, backend=space.backend, label="mapped NEW → OLD search")
    top1 = float(np.mean(idx[:, 0] == held))
    own = idx == held[:, None]
    # k nearest OLD items other than its own: drop its own where present, else the (k+1)-th.
    keep = np.where(own.any(axis=1, keepdims=True), ~own, np.arange(k + 1)[None, :] < k)
    nbrs = idx[keep].reshape(len(held), k)
    jac = jaccard(nbrs, old_knn)
    return {"cosine": cos, "top1": top1, "overlap": float(jac.mean())}


def _retention(space: DiffSpace, w, b, k: int, rng_seed: int) -> dict[str, tuple[float, float, float, float]]:
    """Per ranking metric: (retention, ci_low, ci_high, p of mapped − full)."""
    assert space.queries_new is not None
    full = _run(space, "new", space.queries_new, space.new, k)
    mapped_q = apply_map(space.queries_new, w, b)
    from embeval.diagnostics.retrieval import RetrievalRun
    from embeval.index.search import resolve_params

    assert space.aligned is not None
    run = RetrievalRun(
        queries=np.ascontiguousarray(mapped_q[space.aligned.query_rows]),
        corpus=space.old,
        aligned=space.aligned,
        depth=k,
        index_params=resolve_params("flat", space.n, None),
        seed=space.seed,
        backend=space.backend,
    )
    out = {}
    rng = np.random.default_rng(rng_seed)
    nq = space.aligned.m
    idx = rng.integers(0, nq, size=(1000, nq))
    for m in RANKING_METRICS:
        vm, vf = run.per_query(m, k), full.per_query(m, k)
        ratio = float(vm.mean() / vf.mean()) if vf.mean() > 0 else math.nan
        bm, bf = vm[idx].mean(axis=1), vf[idx].mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            boots = bm / bf
        boots = boots[np.isfinite(boots)]
        lo, hi = np.quantile(boots, [0.025, 0.975]) if len(boots) else (math.nan, math.nan)
        t = _paired(space, vf, vm)
        out[m] = (ratio, float(lo), float(hi), t.p_value)
    return out


def bridge(
    space: DiffSpace,
    calibration: int = 2000,
    holdout: int = 1000,
    k: int = 10,
    alpha: float = 0.1,
    sizes: str = "auto",
    map: str = "auto",
) -> list[Result]:
    if calibration < 2 or holdout < 1:
        raise UsageError("`calibration` must be at least 2 and `holdout` at least 1")
    if alpha < 0:
        raise UsageError(f"`alpha` {alpha} must be ≥ 0")
    kinds = {"auto": ["procrustes", "ridge"] if space.same_dim else ["ridge"]}.get(map, [map])
    for kind in kinds:
        if kind not in ("procrustes", "ridge"):
            raise UsageError(f"`map` {map!r}: expected auto, procrustes or ridge")
        if kind == "procrustes" and not space.same_dim:
            raise UsageError("a Procrustes map needs equal dimensions; use `map` ridge")
    n = space.n
    hold = min(holdout, n // 4)
    if hold < 1 or n - hold < 2 or n - 1 <= k:
        raise UsageError(f"a bridge needs more items than {n} (held-out items and a calibration set)")
    rng = np.random.default_rng(space.seed)
    perm = rng.permutation(n)
    held = np.sort(perm[:hold])
    pool = perm[hold:]
    from embeval.compute import knn

    _, old_knn = knn(space.old, k, queries=held, backend=space.backend, label=f"kNN in OLD of {hold} held-out items")
    with_q = space.aligned is not None and space.queries_new is not None
    out: list[Result] = []
    with space.progress.task("fitting bridge maps", total=None):
        for size in _sizes(sizes, calibration, len(pool)):
            cal = pool[:size]
            for kind in kinds:
                if kind == "procrustes":
                    w, b = procrustes(space.new[cal], space.old[cal]), np.zeros(space.old.shape[1])
                else:
                    w, b = ridge_map(space.new[cal], space.old[cal], alpha)
                ev = _bridge_eval(space, held, w, b, k, old_knn)
                params: dict[str, Any] = {"map": kind, "calibration": size, "held_out": hold}
                if kind == "ridge":
                    params["alpha"] = alpha
                out += [
                    BRIDGE_TOP1(ev["top1"], params, n=hold),
                    BRIDGE_OVERLAP(ev["overlap"], params, n=hold, name=f"bridge_overlap@{k}"),
                    BRIDGE_COSINE(ev["cosine"], params, n=hold),
                ]
                point = {"map": kind, "calibration": size, **ev}
                if with_q:
                    for m, (ratio, lo, hi, p) in _retention(space, w, b, k, space.seed).items():
                        out.append(
                            BRIDGE_RETENTION[m](
                                ratio,
                                {**params, "p_value": p},
                                n=space.aligned.m if space.aligned else None,
                                ci_low=lo,
                                ci_high=hi,
                                name=f"bridge_retention_{m}@{k}",
                            )
                        )
                        point[f"retention_{m}@{k}"] = ratio
                space.curve.append(point)
                if size == min(calibration, len(pool)):
                    space.maps[kind] = {
                        "W": w.astype(np.float32),
                        "b": b.astype(np.float32),
                        "kind": kind,
                        "calibration": size,
                    }
    return out


# ----------------------------------------------------------------------------- registry

D = "diff"
QUERIES = frozenset({"queries"})
QRELS = frozenset({"queries", "qrels"})
register(
    Diagnostic(
        "cka",
        D,
        cka,
        "linear CKA and debiased CKA of OLD vs NEW, bootstrap CI over items",
        outputs=(CKA, CKA_DEBIASED),
        params={
            "n_boot": Param(int, 200, "bootstrap resamples", low=1),
            "ci_rows": Param(int, 500, "rows the bootstrap runs on (above: m-out-of-n)", low=4),
        },
    )
)
register(
    Diagnostic(
        "knn_overlap",
        D,
        knn_overlap,
        "mean Jaccard of each item's k nearest items in OLD and NEW; share unchanged",
        outputs=(KNN_OVERLAP, KNN_UNCHANGED),
        params={"k": Param(int, 10, "neighbours", low=1)},
    )
)
register(
    Diagnostic(
        "query_overlap",
        D,
        query_overlap,
        "per query: top-k overlap and rank-biased overlap (RBO_ext) of OLD's and NEW's results",
        outputs=(QUERY_OVERLAP, RBO),
        params={
            "k": Param(int, 10, "rank cutoff", low=1),
            "p": Param(float, 0.9, "RBO persistence p, in (0, 1)", low=0.0, low_open=True, high=1.0),
        },
        needs=QUERIES,
    )
)
register(
    Diagnostic(
        "retrieval_change",
        D,
        retrieval_change,
        "each side's ranking metrics and NEW − OLD with paired bootstrap CI and sign-flip p-value",
        outputs=tuple(CHANGE_OUTPUTS.values()),
        params={"k": Param(int, 10, "rank cutoff", low=1)},
        needs=QRELS,
    )
)
register(
    Diagnostic(
        "score_scale",
        D,
        score_scale,
        "positive/negative score distributions each side; OLD's best threshold's TPR/FPR on NEW",
        outputs=(*SCALE_OUTPUTS.values(), OLD_THRESHOLD_TPR, OLD_THRESHOLD_FPR),
        needs=QRELS,
    )
)
register(
    Diagnostic(
        "bridge",
        D,
        bridge,
        "maps NEW → OLD fitted on calibration items (Procrustes, ridge); held-out retrieval from OLD, as a curve",
        outputs=(BRIDGE_TOP1, BRIDGE_OVERLAP, BRIDGE_COSINE, *BRIDGE_RETENTION.values()),
        params={
            "calibration": Param(int, 2000, "calibration items", low=2),
            "holdout": Param(int, 1000, "held-out items (at most n/4)", low=1),
            "k": Param(int, 10, "neighbours", low=1),
            "alpha": Param(float, 0.1, "ridge penalty α", low=0.0),
            "sizes": Param(str, "auto", "calibration sizes of the curve (comma-separated, or auto)"),
            "map": Param(
                str,
                "auto",
                "auto (both where dims agree), procrustes or ridge",
                choices=("auto", "procrustes", "ridge"),
            ),
        },
        order_invariant=False,  # the seeded held-out and calibration items are drawn over row positions
    )
)

"""Label-aware diagnostics (SPEC §3, "With labels"): tolerance, kNN label agreement, leave-one-out
kNN accuracy, cosine silhouette and OPIS threshold consistency.

All take a :class:`Space` whose ``labels`` are set; the space's unit rows are used (cosine), and
its cached FAISS kNN is shared with hubness and MAM. Labels are compared as strings.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from embeval.diagnostics.registry import HIGHER, LOWER, Diagnostic, Output, Param, register
from embeval.diagnostics.space import Space, check_k
from embeval.errors import UsageError
from embeval.progress import NULL, Progress
from embeval.results import Result

# ---------------------------------------------------------------- outputs (declared once)

TOLERANCE = Output(
    "tolerance",
    HIGHER,
    "mean cosine over same-label pairs, pooled over classes (Wang & Liu 2021); closed form from class sums, O(n·d)",
)
KNN_LABEL_AGREEMENT = Output(
    "knn_label_agreement",
    HIGHER,
    "mean share of each row's k=10 nearest other rows (FAISS, cosine) with its label",
    identity=("k",),
)
KNN_ACCURACY = Output(
    "knn_accuracy",
    HIGHER,
    "leave-one-out kNN accuracy: majority vote of the k=10 nearest other rows; a tie goes to the tied label met "
    "first (nearest)",
    identity=("k",),
)
SILHOUETTE = Output(
    "silhouette",
    HIGHER,
    "mean silhouette on cosine distance, as `sklearn.metrics.silhouette_score(metric=cosine)`; a class of one row"
    " scores 0. Exact from class sums, O(n·C·d), no n² matrix",
)
OPIS = Output(
    "opis",
    LOWER,
    "threshold inconsistency across classes (Zhang et al., ICLR 2024): mean over thresholds of the variance "
    "across classes of the utility of one global threshold; 0 = one threshold serves every class alike",
    identity=("far_low", "far_high", "grid", "max_rows"),
)

# Elements per block of row × column work (float32 Gram block plus int64 keys ≈ 12 bytes each).
BLOCK_ELEMENTS = 1 << 22


def class_sums(unit: np.ndarray, codes: np.ndarray, n_classes: int, backend=None) -> np.ndarray:
    """S[c] = Σ_{i: codes[i]=c} x̂_i as an n_classes×d float64 array, through the compute layer's
    class-sum kernel (NumPy: one sparse product in float64; torch: index_add in float64)."""
    from embeval.compute import get_backend

    be = get_backend("cpu") if backend is None else backend
    return np.asarray(be.class_sums(be.put(unit), slice(None), np.asarray(codes), n_classes), dtype=np.float64)


# ---------------------------------------------------------------- tolerance


def tolerance_value(unit: np.ndarray, codes: np.ndarray, backend=None) -> float:
    """Mean cosine over same-label pairs i<j (Wang & Liu 2021, "Understanding the Behaviour of
    Contrastive Loss", CVPR; their *tolerance*), pooled over all classes.

    Closed form per class c with S_c = Σ_{i∈c} x̂_i: Σ_{i<j∈c} x̂_i·x̂_j = (‖S_c‖² − Σ_{i∈c}‖x̂_i‖²)/2,
    so the cost is O(n·d), not O(n²). unit: n×d float32 unit rows; codes: n int labels.
    Higher = same-label rows closer together. Needs at least one class with two rows.
    """
    n_classes = int(codes.max()) + 1
    s = class_sums(unit, codes, n_classes, backend)
    sq = np.einsum("ij,ij->i", unit, unit, dtype=np.float64)
    sizes = np.bincount(codes, minlength=n_classes).astype(np.float64)
    pair_sum = (np.einsum("ij,ij->", s, s) - sq.sum()) / 2.0
    pairs = float(np.sum(sizes * (sizes - 1) / 2.0))
    if pairs == 0:
        raise UsageError("tolerance needs at least one label shared by two rows")
    return float(pair_sum / pairs)


def tolerance(space: Space) -> list[Result]:
    codes, classes = space.label_codes()
    return [TOLERANCE(tolerance_value(space.unit, codes, space.backend), {"classes": len(classes)}, n=space.n)]


# ---------------------------------------------------------------- kNN agreement and accuracy


def neighbour_agreement(codes: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Per row: share of its k neighbours ``idx`` (n×k) that carry its own label."""
    return np.mean(codes[idx] == codes[:, None], axis=1)


def knn_vote(codes: np.ndarray, idx: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """Leave-one-out kNN prediction per row: the label most frequent among its k neighbours
    (idx: n×k, nearest first, self excluded). Ties go to the tied label whose first occurrence is
    the nearest neighbour ("nearest-first"); with k=1 this is 1-NN."""
    n = idx.shape[0]
    out = np.empty(n, dtype=codes.dtype)
    for s in range(0, n, block):
        lab = codes[idx[s : s + block]]  # b×k
        counts = (lab[:, :, None] == lab[:, None, :]).sum(axis=2)  # votes for each slot's label
        first = np.argmax(counts == counts.max(axis=1, keepdims=True), axis=1)  # nearest tied slot
        out[s : s + block] = lab[np.arange(len(lab)), first]
    return out


def _knn_result(space: Space, output, per_row: np.ndarray, rows, params: dict) -> list[Result]:
    """Mean of a per-row quantity: exact over every row, or over the plan's seeded query rows
    (their neighbours searched among all rows) with a 95% CI (``exact: false``)."""
    if rows is None:
        return [output(float(np.mean(per_row)), params, n=space.n)]
    from embeval.diagnostics.scale import mean_ci

    val, lo, hi = mean_ci(per_row)
    return [
        output(
            val,
            {**params, "exact": False, "sample": len(rows), "estimator": "seeded query rows"},
            n=space.n,
            ci_low=lo,
            ci_high=hi,
        )
    ]


def knn_label_agreement(space: Space, k: int = 10) -> list[Result]:
    """Mean over rows of the share of the k nearest other rows (cosine) with the same label.
    Rows with the lowest agreement are label-error candidates (see ``--items``). Higher is better."""
    k = check_k(k, space.n)
    codes, _ = space.label_codes()
    rows, _, idx = space.knn_rows(k)
    own = codes if rows is None else codes[rows]
    return _knn_result(space, KNN_LABEL_AGREEMENT, np.mean(codes[idx] == own[:, None], axis=1), rows, {"k": k})


def knn_accuracy(space: Space, k: int = 10) -> list[Result]:
    """Leave-one-out kNN classification accuracy: each row is predicted by a majority vote of its k
    nearest other rows (cosine), ties to the nearest tied label. Higher is better."""
    k = check_k(k, space.n)
    codes, _ = space.label_codes()
    rows, _, idx = space.knn_rows(k)
    own = codes if rows is None else codes[rows]
    return _knn_result(
        space,
        KNN_ACCURACY,
        (knn_vote(codes, idx) == own).astype(np.float64),
        rows,
        {"k": k, "vote": "majority, ties to nearest"},
    )


# ---------------------------------------------------------------- silhouette


def silhouette_samples_cosine(
    unit: np.ndarray, codes: np.ndarray, block_elements: int = BLOCK_ELEMENTS, backend=None
) -> np.ndarray:
    """Per-row silhouette on cosine distance 1 − x̂_i·x̂_j (Rousseeuw 1987; as
    ``sklearn.metrics.silhouette_samples(metric="cosine")``).

    s_i = (b_i − a_i) / max(a_i, b_i), a_i = mean distance to the other rows of its class,
    b_i = min over other classes of the mean distance to that class; rows alone in their class get 0.
    Because cosine distance is linear in x̂_j, Σ_{j∈c}(1 − x̂_i·x̂_j) = |c| − x̂_i·S_c with the class
    sum S_c: the cost is O(n·C·d) in row blocks, never n². unit: n×d float32 unit rows.
    """
    n = unit.shape[0]
    n_classes = int(codes.max()) + 1
    s = class_sums(unit, codes, n_classes, backend)
    sizes = np.bincount(codes, minlength=n_classes).astype(np.float64)
    out = np.zeros(n, dtype=np.float64)
    b = int(max(1, min(n, block_elements // max(n_classes, 1))))
    for start in range(0, n, b):
        rows = slice(start, min(n, start + b))
        xr = unit[rows].astype(np.float64)
        own = codes[rows]
        r = np.arange(len(own))
        dist_sum = sizes[None, :] - xr @ s.T  # Σ_j∈c (1 − cos) incl. self
        self_d = 1.0 - np.einsum("ij,ij->i", xr, xr)  # ≈ 0: distance to itself
        own_size = sizes[own]
        with np.errstate(invalid="ignore", divide="ignore"):
            a = (dist_sum[r, own] - self_d) / (own_size - 1)
            mean_other = dist_sum / sizes[None, :]
        mean_other[r, own] = np.inf
        bb = mean_other.min(axis=1)
        a = np.maximum(a, 0.0)
        bb = np.maximum(bb, 0.0)
        denom = np.maximum(a, bb)
        with np.errstate(invalid="ignore", divide="ignore"):
            val = (bb - a) / denom
        val = np.where((own_size > 1) & (denom > 0), val, 0.0)
        out[rows] = val
    return out


def silhouette(space: Space) -> list[Result]:
    """Mean silhouette on cosine distance over all rows (−1..1); higher = classes better separated."""
    codes, _ = space.label_codes()
    val = float(np.mean(silhouette_samples_cosine(space.unit, codes, backend=space.backend)))
    return [SILHOUETTE(val, {"metric": "cosine"}, n=space.n)]


# ---------------------------------------------------------------- OPIS


def _pair_histograms(
    unit: np.ndarray,
    codes: np.ndarray,
    to_slot,
    nslots: int,
    *,
    per_class: bool,
    progress: Progress = NULL,
    label: str = "pairs",
    block_elements: int = BLOCK_ELEMENTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Histograms of slot(x̂_i·x̂_j) over ordered pairs i≠j, split into same-label and different-label
    pairs, per class of i (``per_class``: arrays C×nslots) or pooled (1×nslots).

    ``to_slot(G)`` maps a float32 block of cosines (it may work in place) to integer slots in
    [0, nslots]; slot ``nslots`` is dropped (values out of range, and each row's pair with itself).
    Rows are sorted by class so that each class's same-label columns are one contiguous range.
    Memory: one row block of at most ``block_elements`` entries, whatever n is.
    """
    order = np.argsort(codes, kind="stable")
    xs = np.ascontiguousarray(unit[order])
    cs = codes[order]
    n = len(cs)
    n_classes = int(cs[-1]) + 1
    bounds = np.searchsorted(cs, np.arange(n_classes + 1))
    rows_out = n_classes if per_class else 1
    same = np.zeros((rows_out, nslots), dtype=np.int64)
    every = np.zeros((rows_out, nslots), dtype=np.int64)
    b = int(max(1, min(n, block_elements // max(n, 1))))
    with progress.task(label, total=n) as task:
        for s in range(0, n, b):
            e = min(n, s + b)
            slot = to_slot(xs[s:e] @ xs.T)
            slot[np.arange(e - s), np.arange(s, e)] = nslots  # a row with itself: dropped
            pooled_pos = []
            for c in range(int(cs[s]), int(cs[e - 1]) + 1):
                a, z = max(int(bounds[c]), s) - s, min(int(bounds[c + 1]), e) - s
                if a >= z:
                    continue
                blk = slot[a:z]
                pos = blk[:, bounds[c] : bounds[c + 1]].ravel()
                if per_class:
                    every[c] += np.bincount(blk.ravel(), minlength=nslots + 1)[:nslots]
                    same[c] += np.bincount(pos, minlength=nslots + 1)[:nslots]
                else:
                    pooled_pos.append(pos)
            if not per_class:
                every[0] += np.bincount(slot.ravel(), minlength=nslots + 1)[:nslots]
                same[0] += np.bincount(np.concatenate(pooled_pos), minlength=nslots + 1)[:nslots]
            task.advance(e - s)
    return same, every - same


def calibration_range(
    unit: np.ndarray,
    codes: np.ndarray,
    far_low: float,
    far_high: float,
    *,
    bins: int = 1 << 16,
    progress: Progress = NULL,
    block_elements: int = BLOCK_ELEMENTS,
) -> tuple[float, float]:
    """Cosine distances at which the global false-accept rate (share of different-label pairs with
    distance ≤ d) first reaches ``far_low`` and ``far_high``, from an exact histogram of all
    different-label pair distances with ``bins`` bins on [0, 2] (upper bin edges: resolution 2/bins).
    unit: n×d float32 unit rows; codes: n int labels 0..C−1."""
    half = np.float32(bins / 2.0)

    def to_slot(g):  # floor((1 − cos)·bins/2), clipped to the histogram
        g *= -half
        g += half
        np.floor(g, out=g)
        np.clip(g, 0, bins - 1, out=g)
        return g.astype(np.intp)

    _, neg = _pair_histograms(
        unit,
        codes,
        to_slot,
        bins,
        per_class=False,
        progress=progress,
        label="opis: calibration range",
        block_elements=block_elements,
    )
    cdf = np.cumsum(neg[0]) / neg[0].sum()
    edges = np.arange(1, bins + 1) * (2.0 / bins)  # upper edge of each bin
    lo = float(edges[min(bins - 1, int(np.searchsorted(cdf, far_low, side="left")))])
    hi = float(edges[min(bins - 1, int(np.searchsorted(cdf, far_high, side="left")))])
    return lo, hi


def class_utility_curves(
    unit: np.ndarray,
    codes: np.ndarray,
    lo: float,
    hi: float,
    grid: int,
    *,
    progress: Progress = NULL,
    block_elements: int = BLOCK_ELEMENTS,
):
    """Per class c at each of ``grid`` cosine-distance thresholds d_t = lo + t·(hi − lo)/(grid − 1):
    TAR_c(d) = share of ordered same-label pairs (i, j), i≠j, i ∈ c, with distance ≤ d;
    TRR_c(d) = share of pairs with exactly one member in c with distance > d;
    U_c(d) = 2·TAR·TRR/(TAR+TRR) (0 when both are 0). Exact counts, blocked over rows
    (distances 1 − x̂_i·x̂_j in float32).

    unit: n×d float32 unit rows; codes: n int labels 0..C−1. Returns (utility C×grid, positive pair
    counts C, negative pair counts C); a class of one row has no positive pairs: its row is NaN.
    """
    n = unit.shape[0]
    n_classes = int(codes.max()) + 1
    step = (hi - lo) / (grid - 1)
    inv = np.float32(1.0 / step) if step > 0 else np.float32(0.0)
    top = np.float32((1.0 - lo) * inv) if step > 0 else np.float32(0.0)

    def to_slot(g):  # slot t ⇔ d_{t−1} < d ≤ d_t; grid ⇔ d > hi (not counted)
        if step > 0:
            g *= -inv
            g += top  # (1 − cos − lo)/step
            np.ceil(g, out=g)
            np.clip(g, 0, grid, out=g)
            return g.astype(np.intp)
        return np.where(1.0 - g <= np.float32(lo), 0, grid).astype(np.intp)

    pos, neg = _pair_histograms(
        unit,
        codes,
        to_slot,
        grid,
        per_class=True,
        progress=progress,
        label="opis: per-class utility",
        block_elements=block_elements,
    )
    sizes = np.bincount(codes, minlength=n_classes).astype(np.float64)
    n_pos = sizes * (sizes - 1)
    n_neg = sizes * (n - sizes)
    with np.errstate(invalid="ignore", divide="ignore"):
        tar = np.cumsum(pos, axis=1) / n_pos[:, None]
        trr = 1.0 - np.cumsum(neg, axis=1) / n_neg[:, None]
        u = np.where(tar + trr > 0, 2 * tar * trr / (tar + trr), 0.0)
    u[(n_pos == 0) | (n_neg == 0)] = np.nan
    return u, n_pos, n_neg


def opis_value(utility: np.ndarray) -> float:
    """OPIS (Zhang et al. 2024): mean over thresholds of the variance across classes of U_c(d),
    i.e. (1/T)Σ_t (1/C)Σ_c (U_c(d_t) − Ū(d_t))², with Ū the mean over classes (NaN rows dropped)."""
    u = utility[~np.isnan(utility).any(axis=1)]
    if len(u) < 2:
        return math.nan
    return float(np.mean(np.var(u, axis=0)))


def check_opis_args(far_low: float, far_high: float, grid: int, max_rows: int) -> None:
    """Raise UsageError unless :func:`opis`'s parameters are in range (shared with the cluster path)."""
    if not 0 < far_low < far_high < 1:
        raise UsageError(f"opis: need 0 < far_low < far_high < 1, got {far_low}, {far_high}")
    if grid < 2:
        raise UsageError(f"opis: grid must be at least 2, got {grid}")
    if max_rows < 0:
        raise UsageError(f"opis: max_rows must be 0 (all rows) or positive, got {max_rows}")


def opis(
    space: Space, far_low: float = 0.01, far_high: float = 0.1, grid: int = 101, max_rows: int = 20000
) -> list[Result]:
    """Operating-Point-Inconsistency Score (Zhang et al., "Threshold-Consistent Margin Loss for
    Open-World Deep Metric Learning", ICLR 2024): how much the utility of one global cosine-distance
    threshold varies across classes. Lower = one threshold serves every class alike; 0 = identical.

    Calibration range [d_lo, d_hi]: the distances at which the global false-accept rate over all
    different-label pairs is ``far_low`` and ``far_high``; ``grid`` equally spaced thresholds in
    it (both ends included). Per class utility: harmonic mean of TAR and TRR (see
    :func:`class_utility_curves`). Exact, O(n²·d) in blocks; above ``max_rows`` rows (0 = never)
    it is computed on a seeded random subset of ``max_rows`` rows and says so.
    """
    check_opis_args(far_low, far_high, grid, max_rows)
    codes, _ = space.label_codes()
    unit = space.unit
    params: dict[str, Any] = {"far_low": far_low, "far_high": far_high, "grid": grid}
    if max_rows and space.n > max_rows:
        rows = np.sort(np.random.default_rng(space.seed).choice(space.n, max_rows, replace=False))
        unit, codes = unit[rows], codes[rows]
        params["estimator"] = f"random subset of {max_rows} rows (seed {space.seed})"
    codes = np.unique(codes, return_inverse=True)[1].ravel()
    lo, hi = calibration_range(unit, codes, far_low, far_high, progress=space.progress)
    u, _, _ = class_utility_curves(unit, codes, lo, hi, grid, progress=space.progress)
    params.update({"d_low": lo, "d_high": hi, "classes": int(np.sum(~np.isnan(u).any(axis=1)))})
    return [OPIS(opis_value(u), params, n=len(codes))]


L = "labels"
NEEDS = frozenset({"labels"})
register(
    Diagnostic(
        "tolerance",
        L,
        tolerance,
        "mean cosine over same-label pairs (Wang & Liu 2021); higher = classes tighter",
        outputs=(TOLERANCE,),
        needs=NEEDS,
    )
)
register(
    Diagnostic(
        "knn_label_agreement",
        L,
        knn_label_agreement,
        "mean share of each row's k nearest neighbours (FAISS, cosine) with its label",
        outputs=(KNN_LABEL_AGREEMENT,),
        needs=NEEDS,
        params={"k": Param(int, 10, "neighbours", low=1)},
    )
)
register(
    Diagnostic(
        "knn_accuracy",
        L,
        knn_accuracy,
        "leave-one-out kNN classification accuracy (majority of k neighbours, ties to the nearest)",
        outputs=(KNN_ACCURACY,),
        needs=NEEDS,
        params={"k": Param(int, 10, "neighbours", low=1)},
    )
)
register(
    Diagnostic(
        "silhouette",
        L,
        silhouette,
        "mean silhouette on cosine distance (as sklearn); −1..1, higher = classes better separated",
        outputs=(SILHOUETTE,),
        needs=NEEDS,
    )
)
register(
    Diagnostic(
        "opis",
        L,
        opis,
        "OPIS threshold inconsistency across classes (Zhang et al. ICLR 2024); lower = one threshold fits all",
        outputs=(OPIS,),
        needs=NEEDS,
        params={
            "far_low": Param(
                float, 0.01, "calibration range starts where the global FAR is this", low=0, low_open=True, high=1
            ),
            "far_high": Param(
                float, 0.1, "calibration range ends where the global FAR is this", low=0, low_open=True, high=1
            ),
            "grid": Param(int, 101, "thresholds in the calibration range", low=2),
            "max_rows": Param(int, 20000, "above this many rows use a seeded random subset (0 = all)", low=0),
        },
    )
)

"""Geometry of one set of vectors (SPEC §3). Every function takes a validated :class:`Space`."""

from __future__ import annotations

import math

import numpy as np

from embeval.diagnostics.pairsum import log_mean
from embeval.diagnostics.registry import HIGHER, LOWER, NEITHER, Diagnostic, Output, Param, register
from embeval.diagnostics.space import Space, check_k
from embeval.errors import UsageError
from embeval.results import Result

# ---------------------------------------------------------------- outputs (declared once)

UNIFORMITY = Output(
    "uniformity",
    LOWER,
    "log mean over pairs of exp(−t‖x̂ᵢ − x̂ⱼ‖²), t=2 (Wang & Isola 2020). Exact for any n in blocks of the Gram "
    "matrix; `sample=N` (`--sample N`) estimates it from N seeded random pairs with a 95% CI; 0 = collapse",
    identity=("t", "sample"),
)
ALIGNMENT = Output(
    "alignment",
    LOWER,
    "mean ‖x̂ᵢ − ŷᵢ‖^α over row-aligned pairs (Wang & Isola 2020)",
    identity=("alpha",),
)
MAM = Output(
    "mam",
    LOWER,
    "Mean Angular Margin. `mode=nn` (default): mean of (90° − angle to the nearest other row); `mode=pairwise`: "
    "mean over pairs of |90° − θᵢⱼ|. The GNN-Coder paper's formula is not public, so this is embeval's documented"
    " definition",
    identity=("mode",),
)
ANISOTROPY = Output(
    "anisotropy",
    LOWER,
    "mean cosine over pairs i≠j, from the closed form (‖Σx̂‖² − n)/(n(n−1)) (Ethayarajh 2019); near 0 = "
    "isotropic, near 1 = a narrow cone",
)
EFFECTIVE_RANK = Output("effective_rank", HIGHER, "RankMe: exp(entropy of σₖ/Σσ + 1e-7) (Garrido et al. 2023)")
HUBNESS_SKEW = Output(
    "hubness_skew",
    LOWER,
    "skewness (biased, as scipy) of the k-occurrence N_k (k=10, FAISS) (Radovanović et al. 2010)",
    identity=("k", "hub_size"),
)
ANTIHUB_SHARE = Output(
    "antihub_share",
    LOWER,
    "share of rows with N_k = 0: in no other row's k nearest neighbours",
    identity=("k", "hub_size"),
)
HUB_OCCURRENCE = Output(
    "hub_occurrence",
    LOWER,
    "share of all neighbour slots taken by hubs (N_k ≥ hub_size·k, hub_size=2)",
    identity=("k", "hub_size"),
)
INTRINSIC_DIM = Output(
    "intrinsic_dim",
    NEITHER,
    "TwoNN (Facco et al. 2017), top 10% of μ dropped, duplicates removed and counted",
)


def uniformity_exact(x: np.ndarray, t: float = 2.0, *, normalized: bool = True, progress=None, backend=None) -> float:
    """log mean_{i<j} exp(−t‖x_i − x_j‖²), exact, in blocks (Wang & Isola 2020).

    x: n×d float32 (n ≥ 2). Lower is more uniform; 0 means collapse. Memory is one block, not n².
    ``backend``: an :mod:`embeval.compute` back end (default NumPy on the CPU).
    """
    from embeval.compute import ExpSqDist
    from embeval.compute import upper_pair_sum as pair_sum

    kw = {} if progress is None else {"progress": progress}
    n = x.shape[0]
    total = pair_sum(x, ExpSqDist(t, normalized), backend=backend, label="uniformity", **kw)
    return log_mean(total, n * (n - 1) / 2)


class _SqDist:
    """‖a_i − b_i‖² per row, from float64 differences, in a buffer reused across calls."""

    def __init__(self):
        self.buf = np.empty((0, 0))

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.buf.shape[0] < a.shape[0] or self.buf.shape[1] != a.shape[1]:
            self.buf = np.empty(a.shape, dtype=np.float64)
        diff = self.buf[: a.shape[0]]
        np.subtract(a, b, out=diff, dtype=np.float64)
        return np.einsum("ij,ij->i", diff, diff)


def uniformity_sampled(x: np.ndarray, t: float, m: int, seed: int, progress=None) -> tuple[float, float, float]:
    """Estimate of uniformity from ``m`` random pairs i≠j (with replacement, seeded), with a 95%
    normal-theory interval; pairs are streamed in blocks, so memory does not grow with ``m``.

    Returns (estimate, ci_low, ci_high) on the log scale.
    """
    from embeval.compute import sampled_pair_mean

    kw = {} if progress is None else {"progress": progress}
    sq_dist = _SqDist()
    mean, half, _ = sampled_pair_mean(
        x, lambda a, b: np.exp(-t * sq_dist(a, b)), m, seed, label="uniformity (sampled pairs)", **kw
    )
    lo = math.log(mean - half) if mean - half > 0 else -math.inf
    return log_mean(mean, 1.0), lo, math.log(mean + half)


def _estimated(space: Space, params: dict, sample: int) -> dict:
    return {**params, "exact": False, "sample": sample}


def bounded_sample(sample: int, n: int, d: int, budget: float | None) -> int:
    """The number of pairs to sample for ``sample`` asked: 0 (compute the exact value) when
    ``sample`` is at least the n(n−1)/2 distinct pairs, since the exact sum then costs no more;
    else at most what ``budget`` seconds allow at the pessimistic cost of a pair (with a warning)."""
    if not sample or sample >= n * (n - 1) // 2:
        return 0
    if budget is None:
        return sample
    from embeval.diagnostics.scale import pessimistic_seconds_per_pair

    cap = max(1_000, int(budget / pessimistic_seconds_per_pair(d)))
    if sample > cap:
        import warnings

        from embeval.notices import EmbevalWarning

        warnings.warn(
            f"`sample`={sample:,} pairs would take longer than the {budget:g} s budget; sampling {cap:,} pairs "
            "(give a larger budget, or exact=True / --exact for the exact value)",
            EmbevalWarning,
            stacklevel=3,
        )
        return cap
    return sample


def uniformity(space: Space, t: float = 2.0, sample: int = 0) -> list[Result]:
    n = space.n
    plan = space.plan
    if sample:
        budget = None if plan is None or plan.forced_exact else plan.budget
        sample = bounded_sample(sample, n, space.x.shape[1], budget)
    elif plan is not None and not plan.exact and "uniformity" in plan.estimated:
        sample = plan.pair_sample
    if sample:
        est, lo, hi = uniformity_sampled(space.x, t, sample, space.seed, progress=space.progress)
        return [
            UNIFORMITY(
                est,
                {"t": t, "sample": sample, "estimator": "sampled pairs", "exact": False},
                n=n,
                ci_low=lo,
                ci_high=hi,
            )
        ]
    val = uniformity_exact(space.x, t, normalized=space.normalized, progress=space.progress, backend=space.backend)
    return [UNIFORMITY(val, {"t": t}, n=n)]


def alignment_value(a: np.ndarray, b: np.ndarray, alpha: float = 2.0) -> float:
    """mean_i ‖a_i − b_i‖^alpha over row-aligned pairs (Wang & Isola 2020). Lower is better."""
    d = np.linalg.norm(a.astype(np.float64) - b, axis=1)
    return float(np.mean(d**alpha))


def alignment(space: Space, alpha: float = 2.0) -> list[Result]:
    if space.pairs is None:
        raise UsageError("alignment needs row-aligned pairs")
    return [ALIGNMENT(alignment_value(space.x, space.pairs, alpha), {"alpha": alpha}, n=space.n)]


def _angles(cos: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def mam(space: Space, mode: str = "nn") -> list[Result]:
    """Mean Angular Margin (embeval's definition; see SPEC §3).

    nn:       mean_i (90° − θ_i), θ_i the angle to x_i's nearest other row.
    pairwise: mean_{i<j} |90° − θ_ij|.
    Lower means neighbours lie further apart (more uniform). Estimated form (a run over its
    budget): nn on a seeded subset of rows (their nearest neighbour among all rows), pairwise on
    sampled pairs; both with a 95% CI.
    """
    from embeval.diagnostics.scale import mean_ci

    plan = space.plan
    estimated = plan is not None and not plan.exact and "mam" in plan.estimated
    if mode == "nn":
        rows, sims, _ = space.knn_rows(1)
        margins = 90.0 - _angles(sims[:, 0].astype(np.float64))
        if rows is not None:
            val, lo, hi = mean_ci(margins)
            return [
                MAM(
                    val,
                    _estimated(space, {"mode": mode, "estimator": "seeded query rows"}, len(rows)),
                    n=space.n,
                    ci_low=lo,
                    ci_high=hi,
                )
            ]
        val = float(np.mean(margins))
    elif estimated:
        from embeval.compute import sampled_pair_mean

        def margin(a, b):
            cos = np.einsum("ij,ij->i", a.astype(np.float64), b.astype(np.float64))
            return np.abs(90.0 - _angles(cos))

        m = plan.pair_sample
        val, half, _ = sampled_pair_mean(
            space.unit, margin, m, space.seed, progress=space.progress, label="mam (sampled pairs)"
        )
        return [
            MAM(
                val,
                _estimated(space, {"mode": mode, "estimator": "sampled pairs"}, m),
                n=space.n,
                ci_low=val - half,
                ci_high=val + half,
            )
        ]
    else:
        from embeval.compute import AbsAngleMargin
        from embeval.compute import upper_pair_sum as pair_sum

        n = space.n
        val = pair_sum(
            space.unit, AbsAngleMargin(), backend=space.backend, progress=space.progress, label="mam pairwise"
        ) / (n * (n - 1) / 2)
    return [MAM(val, {"mode": mode}, n=space.n)]


def anisotropy_value(unit: np.ndarray) -> float:
    """mean_{i≠j} cos(x_i, x_j) = (‖Σx̂‖² − n) / (n(n−1)) for unit rows (Ethayarajh 2019)."""
    n = unit.shape[0]
    s = unit.sum(axis=0, dtype=np.float64)
    sq = float(np.einsum("ij,ij->", unit, unit, dtype=np.float64))
    return (float(s @ s) - sq) / (n * (n - 1))


def anisotropy(space: Space) -> list[Result]:
    return [ANISOTROPY(anisotropy_value(space.unit), n=space.n)]


def singular_values(x: np.ndarray, progress=None, block: int = 1 << 15) -> np.ndarray:
    """Singular values of x via the eigenvalues of the smaller Gram matrix (float64). For n ≥ d the
    d×d Gram matrix is accumulated over row blocks: no float64 copy of x, and progress shows."""
    n, d = x.shape
    if n < d:
        x64 = x.astype(np.float64)
        gram = x64 @ x64.T
    else:
        from embeval.progress import NULL

        gram = np.zeros((d, d), dtype=np.float64)
        with (progress or NULL).task("effective rank (Gram matrix)", total=n) as task:
            for s in range(0, n, block):
                xb = x[s : s + block].astype(np.float64)
                gram += xb.T @ xb
                task.advance(len(xb))
    ev = np.linalg.eigvalsh(gram)[::-1]
    return np.sqrt(np.maximum(ev, 0.0))


def effective_rank_value(x: np.ndarray, progress=None) -> float:
    """RankMe (Garrido et al. 2023): p_k = σ_k/Σσ + 1e-7, exp(−Σ p_k log p_k). Higher is better."""
    s = singular_values(x, progress)
    p = s / s.sum() + 1e-7
    return float(np.exp(-np.sum(p * np.log(p))))


def effective_rank(space: Space) -> list[Result]:
    return [EFFECTIVE_RANK(effective_rank_value(space.x, space.progress), n=space.n)]


def k_occurrence(idx: np.ndarray, n: int) -> np.ndarray:
    """N_k(x): how many rows list x among their k nearest neighbours."""
    return np.bincount(idx.ravel(), minlength=n)


def skewness(v: np.ndarray) -> float:
    """Biased sample skewness m3 / m2^1.5 (scipy.stats.skew default)."""
    v = v.astype(np.float64)
    c = v - v.mean()
    m2 = np.mean(c**2)
    return 0.0 if m2 == 0 else float(np.mean(c**3) / m2**1.5)


def hubness(space: Space, k: int = 10, hub_size: float = 2.0) -> list[Result]:
    """Hubness (Radovanović et al. 2010; scikit-hubness): skewness of N_k, share of antihubs
    (N_k = 0), and hub occurrence (share of all neighbour slots taken by hubs, N_k ≥ hub_size·k).
    Estimated form (a run over its budget): the same on a seeded subset of rows with the kNN graph
    within the subset (``exact: false``, ``sample`` = subset size)."""
    k = check_k(k, space.n)
    plan = space.plan
    sub = None if plan is None or plan.exact else plan.hub_rows
    params: dict = {"k": k}
    if sub is not None and space._knn is None:
        from embeval.compute import knn

        _, idx = knn(
            space.unit[sub],
            k,
            backend=space.backend,
            progress=space.progress,
            label=f"kNN search (k={k}) within {len(sub):,} sampled rows (hubness)",
        )
        n = len(sub)
        params = _estimated(space, {**params, "estimator": "kNN graph within a seeded row subset"}, n)
    else:
        _, idx = space.knn(k)
        n = space.n
    occ = k_occurrence(idx, n)
    hubs = occ >= hub_size * k
    return [
        HUBNESS_SKEW(skewness(occ), params, n=n),
        ANTIHUB_SHARE(float(np.mean(occ == 0)), params, n=n),
        HUB_OCCURRENCE(float(np.mean(hubs[idx])), {**params, "hub_size": hub_size}, n=n),
    ]


def twonn(r1: np.ndarray, r2: np.ndarray, discard: float = 0.1) -> tuple[float, int]:
    """TwoNN (Facco et al. 2017): μ = r2/r1, least squares through the origin of
    −log(1 − F(μ)) on log μ after dropping the largest ``discard`` fraction of μ.

    Rows with r1 = 0 (duplicates) are removed; returns (dimension, rows removed).
    """
    ok = r1 > 0
    mu = np.sort(r2[ok].astype(np.float64) / r1[ok])
    n = len(mu)
    if n < MIN_TWONN_ROWS:
        raise UsageError(
            f"intrinsic_dim needs at least {MIN_TWONN_ROWS} distinct rows for a meaningful TwoNN estimate, got {n}"
        )
    f_emp = np.arange(1, n + 1, dtype=np.float64) / n
    keep = math.floor(n * (1 - discard))
    x = np.log(mu[:keep])
    y = -np.log(1 - f_emp[:keep])
    if not (x @ x > 0):
        raise UsageError(
            "intrinsic_dim is undefined here: every row's first and second neighbours are "
            "equally far (a regular simplex or grid)"
        )
    return float(x @ y / (x @ x)), int((~ok).sum())


MIN_TWONN_ROWS = 10


def neighbour_distances(
    x: np.ndarray, idx: np.ndarray, block: int = 8192, rows: np.ndarray | None = None
) -> np.ndarray:
    """‖x_i − x_idx[i, j]‖ recomputed from float64 differences (so duplicates give exactly 0),
    in row blocks to bound memory. ``rows``: the row of x each row of ``idx`` belongs to
    (default 0..len(idx)−1)."""
    out = np.empty(idx.shape, dtype=np.float64)
    for s in range(0, idx.shape[0], block):
        own = x[s : s + block] if rows is None else x[rows[s : s + block]]
        xi = own.astype(np.float64)[:, None, :]
        out[s : s + block] = np.linalg.norm(xi - x[idx[s : s + block]], axis=2)
    return out


def intrinsic_dim(space: Space) -> list[Result]:
    """TwoNN on every row, or (a run over its budget) on a seeded subset of rows whose two nearest
    neighbours are searched among all rows: μ_i is then exact for each sampled row."""
    if space.normalized:
        rows, _, idx = space.knn_rows(2)
    else:
        from embeval.compute import knn

        # Centre first: distances are translation-invariant, and float32 ‖a‖² + ‖b‖² − 2a·b loses
        # tiny distances to cancellation when norms are large.
        centred = space.x - space.x.mean(axis=0, dtype=np.float64).astype(np.float32)
        rows = space.knn_queries
        _, idx = knn(centred, 2, metric="l2", queries=rows, backend=space.backend, progress=space.progress)
    d = neighbour_distances(space.x, idx, rows=rows)
    d.sort(axis=1)
    dim, removed = twonn(d[:, 0], d[:, 1])
    params = {"estimator": "twonn", "duplicates_removed": removed}
    if rows is not None:
        params = _estimated(space, params, len(rows))
    return [INTRINSIC_DIM(dim, params, n=space.n)]


G = "geometry"
register(
    Diagnostic(
        "uniformity",
        G,
        uniformity,
        "log mean exp(−t‖x̂_i − x̂_j‖²) over pairs (Wang & Isola 2020); lower is more uniform, 0 = collapse",
        outputs=(UNIFORMITY,),
        params={
            "t": Param(float, 2.0, "temperature", low=0, low_open=True),
            "sample": Param(int, 0, "estimate from this many random pairs (0 = exact)", low=0),
        },
    )
)
register(
    Diagnostic(
        "alignment",
        G,
        alignment,
        "mean ‖x̂_i − ŷ_i‖^alpha over positive pairs (Wang & Isola 2020); lower is better",
        outputs=(ALIGNMENT,),
        needs=frozenset({"pairs"}),
        params={"alpha": Param(float, 2.0, "exponent", low=0, low_open=True)},
    )
)
register(
    Diagnostic(
        "mam",
        G,
        mam,
        "Mean Angular Margin: mean (90° − angle to nearest other row); lower = more uniform",
        outputs=(MAM,),
        params={
            "mode": Param(str, "nn", "nn (nearest neighbour) or pairwise |90° − θ_ij|", choices=("nn", "pairwise"))
        },
    )
)
register(
    Diagnostic(
        "anisotropy",
        G,
        anisotropy,
        "mean cosine over pairs i≠j (Ethayarajh 2019); near 0 = isotropic, near 1 = a narrow cone",
        outputs=(ANISOTROPY,),
    )
)
register(
    Diagnostic(
        "effective_rank",
        G,
        effective_rank,
        "RankMe effective rank exp(entropy of normalised singular values) (Garrido et al. 2023)",
        outputs=(EFFECTIVE_RANK,),
    )
)
register(
    Diagnostic(
        "hubness",
        G,
        hubness,
        "skewness of k-occurrence, antihub share, hub occurrence (Radovanović et al. 2010)",
        outputs=(HUBNESS_SKEW, ANTIHUB_SHARE, HUB_OCCURRENCE),
        params={
            "k": Param(int, 10, "neighbours", low=1),
            "hub_size": Param(float, 2.0, "hubs have k-occurrence ≥ hub_size·k", low=0, low_open=True),
        },
    )
)
register(
    Diagnostic(
        "intrinsic_dim",
        G,
        intrinsic_dim,
        "TwoNN intrinsic dimension (Facco et al. 2017); duplicates removed and counted",
        outputs=(INTRINSIC_DIM,),
    )
)

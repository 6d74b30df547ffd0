"""Drift between two embedding sets: did the distribution change (between releases, between
sources)? Two two-sample tests, both seeded and both giving a p-value a CI gate can use.

- **MMD² with a permutation p-value** (Gretton et al. 2012, "A Kernel Two-Sample Test", JMLR 13).
  For X (m rows) and Y (n rows) and a kernel k, the unbiased estimator (their eq. 3) is

      MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m−1)) + Σ_{i≠j} k(y_i, y_j) / (n(n−1))
               − 2 Σ_{i,j} k(x_i, y_j) / (mn).

  It can be slightly negative; E[MMD²_u] = 0 exactly when the two distributions are equal.
  Kernels: ``rbf`` k = exp(−‖x − y‖² / (2σ²)) with σ the median pairwise distance of the pooled
  sample (the "median heuristic", Gretton et al. 2012 §8), or ``cosine`` k = x̂·ŷ (detects a move
  of the mean direction only). The p-value is (1 + #{MMD²_u(π) ≥ MMD²_u}) / (R + 1) over R random
  relabellings π of the pooled rows: an exact-level test (Phipson & Smyth 2010), valid for any
  kernel and sample size.
- **Classifier two-sample test** (Lopez-Paz & Oquab 2017, "Revisiting Classifier Two-Sample
  Tests", ICLR; Evidently's model-based drift): a standardised logistic regression is fitted on a
  stratified, seeded half of the rows to tell X from Y; its held-out ROC AUC on the other half is
  the statistic (0.5 = indistinguishable). CI: DeLong et al. 1988 variance, normal interval clipped
  to [0, 1]. p-value: one-sided Mann–Whitney U test of the held-out scores (normal approximation
  with tie correction) — exact in level, because the fitted scorer never saw the held-out labels.

Inputs are unit rows (``GapSpace`` normalises them); sets larger than ``max_rows`` are subsampled
(seeded, without replacement) first. Output metric names: ``mmd2``, ``drift_p``, ``c2st_auc``,
``c2st_p``.
"""

from __future__ import annotations

import math

import numpy as np

from embeval.diagnostics.registry import LOWER, NEITHER, Diagnostic, Output, Param, register
from embeval.errors import UsageError

KERNELS = ("rbf", "cosine")

MMD2 = Output(
    "mmd2", LOWER, "unbiased MMD² of A vs B (Gretton et al. 2012); ≈ 0 = same distribution", identity=("kernel",)
)
DRIFT_P = Output(
    "drift_p",
    NEITHER,
    "permutation p-value of mmd2; small = A and B differ (gate: drift_p < 0.01)",
    identity=("kernel",),
)
C2ST_AUC = Output(
    "c2st_auc", LOWER, "held-out ROC AUC of a classifier telling B from A; 0.5 = no drift, with a DeLong CI"
)
C2ST_P = Output("c2st_p", NEITHER, "one-sided Mann–Whitney p-value of c2st_auc; small = A and B differ")


# ---------------------------------------------------------------- MMD


def _subsample(x: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    if x.shape[0] <= max_rows:
        return x
    return x[np.sort(rng.choice(x.shape[0], max_rows, replace=False))]


def _sqdists(z: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances of the rows of z (N×d), float64, clipped at 0."""
    z = z.astype(np.float64)
    sq = np.einsum("ij,ij->i", z, z)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (z @ z.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return d2


def median_bandwidth(z: np.ndarray) -> float:
    """σ = median of ‖z_i − z_j‖ over pairs i < j of the pooled rows (the median heuristic)."""
    d2 = _sqdists(z)
    iu = np.triu_indices(z.shape[0], k=1)
    return float(np.sqrt(np.median(d2[iu])))


def kernel_matrix(
    z: np.ndarray, kernel: str = "rbf", bandwidth: float | None = None
) -> tuple[np.ndarray, float | None]:
    """The N×N float64 kernel matrix of the pooled rows z, and the RBF σ used (None for cosine)."""
    if kernel == "cosine":
        z = z.astype(np.float64)
        return z @ z.T, None
    if kernel != "rbf":
        raise UsageError(f"kernel {kernel!r}: choose one of {', '.join(KERNELS)}")
    d2 = _sqdists(z)
    if bandwidth is None:
        iu = np.triu_indices(z.shape[0], k=1)
        bandwidth = float(np.sqrt(np.median(d2[iu])))
    if not bandwidth > 0:
        raise UsageError("MMD: the median pairwise distance is 0 (most rows are identical); give a bandwidth")
    return np.exp(-d2 / (2.0 * bandwidth * bandwidth)), float(bandwidth)


def mmd2_unbiased_from_kernel(k: np.ndarray, m: int) -> float:
    """MMD²_u of the first m rows (X) against the rest (Y) from the pooled kernel matrix k."""
    n = k.shape[0] - m
    if m < 2 or n < 2:
        raise UsageError(f"MMD needs at least 2 rows in each set, got {m} and {n}")
    kxx, kyy, kxy = k[:m, :m], k[m:, m:], k[:m, m:]
    sxx = kxx.sum() - np.trace(kxx)
    syy = kyy.sum() - np.trace(kyy)
    return float(sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2.0 * kxy.sum() / (m * n))


def mmd_permutation_test(
    k: np.ndarray, m: int, *, n_perm: int = 1000, seed: int = 0, block: int = 256
) -> tuple[float, float, np.ndarray]:
    """Observed MMD²_u, its permutation p-value, and the R permuted statistics.

    With K₀ = k with a zero diagonal, a relabelling with indicator vector a (1 = in X, m ones) has
    S_xx = aᵀK₀a, Σ_j K₀ over X rows = aᵀr (r = K₀1), so S_xy = aᵀr − S_xx and
    S_yy = 1ᵀK₀1 − 2aᵀr + S_xx: one N×N by N×R product per block of relabellings.
    """
    if n_perm < 1:
        raise UsageError(f"n_perm must be at least 1, got {n_perm}")
    big_n = k.shape[0]
    n = big_n - m
    observed = mmd2_unbiased_from_kernel(k, m)
    k0 = k.copy()
    np.fill_diagonal(k0, 0.0)
    r = k0.sum(axis=1)
    total = r.sum()
    rng = np.random.default_rng(seed)
    stats = np.empty(n_perm, dtype=np.float64)
    for s in range(0, n_perm, block):
        b = min(block, n_perm - s)
        a = np.zeros((big_n, b), dtype=np.float64)
        for j in range(b):
            a[rng.permutation(big_n)[:m], j] = 1.0
        sxx = np.einsum("ij,ij->j", a, k0 @ a)
        ar = r @ a
        sxy = ar - sxx
        syy = total - 2.0 * ar + sxx
        stats[s : s + b] = sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2.0 * sxy / (m * n)
    tol = 1e-12 * max(1.0, abs(observed))
    p = (1 + int(np.sum(stats >= observed - tol))) / (n_perm + 1)
    return observed, float(p), stats


def mmd_test(
    x: np.ndarray,
    y: np.ndarray,
    *,
    kernel: str = "rbf",
    bandwidth: float | None = None,
    n_perm: int = 1000,
    max_rows: int = 1000,
    seed: int = 0,
) -> dict:
    """MMD²_u of x (m×d) against y (n×d) with a permutation p-value; sets above ``max_rows`` rows
    are subsampled (seeded). Returns {"mmd2", "p_value", "bandwidth", "n_x", "n_y", "n_perm"}."""
    rng = np.random.default_rng(seed)
    x, y = _subsample(x, max_rows, rng), _subsample(y, max_rows, rng)
    k, sigma = kernel_matrix(np.concatenate([x, y], axis=0), kernel, bandwidth)
    stat, p, _ = mmd_permutation_test(k, x.shape[0], n_perm=n_perm, seed=int(rng.integers(2**63 - 1)))
    return {
        "mmd2": stat,
        "p_value": p,
        "bandwidth": sigma,
        "n_x": int(x.shape[0]),
        "n_y": int(y.shape[0]),
        "n_perm": n_perm,
    }


# ---------------------------------------------------------------- classifier two-sample test


def auc_delong(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """ROC AUC (ties count ½) of ``scores`` for ``labels`` (1 = positive) and its DeLong variance.

    With V10_i = mean_j ψ(x_i, y_j) over negatives y for each positive x_i, and V01_j the same per
    negative, Var(AUC) = Var(V10)/n₁ + Var(V01)/n₀ (sample variances, DeLong, DeLong &
    Clarke-Pearson 1988). Computed from mid-ranks in O(N log N)."""
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    pos, neg = scores[labels], scores[~labels]
    n1, n0 = pos.size, neg.size
    if n1 < 2 or n0 < 2:
        raise UsageError("the classifier test needs at least 2 held-out rows of each set")
    r_all = rankdata(scores)
    r_pos, r_neg = rankdata(pos), rankdata(neg)
    # Number of negatives below each positive (ties ½) = rank among all − rank among positives.
    v10 = (r_all[labels] - r_pos) / n0
    v01 = 1.0 - (r_all[~labels] - r_neg) / n1
    auc = float(v10.mean())
    var = float(v10.var(ddof=1) / n1 + v01.var(ddof=1) / n0)
    return auc, var


def mann_whitney_greater_p(scores: np.ndarray, labels: np.ndarray) -> float:
    """One-sided p-value that positives score higher than negatives: Mann–Whitney U, normal
    approximation with the tie-corrected variance and a continuity correction of ½."""
    from scipy.stats import norm, rankdata

    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    big_n = n1 + n0
    ranks = rankdata(scores)
    u = ranks[labels].sum() - n1 * (n1 + 1) / 2.0
    _, counts = np.unique(scores, return_counts=True)
    tie = float(np.sum(counts**3 - counts))
    var = n1 * n0 / 12.0 * ((big_n + 1) - tie / (big_n * (big_n - 1)))
    if var <= 0:
        return 1.0
    z = (u - n1 * n0 / 2.0 - 0.5) / math.sqrt(var)
    return float(norm.sf(z))


def classifier_test(
    x: np.ndarray,
    y: np.ndarray,
    *,
    test_size: float = 0.5,
    C: float = 1.0,
    max_rows: int = 5000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Held-out ROC AUC of a standardised logistic regression telling y (positive) from x, with
    its DeLong CI and the one-sided Mann–Whitney p-value. Returns {"auc", "ci_low", "ci_high",
    "p_value", "n_train", "n_test", "converged"}."""
    import warnings

    from scipy.stats import norm
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not 0 < test_size < 1:
        raise UsageError(f"test_size={test_size}: must be between 0 and 1")
    rng = np.random.default_rng(seed)
    x, y = _subsample(x, max_rows, rng), _subsample(y, max_rows, rng)
    if min(x.shape[0], y.shape[0]) < 4:
        raise UsageError(f"the classifier test needs at least 4 rows in each set, got {x.shape[0]} and {y.shape[0]}")
    z = np.concatenate([x, y], axis=0)
    lab = np.concatenate([np.zeros(x.shape[0], dtype=np.int64), np.ones(y.shape[0], dtype=np.int64)])
    z_tr, z_te, l_tr, l_te = train_test_split(
        z, lab, test_size=test_size, stratify=lab, random_state=int(rng.integers(2**31 - 1))
    )
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=C, class_weight="balanced", solver="liblinear", max_iter=1000)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(z_tr, l_tr)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    scores = model.decision_function(z_te)
    auc, var = auc_delong(scores, l_te)
    half = norm.ppf(0.5 + confidence / 2.0) * math.sqrt(max(var, 0.0))
    return {
        "auc": auc,
        "ci_low": max(0.0, auc - half),
        "ci_high": min(1.0, auc + half),
        "p_value": mann_whitney_greater_p(scores, l_te),
        "n_train": len(l_tr),
        "n_test": len(l_te),
        "converged": bool(converged),
    }


# ---------------------------------------------------------------- diagnostics on a GapSpace


def mmd(space, kernel: str = "rbf", n_perm: int = 1000, max_rows: int = 1000, bandwidth: float | None = None) -> list:
    """MMD²_u of A against B (``mmd2``) and its permutation p-value (``drift_p``)."""
    with space.progress.task(f"MMD² permutation test ({n_perm} relabellings)", total=None):
        r = mmd_test(
            space.a, space.b, kernel=kernel, bandwidth=bandwidth, n_perm=n_perm, max_rows=max_rows, seed=space.seed
        )
    # Only the kernel identifies the result (declared identity); the rest describes how it was computed.
    params = {"kernel": kernel, "relabellings": n_perm}
    if r["bandwidth"] is not None:
        params["sigma"] = round(r["bandwidth"], 6)
    if r["n_x"] < space.n_a or r["n_y"] < space.n_b:
        params["subsampled"] = f"{r['n_x']}+{r['n_y']} rows"
    n = r["n_x"] + r["n_y"]
    return [
        MMD2(r["mmd2"], params, n=n),
        DRIFT_P(
            r["p_value"], {"kernel": kernel, "test": "MMD² permutation", "p_floor": round(1 / (n_perm + 1), 6)}, n=n
        ),
    ]


def c2st(space, test_size: float = 0.5, C: float = 1.0, max_rows: int = 5000, confidence: float = 0.95) -> list:
    """Held-out AUC of a classifier telling B from A (``c2st_auc`` with a DeLong CI) and its
    one-sided Mann–Whitney p-value (``c2st_p``)."""
    with space.progress.task("classifier two-sample test", total=None):
        r = classifier_test(
            space.a, space.b, test_size=test_size, C=C, max_rows=max_rows, confidence=confidence, seed=space.seed
        )
    params = {"held_out_share": test_size, "train_rows": r["n_train"], "ci": f"{100 * confidence:g}% DeLong"}
    if not r["converged"]:
        params["converged"] = False
    return [
        C2ST_AUC(r["auc"], params, n=r["n_test"], ci_low=r["ci_low"], ci_high=r["ci_high"]),
        C2ST_P(r["p_value"], {"test": "one-sided Mann–Whitney on held-out scores"}, n=r["n_test"]),
    ]


F = "drift"
register(
    Diagnostic(
        "mmd",
        F,
        mmd,
        "unbiased MMD² of A vs B (RBF kernel, median-heuristic bandwidth, or cosine) and its permutation "
        "p-value drift_p (Gretton et al. 2012); drift_p < 0.01 = the sets differ",
        outputs=(MMD2, DRIFT_P),
        default=False,
        order_invariant=False,  # the seeded relabellings permute row positions: drift_p depends on the order
        params={
            "kernel": Param(str, "rbf", "rbf or cosine", choices=KERNELS),
            "n_perm": Param(int, 1000, "random relabellings for the p-value", low=1),
            "max_rows": Param(
                int,
                1000,
                "subsample each set to at most this many rows (the pooled N×N kernel matrix is held in memory)",
                low=2,
                high=5000,
            ),
            "bandwidth": Param(float, None, "RBF σ (default: median pairwise distance)", low=0, low_open=True),
        },
    )
)
register(
    Diagnostic(
        "c2st",
        F,
        c2st,
        "classifier two-sample test: held-out ROC AUC (DeLong CI) of a logistic regression telling B from "
        "A, 0.5 = no drift, and its one-sided Mann–Whitney p-value c2st_p (Lopez-Paz & Oquab 2017)",
        outputs=(C2ST_AUC, C2ST_P),
        default=False,
        order_invariant=False,  # the seeded held-out split is drawn over row positions
        params={
            "test_size": Param(float, 0.5, "held-out share (stratified, seeded)", low=0, low_open=True, high=0.9),
            "C": Param(float, 1.0, "inverse L2 regularisation strength", low=0, low_open=True),
            "max_rows": Param(int, 5000, "subsample each set to at most this many rows", low=4),
            "confidence": Param(float, 0.95, "confidence of the AUC interval", low=0, low_open=True, high=0.999),
        },
    )
)

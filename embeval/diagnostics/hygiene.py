"""Hygiene of a vector set for search (not in geometry's default run; ask with ``-m`` or run
``embeval audit``): near-duplicates, outliers, rogue dimensions, norms, cosine vs inner product,
distance concentration, kNN-graph islands; with queries, out-of-distribution queries and query-side
hubness; and a cluster map.

Each kNN-based output is exact on every row, or (a run over its budget, see
:mod:`embeval.diagnostics.scale`) computed for a seeded subset of rows whose neighbours are searched
among all n rows (``exact: false``, ``sample`` = the subset size). Rows involved (sample ids) travel
in the result's ``params["sample_ids"]`` (at most :data:`SAMPLE_IDS`).
"""

from __future__ import annotations

import numpy as np

from embeval.diagnostics import baselines as base
from embeval.diagnostics import measures
from embeval.diagnostics.registry import HIGHER, LOWER, NEITHER, Diagnostic, Output, Param, register
from embeval.diagnostics.space import Space, check_k
from embeval.results import Result

SAMPLE_IDS = 10
# Diagnostics that read the raw vectors (``Space.raw``), so they change when rows are rescaled.
READS_RAW = ("rogue_dimensions", "norms", "metric_mismatch")

NEAR_DUPLICATE_SHARE = Output(
    "near_duplicate_share",
    LOWER,
    "share of rows whose nearest other row has cosine ≥ tau (0.99); groups = components of those pairs",
    identity=("tau",),
    baseline=base.ZERO,
)
EXACT_DUPLICATE_SHARE = Output(
    "exact_duplicate_share", LOWER, "1 − distinct rows / n (rows compared bit for bit)", baseline=base.ZERO
)
OUTLIER_SHARE = Output(
    "outlier_share",
    LOWER,
    "share of rows whose nearest-neighbour cosine distance exceeds Q3 + 3·IQR of all rows' (Tukey's far fence)",
    identity=("factor",),
    baseline=base.OUTLIER_SHARE,
)
ROGUE_DIM_RATIO = Output(
    "rogue_dim_ratio",
    LOWER,
    "largest per-coordinate variance share × d; 1 = every coordinate equal (Timkey & van Schijndel 2021)",
    baseline=base.ROGUE_DIM_RATIO,
)
NORM_CV = Output(
    "norm_cv", LOWER, "coefficient of variation of the raw vectors' L2 norms (0 for unit vectors)", baseline=base.ZERO
)
ZERO_NORM_SHARE = Output("zero_norm_share", LOWER, "share of raw vectors with norm 0", baseline=base.ZERO)
METRIC_OVERLAP = Output(
    "metric_overlap",
    HIGHER,
    "mean overlap of the top-k by cosine and by inner product of the raw vectors (1 = the metric does not matter)",
    identity=("k",),
    baseline=base.ONE,
)
RELATIVE_CONTRAST = Output(
    "relative_contrast",
    HIGHER,
    "mean random-pair cosine distance / median nearest-neighbour distance (Aggarwal et al. 2001); near 1 = "
    "distances concentrate",
    baseline=base.RELATIVE_CONTRAST,
)
ISLAND_SHARE = Output(
    "island_share",
    LOWER,
    "share of rows in components of the undirected kNN graph smaller than max(k+1, 0.5% of n)",
    identity=("k",),
    baseline=base.ISLAND_SHARE,
)
COMPONENTS = Output("knn_components", NEITHER, "connected components of the undirected kNN graph", identity=("k",))
OOD_QUERY_SHARE = Output(
    "ood_query_share",
    LOWER,
    "share of queries whose nearest corpus row is farther than 99% of corpus rows are from their own nearest neighbour",
    baseline=base.ZERO,
)
QUERY_HUBNESS_SKEW = Output(
    "query_hubness_skew",
    LOWER,
    "skewness of how often each corpus row appears in the queries' top-k",
    identity=("k",),
)


# Outputs of query_findings (no registered diagnostic reports them: they need a corpus and queries).
QUERY_OUTPUTS = {o.name: o for o in (OOD_QUERY_SHARE, QUERY_HUBNESS_SKEW)}


def _ids(rows: np.ndarray) -> list[int]:
    return [int(i) for i in rows[:SAMPLE_IDS]]


def _with_ids(params: dict, rows: np.ndarray) -> dict:
    """``params`` plus ``sample_ids`` (the first rows involved) when there are any."""
    return {**params, "sample_ids": _ids(rows)} if len(rows) else params


def _nn(space: Space) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(rows, nearest-neighbour cosine distance, kNN idx at k=1) of every row or the plan's subset."""
    rows, sims, idx = space.knn_rows(1)
    return rows, 1.0 - sims[:, 0].astype(np.float64), idx


def _params(rows: np.ndarray | None, params: dict) -> dict:
    if rows is None:
        return params
    return {**params, "exact": False, "sample": len(rows), "estimator": "seeded query rows"}


def duplicate_groups(
    unit: np.ndarray, rows: np.ndarray, idx: np.ndarray, sims: np.ndarray, tau: float
) -> list[list[int]]:
    """Groups of rows joined by kNN edges of cosine ≥ tau (components), largest first."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = unit.shape[0]
    src = np.repeat(rows, idx.shape[1])
    keep = sims.ravel() >= tau
    a, b = src[keep], idx.ravel()[keep]
    if a.size == 0:
        return []
    g = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(n, n))
    labels = connected_components(g, directed=True, connection="weak")[1]
    members = np.unique(np.concatenate([a, b]))
    groups: dict[int, list[int]] = {}
    for m in members:
        groups.setdefault(int(labels[m]), []).append(int(m))
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def exact_duplicate_share(x: np.ndarray) -> tuple[float, np.ndarray]:
    """(1 − distinct/n, rows that repeat an earlier row), rows compared bit for bit."""
    x = np.ascontiguousarray(x)
    view = x.view(np.dtype((np.void, x.dtype.itemsize * x.shape[1]))).ravel()
    _, first = np.unique(view, return_index=True)
    dup = np.ones(x.shape[0], dtype=bool)
    dup[first] = False
    return 1.0 - first.size / x.shape[0], np.flatnonzero(dup)


def near_duplicates(space: Space, tau: float = 0.99, k: int = 5) -> list[Result]:
    k = check_k(k, space.n)
    rows, sims, idx = space.knn_rows(k)
    near = sims[:, 0] >= tau
    where = np.arange(space.n) if rows is None else rows
    groups = duplicate_groups(space.unit, where, idx, sims, tau)
    share, dups = exact_duplicate_share(space.raw if space.raw is not None else space.x)
    p = _params(rows, _with_ids({"tau": tau, "groups": len(groups)}, where[near]))
    if groups:
        p["largest_group"] = groups[0][:SAMPLE_IDS]
    return [
        NEAR_DUPLICATE_SHARE(float(np.mean(near)), p, n=space.n),
        EXACT_DUPLICATE_SHARE(share, _with_ids({}, dups), n=space.n),
    ]


def outliers(space: Space, factor: float = 3.0) -> list[Result]:
    rows, nn, _ = _nn(space)
    mask, cutoff = measures.outlier_mask(nn, factor)
    where = np.arange(space.n) if rows is None else rows
    order = np.argsort(-nn, kind="stable")
    worst = where[order[mask[order]]]
    p = _params(rows, _with_ids({"factor": factor, "cutoff": cutoff}, worst))
    return [OUTLIER_SHARE(float(np.mean(mask)), p, n=space.n)]


def rogue_dimensions(space: Space) -> list[Result]:
    x = space.raw if space.raw is not None else space.x
    ratio, top3, order = measures.rogue(x)
    return [ROGUE_DIM_RATIO(ratio, {"top3_share": top3, "dims": [int(i) for i in order[:3]]}, n=space.n)]


def norm_stats(x: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(coefficient of variation, zero share, norms) of the rows' L2 norms, in float64."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    mean = float(norms.mean())
    cv = float(norms.std() / mean) if mean > 0 else 0.0
    return cv, float(np.mean(norms == 0)), norms


def norms(space: Space) -> list[Result]:
    x = space.raw if space.raw is not None else space.x
    cv, zero, nv = norm_stats(x)
    p = {"min": float(nv.min()), "median": float(np.median(nv)), "max": float(nv.max())}
    return [
        NORM_CV(cv, p, n=space.n),
        ZERO_NORM_SHARE(zero, _with_ids({}, np.flatnonzero(nv == 0)), n=space.n),
    ]


def topk_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, |a_i ∩ b_i| / k for two m×k id arrays."""
    k = a.shape[1]
    both = np.concatenate([np.sort(a, axis=1), np.sort(b, axis=1)], axis=1)
    both.sort(axis=1)
    return (both[:, 1:] == both[:, :-1]).sum(axis=1) / k


def metric_mismatch(space: Space, k: int = 10) -> list[Result]:
    from embeval.compute import knn

    k = check_k(k, space.n)
    rows, _, cos_idx = space.knn_rows(k)
    raw = space.raw if space.raw is not None else space.x
    cv, _, _ = norm_stats(raw)
    if cv < 1e-6:  # equal norms: cosine and inner product rank alike
        return [METRIC_OVERLAP(1.0, _params(rows, {"k": k, "skipped": "equal norms"}), n=space.n)]
    _, ip_idx = knn(
        np.asarray(raw, dtype=np.float32),
        k,
        queries=rows,
        backend=space.backend,
        progress=space.progress,
        label=f"kNN search by inner product (k={k})",
    )
    ov = topk_overlap(cos_idx, ip_idx)
    where = np.arange(space.n) if rows is None else rows
    worst = where[np.argsort(ov, kind="stable")]
    worst = worst[np.sort(ov)[: len(worst)] < 1]
    return [METRIC_OVERLAP(float(ov.mean()), _params(rows, _with_ids({"k": k}, worst)), n=space.n)]


def distance_concentration(space: Space) -> list[Result]:
    from embeval.diagnostics.geometry import anisotropy_value

    rows, nn, _ = _nn(space)
    mean_cos = anisotropy_value(space.unit)
    return [RELATIVE_CONTRAST(measures.relative_contrast(nn, mean_cos), _params(rows, {}), n=space.n)]


def connectivity(space: Space, k: int = 10) -> list[Result]:
    """Components of the undirected kNN graph. Over the budget: the graph within the plan's
    seeded subset of query rows (the components of a smaller sample of the same distribution)."""
    k = check_k(k, space.n)
    plan = space.plan
    sub = None if plan is None or plan.exact else plan.knn_queries
    if sub is not None and space._knn is None:
        from embeval.compute import knn

        _, idx = knn(space.unit[sub], k, backend=space.backend, progress=space.progress)
        params: dict = {"k": k, "exact": False, "sample": len(sub), "estimator": "kNN graph within a seeded row subset"}
        where = sub
    else:
        _, idx = space.knn(k)
        params, where = {"k": k}, np.arange(space.n)
    share, comps, n_islands, island_rows = measures.islands(idx)
    params = _with_ids({**params, "islands": n_islands}, where[island_rows])
    return [ISLAND_SHARE(share, params, n=space.n), COMPONENTS(float(comps), {"k": k}, n=space.n)]


# ---------------------------------------------------------------- queries (not registered: need a corpus)


def query_findings(
    corpus: np.ndarray, queries: np.ndarray, corpus_nn_dist: np.ndarray, k: int = 10, backend=None
) -> list[Result]:
    """OOD queries (nearest corpus row farther than the 99th percentile of the corpus rows' own NN
    distances, duplicates left out) and query-side hubness (skewness of the corpus rows'
    occurrences in the queries' top-k). ``corpus`` and ``queries``: unit rows."""
    from embeval.compute import search

    k = min(k, corpus.shape[0])
    sims, idx = search(np.asarray(queries, dtype=np.float32), np.asarray(corpus, dtype=np.float32), k, backend=backend)
    nn = np.asarray(corpus_nn_dist, dtype=np.float64)
    distinct = nn[nn > measures.DISTINCT]
    cutoff = float(np.quantile(distinct if distinct.size else nn, 0.99))
    qdist = 1.0 - sims[:, 0].astype(np.float64)
    ood = qdist > cutoff
    order = np.argsort(-qdist, kind="stable")
    occ = np.bincount(idx.ravel(), minlength=corpus.shape[0])
    m = queries.shape[0]
    return [
        OOD_QUERY_SHARE(float(ood.mean()), _with_ids({"cutoff": cutoff}, order[ood[order]]), n=m),
        QUERY_HUBNESS_SKEW(
            measures.skew(occ),
            {"k": k, "coverage": float(np.mean(occ > 0)), "sample_ids": _ids(np.argsort(-occ, kind="stable"))},
            n=m,
        ),
    ]


def cluster_map(unit: np.ndarray, occ: np.ndarray, clusters: int = 8, seed: int = 0, iters: int = 20) -> list[dict]:
    """Seeded spherical k-means: per cluster its size, tightness (mean cosine to the centre), share
    of hub traffic (share of all k-occurrences ``occ`` its rows take) and sample ids (closest to the
    centre). A map, not a verdict."""
    n = unit.shape[0]
    c = max(1, min(clusters, n // 10 or 1))
    rng = np.random.default_rng(seed)
    centres = unit[rng.choice(n, c, replace=False)].astype(np.float64)
    labels = np.zeros(n, dtype=np.int64)
    for it in range(iters):
        new = np.argmax(unit @ centres.T.astype(np.float32), axis=1)
        if it and np.array_equal(new, labels):
            break
        labels = new
        for j in range(c):
            mem = unit[labels == j]
            if len(mem):
                v = mem.sum(axis=0, dtype=np.float64)
                centres[j] = v / max(np.linalg.norm(v), 1e-12)
    total = float(occ.sum()) or 1.0
    out = []
    for j in range(c):
        rows = np.flatnonzero(labels == j)
        if not rows.size:
            continue
        cos = unit[rows] @ centres[j].astype(np.float32)
        out.append(
            {
                "cluster": j,
                "size": int(rows.size),
                "tightness": float(cos.mean()),
                "hub_traffic": float(occ[rows].sum() / total),
                "sample_ids": [int(i) for i in rows[np.argsort(-cos, kind="stable")[:5]]],
            }
        )
    return sorted(out, key=lambda r: -r["size"])


H = "geometry"
_K = {"k": Param(int, 10, "neighbours", low=1)}
for _d in (
    Diagnostic(
        "near_duplicates",
        H,
        near_duplicates,
        "share of rows with a neighbour at cosine ≥ tau, groups; exact duplicates",
        outputs=(NEAR_DUPLICATE_SHARE, EXACT_DUPLICATE_SHARE),
        params={
            "tau": Param(float, 0.99, "cosine at or above which two rows are near-duplicates", low=0, high=1),
            "k": Param(int, 5, "neighbours searched for groups", low=1),
        },
        default=False,
    ),
    Diagnostic(
        "outliers",
        H,
        outliers,
        "rows whose nearest neighbour is far beyond the corpus' (Q3 + factor·IQR)",
        outputs=(OUTLIER_SHARE,),
        params={"factor": Param(float, 3.0, "IQR multiple of the fence", low=0, low_open=True)},
        default=False,
    ),
    Diagnostic(
        "rogue_dimensions",
        H,
        rogue_dimensions,
        "variance share of the largest coordinate × d (Timkey & van Schijndel 2021)",
        outputs=(ROGUE_DIM_RATIO,),
        default=False,
    ),
    Diagnostic(
        "norms", H, norms, "spread and zero norms of the raw vectors", outputs=(NORM_CV, ZERO_NORM_SHARE), default=False
    ),
    Diagnostic(
        "metric_mismatch",
        H,
        metric_mismatch,
        "top-k overlap of cosine and inner product on the raw vectors",
        outputs=(METRIC_OVERLAP,),
        params=_K,
        default=False,
    ),
    Diagnostic(
        "distance_concentration",
        H,
        distance_concentration,
        "relative contrast: random-pair over nearest-neighbour distance (Aggarwal et al. 2001)",
        outputs=(RELATIVE_CONTRAST,),
        default=False,
    ),
    Diagnostic(
        "connectivity",
        H,
        connectivity,
        "components and small islands of the undirected kNN graph",
        outputs=(ISLAND_SHARE, COMPONENTS),
        params=_K,
        default=False,
    ),
):
    register(_d)

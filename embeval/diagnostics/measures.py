"""Array measures shared by the hygiene diagnostics and the isotropic baselines (a leaf of the
diagnostics layer: NumPy and scipy in, floats and arrays out; no registry, no Space)."""

from __future__ import annotations

import numpy as np

DISTINCT = 1e-4  # cosine distances at or below this are duplicates, left out of the spread of NN distances


def skew(v: np.ndarray) -> float:
    """Biased sample skewness m3 / m2^1.5 (scipy.stats.skew's default); 0 for a constant vector."""
    v = np.asarray(v, dtype=np.float64)
    c = v - v.mean()
    m2 = np.mean(c**2)
    return 0.0 if m2 == 0 else float(np.mean(c**3) / m2**1.5)


def outlier_mask(nn_dist: np.ndarray, factor: float = 3.0) -> tuple[np.ndarray, float]:
    """(mask, cutoff): rows whose nearest-neighbour cosine distance exceeds Q3 + factor·IQR of the
    distances (Tukey's far-out fence at factor 3), duplicates (distance ≤ 1e-4) left out of the
    quartiles."""
    nn = np.asarray(nn_dist, dtype=np.float64)
    distinct = nn[nn > DISTINCT]
    if distinct.size < 4:
        return np.zeros(nn.shape, dtype=bool), float("inf")
    q1, q3 = np.quantile(distinct, [0.25, 0.75])
    cutoff = float(q3 + factor * (q3 - q1))
    return nn > cutoff, cutoff


def relative_contrast(nn_dist: np.ndarray, mean_cos: float) -> float:
    """Relative contrast (Aggarwal et al. 2001) on cosine distance: the mean distance of a random
    pair, 1 − mean cosine over pairs, over the median nearest-neighbour distance (duplicates left
    out). Near 1: the nearest neighbour is barely nearer than a random row."""
    nn = np.asarray(nn_dist, dtype=np.float64)
    distinct = nn[nn > DISTINCT]
    median = float(np.median(distinct)) if distinct.size else 0.0
    return max(1.0 - mean_cos, 1e-9) / max(median, 1e-6)


def components(idx: np.ndarray, n: int | None = None) -> np.ndarray:
    """Component label of each row in the kNN graph made undirected (scipy.sparse.csgraph)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    m, k = idx.shape
    n = m if n is None else n
    rows = np.repeat(np.arange(m), k)
    cols = idx.ravel()
    ok = cols >= 0
    graph = coo_matrix((np.ones(int(ok.sum()), dtype=np.int8), (rows[ok], cols[ok])), shape=(n, n))
    return connected_components(graph, directed=True, connection="weak")[1]


def islands(idx: np.ndarray, min_frac: float = 0.005) -> tuple[float, int, int, np.ndarray]:
    """(island share, components, islands, island rows): components of the undirected kNN graph
    smaller than max(k + 1, min_frac·n) rows, which graph indexes (HNSW) reach badly or never."""
    n, k = idx.shape
    labels = components(idx)
    counts = np.bincount(labels)
    min_size = max(k + 1, int(np.ceil(min_frac * n)))
    small = counts < min_size
    rows = np.flatnonzero(small[labels])
    return rows.size / n, int(counts.size), int(small.sum()), rows


def rogue(x: np.ndarray, top: int = 3) -> tuple[float, float, np.ndarray]:
    """(ratio, top-share, order): the largest per-coordinate variance share times d (1 when every
    coordinate carries the same variance), the share of the ``top`` largest, and the coordinates by
    decreasing variance (Timkey & van Schijndel 2021)."""
    x = np.asarray(x)
    var = np.var(x, axis=0, dtype=np.float64)
    total = float(var.sum())
    if total <= 0:
        return 0.0, 0.0, np.arange(x.shape[1])
    share = var / total
    order = np.argsort(-share, kind="stable")
    return float(share[order[0]] * x.shape[1]), float(share[order[:top]].sum()), order

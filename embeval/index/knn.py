"""Exact inner-product k-nearest-neighbour search.

``knn_self`` finds, for every row of X, its k most similar *other* rows (inner product; cosine on
L2-normalised rows) with FAISS ``IndexFlatIP``. ``knn_self_numpy`` is the brute-force reference used
by the tests.
"""

from __future__ import annotations

import numpy as np

from embeval.errors import EmbevalError


def _faiss():
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - faiss-cpu is a dependency
        raise EmbevalError("FAISS is not installed: pip install faiss-cpu") from exc
    return faiss


def set_threads(n: int | None) -> None:
    if n:
        _faiss().omp_set_num_threads(int(n))


def _drop_self(sims: np.ndarray, idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index from its k+1 neighbours (or the last one if self is absent,
    which happens only when exact duplicates tie with it)."""
    n = idx.shape[0]
    rows = np.arange(n)[:, None]
    is_self = idx == rows
    # Where self is missing, drop the last column instead.
    missing = ~is_self.any(axis=1)
    is_self[missing, -1] = True
    # Keep the first `k` non-self entries of each row (each row has exactly one True).
    keep = ~is_self
    out_idx = idx[keep].reshape(n, k)
    out_sim = sims[keep].reshape(n, k)
    return out_sim, out_idx


def knn_self(x: np.ndarray, k: int, metric: str = "ip", block: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """k nearest other rows of each row of ``x`` (float32, n×d).

    metric "ip": inner product (cosine on unit rows), returns similarities, most similar first;
    metric "l2": squared Euclidean distances, nearest first. Indices are int64 n×k.
    """
    n = x.shape[0]
    if not 1 <= k < n:
        raise EmbevalError(f"k={k} must be between 1 and n-1={n - 1}")
    faiss = _faiss()
    x = np.ascontiguousarray(x, dtype=np.float32)
    index = faiss.IndexFlatIP(x.shape[1]) if metric == "ip" else faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    sims = np.empty((n, k + 1), dtype=np.float32)
    idx = np.empty((n, k + 1), dtype=np.int64)
    for start in range(0, n, block):
        stop = min(n, start + block)
        sims[start:stop], idx[start:stop] = index.search(x[start:stop], k + 1)
    return _drop_self(sims, idx, k)


def search_numpy(q: np.ndarray, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k inner product of queries ``q`` against ``x`` (reference)."""
    s = q.astype(np.float64) @ x.astype(np.float64).T
    idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, idx, axis=1), idx


def knn_self_numpy(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force reference for :func:`knn_self`."""
    s = x.astype(np.float64) @ x.astype(np.float64).T
    np.fill_diagonal(s, -np.inf)
    idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, idx, axis=1), idx

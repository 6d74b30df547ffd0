"""Exact inner-product k-nearest-neighbour search.

``knn_self`` finds, for every row of X, its k most similar *other* rows (inner product; cosine on
L2-normalised rows)
with the blocked exact top-k of :mod:`embeval.compute`. ``knn_self_numpy`` is the brute-force reference used
by the tests.
"""

from __future__ import annotations

import numpy as np

from embeval.compute.requires import _faiss
from embeval.errors import EmbevalError


def set_threads(n: int | None) -> None:
    if n:
        _faiss().omp_set_num_threads(int(n))


def knn_self(x: np.ndarray, k: int, metric: str = "ip", block: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """k nearest other rows of each row of ``x`` (float32, n×d), exact, on the CPU
    (:func:`embeval.compute.knn`; ``block``: products per block, default the back end's).

    metric "ip": inner product (cosine on unit rows), returns similarities, most similar first;
    metric "l2": squared Euclidean distances, nearest first. Ties: score, then row ascending.
    Indices are int64 n×k.
    """
    from embeval.compute import knn

    n = x.shape[0]
    if not 1 <= k < n:
        raise EmbevalError(f"k={k} must be between 1 and n-1={n - 1}")
    return knn(np.ascontiguousarray(x, dtype=np.float32), k, metric=metric, block_elements=block)


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

"""Blocked reductions over all pairs i<j without materialising the n×n matrix."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from embeval.progress import NULL, Progress

# Elements per block of the Gram matrix (float32): 2**24 = 64 MiB.
BLOCK_ELEMENTS = 1 << 24


def upper_pair_sum(
    x: np.ndarray,
    transform: Callable[[np.ndarray, slice, slice], np.ndarray],
    *,
    progress: Progress = NULL,
    label: str = "pairs",
    block_elements: int = BLOCK_ELEMENTS,
) -> float:
    """Σ_{i<j} f(x_i·x_j) in float64 accumulation.

    ``transform(G, rows, cols)`` receives a float32 block G[r, c] = x[rows][r]·x[cols][c] and
    returns f applied elementwise (it may work in place). Memory: one block of at most
    ``block_elements`` float32 values, whatever n is.
    """
    n = x.shape[0]
    b = int(max(1, min(n, block_elements // max(n, 1))))
    total = 0.0
    with progress.task(label, total=n) as task:
        for s in range(0, n, b):
            e = min(n, s + b)
            g = x[s:e] @ x[s:].T
            g = transform(g, slice(s, e), slice(s, n))
            w = e - s
            total += float(g[:, w:].sum(dtype=np.float64))
            total += float(np.triu(g[:, :w], 1).sum(dtype=np.float64))
            task.advance(w)
    return total


def sample_pairs(n: int, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``m`` pairs (i, j), i≠j, drawn uniformly with replacement."""
    i = rng.integers(0, n, size=m)
    j = rng.integers(0, n - 1, size=m)
    j = j + (j >= i)  # uniform over the n-1 indices other than i
    return i, j

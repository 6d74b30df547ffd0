"""Blocked reductions over pairs without materialising the full Gram matrix: all pairs i<j of one
set (:func:`upper_pair_sum`), or all pairs (i, j) across two sets (:func:`cross_pair_sum`)."""

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
    block_elements: int | None = None,
) -> float:
    """Σ_{i<j} f(x_i·x_j) in float64 accumulation.

    ``transform(G, rows, cols)`` receives a float32 block G[r, c] = x[rows][r]·x[cols][c] and
    returns f applied elementwise (it may work in place). Memory: one block of at most
    ``block_elements`` float32 values (default: the module's ``BLOCK_ELEMENTS``, read at call
    time), whatever n is.
    """
    n = x.shape[0]
    block_elements = BLOCK_ELEMENTS if block_elements is None else block_elements
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


def cross_pair_sum(
    a: np.ndarray,
    b: np.ndarray,
    transform: Callable[[np.ndarray, slice, slice], np.ndarray],
    *,
    skip_diagonal: bool = False,
    progress: Progress = NULL,
    label: str = "cross pairs",
    block_elements: int | None = None,
) -> float:
    """Σ_{i,j} f(a_i·b_j) over every row i of ``a`` (n_a×d) and row j of ``b`` (n_b×d), float64
    accumulation; with ``skip_diagonal`` the terms i = j (row-aligned pairs) are left out.

    ``transform(G, rows, cols)`` receives a float32 block G[r, c] = a[rows][r]·b[cols][c] and
    returns f applied elementwise (it may work in place). Memory: one block of at most
    ``block_elements`` float32 values, whatever n_a and n_b are.
    """
    na, nb = a.shape[0], b.shape[0]
    block_elements = BLOCK_ELEMENTS if block_elements is None else block_elements
    step = int(max(1, min(na, block_elements // max(nb, 1))))
    total = 0.0
    with progress.task(label, total=na) as task:
        for s in range(0, na, step):
            e = min(na, s + step)
            g = transform(a[s:e] @ b.T, slice(s, e), slice(0, nb))
            if skip_diagonal and s < nb:
                r = np.arange(s, min(e, nb))
                g[r - s, r] = 0.0
            total += float(g.sum(dtype=np.float64))
            task.advance(e - s)
    return total


def sample_pairs(n: int, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``m`` pairs (i, j), i≠j, drawn uniformly with replacement."""
    i = rng.integers(0, n, size=m)
    j = rng.integers(0, n - 1, size=m)
    j = j + (j >= i)  # uniform over the n-1 indices other than i
    return i, j


def log_mean(total: float, count: float, what: str = "uniformity") -> float:
    """log(total / count) for a mean of exp(−t·d²) terms; an all-underflow sum is a usage error
    (t far too large for these distances), not a math domain error."""
    import math

    from embeval.errors import UsageError

    if total <= 0.0:
        raise UsageError(f"{what}: every exp(−t·d²) term underflows to 0; use a smaller t")
    return math.log(total / count)

"""What every back end shares, as a leaf of :mod:`embeval.compute` (the NumPy back end in
``backend`` and the torch one in ``torch_backend`` both import it, neither the other): the block
size, a placed array, and the top-k finishing rule (score descending, then column ascending).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

BLOCK_ELEMENTS = 1 << 24  # NumPy back end: products per block (float32: 64 MiB), as before


@dataclass
class Placed:
    """An n×d float32 array on a back end's device, with lazily computed squared row norms."""

    x: Any
    n: int
    d: int
    _sq: Any = field(default=None, repr=False)


def order_rows(scores: np.ndarray, idx: np.ndarray) -> None:
    """Sort each row in place by score descending, then index ascending; −1 (missing) last."""
    scores[idx < 0] = -np.inf
    key_idx = np.where(idx < 0, np.iinfo(np.int64).max, idx)
    order = np.lexsort((key_idx, -scores), axis=-1)
    scores[:] = np.take_along_axis(scores, order, axis=1)
    idx[:] = np.take_along_axis(idx, order, axis=1)


def exact_row_topk(row: np.ndarray, col0: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k of one row of scores by (score desc, column asc); used where a tie straddles place k."""
    order = np.lexsort((np.arange(len(row)), -row))[:k]
    return row[order], order.astype(np.int64) + col0


def _pad(scores: np.ndarray, idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if scores.shape[1] >= k:
        return scores, idx
    pad = k - scores.shape[1]
    r = scores.shape[0]
    return (
        np.concatenate([scores, np.full((r, pad), -np.inf, np.float32)], axis=1),
        np.concatenate([idx, np.full((r, pad), -1, np.int64)], axis=1),
    )


def _finish_topk(scores, idx, g, c0, kk, k):
    """Shared by the back ends: order (score desc, col asc), resolve ties straddling place kk from
    the block itself (``g``: a 2-D array with rows indexable as NumPy, or a callable row -> NumPy),
    cut to kk and pad to k."""
    order_rows(scores, idx)
    if scores.shape[1] > kk:
        tied = np.flatnonzero((scores[:, kk - 1] == scores[:, kk]) & np.isfinite(scores[:, kk]))
        for r in tied:
            row = g(r) if callable(g) else np.asarray(g[r])
            scores[r, :kk], idx[r, :kk] = exact_row_topk(row, c0, kk)
        scores, idx = scores[:, :kk], idx[:, :kk]
    idx = np.where(np.isneginf(scores), -1, idx)  # excluded self / padded slots
    return _pad(np.ascontiguousarray(scores), np.ascontiguousarray(idx), k)

"""Ranking metrics over a top-K search (formulas in :mod:`embeval.diagnostics.retrieval`):
per-query recall/precision/MRR/nDCG/MAP at a cutoff k, computed from the grades at each rank."""

from __future__ import annotations

import numpy as np

from embeval.diagnostics.qrels import AlignedQrels
from embeval.diagnostics.registry import parse_ks  # noqa: F401  (the one cut-off parser)
from embeval.errors import UsageError

DEFAULT_KS = (1, 10, 100)
RANKING_METRICS = ("ndcg", "map", "recall", "precision", "mrr")


def ranked_gains(aligned: AlignedQrels, idx: np.ndarray) -> np.ndarray:
    """Grade of the document at each rank: (m×K) float64, 0 for non-relevant and empty (−1) slots.

    ``idx`` is the m×K top-K corpus rows of the scored queries (row i ↔ aligned query i)."""
    m = idx.shape[0]
    n = aligned.n_docs
    qloc = np.repeat(np.arange(m, dtype=np.int64), aligned.n_rel)
    keys = qloc * n + aligned.pos_doc  # ascending: queries in order, docs ascending within each
    want = np.arange(m, dtype=np.int64)[:, None] * n + np.where(idx < 0, 0, idx)
    at = np.searchsorted(keys, want)
    at_c = np.minimum(at, len(keys) - 1)
    hit = (keys[at_c] == want) & (idx >= 0)
    return np.where(hit, aligned.pos_gain[at_c], 0.0)


def ideal_gains(aligned: AlignedQrels, depth: int) -> np.ndarray:
    """Each query's grades sorted descending, zero-padded/truncated to ``depth`` columns (m×depth)."""
    out = np.zeros((aligned.m, depth), dtype=np.float64)
    for i in range(aligned.m):
        g = np.sort(aligned.pos_gain[aligned.indptr[i] : aligned.indptr[i + 1]])[::-1][:depth]
        out[i, : len(g)] = g
    return out


def ranking_metrics(gains: np.ndarray, n_rel: np.ndarray, ideal: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-query recall/precision/mrr/ndcg/map at cutoff k (formulas in the module docstring).

    gains: m×K grades at ranks 1..K (K ≥ k); n_rel: (m,) relevant counts (≥ 1); ideal: m×K' sorted
    grades. Returns {name: (m,) float64}."""
    if k > gains.shape[1]:
        raise UsageError(f"cutoff k={k} is deeper than the search depth {gains.shape[1]}")
    g = gains[:, :k]
    rel = g > 0
    hits = np.cumsum(rel, axis=1)
    ranks = np.arange(1, k + 1, dtype=np.float64)
    disc = 1.0 / np.log2(ranks + 1.0)
    n_rel = n_rel.astype(np.float64)
    first = np.where(rel.any(axis=1), rel.argmax(axis=1) + 1, 0)
    kk = min(k, ideal.shape[1])
    idcg = ideal[:, :kk] @ disc[:kk]
    return {
        "ndcg": (g @ disc) / idcg,
        "map": (rel * hits / ranks).sum(axis=1) / n_rel,
        "recall": hits[:, -1] / n_rel,
        "precision": hits[:, -1] / k,
        "mrr": np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0),
    }

"""Tile kernels: pure functions on float32 arrays, plus the worker-side shard reader.

A tile is a block of rows of one set against a block of rows of another (or the same) set. Each
kernel returns a partial result that merges exactly with the others: float64 sums, int64 counts,
or a top-k list with global row numbers. The kernels take arrays, not shards, so the same
functions serve a local loop and a Dask task (and any other back end that hands them blocks:
the interface is ``kernel(a_block, b_block, ...) -> partial``).
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict

import numpy as np

from embeval.io.shards import ShardInfo

# ----------------------------------------------------------------------------- worker-side reader

_CACHE: OrderedDict = OrderedDict()
CACHE_SHARDS = 4  # unit-normalised shards a worker keeps between tasks (each rows × dim float32)


def unit_shard(info: ShardInfo, id_col: str = "id", vector_col: str = "embedding") -> np.ndarray:
    """The shard's rows L2-normalised exactly as :func:`embeval.diagnostics.space.l2_normalize`
    does on the whole set (a row-wise operation, so sharding does not change a bit). Cached per
    worker process (a few shards, least recently used dropped)."""
    from embeval.diagnostics.space import l2_normalize
    from embeval.io.shards import read_shard

    try:
        st = os.stat(info.path)
        key = (info.path, st.st_mtime_ns, st.st_size)
    except OSError:
        key = (info.path, None, None)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    unit = l2_normalize(read_shard(info, id_col=id_col, vector_col=vector_col))
    _CACHE[key] = unit
    while len(_CACHE) > CACHE_SHARDS:
        _CACHE.popitem(last=False)
    return unit


# ----------------------------------------------------------------------------- pair sums


def _transform(kind: str, param: float):
    """f applied in place to a float32 block of cosines (unit rows): the pair terms of
    uniformity (exp(−t·‖a−b‖²) = exp(−t·(2 − 2g))) and of mam pairwise (|90° − θ|). The same
    arithmetic as :mod:`embeval.diagnostics.geometry`."""
    if kind == "uniformity":
        def f(g, rows, cols):
            g *= -2.0
            g += 2.0
            np.maximum(g, 0.0, out=g)
            g *= -param
            return np.exp(g, out=g)
    elif kind == "mam_pairwise":
        def f(g, rows, cols):
            np.clip(g, -1.0, 1.0, out=g)
            np.arccos(g, out=g)
            g *= np.float32(180.0 / math.pi)
            g -= 90.0
            return np.abs(g, out=g)
    else:  # pragma: no cover - callers pass known kinds
        raise ValueError(kind)
    return f


def pair_sum_tile(a: np.ndarray, b: np.ndarray | None, kind: str, param: float = 2.0) -> float:
    """Σ f(a_i·b_j) over the tile (float64 accumulation): every (i, j) when ``b`` is another
    block, the pairs i < j of ``a`` when ``b`` is None (a diagonal tile)."""
    from embeval.diagnostics.pairsum import cross_pair_sum, upper_pair_sum

    f = _transform(kind, param)
    return upper_pair_sum(a, f) if b is None else cross_pair_sum(a, b, f)


def moments_tile(a: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(Σ rows float64 (d,), Σ‖row‖² float64, Gram aᵀa float64 d×d) of one block: what anisotropy
    and the effective rank need."""
    a64 = a.astype(np.float64)
    return a.sum(axis=0, dtype=np.float64), float(np.einsum("ij,ij->", a, a, dtype=np.float64)), a64.T @ a64


# ----------------------------------------------------------------------------- top-k


def topk_tile(q: np.ndarray, x: np.ndarray, k: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner products of rows of ``q`` among rows of ``x`` (FAISS flat, as
    :func:`embeval.index.knn.knn_self` / the flat search index), with global row numbers
    (``offset`` + local row). Fewer than k rows in ``x``: all of them."""
    from embeval.index.search import build_index

    k = min(k, x.shape[0])
    sims, idx = build_index("flat", x).search(np.ascontiguousarray(q), k)
    return sims, np.where(idx >= 0, idx + offset, -1)


def merge_topk(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-tile top-k lists of the same query rows: score descending, then global row
    ascending (the single-machine tie rule); the first k."""
    sims = np.concatenate([p[0] for p in parts], axis=1)
    idx = np.concatenate([p[1] for p in parts], axis=1)
    order = np.lexsort((idx, -sims.astype(np.float64)), axis=1)[:, :k]
    return np.take_along_axis(sims, order, axis=1), np.take_along_axis(idx, order, axis=1)


def knn_tile(q: np.ndarray, x: np.ndarray, k: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k inner products of rows of ``q`` among rows of ``x`` with FAISS ``IndexFlatIP`` (as
    :func:`embeval.index.knn.knn_self` searches the whole set), global row numbers."""
    from embeval.index.knn import _faiss

    faiss = _faiss()
    k = min(k, x.shape[0])
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(np.ascontiguousarray(x, dtype=np.float32))
    sims, idx = index.search(np.ascontiguousarray(q, dtype=np.float32), k)
    return sims, np.where(idx >= 0, idx + offset, -1)


def drop_self(sims: np.ndarray, idx: np.ndarray, k: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`embeval.index.knn._drop_self` for rows numbered from ``offset``: each row's own
    index leaves its k+1 neighbours (the last one when self is absent, as with exact duplicates)."""
    n = idx.shape[0]
    is_self = idx == (offset + np.arange(n))[:, None]
    missing = ~is_self.any(axis=1)
    is_self[missing, -1] = True
    keep = ~is_self
    return sims[keep].reshape(n, k), idx[keep].reshape(n, k)

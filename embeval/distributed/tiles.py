"""Tile kernels: pure functions on float32 arrays, plus the worker-side shard reader.

A tile is a block of rows of one set against a block of rows of another (or the same) set. Each
kernel returns a partial result that merges exactly with the others: float64 sums, int64 counts,
or a top-k list with global row numbers. The kernels take arrays, not shards, so the same
functions serve a local loop and a Dask task (and any other back end that hands them blocks:
the interface is ``kernel(a_block, b_block, ...) -> partial``). Pair sums and top-k run on the
compute layer (:mod:`embeval.compute`, NumPy or torch back end).
"""

from __future__ import annotations

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

    key: tuple[str, int | None, int | None]
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


def _kernel(kind: str, param: float):
    """The compute layer's kernel for a pair term on unit rows: uniformity exp(−t·(2 − 2g)), or
    mam pairwise |90° − θ| (:mod:`embeval.compute.kernels`, the arithmetic of
    :mod:`embeval.diagnostics.geometry`)."""
    from embeval.compute.kernels import AbsAngleMargin, ExpSqDist

    if kind == "uniformity":
        return ExpSqDist(t=param, normalized=True)
    if kind == "mam_pairwise":
        return AbsAngleMargin()
    raise ValueError(kind)  # pragma: no cover - callers pass known kinds


def _backend(device: str | None):
    """The back end for ``device``; None: the running task's (:mod:`embeval.distributed.devices`)."""
    from embeval.compute import get_backend
    from embeval.distributed.devices import task_backend

    return task_backend() if device is None else get_backend(device)


def pair_sum_tile(
    a: np.ndarray, b: np.ndarray | None, kind: str, param: float = 2.0, device: str | None = None
) -> float:
    """Σ f(a_i·b_j) over the tile (float64 accumulation): every (i, j) when ``b`` is another
    block, the pairs i < j of ``a`` when ``b`` is None (a diagonal tile). Runs on the compute
    layer's back end for ``device`` (NumPy on ``cpu``, torch on ``cuda``; None: the task's device)."""
    from embeval.compute import cross_pair_sum, upper_pair_sum

    be = _backend(device)
    k = _kernel(kind, param)
    return upper_pair_sum(a, k, backend=be) if b is None else cross_pair_sum(a, b, k, backend=be)


def moments_tile(a: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(Σ rows float64 (d,), Σ‖row‖² float64, Gram aᵀa float64 d×d) of one block: what anisotropy
    and the effective rank need."""
    a64 = a.astype(np.float64)
    return a.sum(axis=0, dtype=np.float64), float(np.einsum("ij,ij->", a, a, dtype=np.float64)), a64.T @ a64


# ----------------------------------------------------------------------------- top-k


def topk_tile(
    q: np.ndarray, x: np.ndarray, k: int, offset: int, device: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner products of rows of ``q`` among rows of ``x`` (the compute layer's
    search: score descending, then row ascending, ties across the k-th place resolved), with
    global row numbers (``offset`` + local row). Fewer than k rows in ``x``: all of them. ``device``
    None: the task's device (:mod:`embeval.distributed.devices`)."""
    from embeval.compute import search

    k = min(k, x.shape[0])
    sims, idx = search(np.ascontiguousarray(q, dtype=np.float32), x, k, backend=_backend(device))
    return sims, np.where(idx >= 0, idx + offset, -1)


def merge_topk(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-tile top-k lists of the same query rows: score descending, then global row
    ascending (the single-machine tie rule; :func:`embeval.compute.merge_topk`); the first k."""
    from embeval.compute import merge_topk as merge2

    sims, idx = parts[0]
    for s, i in parts[1:]:
        sims, idx = merge2(sims, idx, s, i, k)
    return sims[:, :k], idx[:, :k]


def knn_tile(
    q: np.ndarray, x: np.ndarray, k: int, offset: int, device: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k inner products of rows of ``q`` among rows of ``x`` for a kNN graph (self included:
    :func:`drop_self` removes it after the merge), global row numbers; the compute layer's exact
    search with its tie rule (score, then row ascending), as the single-machine kNN."""
    return topk_tile(q, x, k, offset, device)


def subset_knn_tile(
    q: np.ndarray, x: np.ndarray, k: int, offset: int, self_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The k best *other* rows of ``x`` (a shard starting at global row ``offset``) for query rows
    ``q`` whose global row numbers are ``self_rows``: each query's own row is excluded inside the
    tile, as the single-machine ``knn(x, k, queries=rows)`` does, so the merge over shards equals
    it (same tie rule). Global row numbers; (−inf, −1) pads. The task's device."""
    from embeval.compute.drivers import _topk_pass
    from embeval.progress import NULL

    k = min(k, x.shape[0])
    sims, idx = _topk_pass(
        np.ascontiguousarray(q, dtype=np.float32),
        x,
        k,
        self_ids=np.asarray(self_rows, dtype=np.int64) - offset,
        metric="ip",
        backend=_backend(None),
        progress=NULL,
        label="kNN subset tile",
        block_elements=None,
    )
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

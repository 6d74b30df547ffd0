"""Drivers: whole problems tiled over a back end, with memory-sized blocks, out-of-memory
fallback to smaller blocks, progress, and exact merging of the tiles (see :mod:`embeval.compute`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from embeval.compute.backend import Backend, get_backend, order_rows, timed
from embeval.compute.tiles import _pad
from embeval.progress import NULL, Progress

QUERY_BLOCK = {"numpy": 1024, "torch": 8192}  # rows of queries scored together in top-k passes


def _backend(backend: Backend | None) -> Backend:
    return get_backend("cpu") if backend is None else backend


def _retry(backend: Backend, fn: Callable[[int], Any], block_elements: int) -> tuple[Any, int]:
    """Run ``fn(block_elements)``; on the device's out-of-memory error halve the block and retry.
    Returns (result, the block size that worked)."""
    while True:
        try:
            return fn(block_elements), block_elements
        except backend.oom_errors:
            if block_elements <= 1 << 12:
                raise
            block_elements //= 2
            release = getattr(backend, "release", None)
            if release is not None:
                release()


def upper_pair_sum(
    x: np.ndarray,
    kernel,
    *,
    backend: Backend | None = None,
    progress: Progress = NULL,
    label: str = "pairs",
    block_elements: int | None = None,
) -> float:
    """Σ_{i<j} kernel(x_i·x_j), float64 accumulation; x: n×d float32. Row blocks of
    ``block_elements // n`` rows against every later column (one block of products in memory)."""
    be = _backend(backend)
    placed = be.put(x)
    n = placed.n
    budget = be.block_elements() if block_elements is None else block_elements
    total = 0.0
    s = 0
    with progress.task(label, total=n) as task:
        while s < n:
            b = int(max(1, min(n - s, budget // max(n, 1))))

            def tile(blk, s=s, b=b):
                bb = int(max(1, min(b, blk // max(n, 1))))
                return be.pair_sum(placed, placed, slice(s, s + bb), slice(s, n), kernel, triangle=True), bb

            (part, w), budget = _retry(be, tile, budget)
            total += part
            s += w
            task.advance(w)
    return total


def cross_pair_sum(
    a: np.ndarray,
    b: np.ndarray,
    kernel,
    *,
    skip_diagonal: bool = False,
    backend: Backend | None = None,
    progress: Progress = NULL,
    label: str = "cross pairs",
    block_elements: int | None = None,
) -> float:
    """Σ_{i,j} kernel(a_i·b_j) over all rows of a (n_a×d) and b (n_b×d), float64 accumulation;
    ``skip_diagonal`` leaves out i = j."""
    be = _backend(backend)
    pa, pb = be.put(a), be.put(b)
    na, nb = pa.n, pb.n
    budget = be.block_elements() if block_elements is None else block_elements
    total = 0.0
    s = 0
    with progress.task(label, total=na) as task:
        while s < na:

            def tile(blk, s=s):
                step = int(max(1, min(na - s, blk // max(nb, 1))))
                return be.pair_sum(pa, pb, slice(s, s + step), slice(0, nb), kernel, skip_diagonal=skip_diagonal), step

            (part, w), budget = _retry(be, tile, budget)
            total += part
            s += w
            task.advance(w)
    return total


def merge_topk(s1: np.ndarray, i1: np.ndarray, s2: np.ndarray, i2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact merge of two partial top-k lists of the same query rows: the k best of their union
    by (score desc, index asc); −1 slots last."""
    s = np.concatenate([s1, s2], axis=1)
    i = np.concatenate([i1, i2], axis=1)
    order_rows(s, i)
    return np.ascontiguousarray(s[:, :k]), np.ascontiguousarray(i[:, :k])


RESCORE_BAND = 16.0  # candidates within RESCORE_BAND·√d·2⁻²⁴·‖q‖·max‖x‖ of the k-th float32 score are re-scored
RESCORE_PAD = 8  # extra candidates asked of the back end per tile, to hold that band


def rescore_tolerance(q: np.ndarray, x: np.ndarray, metric: str) -> np.ndarray:
    """Per query row: the float32 band around the k-th score inside which a candidate is re-scored
    in float64 before the tie rule. ``RESCORE_BAND`` times the typical float32 rounding of a
    d-term dot product (√d·2⁻²⁴ for unit rows, scaled by ‖q‖·max‖x‖; twice that for ``l2``), so a
    one-ulp difference between two BLAS paths (a one-row shard vs the same row inside a GEMM) falls
    well inside it."""
    d = max(1, q.shape[1])
    qn = np.sqrt(np.einsum("ij,ij->i", q, q, dtype=np.float64))
    xn = float(np.sqrt(np.max(np.einsum("ij,ij->i", x, x, dtype=np.float64)))) if x.shape[0] else 0.0
    scale = qn * xn * (2.0 if metric == "l2" else 1.0)
    if metric == "l2":
        scale = scale + xn * xn
    return np.maximum(RESCORE_BAND * np.sqrt(d) * 2.0**-24 * scale, np.finfo(np.float32).tiny)


def exact_scores(q: np.ndarray, x: np.ndarray, idx: np.ndarray, metric: str, block: int = 1 << 20) -> np.ndarray:
    """The canonical score of each (query row r, column idx[r, j]): q·x (``ip``) or 2q·x − ‖x‖²
    (``l2``) summed in float64 by one fixed NumPy reduction over d, then rounded to float32. A
    function of the two vectors only, so it is the same whatever tile, shard, back end or device
    first scored the pair. idx −1 (missing/excluded) gives −inf."""
    r, kk = idx.shape
    d = q.shape[1]
    out = np.full((r, kk), -np.inf, dtype=np.float32)
    step = max(1, block // max(1, kk * d))
    for s in range(0, r, step):
        e = min(r, s + step)
        ii = idx[s:e]
        ok = ii >= 0
        xs = x[np.where(ok, ii, 0)].astype(np.float64)  # (b, kk, d)
        v = (xs * q[s:e, None, :].astype(np.float64)).sum(axis=2)
        if metric == "l2":
            v = 2.0 * v - (xs * xs).sum(axis=2)
        out[s:e] = np.where(ok, v, -np.inf).astype(np.float32)
    return out


def canonical_topk(
    q: np.ndarray,
    x: np.ndarray,
    c0: int,
    c1: int,
    ts: np.ndarray,
    ti: np.ndarray,
    k: int,
    tol: np.ndarray,
    *,
    self_ids: np.ndarray | None = None,
    metric: str = "ip",
) -> tuple[np.ndarray, np.ndarray]:
    """The top k of query rows q among columns [c0, c1) of x from a back end's candidate list
    (ts, ti: float32 scores, global columns, at least k + 1 wide where the block allows): every
    candidate is re-scored with :func:`exact_scores`, then ordered by (score desc, column asc) and
    cut to k. Where every returned candidate lies within ``tol`` of the k-th float32 score (the band
    may go on beyond the list), the row is re-scored against all its columns. The result depends
    only on the vectors, not on how the columns were tiled or which BLAS path scored them."""
    ncols = c1 - c0
    kk = min(k, ncols)
    s = exact_scores(q, x, ti, metric)
    if ts.shape[1] > kk and ts.shape[1] < ncols:
        kth = ts[:, kk - 1]
        spill = np.flatnonzero(np.isfinite(ts[:, -1]) & (ts[:, -1] >= kth - tol))
        for r in spill:  # the band may hold more columns than the list: score the whole row
            cols = np.arange(c0, c1, dtype=np.int64)
            if self_ids is not None and c0 <= self_ids[r] < c1:
                cols = cols[cols != self_ids[r]]
            width = min(len(cols), ts.shape[1])
            row = exact_scores(q[r : r + 1], x, cols[None, :], metric)[0]
            order = np.lexsort((cols, -row))[:width]
            s[r], ti[r] = np.full(ts.shape[1], -np.inf, np.float32), np.full(ts.shape[1], -1, np.int64)
            s[r, :width], ti[r, :width] = row[order], cols[order]
    order_rows(s, ti)
    s, ti = s[:, :kk], ti[:, :kk]
    ti = np.where(np.isneginf(s), -1, ti)
    return _pad(np.ascontiguousarray(s), np.ascontiguousarray(ti), k)


def _topk_pass(
    q: np.ndarray,
    x: np.ndarray,
    k: int,
    *,
    self_ids: np.ndarray | None,
    metric: str,
    backend: Backend | None,
    progress: Progress,
    label: str,
    block_elements: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    be = _backend(backend)
    pq = be.put(q)
    px = pq if (q is x) else be.put(x)
    nq, n = pq.n, px.n
    scores = np.empty((nq, k), dtype=np.float32)
    idx = np.empty((nq, k), dtype=np.int64)
    budget = be.block_elements() if block_elements is None else block_elements
    qb = QUERY_BLOCK.get(be.name, 1024)
    # Float32 scores from the back end pick candidates; the order is decided on canonical float64
    # scores of those near the k-th place (canonical_topk), so tiling/shards/back end cannot swap ties.
    qn = np.ascontiguousarray(np.asarray(q), dtype=np.float32)
    xn = qn if (q is x) else np.ascontiguousarray(np.asarray(x), dtype=np.float32)
    tol = rescore_tolerance(qn, xn, metric)
    wide = k + RESCORE_PAD
    with progress.task(label, total=nq) as task:
        s = 0
        while s < nq:
            e = min(nq, s + qb)
            best = None
            c0 = 0
            while c0 < n:

                def tile(blk, s=s, e=e, c0=c0):
                    rows = max(1, min(e - s, blk // max(k + 1, 1)))
                    cb = max(k + 1, blk // rows)
                    c1 = min(n, c0 + cb)
                    out = []
                    for r0 in range(s, e, rows):
                        r1 = min(e, r0 + rows)
                        sid = None if self_ids is None else self_ids[r0:r1]
                        ws, wi = be.topk(pq, px, slice(r0, r1), slice(c0, c1), wide, self_ids=sid, metric=metric)
                        out.append(
                            canonical_topk(qn[r0:r1], xn, c0, c1, ws, wi, k, tol[r0:r1], self_ids=sid, metric=metric)
                        )
                    return (np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])), c1

                ((ts, ti), c1), budget = _retry(be, tile, budget)
                best = (ts, ti) if best is None else merge_topk(best[0], best[1], ts, ti, k)
                task.advance((e - s) * (c1 - c0) / n)
                c0 = c1
            assert best is not None  # n ≥ 1: at least one column block was merged
            scores[s:e], idx[s:e] = best
            s = e
    return scores, idx


def knn(
    x: np.ndarray,
    k: int,
    *,
    queries: np.ndarray | None = None,
    metric: str = "ip",
    backend: Backend | None = None,
    progress: Progress = NULL,
    label: str | None = None,
    block_elements: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest *other* rows of each row of x (n×d float32), or of the rows ``queries``
    (int64 row numbers) only, against all n rows.

    metric "ip": inner-product similarities, most similar first; "l2": squared Euclidean
    distances (float32, from ‖q‖² + ‖x‖² − 2q·x), nearest first. Ties: score, then row ascending
    (deterministic, so the top k is a prefix of the top K > k). Returns (scores, idx) m×k."""
    if queries is None:
        q, self_ids = x, np.arange(x.shape[0], dtype=np.int64)
    else:
        self_ids = np.asarray(queries, dtype=np.int64)
        q = np.ascontiguousarray(x[self_ids], dtype=np.float32)
    lab = label or (f"kNN search (k={k})" if queries is None else f"kNN search (k={k}, {len(self_ids):,} queries)")
    s, i = _topk_pass(
        q,
        x,
        k,
        self_ids=self_ids,
        metric=metric,
        backend=backend,
        progress=progress,
        label=lab,
        block_elements=block_elements,
    )
    if metric == "l2":
        qq = np.einsum("ij,ij->i", q, q)
        s = qq[:, None] - s
        np.maximum(s, 0.0, out=s)
    return s, i


def search(
    q: np.ndarray,
    x: np.ndarray,
    k: int,
    *,
    backend: Backend | None = None,
    progress: Progress = NULL,
    label: str | None = None,
    block_elements: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner product of queries q (m×d) against x (n×d), (score desc, row asc);
    missing slots (k > n) are (−inf, −1)."""
    return _topk_pass(
        q,
        x,
        k,
        self_ids=None,
        metric="ip",
        backend=backend,
        progress=progress,
        label=label or f"top-{k} search",
        block_elements=block_elements,
    )


# ---------------------------------------------------------------- sampled pairs


def sampled_pair_mean(
    x: np.ndarray,
    pair_value: Callable[[np.ndarray, np.ndarray], np.ndarray],
    m: int,
    seed: int,
    *,
    block: int = 1 << 14,
    progress: Progress = NULL,
    label: str = "sampled pairs",
) -> tuple[float, float, int]:
    """Mean of ``pair_value(x[i], x[j])`` over ``m`` pairs i≠j drawn uniformly with replacement
    (seeded), streamed in blocks of ``block`` pairs so memory is flat in m.

    Returns (mean, half-width of the 95% normal-theory interval, m). Sums are float64, shifted
    by the first block's mean to avoid cancellation in the variance."""
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    shift = None
    s1 = s2 = 0.0
    # Gather buffers reused block after block (fresh large arrays cost page faults every time).
    bufs = np.empty((2, min(block, m), x.shape[1]), dtype=x.dtype)
    with progress.task(label, total=m) as task:
        for s in range(0, m, block):
            b = min(block, m - s)
            i = rng.integers(0, n, size=b)
            j = rng.integers(0, n - 1, size=b)
            j += j >= i
            a, c = np.take(x, i, axis=0, out=bufs[0, :b]), np.take(x, j, axis=0, out=bufs[1, :b])
            v = pair_value(a, c)
            if shift is None:
                shift = float(v.mean())
            v = v - shift
            s1 += float(v.sum())
            s2 += float(v @ v)
            task.advance(b)
    mean_c = s1 / m
    var = max(s2 / m - mean_c**2, 0.0) * m / (m - 1) if m > 1 else math.inf
    return (shift or 0.0) + mean_c, 1.96 * math.sqrt(var / m) if m > 1 else math.inf, m


# ---------------------------------------------------------------- cost model

_RATES: dict[tuple[str, str, int], dict[str, float]] = {}


def calibrate(backend: Backend | None, d: int) -> dict[str, float]:
    """Seconds per pair on this back end for d-dimensional rows: ``pair_sum`` (product + an
    exp-type kernel + float64 sum) and ``topk`` (product + top-k selection). Measured once per
    (back end, d) on a 1024 × 16384 tile of random unit rows (≈ 0.1 s on two CPU cores)."""
    from embeval.compute.kernels import ExpSqDist

    be = _backend(backend)
    key = (be.name, be.device, d)
    if key not in _RATES:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((16384, d), dtype=np.float32)
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        p = be.put(a)
        rows, cols = slice(0, 1024), slice(0, 16384)
        pairs = 1024 * 16384
        be.pair_sum(p, p, rows, cols, ExpSqDist(2.0))  # warm-up
        t_sum = min(timed(lambda: be.pair_sum(p, p, rows, cols, ExpSqDist(2.0)), be) for _ in range(2))
        t_top = min(timed(lambda: be.topk(p, p, rows, cols, 11), be) for _ in range(2))
        _RATES[key] = {"pair_sum": t_sum / pairs, "topk": t_top / pairs}
    return _RATES[key]


def estimate_seconds(kind: str, pairs: float, d: int, backend: Backend | None = None) -> float:
    """Estimated seconds for ``pairs`` (row, column) products of d-dimensional rows in a pass of
    ``kind`` ("pair_sum", "topk" or "histogram"; histograms cost about what a pair sum does)."""
    rates = calibrate(backend, d)
    rate = rates["topk" if kind == "topk" else "pair_sum"]
    return float(pairs) * rate

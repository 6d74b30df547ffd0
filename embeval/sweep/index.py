"""The index sweep: which FAISS settings reach the recall you need, at what speed and memory.

Kinds and their grids (every setting is measured against exact float32 top-k):

- ``hnsw``: ``IndexHNSWFlat`` (inner product), one build per (M, efConstruction), searched at each efSearch;
- ``ivf``: ``IndexIVFFlat``, nlist ≈ 4·√n (at most n/39), one build, searched at each nprobe;
- ``ivfpq``: ``IndexIVFPQ`` (m sub-quantizers of 8 bits) on the same trained coarse quantizer,
  searched at each nprobe, without re-ranking and with exact re-ranking of k·``rerank``
  candidates (``IndexRefineFlat``, which also keeps the float32 vectors).

The coarse quantizer is trained once (k-means, ``niter`` iterations, seeded, on at most 50·nlist
sampled rows) and shared by ``ivf`` and ``ivfpq``. Every reported FAISS parameter is read back
from the index object after it was set (``index.hnsw.efSearch``, ``index.nprobe``, ``index.pq.M``,
``refine.k_factor`` ...), so the report says what ran. Builds use all threads (the HNSW graph
then depends on thread timing; ``threads=1`` makes it repeatable).

Speed: queries per second at 1 thread and at all threads (``faiss.omp_set_num_threads``), the
median of ``repeats`` full passes over the queries. ``budget`` (seconds) bounds the sweep: before
each setting its cost is estimated from those already measured (an HNSW build from a pilot build
on 2% of the rows, scaled by n·log n), and a setting that would pass the budget is skipped with a
note. Kinds run cheapest build first (ivf, ivfpq, hnsw), settings cheapest first within a kind.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embeval.errors import UsageError
from embeval.index.knn import _faiss
from embeval.progress import NULL, Progress
from embeval.results import Result
from embeval.sweep.common import (
    BUILD,
    BYTES,
    INDEX_BYTES,
    QPS1,
    QPS_ALL,
    Truth,
    median_seconds,
    pareto,
    setting_results,
)
from embeval.sweep.compress import SweepOutcome

KINDS = ("hnsw", "ivf", "ivfpq")


@dataclass
class Grid:
    kinds: Sequence[str] = KINDS
    hnsw_m: Sequence[int] = (16, 32)
    ef_construction: Sequence[int] = (200,)
    ef_search: Sequence[int] = (16, 32, 64, 128, 256)
    nlist: int | None = None  # None: 4·√n, at most n/39
    nprobe: Sequence[int] = (1, 2, 4, 8, 16, 32, 64)
    pq_m: Sequence[int] | None = None  # None: the divisors of d nearest d/4 and d/8
    pq_nprobe: Sequence[int] = (8, 32)
    rerank: Sequence[int] = (0, 10)
    niter: int = 10

    def check(self) -> None:
        bad = [k for k in self.kinds if k not in KINDS]
        if bad:
            raise UsageError(f"`kinds` {bad[0]!r}: choose from {', '.join(KINDS)}")
        if not self.kinds:
            raise UsageError("`kinds`: name at least one index kind")


def default_nlist(n: int) -> int:
    return int(max(1, min(round(4 * math.sqrt(n)), max(1, n // 39))))


def default_pq_m(d: int) -> list[int]:
    divisors = [m for m in range(1, d + 1) if d % m == 0]
    return sorted({min(divisors, key=lambda m: abs(m - d / t)) for t in (4, 8)})


def index_bytes(index) -> int:
    return int(_faiss().serialize_index(index).nbytes)


@dataclass
class _Timer:
    budget: float | None
    start: float = field(default_factory=time.perf_counter)
    skipped: list[str] = field(default_factory=list)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def allows(self, label: str, estimate: float | None) -> bool:
        if self.budget is None or estimate is None or self.elapsed() + estimate <= self.budget:
            return True
        self.skipped.append(f"{label} (~{estimate:.0f} s)")
        return False


def _qps(index, q: np.ndarray, k: int, repeats: int, threads_all: int) -> tuple[float, float, np.ndarray]:
    """(qps at 1 thread, qps at all threads, top rows) over every query."""
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(1)
        t1, (_, idx) = median_seconds(lambda: index.search(q, k), repeats)
        faiss.omp_set_num_threads(threads_all)
        tn, _ = median_seconds(lambda: index.search(q, k), repeats)
    finally:
        faiss.omp_set_num_threads(before)
    n = len(q)
    return n / max(t1, 1e-9), n / max(tn, 1e-9), idx.astype(np.int64)


def _train_quantizer(x: np.ndarray, nlist: int, niter: int, seed: int):
    faiss = _faiss()
    d = x.shape[1]
    rng = np.random.default_rng(seed)
    sample = x if len(x) <= 50 * nlist else x[np.sort(rng.choice(len(x), 50 * nlist, replace=False))]
    cp = faiss.ClusteringParameters()
    cp.niter, cp.seed, cp.min_points_per_centroid = niter, seed, 1
    cp.spherical = True
    km = faiss.Clustering(d, nlist, cp)
    quantizer = faiss.IndexFlatIP(d)
    km.train(np.ascontiguousarray(sample), quantizer)
    return quantizer, len(sample)


def index_sweep(
    truth: Truth,
    grid: Grid | None = None,
    *,
    target: float = 0.95,
    budget: float | None = 600.0,
    repeats: int = 3,
    threads: int | None = None,
    progress: Progress = NULL,
) -> SweepOutcome:
    """Build and search every setting of ``grid`` (see the module docstring) against ``truth``."""
    grid = grid or Grid()
    grid.check()
    faiss = _faiss()
    x, q = truth.corpus, truth.queries
    n, d = x.shape
    ip = faiss.METRIC_INNER_PRODUCT
    threads_all = int(threads or faiss.omp_get_max_threads())
    nlist = grid.nlist or default_nlist(n)
    if nlist > n:
        raise UsageError(f"`nlist` {nlist}: more than the {n} corpus rows")
    pq_ms = list(grid.pq_m) if grid.pq_m else default_pq_m(d)
    for m in pq_ms:
        if d % m:
            raise UsageError(f"`pq_m` {m}: must divide the dimension {d}")
    timer = _Timer(budget)
    results: list[Result] = []
    rows: list[dict[str, Any]] = []
    cost: dict[str, float] = {}  # seconds per unit of work measured so far, per kind
    done = [0]  # settings measured

    def measure(label: str, index, params: dict[str, Any], build_s: float, size: int, kind: str, work: float) -> None:
        t0 = time.perf_counter()
        q1, qa, idx = _qps(index, q, truth.depth, repeats, threads_all)
        cost[kind] = (time.perf_counter() - t0) / work
        res, row = setting_results(truth, label, params, idx, retention=False)
        rname = f"ann_recall@{truth.k}"
        p = {"setting": label, **params}
        res += [
            QPS1(q1, {**p, "repeats": repeats}, n=len(q)),
            QPS_ALL(qa, {**p, "repeats": repeats, "threads": threads_all}, n=len(q)),
            BUILD(build_s, p),
            BYTES(size / n, p),
            INDEX_BYTES(size, p),
        ]
        row.update(
            params,
            kind=kind,
            qps_1thread=q1,
            qps_all_threads=qa,
            build_seconds=build_s,
            bytes_per_vector=size / n,
            index_bytes=size,
        )
        results.extend(res)
        rows.append(row)
        task.advance(1)
        done[0] += 1
        elapsed = timer.elapsed()
        left = elapsed / done[0] * max(0, n_settings - done[0] - len(timer.skipped))
        if budget:
            left = min(left, max(0.0, budget - elapsed))
        progress.note(
            f"[{done[0] + len(timer.skipped)}/{n_settings}] {label}: {rname} {row[rname]:.3f}, "
            f"{q1:,.0f} q/s on 1 thread; {elapsed:.0f} s elapsed, about {left:.0f} s left"
        )

    def est(kind: str, work: float, build: float = 0.0) -> float | None:
        return None if kind not in cost else build + cost[kind] * work

    n_settings = _count(grid, pq_ms, nlist, truth.depth)
    before_threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads_all)
    try:
        with progress.task(
            f"index settings (budget {budget:g} s)" if budget else "index settings", total=n_settings
        ) as task:
            quantizer = None
            build_q = 0.0
            if "ivf" in grid.kinds or "ivfpq" in grid.kinds:
                t0 = time.perf_counter()
                quantizer, n_train = _train_quantizer(x, nlist, grid.niter, truth.seed)
                build_q = time.perf_counter() - t0
            if "ivf" in grid.kinds:
                assert quantizer is not None
                t0 = time.perf_counter()
                ivf = faiss.IndexIVFFlat(quantizer, d, nlist, ip)
                ivf.add(x)
                build_s = build_q + time.perf_counter() - t0
                size = index_bytes(ivf)
                for nprobe in sorted({min(v, nlist) for v in grid.nprobe}):
                    ivf.nprobe = nprobe
                    params = {
                        "kind": "ivf",
                        "nlist": int(ivf.nlist),
                        "nprobe": int(ivf.nprobe),
                        "kmeans_niter": grid.niter,
                        "kmeans_train_rows": n_train,
                    }
                    label = f"ivf/nlist{ivf.nlist}/nprobe{ivf.nprobe}"
                    if timer.allows(label, est("ivf", ivf.nprobe)):
                        measure(label, ivf, params, build_s, size, "ivf", ivf.nprobe)
                    else:
                        task.advance(1)
            if "ivfpq" in grid.kinds:  # before HNSW: its builds are the cheap ones
                assert quantizer is not None
                _ivfpq(grid, x, quantizer, nlist, pq_ms, build_q, truth, timer, measure, est, task, ip)
            if "hnsw" in grid.kinds:
                _hnsw(grid, x, truth, timer, measure, est, task, ip)
    finally:
        faiss.omp_set_num_threads(before_threads)
    out = SweepOutcome(results, rows)
    if "ivfpq" in grid.kinds and n < 39 * 256:
        out.notes.append(f"ivfpq: {n} rows train 256 centroids per sub-quantizer (FAISS asks for ≥ 9,984)")
    if timer.skipped:
        out.notes.append(
            f"budget {budget:g} s: skipped {len(timer.skipped)} setting(s) that would have passed it: "
            + ", ".join(timer.skipped)
        )
    _recommend(out, truth, target)
    return out


def _count(grid: Grid, pq_ms: Sequence[int], nlist: int, depth: int) -> int:
    n = 0
    if "ivf" in grid.kinds:
        n += len({min(v, nlist) for v in grid.nprobe})
    if "hnsw" in grid.kinds:
        n += len(grid.hnsw_m) * len(grid.ef_construction) * len({max(v, depth) for v in grid.ef_search})
    if "ivfpq" in grid.kinds:
        n += len(pq_ms) * len({min(v, nlist) for v in grid.pq_nprobe}) * len(grid.rerank)
    return n


def _hnsw_pilot(x: np.ndarray, m: int, efc: int, seed: int, ip) -> float:
    """Seconds per unit of M·efConstruction of a full HNSW build, extrapolated from a build on a
    seeded sample of 2% of the rows (at least 2,000): time ∝ n·log n at fixed M and efConstruction."""
    faiss = _faiss()
    n = len(x)
    n_p = min(n, max(2000, n // 50))
    rows = np.sort(np.random.default_rng(seed).choice(n, n_p, replace=False))
    index = faiss.IndexHNSWFlat(x.shape[1], m, ip)
    index.hnsw.efConstruction = efc
    t0 = time.perf_counter()
    index.add(np.ascontiguousarray(x[rows]))
    t = time.perf_counter() - t0
    scale = (n / n_p) * (math.log(max(n, 2)) / math.log(max(n_p, 2)))
    return t * scale / (m * efc)


def _hnsw(grid, x, truth, timer, measure, est, task, ip) -> None:
    faiss = _faiss()
    d = x.shape[1]
    build_cost: dict[str, float] = {}
    if timer.budget is not None and grid.hnsw_m and grid.ef_construction:
        build_cost["per"] = _hnsw_pilot(x, grid.hnsw_m[0], grid.ef_construction[0], truth.seed, ip)
    for m in grid.hnsw_m:
        for efc in grid.ef_construction:
            work = m * efc
            guess = build_cost["per"] * work if "per" in build_cost else None
            if not timer.allows(f"hnsw/M{m}/efC{efc} (build)", guess):
                task.advance(len({max(v, truth.depth) for v in grid.ef_search}))
                continue
            index = faiss.IndexHNSWFlat(d, m, ip)
            index.hnsw.efConstruction = efc
            t0 = time.perf_counter()
            index.add(x)
            build_s = time.perf_counter() - t0
            build_cost["per"] = build_s / work
            size = index_bytes(index)
            for ef in sorted({max(v, truth.depth) for v in grid.ef_search}):
                index.hnsw.efSearch = ef
                h = index.hnsw
                params = {
                    "kind": "hnsw",
                    "M": int(h.nb_neighbors(1)),
                    "efConstruction": int(h.efConstruction),
                    "efSearch": int(h.efSearch),
                }
                label = f"hnsw/M{params['M']}/efC{params['efConstruction']}/efS{params['efSearch']}"
                if timer.allows(label, est("hnsw", h.efSearch * m)):
                    measure(label, index, params, build_s, size, "hnsw", h.efSearch * m)
                else:
                    task.advance(1)


def _ivfpq(grid, x, quantizer, nlist, pq_ms, build_q, truth, timer, measure, est, task, ip) -> None:
    faiss = _faiss()
    n, d = x.shape
    last_build: float | None = None  # seconds of the previous IVF-PQ build (PQ training + encoding)
    for m in pq_ms:
        if not timer.allows(f"ivfpq/m{m} (build)", last_build if last_build is not None else est("ivf", 1)):
            task.advance(len({min(v, nlist) for v in grid.pq_nprobe}) * len(grid.rerank))
            continue
        t0 = time.perf_counter()
        pq = faiss.IndexIVFPQ(quantizer, d, nlist, m, 8, ip)
        pq.cp.seed = truth.seed
        pq.pq.cp.seed = truth.seed
        pq.pq.cp.min_points_per_centroid = 1  # fewer than 39·256 rows: train anyway (noted below)
        rng = np.random.default_rng(truth.seed)
        train = x if n <= 65_536 else x[np.sort(rng.choice(n, 65_536, replace=False))]
        pq.train(np.ascontiguousarray(train))
        pq.add(x)
        last_build = time.perf_counter() - t0
        build_s = build_q + last_build
        size_pq = index_bytes(pq)
        refine = None
        for rerank in grid.rerank:
            if rerank:
                t1 = time.perf_counter()
                refine = faiss.IndexRefineFlat(pq, faiss.swig_ptr(np.ascontiguousarray(x)))
                refine_s = time.perf_counter() - t1
                size = size_pq + index_bytes(refine.refine_index)
            for nprobe in sorted({min(v, nlist) for v in grid.pq_nprobe}):
                pq.nprobe = nprobe
                params: dict[str, Any] = {
                    "kind": "ivfpq",
                    "nlist": int(pq.nlist),
                    "nprobe": int(pq.nprobe),
                    "pq_m": int(pq.pq.M),
                    "pq_nbits": int(pq.pq.nbits),
                }
                label = f"ivfpq/m{pq.pq.M}/nprobe{pq.nprobe}"
                index, b = pq, build_s
                if rerank:
                    assert refine is not None
                    refine.k_factor = float(rerank)
                    params["rerank_k_factor"] = float(refine.k_factor)
                    label += f"/rerank{int(refine.k_factor)}"
                    index, b = refine, build_s + refine_s
                else:
                    size = size_pq
                if timer.allows(label, est("ivfpq", pq.nprobe)):
                    measure(label, index, params, b, size, "ivfpq", pq.nprobe)
                else:
                    task.advance(1)


def _recommend(out: SweepOutcome, truth: Truth, target: float) -> None:
    """The fastest setting (queries/s on 1 thread) whose recall against exact reaches ``target``;
    the Pareto front of recall vs that speed."""
    key = f"ann_recall@{truth.k}"
    out.quality = key
    if not out.rows:
        out.notes.append("no setting ran (the budget allowed none)")
        return
    flags = pareto([(r[key], r["qps_1thread"]) for r in out.rows])
    for r, f in zip(out.rows, flags):
        r["pareto"] = f
    ok = [r for r in out.rows if r[key] >= target]
    if ok:
        best = max(ok, key=lambda r: r["qps_1thread"])
        out.recommended = out.chosen = best["setting"]
        out.notes.append(
            f"recommendation: {best['setting']}, the fastest setting with {key} ≥ {target:g} "
            f"({best[key]:.4f}; {best['qps_1thread']:.0f} queries/s on 1 thread, "
            f"{best['qps_all_threads']:.0f} on all; {best['bytes_per_vector']:.0f} bytes/vector)"
        )
    else:
        best = max(out.rows, key=lambda r: r[key])
        out.chosen = best["setting"]
        out.notes.append(
            f"no setting reached {key} ≥ {target:g}; the highest was {best['setting']} ({best[key]:.4f}): "
            "widen the grid (larger efSearch / nprobe)"
        )

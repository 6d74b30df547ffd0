"""Top-k inner-product search behind one small interface, so retrieval code never touches FAISS.

``build_index(kind, vectors, **params)`` returns an index whose ``search(q, k)`` gives
``(scores float32 nq×k, idx int64 nq×k)``, best first. On unit rows the inner product is the cosine.

Kinds (FAISS imported lazily):

- ``flat``: exact. Blocked float32 products (NumPy's BLAS) with the top k kept in FAISS's heaps;
  the same results as FAISS ``IndexFlatIP`` (to float32 rounding), faster where FAISS's bundled
  BLAS does not recognise the CPU. Ranking is deterministic: score descending, then corpus row
  ascending — including ties that straddle the k-th place (such rows are searched again, deeper).
- ``hnsw``: approximate graph search (``IndexHNSWFlat``, Malkov & Yashunin 2018). Parameters
  ``m`` (links per node, 32), ``ef_construction`` (200), ``ef_search`` (128; raised to k when
  smaller). The graph is built on one thread so that it, and every result, is the same run to run.
- ``ivf``: approximate inverted file (``IndexIVFFlat``). Parameters ``nlist`` (cells; default
  ≈ 4·√n, at most n/39 so k-means has 39 points per centroid) and ``nprobe`` (cells visited, 16).
  k-means is seeded with ``seed``. Rows it cannot fill (too few candidates in the probed cells)
  come back with index −1 and score −inf.

Approximate kinds return the same (score desc, row asc) order among what they found.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from embeval.errors import UsageError
from embeval.index.knn import _faiss
from embeval.progress import NULL, Progress, Task

INDEX_KINDS = ("flat", "hnsw", "ivf")

# Parameters each kind accepts, with defaults (None = computed from the data).
INDEX_PARAMS: dict[str, dict[str, Any]] = {
    "flat": {},
    "hnsw": {"m": 32, "ef_construction": 200, "ef_search": 128},
    "ivf": {"nlist": None, "nprobe": 16},
}

# Queries per block (flat: per matrix product; FAISS kinds: per search call): wide enough for
# efficient products, small enough for a progress bar to move.
QUERY_BLOCK = 1024


class SearchIndex(Protocol):
    kind: str
    exact: bool
    params: dict[str, Any]
    ntotal: int

    def search(self, q: np.ndarray, k: int, progress: Progress = NULL) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows for each query row: (scores float32 nq×k, idx int64 nq×k), best first."""
        ...


def set_threads(threads: int | None) -> None:
    """Threads FAISS uses (OpenMP, process-wide). ``None`` or 0 leaves the default."""
    check_threads(threads)
    if threads:
        _faiss().omp_set_num_threads(int(threads))


def check_threads(threads: int | None) -> None:
    from embeval.options import check_option

    check_option("threads", threads)


@contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Run the block with at most ``threads`` FAISS (OpenMP) and BLAS threads, then restore them.
    ``None`` or 0: leave the defaults (all cores)."""
    check_threads(threads)
    if not threads:
        yield
        return
    from threadpoolctl import threadpool_limits

    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(int(threads))
    try:
        with threadpool_limits(limits=int(threads)):
            yield
    finally:
        faiss.omp_set_num_threads(before)


def resolve_params(kind: str, n: int | None, params: dict[str, Any] | None) -> dict[str, Any]:
    """Check ``params`` against ``kind`` and fill in defaults; unknown or misplaced ones are errors.

    With ``n=None`` (corpus not loaded yet) only the names and values are checked."""
    if kind not in INDEX_KINDS:
        raise UsageError(f"`index` {kind!r}: choose one of {', '.join(INDEX_KINDS)}")
    given = {k: v for k, v in (params or {}).items() if v is not None}
    allowed = INDEX_PARAMS[kind]
    for name in given:
        if name not in allowed:
            owners = [k for k, p in INDEX_PARAMS.items() if name in p]
            where = f"it applies to --index {owners[0]}" if owners else "unknown parameter"
            raise UsageError(f"index parameter {name!r} does not apply to `index` {kind} ({where})")
    out = {**allowed, **given}
    for name, value in out.items():
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise UsageError(f"index parameter {name}={value!r}: must be a positive integer")
    if kind == "ivf" and n is not None:
        max_nlist = max(1, n // 39)
        if out["nlist"] is None:
            out["nlist"] = int(max(1, min(round(4 * math.sqrt(n)), max_nlist)))
        elif out["nlist"] > n:
            raise UsageError(f"nlist={out['nlist']} is more than the {n} corpus rows")
        out["nprobe"] = int(min(out["nprobe"], out["nlist"]))
    return out


@dataclass
class _Index(ABC):
    """Shared by every kind: deterministic ordering, padding, and ties across the k-th place."""

    kind: str
    exact: bool
    params: dict[str, Any]
    d: int
    ntotal: int

    @abstractmethod
    def _raw(self, q: np.ndarray, k: int, task: Task | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The kind's own top-k search (scores, indices), before tie and padding handling."""

    def search(self, q: np.ndarray, k: int, progress: Progress = NULL) -> tuple[np.ndarray, np.ndarray]:
        if k < 1:
            raise UsageError(f"k must be at least 1, got {k}")
        q = np.ascontiguousarray(q, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.d:
            raise UsageError(f"queries have shape {q.shape}; the index holds {self.d}-dimensional rows")
        n = self.ntotal
        kk = min(k, n)
        # One extra neighbour tells whether a tie straddles the k-th place.
        probe = kk + 1 if (self.exact and kk < n) else kk
        with progress.task(f"top-{k} search ({self.kind})", total=len(q)) as task:
            scores, idx = self._raw(q, probe, task)
        _order_rows(scores, idx)
        if probe > kk:
            tied = np.flatnonzero(scores[:, kk - 1] == scores[:, kk])
            for row in tied:
                scores[row, :kk], idx[row, :kk] = self._resolve_tie(q[row : row + 1], kk)
            scores, idx = scores[:, :kk], idx[:, :kk]
        if kk < k:  # fewer rows than k: pad like FAISS does
            pad = k - kk
            scores = np.concatenate([scores, np.full((len(q), pad), -np.inf, np.float32)], axis=1)
            idx = np.concatenate([idx, np.full((len(q), pad), -1, np.int64)], axis=1)
        return np.ascontiguousarray(scores), np.ascontiguousarray(idx)

    def _resolve_tie(self, q1: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Search one query deeper until the tie at place k ends, then keep (score desc, row asc)."""
        depth = 2 * k + 1
        while True:
            depth = min(depth, self.ntotal)
            s, i = self._raw(q1, depth)
            _order_rows(s, i)
            if depth == self.ntotal or s[0, depth - 1] < s[0, k - 1]:
                return s[0, :k], i[0, :k]
            depth *= 2


@dataclass
class _FlatIndex(_Index):
    """Exact: blocked float32 products with NumPy's BLAS, top-k kept in FAISS's C++ heaps.

    Same results as ``IndexFlatIP.search`` (to float32 rounding) but it uses NumPy's BLAS, which
    detects the CPU properly: FAISS wheels bundle an older OpenBLAS that falls back to generic
    kernels on recent CPUs (2-3x slower here; see bench/retrieval.py). At most
    ``block_elements`` scores exist at once."""

    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32), repr=False)
    block_elements: int = 1 << 24
    backend: Any = field(default=None, repr=False)

    def search(self, q: np.ndarray, k: int, progress: Progress = NULL) -> tuple[np.ndarray, np.ndarray]:
        """The compute layer's exact search (:func:`embeval.compute.search`), whatever the back end:
        candidates near the k-th place are re-scored in float64 before the tie rule, so the ranking
        is the one a cluster, another tiling or the torch back end gives (issue 20, item 6)."""
        from embeval.compute import get_backend
        from embeval.compute import search as exact_search

        if k < 1:
            raise UsageError(f"k must be at least 1, got {k}")
        q = np.ascontiguousarray(q, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.d:
            raise UsageError(f"queries have shape {q.shape}; the index holds {self.d}-dimensional rows")
        be = self.backend if self.backend is not None else get_backend("cpu")
        return exact_search(
            q,
            self.vectors,
            k,
            backend=be,
            progress=progress,
            label=f"top-{k} search ({self.kind})",
            block_elements=self.block_elements if be.name == "numpy" else None,
        )

    def _raw(self, q: np.ndarray, k: int, task: Task | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self.backend is not None and self.backend.name != "numpy":
            return self._raw_backend(q, k, task)
        faiss = _faiss()
        nq, n = q.shape[0], self.ntotal
        scores = np.empty((nq, k), dtype=np.float32)
        idx = np.empty((nq, k), dtype=np.int64)
        qb = max(1, min(nq, QUERY_BLOCK))
        cb = max(k, self.block_elements // qb)
        for s in range(0, nq, qb):
            e = min(nq, s + qb)
            heap = faiss.float_minheap_array_t()
            heap.nh, heap.k = e - s, k
            heap.val, heap.ids = faiss.swig_ptr(scores[s:e]), faiss.swig_ptr(idx[s:e])
            heap.heapify()
            for c0 in range(0, n, cb):
                block = np.ascontiguousarray(q[s:e] @ self.vectors[c0 : c0 + cb].T)
                heap.addn(block.shape[1], faiss.swig_ptr(block), c0, 0, e - s)
                if task is not None:
                    task.advance((e - s) * block.shape[1] / n)
            heap.reorder()
        return scores, idx

    def _raw_backend(self, q: np.ndarray, k: int, task: Task | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k on the compute back end (torch on a GPU): tie-exact already."""
        from embeval.compute import search

        class _Relay(Progress):  # the driver's progress lands on this search's own task
            def task(self, description, total):
                from contextlib import nullcontext

                return nullcontext(task if task is not None else Task())

        return search(q, self.vectors, k, backend=self.backend, progress=_Relay())


@dataclass
class _FaissIndex(_Index):
    index: Any = field(default=None, repr=False)

    def _raw(self, q: np.ndarray, k: int, task: Task | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = max(self.params["ef_search"], k)
        nq = q.shape[0]
        scores = np.empty((nq, k), dtype=np.float32)
        idx = np.empty((nq, k), dtype=np.int64)
        for s in range(0, nq, QUERY_BLOCK):
            e = min(nq, s + QUERY_BLOCK)
            scores[s:e], idx[s:e] = self.index.search(q[s:e], k)
            if task is not None:
                task.advance(e - s)
        return scores, idx


def _order_rows(scores: np.ndarray, idx: np.ndarray) -> None:
    """Sort each row in place by score descending, then row index ascending; −1 (missing) last."""
    scores[idx < 0] = -np.inf
    key_idx = np.where(idx < 0, np.iinfo(np.int64).max, idx)
    order = np.lexsort((key_idx, -scores), axis=-1)
    scores[:] = np.take_along_axis(scores, order, axis=1)
    idx[:] = np.take_along_axis(idx, order, axis=1)


def build_index(
    kind: str, vectors: np.ndarray, *, seed: int = 0, threads: int | None = None, backend: Any = None, **params: Any
) -> SearchIndex:
    """Index ``vectors`` (n×d float32; unit rows for cosine) for inner-product top-k search.

    ``params`` are the kind's parameters (see the module docstring); ``threads`` sets FAISS's
    OpenMP threads for the process; ``backend``: an :mod:`embeval.compute` back end for the flat
    index's products (None: NumPy's BLAS on the CPU; a torch back end runs them on its device).
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise UsageError(f"cannot index an array of shape {x.shape}")
    n, d = x.shape
    p = resolve_params(kind, n, params)
    set_threads(threads)
    if kind == "flat":
        return _FlatIndex(kind=kind, exact=True, params=p, d=d, ntotal=n, vectors=x, backend=backend)
    faiss = _faiss()
    ip = faiss.METRIC_INNER_PRODUCT
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, p["m"], ip)
        index.hnsw.efConstruction = p["ef_construction"]
        # Parallel insertion makes the graph depend on thread timing; build on one thread.
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            index.add(x)
        finally:
            faiss.omp_set_num_threads(before)
    else:
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, p["nlist"], ip)
        index.cp.seed = int(seed)
        # Only silences faiss's raw stderr line "WARNING clustering N points to K centroids" (one
        # line per run is the contract); min_points_per_centroid changes nothing else in k-means.
        index.cp.min_points_per_centroid = 1
        index.train(x)
        index.add(x)
        index.nprobe = p["nprobe"]  # faiss's wrapper keeps a reference to the quantizer
    return _FaissIndex(kind=kind, exact=False, params=p, d=d, ntotal=n, index=index)


def search_recall(approx_idx: np.ndarray, exact_idx: np.ndarray) -> np.ndarray:
    """Per query |approximate top-k ∩ exact top-k| / (size of the exact top-k), ignoring −1 slots."""
    out = np.empty(len(exact_idx), dtype=np.float64)
    for r, (a, e) in enumerate(zip(approx_idx, exact_idx)):
        e = e[e >= 0]
        out[r] = len(np.intersect1d(a[a >= 0], e, assume_unique=True)) / max(1, len(e))
    return out

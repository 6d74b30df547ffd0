"""The all-pairs AUC engine: auc_global, per-query AUCs and score moments over every
(query, document) pair in one blocked pass (definitions in :mod:`embeval.diagnostics.retrieval`).

At most ``block_elements`` scores are in memory at once (blocks of up to 1,024 queries × as many
documents as fit). auc_query is exact: each positive's score is bracketed by a proven rounding
bound before the pass, so documents scored earlier can be counted without holding them.
auc_global is exact (all scores sorted) when m·n ≤ ``exact_limit``; above that it is counted in
2^24 bins of width 2^-23 (= float32 epsilon) over [-1, 1]: pairs in different bins are ordered
exactly, a positive and a negative in the same bin count ½, and the resulting error bound
½·Σ_b pos_b·neg_b / (P·N) is reported with the value (``max_error``). Memory is then constant:
two blocks of scores, their bin indices, the 64 MiB int32 histogram and one counting buffer of
the same size (int64 totals only past 2^31 − 1 scores).

The pass is bit-identical to its first form (``bench/bench_auc_ab.py`` checks it against a git
revision): the same blocked products, the same bins, exact integer counts, and the moments from
the same chunked float64 dot products (s1 summed without BLAS only where it is exact in any
order). Its CPU time beyond the products is mostly the histogram's random increments
(``bench/bench_auc_phases.py``).

Tiles for a distributed run: a (query block, document chunk) tile yields histogram counts (merge:
add) and, per positive, counts below its window plus the few scores inside it (merge: add the
counts, concatenate the kept scores); see :class:`_QueryCounts`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embeval.compute.backend import BLOCK_ELEMENTS, Backend, NumpyBackend
from embeval.errors import UsageError
from embeval.progress import NULL, Progress

EXACT_LIMIT = 1 << 24  # all-pairs scores kept and sorted for an exact auc_global up to this many
BIN_BITS = 23  # binned auc_global: bin width 2^-23 over [-1, 1] -> 2^24 bins


# ----------------------------------------------------------------------------- pooled score levels


@dataclass
class ScoreLevels:
    """The pooled positive/negative score distribution, reduced to what AUC and ROC need.

    One entry per distinct positive score ("level"; in binned mode, per bin holding a positive),
    highest first: ``value`` (the score, or the bin's lower edge), ``pos`` positives at the level,
    ``tied`` negatives at the same level (same score / same bin), ``above`` negatives strictly above.
    Between two levels the ROC curve only moves along FPR, so these corners describe it exactly.
    """

    value: np.ndarray
    pos: np.ndarray
    tied: np.ndarray
    above: np.ndarray
    n_pos: int
    n_neg: int
    method: str  # "exact" or "binned"
    bin_width: float | None = None

    def auc(self) -> float:
        """Σ_levels pos·(negatives below + ½·tied) / (P·N)."""
        if self.n_pos == 0 or self.n_neg == 0:
            return math.nan
        below = self.n_neg - self.above - self.tied
        return float(np.sum(self.pos * (below + 0.5 * self.tied)) / (self.n_pos * self.n_neg))

    def max_error(self) -> float:
        """Bound on |auc() − exact AUC|: 0 when exact; in binned mode ½·Σ pos·tied / (P·N),
        because only a positive and a negative sharing a bin can be misordered."""
        if self.method == "exact" or self.n_pos == 0 or self.n_neg == 0:
            return 0.0
        return float(0.5 * np.sum(self.pos * self.tied) / (self.n_pos * self.n_neg))

    def _rates(self) -> tuple[np.ndarray, np.ndarray]:
        """TPR and FPR when 'score ≥ level' is called relevant, for each level."""
        tpr = np.cumsum(self.pos) / max(self.n_pos, 1)
        fpr = (self.above + self.tied) / max(self.n_neg, 1)
        return tpr, fpr

    def best_threshold(self) -> tuple[float, float, float]:
        """(threshold, TPR, FPR) maximising TPR − FPR (Youden's J); the highest such threshold.
        J can only peak where a positive enters, so the levels are the only candidates."""
        if self.n_neg == 0:
            return math.nan, math.nan, math.nan
        tpr, fpr = self._rates()
        j = int(np.argmax(tpr - fpr))
        return float(self.value[j]), float(tpr[j]), float(fpr[j])

    def fpr_at_tpr(self, target: float = 0.95) -> float:
        """FPR at the highest threshold whose TPR reaches ``target``."""
        if self.n_neg == 0:
            return math.nan
        tpr, fpr = self._rates()
        j = int(np.argmax(tpr >= target - 1e-12))
        return float(fpr[j])

    def roc(self) -> RocCurve:
        """Corner points of the pooled ROC curve (every point where its direction changes)."""
        P, N = max(self.n_pos, 1), max(self.n_neg, 1)
        tp_above = np.concatenate([[0], np.cumsum(self.pos)[:-1]])
        step = self.bin_width if self.method == "binned" else None
        just_above = self.value + step if step else np.nextafter(self.value, np.inf)
        thr = np.empty(2 * len(self.value) + 2)
        fpr = np.empty_like(thr)
        tpr = np.empty_like(thr)
        thr[0], fpr[0], tpr[0] = np.inf, 0.0, 0.0
        thr[1:-1:2], fpr[1:-1:2], tpr[1:-1:2] = just_above, self.above / N, tp_above / P
        thr[2:-1:2], fpr[2:-1:2], tpr[2:-1:2] = self.value, (self.above + self.tied) / N, (tp_above + self.pos) / P
        thr[-1], fpr[-1], tpr[-1] = -np.inf, 1.0, 1.0
        keep = np.ones(len(thr), dtype=bool)
        keep[1:] = (np.diff(fpr) != 0) | (np.diff(tpr) != 0)
        return RocCurve(thr[keep], fpr[keep], tpr[keep], self.auc(), self.method)


@dataclass
class RocCurve:
    """Pooled ROC: 'score ≥ threshold' is called relevant; points from (0,0) to (1,1)."""

    threshold: np.ndarray
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float
    method: str


# ----------------------------------------------------------------------------- all-pairs pass


@dataclass
class AucStats:
    """What one pass over every (query, doc) pair yields.

    levels: the pooled :class:`ScoreLevels`; per_query: (m,) AUC of each query (NaN where the
    query has no negative); pos_scores: every positive pair's score (float64, query order);
    neg_mean / neg_std: over every negative pair (population std)."""

    levels: ScoreLevels
    per_query: np.ndarray
    pos_scores: np.ndarray
    neg_mean: float
    neg_std: float
    # Estimated form (:func:`auc_estimated`): per_query holds only these rows' AUCs (NaN elsewhere),
    # the levels compare every positive with ``neg_sample`` sampled negatives, with this 95% CI.
    query_rows: np.ndarray | None = None
    neg_sample: int = 0
    auc_global_ci: tuple[float, float] | None = None


def _less_equal(values: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each threshold t: (#values < t, #values == t), exactly."""
    if len(thresholds) <= 8:
        less = np.array([np.count_nonzero(values < t) for t in thresholds], dtype=np.int64)
        eq = np.array([np.count_nonzero(values == t) for t in thresholds], dtype=np.int64)
        return less, eq
    u, inv = np.unique(thresholds, return_inverse=True)
    right = np.searchsorted(u, values, side="right")  # #u ≤ v ; v < u_j  ⟺  right ≤ j
    left = np.searchsorted(u, values, side="left")
    less_u = np.cumsum(np.bincount(right, minlength=len(u) + 1))[: len(u)]
    eq_u = np.bincount(left[right > left], minlength=len(u))
    return less_u[inv].astype(np.int64), eq_u[inv].astype(np.int64)


def _to_bins(s: np.ndarray, bits: int, out_dtype=np.int32) -> np.ndarray:
    """Monotone float32 score -> bin: floor(fl32(s + 1) · 2^bits), clipped to [0, 2^(bits+1) − 1].

    Works in place on ``s`` (float32); identical arithmetic for blocks and for single scores."""
    s += np.float32(1.0)
    s *= np.float32(2.0**bits)
    np.clip(s, 0, (1 << (bits + 1)) - 1, out=s)
    return s.astype(out_dtype)


HIST_THREADS_MAX = 4  # threads counting one block's histogram (one per 4 cores; 1 on a small machine)
QUERY_BLOCK = 1024  # queries scored together: wide enough for efficient matrix products
KEY_TILE = 1 << 16  # scores turned into bins at a time: the float32 steps stay in the core's cache
_INT32_MAX = (1 << 31) - 1


class _Histogram:
    """The all-pairs histogram of :func:`_to_bins` (2^(bits+1) bins), added to block by block.

    Counts are int32 (half the memory traffic of int64, and int32 + int32 is a vector add); they
    are flushed into int64 totals before they could overflow (after 2^31 − 1 scores). ``lo``/``hi``:
    the bins touched so far (the scan in :func:`_levels_binned` skips what lies outside)."""

    def __init__(self, bits: int):
        import threading

        self.bits = bits
        self.top = (1 << (bits + 1)) - 1
        self.counts = np.zeros(self.top + 1, dtype=np.int32)
        self.wide: np.ndarray | None = None
        self.pending = 0
        self.lo, self.hi = self.top + 1, -1
        self.lock = threading.Lock()

    def merge(self, lo: int, counts: np.ndarray, n: int) -> None:
        """Add one block's ``counts`` of bins lo, lo + 1, … (``n`` scores in all)."""
        hi = lo + len(counts) - 1
        with self.lock:
            if self.pending + n > _INT32_MAX:
                self._flush()
            self.counts[lo : hi + 1] += counts
            self.pending += n
            self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)

    def _flush(self) -> None:
        if self.wide is None:
            self.wide = np.zeros(self.top + 1, dtype=np.int64)
        if self.hi >= self.lo:
            self.wide[self.lo : self.hi + 1] += self.counts[self.lo : self.hi + 1]
            self.counts[self.lo : self.hi + 1] = 0
        self.pending = 0

    def result(self) -> np.ndarray:
        """All counts (int32 while they fit, else int64)."""
        if self.wide is None:
            return self.counts
        self._flush()
        return self.wide


class _Binner:
    """Adds score blocks to a :class:`_Histogram`: the bins of :func:`_to_bins`, computed a cache-sized
    tile at a time into a key buffer reused block after block (fresh block-sized arrays cost page
    faults every time), then counted with FAISS's ``ivec_hist`` (C++, GIL released), so that one
    block's histogram is counted in a worker thread while the main thread does the per-query counts
    of the same block.

    The float32 steps are those of :func:`_to_bins`, except that the clip is applied to the integer
    bins: for finite f ≥ 0 truncation is floor, and clip∘floor = floor∘clip because the bounds are
    integers. A block with a bin below 0 (a score below −1, or too large for int32) is redone with
    the float clip of :func:`_to_bins` itself."""

    def __init__(self, size: int, bits: int):
        self.bits = bits
        self.top = (1 << (bits + 1)) - 1
        self.scale = np.float32(2.0**bits)
        self.keys = np.empty(size, dtype=np.int32)
        self.ftile = np.empty(min(size, KEY_TILE), dtype=np.float32)
        self.hbuf = np.empty(self.top + 1, dtype=np.int32)
        try:
            from embeval.compute.requires import _faiss

            self._faiss = _faiss()
        except Exception:
            self._faiss = None

    def _bins(self, flat: np.ndarray, keys: np.ndarray, clip: bool) -> None:
        one, scale = np.float32(1.0), self.scale
        for t0 in range(0, len(flat), KEY_TILE):
            t1 = min(len(flat), t0 + KEY_TILE)
            f = self.ftile[: t1 - t0]
            np.add(flat[t0:t1], one, out=f)
            f *= scale
            if clip:
                np.clip(f, 0, self.top, out=f)
            np.copyto(keys[t0:t1], f, casting="unsafe")

    def add(self, s: np.ndarray, hist: _Histogram) -> None:
        flat = s.reshape(-1)
        n = flat.size
        if n == 0:
            return
        keys = self.keys[:n]
        with np.errstate(invalid="ignore"):  # out-of-range casts are caught below
            self._bins(flat, keys, clip=False)
            lo, hi = int(keys.min()), int(keys.max())
            if lo < 0:
                self._bins(flat, keys, clip=True)
                lo, hi = int(keys.min()), int(keys.max())
                if lo < 0:
                    raise ValueError("a score is not a finite number")
        if hi > self.top:
            np.minimum(keys, self.top, out=keys)
            hi = self.top
        keys -= lo
        width = hi - lo + 1
        if self._faiss is not None:
            self._faiss.ivec_hist(n, self._faiss.swig_ptr(keys), width, self._faiss.swig_ptr(self.hbuf))
            counts = self.hbuf[:width]
        else:
            counts = np.bincount(keys, minlength=width).astype(np.int32)
        hist.merge(lo, counts, n)


def _block_shape(m: int, n: int, block_elements: int) -> tuple[int, int]:
    """(queries, documents) per block: up to QUERY_BLOCK queries, as many documents as fit."""
    B = max(1, min(m, QUERY_BLOCK, block_elements))
    return B, max(1, min(n, block_elements // B))


def _rounding_window(q: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 inner products of row pairs (q[i], c[i]) and a bound on how far any float32
    evaluation of them can be: 2·γ_d·Σ_k|q_k c_k| with γ_d = d·u/(1 − d·u), u = 2^-24 — the
    classical error bound of a d-term dot product in any summation order (Higham 2002, §3.1),
    doubled for margin."""
    q64, c64 = q.astype(np.float64), c.astype(np.float64)
    d = q.shape[1]
    u = 2.0**-24
    gamma = d * u / (1 - d * u)
    return np.einsum("ij,ij->i", q64, c64), 2 * gamma * np.einsum("ij,ij->i", np.abs(q64), np.abs(c64))


def _windows(centre: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 [lo, hi] containing every value within ``radius`` of ``centre`` (widened outwards)."""
    down, up = np.float32(-np.inf), np.float32(np.inf)
    lo = np.nextafter((centre - radius).astype(np.float32), down)  # float32 ≤ centre − radius
    hi = np.nextafter((centre + radius).astype(np.float32), up)
    return lo, hi


class _QueryCounts:
    """Exact counts, for each positive p of one query, of the query's documents scoring below and
    equal to p, accumulated chunk by chunk before p's own score is seen.

    Each positive gets a window [lo, hi] of float32 values that provably contains its float32
    score (``_rounding_window``, widened outwards to float32): values below lo are counted at
    once, the few inside a window are kept, and are compared with the actual scores at the end."""

    def __init__(self, positives: np.ndarray, centre: np.ndarray, radius: np.ndarray):
        self.positives = positives
        self.lo, self.hi = _windows(centre, radius)
        self.below = np.zeros(len(positives), dtype=np.int64)
        self.kept: list[np.ndarray] = []
        self.own = np.full(len(positives), np.nan, dtype=np.float32)
        self._windows = list(zip(self.lo.tolist(), self.hi.tolist())) if len(positives) <= 8 else []
        if len(positives) > 8:
            order = np.argsort(self.lo)
            self._lo_sorted = self.lo[order]
            self._hi_cummax = np.maximum.accumulate(self.hi[order])
            self._lo_unique = np.unique(self.lo)
            self._lo_slot = np.searchsorted(self._lo_unique, self.lo)

    def add(self, row: np.ndarray, c0: int, own_set: bool = False) -> None:
        """Count one float32 chunk of the query's scores (documents c0 … c0 + len(row) − 1).
        ``own_set``: the caller has already stored the positives' own scores of this chunk."""
        if not own_set:
            sel = (self.positives >= c0) & (self.positives < c0 + len(row))
            if sel.any():
                self.own[sel] = row[self.positives[sel] - c0]
        if len(self.positives) <= 8:
            hit = None
            below = self.below
            for j, (lo, hi) in enumerate(self._windows):
                nb = np.count_nonzero(row < lo)
                below[j] += nb
                if np.count_nonzero(row <= hi) > nb:  # something inside this window
                    inside = (row >= lo) & (row <= hi)
                    hit = inside if hit is None else (hit | inside)
            if hit is not None:
                self.kept.append(row[hit])
            return
        right = np.searchsorted(self._lo_sorted, row, side="right")  # windows with lo ≤ v
        lo_u = self._lo_unique
        cnt = np.bincount(np.searchsorted(lo_u, row, side="right"), minlength=len(lo_u) + 1)
        self.below += np.cumsum(cnt)[: len(lo_u)][self._lo_slot]  # #v < lo
        # v lies in some window iff the largest hi among windows with lo ≤ v reaches v.
        inside = (right > 0) & (row <= self._hi_cummax[np.maximum(right - 1, 0)])
        self.kept.append(row[inside])

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores of the positives, #documents below each, #documents equal to each)."""
        own = self.own
        if np.isnan(own).any() or np.any((own < self.lo) | (own > self.hi)):  # pragma: no cover
            raise RuntimeError("internal error: a float32 score fell outside its rounding bound")
        kept = np.sort(np.concatenate(self.kept)) if self.kept else np.empty(0, np.float32)
        # Kept values ≥ lo and < own are below; every value equal to own is inside its window.
        less = self.below + np.searchsorted(kept, own, "left") - np.searchsorted(kept, self.lo, "left")
        eq = np.searchsorted(kept, own, "right") - np.searchsorted(kept, own, "left")
        return own, less, eq


MANY_POSITIVES = 8  # a query with more positives takes the sorted windows of _QueryCounts


class _BlockCounts:
    """Exact counts, for every positive p of a block of queries, of its query's documents scoring
    below and equal to p, chunk by chunk.

    From the chunk holding p's document on, p's float32 score is known and the chunk's scores are
    compared with it directly. In the chunks before it, p has a window [lo, hi] that provably
    contains its score (``_rounding_window``, widened outwards to float32): scores below lo are
    counted, the few inside are kept and compared with p's score at the end. The windows of a whole
    block come from one vectorised call; queries with more than ``MANY_POSITIVES`` positives use
    :class:`_QueryCounts`."""

    def __init__(self, queries, corpus, positives, qs: int, qe: int):
        block_pos = [np.asarray(positives[i], dtype=np.int64) for i in range(qs, qe)]
        sizes = np.array([len(p) for p in block_pos], dtype=np.int64)
        self.qs = qs
        self.ends = np.cumsum(sizes)
        self.row = np.repeat(np.arange(qe - qs), sizes)
        self.doc = np.concatenate(block_pos) if block_pos else np.empty(0, np.int64)
        P = len(self.doc)
        self.own = np.full(P, np.nan, dtype=np.float32)
        centre, radius = _rounding_window(queries[qs + self.row], corpus[self.doc])
        self.lo, self.hi = _windows(centre, radius)
        self.below = [0] * P  # chunks before p's own: documents < lo
        self.less = [0] * P  # chunks from p's own on: documents < p, and = p
        self.equal = [0] * P
        self.kept: list[list[np.ndarray]] = [[] for _ in range(P)]
        self.few: list[tuple[int, list]] = []  # (row, [(k, lo, hi, doc)])
        self.many: list[tuple[int, int, _QueryCounts]] = []  # (row, first k, counts)
        for r, p in enumerate(block_pos):
            a, b = int(self.ends[r]) - len(p), int(self.ends[r])
            if len(p) > MANY_POSITIVES:
                qc = _QueryCounts(p, centre[a:b], radius[a:b])
                qc.own = self.own[a:b]
                self.many.append((r, a, qc))
            elif len(p):
                self.few.append((r, [(k, self.lo[k], self.hi[k], int(self.doc[k])) for k in range(a, b)]))

    def add(self, s: np.ndarray, c0: int) -> None:
        """Count the block's scores of documents c0, c0 + 1, … (``s``: rows × documents)."""
        c1 = c0 + s.shape[1]
        sel = (self.doc >= c0) & (self.doc < c1)
        if sel.any():
            self.own[sel] = s[self.row[sel], self.doc[sel] - c0]
        own, below, less, equal, kept = self.own, self.below, self.less, self.equal, self.kept
        cnz = np.count_nonzero
        for r, items in self.few:
            x = s[r]
            for k, lo, hi, doc in items:
                if doc < c1:  # p's score is known
                    o = own[k]
                    lt = cnz(x < o)
                    less[k] += lt
                    equal[k] += cnz(x <= o) - lt
                else:
                    nb = cnz(x < lo)
                    below[k] += nb
                    inside = x <= hi
                    if cnz(inside) > nb:
                        inside &= x >= lo
                        kept[k].append(x[inside])
        for r, _, qc in self.many:
            qc.add(s[r], c0, own_set=True)

    def finish(self, n: int, pos_scores: list, per_query: np.ndarray) -> None:
        """Per-query AUCs (and the positives' scores) of the block's queries."""
        own = self.own
        if np.isnan(own).any() or np.any((own < self.lo) | (own > self.hi)):  # pragma: no cover
            raise RuntimeError("internal error: a float32 score fell outside its rounding bound")
        less = np.array(self.below, dtype=np.int64) + np.array(self.less, dtype=np.int64)
        eq = np.array(self.equal, dtype=np.int64)
        for k, vals in enumerate(self.kept):
            if vals:
                v = np.concatenate(vals)
                less[k] += np.count_nonzero(v < own[k])  # every kept value is ≥ lo
                eq[k] += np.count_nonzero(v == own[k])
        for _, a, qc in self.many:
            _, ql, qe_ = qc.finish()
            less[a : a + len(ql)], eq[a : a + len(ql)] = ql, qe_
        start = 0
        for r, end in enumerate(self.ends.tolist()):
            i = self.qs + r
            o = own[start:end]
            pos_scores[i] = o
            n_neg = n - len(o)
            if n_neg and len(o):
                # Remove the positives' own contributions from the all-document counts.
                plt, peq = _less_equal(o, o)
                lq, eq_q = less[start:end], eq[start:end]
                per_query[i] = float(np.sum((lq - plt) + 0.5 * (eq_q - peq))) / (len(o) * n_neg)
            start = end


def _wait(pending) -> None:
    for fut in pending or ():
        fut.result()


def auc_global_query(
    queries: np.ndarray,
    corpus: np.ndarray,
    positives: Sequence[np.ndarray],
    *,
    block_elements: int = BLOCK_ELEMENTS,
    exact_limit: int = EXACT_LIMIT,
    bin_bits: int = BIN_BITS,
    progress: Progress = NULL,
    backend: Backend | None = None,
) -> AucStats:
    """auc_global, per-query AUCs and score moments over all m×n pairs, in one blocked pass.

    queries: m×d float32 (unit rows), corpus: n×d float32 (unit rows), positives[i]: int array of
    the corpus rows relevant to query i (distinct); every other pair is a negative. The score of
    a pair is its entry of the float32 product ``queries[block] @ corpus[chunk].T``; at most
    ``block_elements`` scores exist at once, whatever m and n. Per-query counts are exact (see
    ``_BlockCounts``); auc_global is exact or binned (module docstring). Higher AUC is better.
    ``backend``: the :mod:`embeval.compute` back end that computes the score blocks (None: NumPy
    on the CPU; torch puts the corpus on its device and copies each block of scores back); the
    counting runs on the host.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    corpus = np.ascontiguousarray(corpus, dtype=np.float32)
    be: Backend = NumpyBackend() if backend is None else backend
    q_placed, c_placed = be.put(queries), be.put(corpus)
    m, n = queries.shape[0], corpus.shape[0]
    if len(positives) != m:
        raise UsageError(f"{len(positives)} positive lists for {m} queries")
    exact = m * n <= exact_limit
    B, D = _block_shape(m, n, block_elements)
    pos_scores: list[np.ndarray] = [np.empty(0, np.float32)] * m
    per_query = np.full(m, np.nan)
    allv = np.empty(m * n if exact else 0, dtype=np.float32)
    hist = None if exact else _Histogram(bin_bits)

    # The histogram of a block is counted by ``workers`` threads, each on a share of the block's
    # rows with its own buffers, merged under a lock (integer counts: the same in any order).
    workers = 1 if exact else max(1, min(HIST_THREADS_MAX, B, (os.cpu_count() or 1) // 4))
    binners = [] if exact else [_Binner(-(-B // workers) * D, bin_bits) for _ in range(workers)]
    pool = None
    if not exact:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(workers, thread_name_prefix="embeval-auc-hist")
    # Two score buffers used in turn: the next product never overwrites a block still counted.
    sbufs = [np.empty((B, D), dtype=np.float32) for _ in range(1 if exact else 2)]
    turn = 0
    pending = None

    with progress.task("scoring every (query, doc) pair", total=m * n) as task:
        for qs in range(0, m, B):
            qe = min(m, qs + B)
            counts = _BlockCounts(queries, corpus, positives, qs, qe)
            for c0 in range(0, n, D):
                s = be.scores(q_placed, c_placed, slice(qs, qe), slice(c0, c0 + D), out=sbufs[turn])
                rows = s.shape[0]
                _wait(pending)  # the workers are done with the other buffer
                pending = None
                if exact:  # keep the pooled scores in query-major order
                    allv.reshape(m, n)[qs:qe, c0 : c0 + D] = s
                else:
                    assert pool is not None and hist is not None
                    step = -(-rows // workers)
                    pending = [
                        pool.submit(b.add, s[k * step : (k + 1) * step], hist)
                        for k, b in enumerate(binners)
                        if k * step < rows
                    ]
                    turn = 1 - turn
                counts.add(s, c0)
                task.advance(s.size)
            counts.finish(n, pos_scores, per_query)

    _wait(pending)
    if pool is not None:
        pool.shutdown()
    pos_all = np.concatenate(pos_scores) if m else np.empty(0, np.float32)
    P = len(pos_all)
    N = m * n - P
    if hist is None:
        levels, neg_sum, neg_sq = _levels_exact(allv, pos_all, N)
    else:
        levels, neg_sum, neg_sq = _levels_binned(hist.result(), pos_all, N, bin_bits, (hist.lo, hist.hi))
    neg_mean = neg_sum / N if N else math.nan
    neg_var = max(neg_sq / N - neg_mean**2, 0.0) if N else math.nan
    return AucStats(
        levels=levels,
        per_query=per_query,
        pos_scores=pos_all.astype(np.float64),
        neg_mean=neg_mean,
        neg_std=math.sqrt(neg_var),
    )


def auc_estimated(
    queries: np.ndarray,
    corpus: np.ndarray,
    positives: Sequence[np.ndarray],
    query_rows: np.ndarray,
    neg_sample: int,
    *,
    seed: int = 0,
    block: int = 1 << 14,
    block_elements: int = BLOCK_ELEMENTS,
    progress: Progress = NULL,
) -> AucStats:
    """The estimated form of :func:`auc_global_query` (over the budget).

    - per-query AUCs: exact (all n documents) for the queries ``query_rows`` only, NaN elsewhere;
    - every positive pair's score (float64 dot products of the float32 rows);
    - ``neg_sample`` negative pairs drawn uniformly with replacement from all m·n − P negatives
      (a uniform (query, document) pair, redrawn when it is a positive), streamed in blocks.
      The levels compare every positive with the sampled negatives, so ``levels.auc()`` is the mean
      over sampled negatives ν of G(ν) = P(positive > ν) + ½P(positive = ν) computed exactly over
      all positives: an unbiased estimate of auc_global whose 95% CI is the CLT interval of that
      mean (``auc_global_ci``). Negative mean/std are the sample's.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    corpus = np.ascontiguousarray(corpus, dtype=np.float32)
    m, n = queries.shape[0], corpus.shape[0]
    if len(positives) != m:
        raise UsageError(f"{len(positives)} positive lists for {m} queries")
    rows = np.asarray(query_rows, dtype=np.int64)
    sub = auc_global_query(
        queries[rows], corpus, [positives[i] for i in rows], block_elements=block_elements, progress=progress
    )
    per_query = np.full(m, np.nan)
    per_query[rows] = sub.per_query
    counts = np.array([len(p) for p in positives], dtype=np.int64)
    qi = np.repeat(np.arange(m, dtype=np.int64), counts)
    di = np.concatenate([np.asarray(p, dtype=np.int64) for p in positives]) if m else np.empty(0, np.int64)
    pos = _pair_dots(queries, corpus, qi, di, block)
    keys = np.sort(qi * n + di)
    n_neg = m * n - len(keys)
    rng = np.random.default_rng(seed)
    neg = np.empty(neg_sample if n_neg > 0 else 0, dtype=np.float64)
    with progress.task("sampled negative pairs", total=len(neg)) as task:
        filled = 0
        while filled < len(neg):
            b = min(block, len(neg) - filled)
            key = rng.integers(0, m * n, size=b)
            at = np.searchsorted(keys, key)
            hit = at < len(keys)
            hit[hit] = keys[at[hit]] == key[hit]
            key = key[~hit]
            neg[filled : filled + len(key)] = _pair_dots(queries, corpus, key // n, key % n, block)
            filled += len(key)
            task.advance(len(key))
    ps = np.sort(pos)
    g = (len(ps) - np.searchsorted(ps, neg, "right")) + 0.5 * (
        np.searchsorted(ps, neg, "right") - np.searchsorted(ps, neg, "left")
    )
    ci = None
    if len(ps) and len(neg) > 1:
        g /= len(ps)
        mean, half = float(g.mean()), 1.96 * float(g.std(ddof=1)) / math.sqrt(len(neg))
        ci = (max(0.0, mean - half), min(1.0, mean + half))
    levels, _, _ = _levels_exact(np.concatenate([pos, neg]), pos, len(neg))
    levels.method = "sampled"
    return AucStats(
        levels=levels,
        per_query=per_query,
        pos_scores=pos,
        neg_mean=float(neg.mean()) if len(neg) else math.nan,
        neg_std=float(neg.std()) if len(neg) else math.nan,
        query_rows=rows,
        neg_sample=len(neg),
        auc_global_ci=ci,
    )


def _pair_dots(q: np.ndarray, c: np.ndarray, qi: np.ndarray, di: np.ndarray, block: int) -> np.ndarray:
    """q[qi[t]]·c[di[t]] for every t, float64 from the float32 rows, gathered in blocks."""
    out = np.empty(len(qi), dtype=np.float64)
    for s in range(0, len(qi), block):
        a = q[qi[s : s + block]].astype(np.float64)
        b = c[di[s : s + block]].astype(np.float64)
        out[s : s + block] = np.einsum("ij,ij->i", a, b)
    return out


def _levels_exact(allv: np.ndarray, pos: np.ndarray, n_neg: int) -> tuple[ScoreLevels, float, float]:
    pos64 = pos.astype(np.float64)
    all_sum = all_sq = 0.0
    for s in range(0, len(allv), _CHUNK):
        a = allv[s : s + _CHUNK].astype(np.float64)
        all_sum += float(a.sum())
        all_sq += float(a @ a)
    allv.sort()
    ps = np.sort(pos)
    u = np.unique(pos)[::-1]
    a_left, a_right = np.searchsorted(allv, u, "left"), np.searchsorted(allv, u, "right")
    p_left, p_right = np.searchsorted(ps, u, "left"), np.searchsorted(ps, u, "right")
    pos_at = p_right - p_left
    levels = ScoreLevels(
        value=u.astype(np.float64),
        pos=pos_at.astype(np.int64),
        tied=((a_right - a_left) - pos_at).astype(np.int64),
        above=((len(allv) - a_right) - (len(ps) - p_right)).astype(np.int64),
        n_pos=len(pos),
        n_neg=n_neg,
        method="exact",
    )
    return levels, all_sum - float(pos64.sum()), all_sq - float(pos64 @ pos64)


_CHUNK = 1 << 20  # elements per temporary when scanning the histogram or the kept scores


def _levels_binned(
    hist: np.ndarray, pos: np.ndarray, n_neg: int, bits: int, span: tuple[int, int] | None = None
) -> tuple[ScoreLevels, float, float]:
    """Levels from the all-pairs histogram (turned into the negatives' histogram in place).

    ``span``: (first, last) bin that can be non-zero; chunks outside it are skipped (they would
    add ±0 to the moments, which leaves them unchanged)."""
    pbins = _to_bins(pos.astype(np.float32, copy=True), bits, np.int64)
    ub, pos_at = np.unique(pbins, return_counts=True)  # ascending
    np.subtract.at(hist, ub, pos_at.astype(hist.dtype))  # hist now counts negatives only
    width = 2.0**-bits
    first, last = span if span is not None else (0, len(hist) - 1)
    # Negatives in bins ≤ each positive bin: sums between consecutive positive bins (from the first
    # bin that can be non-zero), accumulated; integers, so the same in any order, and in the
    # histogram's own dtype when no partial sum can overflow it.
    total = n_neg  # every score lies in exactly one bin
    if len(ub):
        start = min(first, int(ub[0]))
        starts = np.concatenate([[0], ub[:-1] + 1 - start])
        acc = hist.dtype if total <= np.iinfo(hist.dtype).max else np.int64
        prefix = np.cumsum(np.add.reduceat(hist[start : ub[-1] + 1], starts, dtype=acc), dtype=np.int64)
    else:
        prefix = np.empty(0, dtype=np.int64)
    # The negatives' first two moments from bin centres (within half a bin, 2^-24, of exact values),
    # one chunk at a time into reused buffers. Centre k is (k + ½)·2^-bits − 1, exact in float64 in
    # either form below; the dot products are those of full-size chunks, in chunk order.
    # s1 is a sum of terms count·(2k + 1 − 2^(bits+1))·2^-(bits+1): while the counts' total times
    # 2^(bits+1) stays below 2^53, every partial sum is an exact float64, so any summation order
    # gives the same s1 (then it is computed without BLAS, which on a loaded machine costs a thread
    # wake-up per call); s2 has no such bound and keeps the BLAS dot products in chunk order.
    s1_exact = total << (bits + 1) < 1 << 53
    size = min(_CHUNK, len(hist))
    base = np.arange(size, dtype=np.float64)
    hf, centres, squares = np.empty(size), np.empty(size), np.empty(size)
    s1, s2 = 0.0, 0.0
    for c0 in range(0, len(hist), _CHUNK):
        L = min(_CHUNK, len(hist) - c0)
        if c0 + L <= first or c0 > last:
            continue
        np.copyto(hf[:L], hist[c0 : c0 + L])
        c = centres[:L]
        np.add(base[:L], c0 + 0.5 - 2.0**bits, out=c)
        c *= width
        np.multiply(c, c, out=squares[:L])
        s1 += float(np.einsum("i,i->", hf[:L], c)) if s1_exact else float(hf[:L] @ c)
        s2 += float(hf[:L] @ squares[:L])
    order = slice(None, None, -1)  # levels go highest first
    levels = ScoreLevels(
        value=(ub * width - 1.0)[order],
        pos=pos_at[order].astype(np.int64),
        tied=hist[ub][order].astype(np.int64),
        above=(total - prefix)[order],
        n_pos=len(pos),
        n_neg=n_neg,
        method="binned",
        bin_width=width,
    )
    return levels, s1, s2

"""Retrieval diagnostics (SPEC §3): ranking metrics over a top-k search, and threshold-free AUCs
and score separation over *every* (query, document) pair.

Inputs are validated float32 arrays: queries m×d and corpus n×d with unit rows (the score of a
pair is the inner product, i.e. the cosine), plus qrels ``{query_id: {doc_id: grade}}``; a grade
> 0 is relevant, a judged grade ≤ 0 is not. Only queries present in the qrels are scored.

Ranking metrics, per query, averaged over the scored queries (as trec_eval / pytrec_eval and
MTEB; ``rel_r`` = grade of the document at rank r, 0 if unjudged, R = number of relevant docs):

- ``recall@k``    = |relevant in top k| / R                                   (trec_eval recall_k)
- ``precision@k`` = |relevant in top k| / k                                   (trec_eval P_k)
- ``mrr@k``       = 1 / rank of the first relevant document within k, else 0  (recip_rank on the top k)
- ``ndcg@k``      = Σ_{r≤k} rel_r / log2(r+1)  ÷  the same sum for the qrels' grades sorted
  descending (linear gain, Järvelin & Kekäläinen 2002; trec_eval ndcg_cut)
- ``map@k``       = Σ_{r≤k, rel_r>0} precision@r / R                          (trec_eval map_cut)

The top k is ranked by score descending, then corpus row ascending (deterministic ties).

Threshold-free metrics (all pairs of the scored queries; positives = pairs with grade > 0,
negatives = every other (query, doc) pair of the corpus, judged or not):

- ``auc_global`` = P(score of a random positive pair > score of a random negative pair), ties ½,
  all queries pooled: the AUC of one global threshold ("Optimizing What Matters: AUC-Driven
  Learning for Robust Neural Retrieval", 2025).
- ``auc_query`` = mean over queries of the same probability within one query (Mann–Whitney U
  over its relevant vs its other documents).
- score separation: mean/std of positive and negative scores, d′ = (μ₊ − μ₋)/√((σ₊² + σ₋²)/2)
  (Simpson & Fitter 1973's d_a), the threshold maximising TPR − FPR (Youden's J) and the FPR
  at TPR ≥ 0.95, both on the pooled ROC.

The all-pairs pass is one blocked pass (at most ``block_elements`` scores in memory at once;
blocks of up to 1,024 queries × as many documents as fit). auc_query is exact: each positive's
score is bracketed by a proven rounding bound before the pass, so documents scored earlier can be
counted without holding them. auc_global is exact (all scores sorted) when m·n ≤ ``exact_limit``;
above that it is counted in 2^24 bins of width 2^-23 (= float32 epsilon) over [-1, 1]: pairs in
different bins are ordered exactly, a positive and a negative in the same bin count ½, and the
resulting error bound ½·Σ_b pos_b·neg_b / (P·N) is reported with the value (``max_error``).
Memory is then constant: one block of scores, its bin indices and the 128 MiB histogram.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embeval.diagnostics.pairsum import BLOCK_ELEMENTS
from embeval.diagnostics.registry import HIGHER, LOWER, NEITHER, Diagnostic, Output, Param, get, parse_ks, register
from embeval.errors import InputError, UsageError
from embeval.index.search import build_index, resolve_params, search_recall
from embeval.io.qrels import Qrels
from embeval.progress import NULL, Progress
from embeval.results import Result

DEFAULT_KS = (1, 10, 100)
RANKING_METRICS = ("ndcg", "map", "recall", "precision", "mrr")
EXACT_LIMIT = 1 << 24  # all-pairs scores kept and sorted for an exact auc_global up to this many
BIN_BITS = 23  # binned auc_global: bin width 2^-23 over [-1, 1] -> 2^24 bins
ANN_SAMPLE = 1000  # queries on which an approximate index is checked against exact search

# ----------------------------------------------------------------------------- outputs (declared once)

# The cut-off is part of the name (ndcg@10), so no parameter identifies a ranking output.
RANKING_OUTPUTS = {
    "ndcg": Output(
        "ndcg@K", HIGHER,
        "Σ_{r≤K} rel_r / log2(r+1), divided by the same sum over the qrels' grades sorted descending (linear gain"
        " as trec_eval `ndcg_cut`)",
    ),
    "map": Output(
        "map@K", HIGHER,
        "Σ over relevant documents at ranks r ≤ K of precision@r, / R (trec_eval `map_cut`; note "
        "sentence-transformers divides by min(K, R))",
    ),
    "recall": Output("recall@K", HIGHER, "relevant documents in the top K / R (trec_eval recall_K)"),
    "precision": Output(
        "precision@K", HIGHER,
        "relevant documents in the top K / K (K even when the corpus is smaller; trec_eval P_K)",
    ),
    "mrr": Output("mrr@K", HIGHER, "1 / rank of the first relevant document within K, 0 if none"),
}
AUC_GLOBAL = Output(
    "auc_global", HIGHER,
    "probability that a random positive pair outscores a random negative pair, all queries pooled, ties ½: the "
    "AUC of one global threshold (Optimizing What Matters: AUC-Driven Learning for Robust Neural Retrieval, 2025)",
)
AUC_QUERY = Output(
    "auc_query", HIGHER,
    "mean over queries of the same probability within each query (its relevant vs all its other documents). "
    "`auc_query − auc_global` shows how far per-query ranking is from one global calibration",
)
POS_SCORE_MEAN = Output("pos_score_mean", NEITHER, "mean score of the positive (query, document) pairs")
POS_SCORE_STD = Output("pos_score_std", NEITHER, "population standard deviation of the positive pair scores")
NEG_SCORE_MEAN = Output(
    "neg_score_mean", NEITHER,
    "mean score of the negative pairs (every other pair of the corpus)",
)
NEG_SCORE_STD = Output("neg_score_std", NEITHER, "population standard deviation of the negative pair scores")
D_PRIME = Output(
    "d_prime", HIGHER,
    "(μ₊ − μ₋) / √((σ₊² + σ₋²)/2): how far apart the positive and negative scores lie",
)
BEST_THRESHOLD = Output(
    "best_threshold", NEITHER,
    "the score threshold maximising TPR − FPR (Youden's J) on the pooled ROC; its TPR and FPR are in `params`",
)
FPR_AT_TPR95 = Output("fpr@tpr95", LOWER, "FPR at the highest threshold whose TPR reaches 0.95")
ANN_RECALL = Output(
    "ann_recall@K", HIGHER,
    "only with `--index hnsw/ivf`: mean overlap of the approximate top K with exact search, on up to 1,000 seeded"
    " queries",
    identity=("sample",),
)


# ----------------------------------------------------------------------------- qrels alignment


@dataclass
class AlignedQrels:
    """Qrels mapped onto rows of the query and corpus arrays.

    query_rows: (m,) int64 rows of the queries array that are scored, in queries-file order.
    query_ids:  the m ids, same order.
    indptr:     (m+1,) int64; positives of scored query i are ``pos_doc[indptr[i]:indptr[i+1]]``.
    pos_doc:    int64 corpus rows of the relevant (grade > 0) documents, ascending per query.
    pos_gain:   float64 grades of those documents.
    n_docs:     corpus size.
    """

    query_rows: np.ndarray
    query_ids: list[str]
    indptr: np.ndarray
    pos_doc: np.ndarray
    pos_gain: np.ndarray
    n_docs: int

    @property
    def m(self) -> int:
        return len(self.query_rows)

    @property
    def n_rel(self) -> np.ndarray:
        return np.diff(self.indptr)

    def positives(self) -> list[np.ndarray]:
        return [self.pos_doc[self.indptr[i]:self.indptr[i + 1]] for i in range(self.m)]


def align_qrels(
    qrels: Qrels,
    query_ids: Sequence[str] | np.ndarray,
    doc_ids: Sequence[str] | np.ndarray,
    *,
    source: str = "qrels",
    queries_source: str = "the queries",
    corpus_source: str = "the corpus",
) -> AlignedQrels:
    """Map qrels ids onto array rows. Raises :class:`InputError` (naming ``source`` and the id) for
    empty qrels, a judged query absent from the queries, a judged document absent from the corpus,
    and a query with no relevant (grade > 0) document."""
    if not qrels or not any(qrels.values()):
        raise InputError(source, "no judgements (empty qrels)")
    qpos = {str(q): i for i, q in enumerate(query_ids)}
    dpos = {str(d): i for i, d in enumerate(doc_ids)}
    missing_q = [q for q in qrels if q not in qpos]
    if missing_q:
        raise InputError(source, f"query id {missing_q[0]!r} is not in {queries_source} "
                                 f"({len(missing_q)} of {len(qrels)} judged queries missing)")
    missing_d = [(q, d) for q, docs in qrels.items() for d in docs if d not in dpos]
    if missing_d:
        q, d = missing_d[0]
        raise InputError(source, f"document id {d!r} (judged for query {q!r}) is not in {corpus_source} "
                                 f"({len(missing_d)} judgements name missing documents)")
    no_rel = [q for q, docs in qrels.items() if not any(g > 0 for g in docs.values())]
    if no_rel:
        raise InputError(source, f"query {no_rel[0]!r} has no relevant document (every judgement "
                                 f"scores ≤ 0; {len(no_rel)} such queries); remove them from the qrels")
    order = sorted(qrels, key=qpos.__getitem__)
    indptr: list[int] = [0]
    docs: list[int] = []
    gains: list[float] = []
    for q in order:
        rel = sorted((dpos[d], g) for d, g in qrels[q].items() if g > 0)
        docs.extend(r for r, _ in rel)
        gains.extend(g for _, g in rel)
        indptr.append(len(docs))
    return AlignedQrels(
        query_rows=np.array([qpos[q] for q in order], dtype=np.int64),
        query_ids=[str(q) for q in order],
        indptr=np.array(indptr, dtype=np.int64),
        pos_doc=np.array(docs, dtype=np.int64),
        pos_gain=np.array(gains, dtype=np.float64),
        n_docs=len(doc_ids),
    )


# ----------------------------------------------------------------------------- ranking metrics


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
        g = np.sort(aligned.pos_gain[aligned.indptr[i]:aligned.indptr[i + 1]])[::-1][:depth]
        out[i, :len(g)] = g
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


def _less_equal(values: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each threshold t: (#values < t, #values == t), exactly."""
    if len(thresholds) <= 8:
        less = np.array([np.count_nonzero(values < t) for t in thresholds], dtype=np.int64)
        eq = np.array([np.count_nonzero(values == t) for t in thresholds], dtype=np.int64)
        return less, eq
    u, inv = np.unique(thresholds, return_inverse=True)
    right = np.searchsorted(u, values, side="right")  # #u ≤ v ; v < u_j  ⟺  right ≤ j
    left = np.searchsorted(u, values, side="left")
    less_u = np.cumsum(np.bincount(right, minlength=len(u) + 1))[:len(u)]
    eq_u = np.bincount(left[right > left], minlength=len(u))
    return less_u[inv].astype(np.int64), eq_u[inv].astype(np.int64)


def _to_bins(s: np.ndarray, bits: int, out_dtype=np.int32) -> np.ndarray:
    """Monotone float32 score -> bin: floor(fl32(s + 1) · 2^bits), clipped to [0, 2^(bits+1) − 1].

    Works in place on ``s`` (float32); identical arithmetic for blocks and for single scores."""
    s += np.float32(1.0)
    s *= np.float32(2.0 ** bits)
    np.clip(s, 0, (1 << (bits + 1)) - 1, out=s)
    return s.astype(out_dtype)


QUERY_BLOCK = 1024  # queries scored together: wide enough for efficient matrix products


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
    u = 2.0 ** -24
    gamma = d * u / (1 - d * u)
    return np.einsum("ij,ij->i", q64, c64), 2 * gamma * np.einsum("ij,ij->i", np.abs(q64), np.abs(c64))


class _QueryCounts:
    """Exact counts, for each positive p of one query, of the query's documents scoring below and
    equal to p, accumulated chunk by chunk before p's own score is seen.

    Each positive gets a window [lo, hi] of float32 values that provably contains its float32
    score (``_rounding_window``, widened outwards to float32): values below lo are counted at
    once, the few inside a window are kept, and are compared with the actual scores at the end."""

    def __init__(self, positives: np.ndarray, centre: np.ndarray, radius: np.ndarray):
        self.positives = positives
        down, up = np.float32(-np.inf), np.float32(np.inf)
        self.lo = np.nextafter((centre - radius).astype(np.float32), down)  # float32 ≤ centre − radius
        self.hi = np.nextafter((centre + radius).astype(np.float32), up)
        self.below = np.zeros(len(positives), dtype=np.int64)
        self.kept: list[np.ndarray] = []
        self.own = np.full(len(positives), np.nan, dtype=np.float32)
        if len(positives) > 8:
            order = np.argsort(self.lo)
            self._lo_sorted = self.lo[order]
            self._hi_cummax = np.maximum.accumulate(self.hi[order])
            self._lo_unique = np.unique(self.lo)
            self._lo_slot = np.searchsorted(self._lo_unique, self.lo)

    def add(self, row: np.ndarray, c0: int) -> None:
        """Count one float32 chunk of the query's scores (documents c0 … c0 + len(row) − 1)."""
        sel = (self.positives >= c0) & (self.positives < c0 + len(row))
        if sel.any():
            self.own[sel] = row[self.positives[sel] - c0]
        if len(self.positives) <= 8:
            hit = []
            for j in range(len(self.positives)):
                nb = np.count_nonzero(row < self.lo[j])
                self.below[j] += nb
                if np.count_nonzero(row <= self.hi[j]) > nb:  # something inside this window
                    hit.append(j)
            if not hit:
                return
            inside = np.zeros(len(row), dtype=bool)
            for j in hit:
                inside |= (row >= self.lo[j]) & (row <= self.hi[j])
        else:
            right = np.searchsorted(self._lo_sorted, row, side="right")  # windows with lo ≤ v
            lo_u = self._lo_unique
            cnt = np.bincount(np.searchsorted(lo_u, row, side="right"), minlength=len(lo_u) + 1)
            self.below += np.cumsum(cnt)[:len(lo_u)][self._lo_slot]  # #v < lo
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


def auc_global_query(
    queries: np.ndarray,
    corpus: np.ndarray,
    positives: Sequence[np.ndarray],
    *,
    block_elements: int = BLOCK_ELEMENTS,
    exact_limit: int = EXACT_LIMIT,
    bin_bits: int = BIN_BITS,
    progress: Progress = NULL,
) -> AucStats:
    """auc_global, per-query AUCs and score moments over all m×n pairs, in one blocked pass.

    queries: m×d float32 (unit rows), corpus: n×d float32 (unit rows), positives[i]: int array of
    the corpus rows relevant to query i (distinct); every other pair is a negative. The score of
    a pair is its entry of the float32 product ``queries[block] @ corpus[chunk].T``; at most
    ``block_elements`` scores exist at once, whatever m and n. Per-query counts are exact (see
    ``_QueryCounts``); auc_global is exact or binned (module docstring). Higher AUC is better.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    corpus = np.ascontiguousarray(corpus, dtype=np.float32)
    m, n = queries.shape[0], corpus.shape[0]
    if len(positives) != m:
        raise UsageError(f"{len(positives)} positive lists for {m} queries")
    exact = m * n <= exact_limit
    B, D = _block_shape(m, n, block_elements)
    pos_scores: list[np.ndarray] = [np.empty(0, np.float32)] * m
    per_query = np.full(m, np.nan)
    allv = np.empty(m * n if exact else 0, dtype=np.float32)
    hist = np.zeros(0 if exact else 1 << (bin_bits + 1), dtype=np.int64)  # unused (empty) when exact

    def account(holder: list[np.ndarray]) -> None:
        """Add a block of scores to the histogram; takes the caller's only reference so the
        float block is freed before the histogram update (peak: bins + bincount, not + scores)."""
        block = holder.pop()
        b = _to_bins(block, bin_bits, np.intp)  # bincount wants intp: no hidden cast copy
        del block
        lo, hi = int(b.min()), int(b.max())
        b -= lo
        hist[lo:hi + 1] += np.bincount(b.ravel(), minlength=hi - lo + 1)

    with progress.task("scoring every (query, doc) pair", total=m * n) as task:
        for qs in range(0, m, B):
            qe = min(m, qs + B)
            qb = queries[qs:qe]
            counts = []
            for i in range(qs, qe):
                p = np.asarray(positives[i], dtype=np.int64)
                centre, radius = _rounding_window(np.repeat(queries[i:i + 1], len(p), 0), corpus[p])
                counts.append(_QueryCounts(p, centre, radius))
            for c0 in range(0, n, D):
                s = qb @ corpus[c0:c0 + D].T
                if exact:  # keep the pooled scores in query-major order
                    allv.reshape(m, n)[qs:qe, c0:c0 + D] = s
                for r, cnt in enumerate(counts):
                    cnt.add(s[r], c0)
                task.advance(s.size)
                if not exact:
                    holder = [s]
                    del s
                    account(holder)
            for r, cnt in enumerate(counts):
                i = qs + r
                own, less, eq = cnt.finish()
                pos_scores[i] = own
                n_neg = n - len(own)
                if n_neg == 0 or len(own) == 0:
                    continue
                # Remove the positives' own contributions from the all-document counts.
                plt, peq = _less_equal(own, own)
                per_query[i] = float(np.sum((less - plt) + 0.5 * (eq - peq))) / (len(own) * n_neg)

    pos_all = np.concatenate(pos_scores) if m else np.empty(0, np.float32)
    P = len(pos_all)
    N = m * n - P
    if exact:
        levels, neg_sum, neg_sq = _levels_exact(allv, pos_all, N)
    else:
        levels, neg_sum, neg_sq = _levels_binned(hist, pos_all, N, bin_bits)
    neg_mean = neg_sum / N if N else math.nan
    neg_var = max(neg_sq / N - neg_mean ** 2, 0.0) if N else math.nan
    return AucStats(levels=levels, per_query=per_query, pos_scores=pos_all.astype(np.float64),
                    neg_mean=neg_mean, neg_std=math.sqrt(neg_var))


def _levels_exact(allv: np.ndarray, pos: np.ndarray, n_neg: int) -> tuple[ScoreLevels, float, float]:
    pos64 = pos.astype(np.float64)
    all_sum = all_sq = 0.0
    for s in range(0, len(allv), _CHUNK):
        a = allv[s:s + _CHUNK].astype(np.float64)
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
        n_pos=len(pos), n_neg=n_neg, method="exact",
    )
    return levels, all_sum - float(pos64.sum()), all_sq - float(pos64 @ pos64)


_CHUNK = 1 << 20  # elements per temporary when scanning the histogram or the kept scores


def _levels_binned(hist: np.ndarray, pos: np.ndarray, n_neg: int, bits: int) -> tuple[ScoreLevels, float, float]:
    """Levels from the all-pairs histogram (turned into the negatives' histogram in place)."""
    pbins = _to_bins(pos.astype(np.float32, copy=True), bits, np.int64)
    ub, pos_at = np.unique(pbins, return_counts=True)  # ascending
    np.subtract.at(hist, ub, pos_at)  # hist now counts negatives only
    width = 2.0 ** -bits
    # One scan in chunks (no full-size temporaries): prefix sums at the positive bins, and the
    # negatives' first two moments from bin centres (within half a bin, 2^-24, of exact values).
    prefix = np.empty(len(ub), dtype=np.int64)
    carry, s1, s2 = 0, 0.0, 0.0
    for c0 in range(0, len(hist), _CHUNK):
        h = hist[c0:c0 + _CHUNK]
        cs = np.cumsum(h)
        sel = (ub >= c0) & (ub < c0 + len(h))
        prefix[sel] = carry + cs[ub[sel] - c0]
        carry += int(cs[-1])
        centres = (np.arange(c0, c0 + len(h), dtype=np.float64) + 0.5) * width - 1.0
        hf = h.astype(np.float64)
        s1 += float(hf @ centres)
        s2 += float(hf @ (centres * centres))
    order = slice(None, None, -1)  # levels go highest first
    levels = ScoreLevels(
        value=(ub * width - 1.0)[order],
        pos=pos_at[order].astype(np.int64),
        tied=hist[ub][order].astype(np.int64),
        above=(carry - prefix)[order],
        n_pos=len(pos), n_neg=n_neg, method="binned", bin_width=width,
    )
    return levels, s1, s2


# ----------------------------------------------------------------------------- the run context


@dataclass
class RetrievalRun:
    """One retrieval evaluation: what the registered diagnostics share (like ``Space`` for geometry).

    queries: the m scored query rows (m×d float32, unit), corpus n×d float32 (unit), aligned qrels,
    the index kind and its parameters, the search depth, seed, progress and a metric-name prefix.
    The top-k search and the all-pairs pass run once, on first use.
    """

    queries: np.ndarray
    corpus: np.ndarray
    aligned: AlignedQrels
    depth: int
    index: str = "flat"
    index_params: dict[str, Any] = field(default_factory=dict)
    prefix: str = ""
    seed: int = 0
    progress: Progress = NULL
    _ranking: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _search_index: Any = field(default=None, repr=False)
    _gains: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _per_query: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)
    _auc: AucStats | None = field(default=None, repr=False)

    @property
    def m(self) -> int:
        return self.aligned.m

    def search_index(self):
        if self._search_index is None:
            with self.progress.task(f"building {self.index} index", total=None):
                self._search_index = build_index(self.index, self.corpus, seed=self.seed,
                                                 **self.index_params)
        return self._search_index

    def ranking(self) -> tuple[np.ndarray, np.ndarray]:
        """(scores, idx), m×depth, best first (see :mod:`embeval.index.search`)."""
        if self._ranking is None:
            index = self.search_index()
            self._ranking = index.search(self.queries, self.depth, progress=self.progress)
        return self._ranking

    def per_query(self, name: str, k: int) -> np.ndarray:
        if (name, k) not in self._per_query:
            if self._gains is None:
                self._gains = (ranked_gains(self.aligned, self.ranking()[1]),
                               ideal_gains(self.aligned, self.depth))
            gains, ideal = self._gains
            for metric, values in ranking_metrics(gains, self.aligned.n_rel, ideal, k).items():
                self._per_query[(metric, k)] = values
        return self._per_query[(name, k)]

    def auc_stats(self) -> AucStats:
        if self._auc is None:
            self._auc = auc_global_query(self.queries, self.corpus, self.aligned.positives(),
                                         progress=self.progress)
        return self._auc


def _ranking_diag(name: str):
    def func(run: RetrievalRun, k: int = 10) -> list[Result]:
        vals = run.per_query(name, k)
        return [RANKING_OUTPUTS[name](float(vals.mean()), n=run.m, name=f"{run.prefix}{name}@{k}")]

    func.__name__ = name
    return func


def auc(run: RetrievalRun) -> list[Result]:
    st = run.auc_stats()
    lv = st.levels
    gparams: dict[str, Any] = {"method": lv.method, "positives": lv.n_pos, "negatives": lv.n_neg}
    if lv.method == "binned":
        gparams.update(bin_width=lv.bin_width, max_error=lv.max_error())
    defined = np.isfinite(st.per_query)
    qparams: dict[str, Any] = {}
    if not defined.all():
        qparams["queries_without_negatives"] = int((~defined).sum())
    aq = float(st.per_query[defined].mean()) if defined.any() else math.nan
    return [
        AUC_GLOBAL(lv.auc(), gparams, n=run.m, name=f"{run.prefix}auc_global"),
        AUC_QUERY(aq, qparams, n=int(defined.sum()), name=f"{run.prefix}auc_query"),
    ]


def separation(run: RetrievalRun) -> list[Result]:
    st = run.auc_stats()
    lv = st.levels
    pm, ps = float(st.pos_scores.mean()), float(st.pos_scores.std())
    nm, ns = st.neg_mean, st.neg_std
    pooled = math.sqrt((ps ** 2 + ns ** 2) / 2)
    d = (pm - nm) / pooled if pooled > 0 else math.nan
    thr, tpr, fpr = lv.best_threshold()
    p = run.prefix
    counts = {"positives": lv.n_pos, "negatives": lv.n_neg}
    tparams: dict[str, Any] = {"tpr": tpr, "fpr": fpr, "method": lv.method}
    if lv.method == "binned":
        tparams["bin_width"] = lv.bin_width
    return [
        POS_SCORE_MEAN(pm, counts, n=run.m, name=f"{p}pos_score_mean"),
        POS_SCORE_STD(ps, counts, n=run.m, name=f"{p}pos_score_std"),
        NEG_SCORE_MEAN(nm, counts, n=run.m, name=f"{p}neg_score_mean"),
        NEG_SCORE_STD(ns, counts, n=run.m, name=f"{p}neg_score_std"),
        D_PRIME(d, counts, n=run.m, name=f"{p}d_prime"),
        BEST_THRESHOLD(thr, tparams, n=run.m, name=f"{p}best_threshold"),
        FPR_AT_TPR95(lv.fpr_at_tpr(0.95), {"method": lv.method}, n=run.m, name=f"{p}fpr@tpr95"),
    ]


def ann_recall(run: RetrievalRun, sample: int = ANN_SAMPLE) -> list[Result]:
    """For an approximate index: mean over a seeded sample of queries of |approx top-K ∩ exact
    top-K| / K at the search depth K. Nothing for the exact (flat) index."""
    index = run.search_index()
    if index.exact:
        return []
    rng = np.random.default_rng(run.seed)
    take = np.sort(rng.choice(run.m, size=min(sample, run.m), replace=False))
    with run.progress.task("exact search on a sample (recall check)", total=None):
        _, exact_idx = build_index("flat", run.corpus).search(run.queries[take], run.depth)
    rec = search_recall(run.ranking()[1][take], exact_idx)
    return [ANN_RECALL(float(rec.mean()), {"index": run.index, "sample": len(take)}, n=len(take),
                       name=f"{run.prefix}ann_recall@{run.depth}")]


# ----------------------------------------------------------------------------- entry points


@dataclass
class RetrievalOutcome:
    results: list[Result]
    per_query: list[dict[str, Any]]
    roc: RocCurve | None
    index_params: dict[str, Any]
    n_scored: int
    ranking: tuple[np.ndarray, np.ndarray] | None = None  # (scores, idx) m×K of the scored queries, best first


def evaluate_aligned(
    queries: np.ndarray,
    corpus: np.ndarray,
    aligned: AlignedQrels,
    *,
    ks: str | Iterable[int] = DEFAULT_KS,
    index: str = "flat",
    index_params: dict[str, Any] | None = None,
    auc: bool = True,
    separation: bool = True,
    per_query: bool = False,
    roc: bool = False,
    prefix: str = "",
    progress: Progress = NULL,
    seed: int = 0,
) -> RetrievalOutcome:
    """Everything :func:`evaluate_retrieval` does, on qrels already aligned, plus the ROC curve."""
    ks = parse_ks(ks)
    if queries.ndim != 2 or corpus.ndim != 2 or queries.shape[1] != corpus.shape[1]:
        raise UsageError(f"queries have shape {queries.shape} and the corpus {corpus.shape}; "
                         "the dimensions must match")
    params = resolve_params(index, corpus.shape[0], index_params)
    run = RetrievalRun(queries=np.ascontiguousarray(queries[aligned.query_rows], dtype=np.float32),
                       corpus=np.ascontiguousarray(corpus, dtype=np.float32), aligned=aligned,
                       depth=max(ks), index=index, index_params=params, prefix=prefix, seed=seed,
                       progress=progress)
    results: list[Result] = []
    for name in RANKING_METRICS:
        diag = get(name, "retrieval")
        for k in ks:
            results.extend(diag.func(run, k=k))
    results.extend(get("ann_recall", "retrieval").func(run))
    if auc:
        results.extend(get("auc", "retrieval").func(run))
    if separation:
        results.extend(get("separation", "retrieval").func(run))
    rows: list[dict[str, Any]] = []
    if per_query:
        cols = [(f"{prefix}{name}@{k}", run.per_query(name, k)) for name in RANKING_METRICS for k in ks]
        if auc:
            cols.append((f"{prefix}auc_query", run.auc_stats().per_query))
        for i, qid in enumerate(aligned.query_ids):
            for metric, vals in cols:
                rows.append({"query_id": qid, "metric": metric, "value": float(vals[i])})
    curve = run.auc_stats().levels.roc() if roc else None
    return RetrievalOutcome(results, rows, curve, params, aligned.m, run.ranking())


def evaluate_retrieval(
    queries: np.ndarray,
    corpus: np.ndarray,
    qrels: Qrels,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    *,
    ks=DEFAULT_KS,
    index="flat",
    index_params=None,
    auc=True,
    separation=True,
    per_query=False,
    prefix="",
    progress=NULL,
    seed=0,
) -> tuple[list[Result], list[dict]]:
    """Retrieval metrics of ``queries`` against ``corpus`` judged by ``qrels``.

    queries: q×d float32 unit rows with ids ``query_ids``; corpus: n×d float32 unit rows with ids
    ``doc_ids``; qrels ``{query_id: {doc_id: grade}}`` (grade > 0 relevant). Only judged queries
    are scored. Returns (results, per-query rows ``{"query_id", "metric", "value"}`` — empty unless
    ``per_query``). ``prefix`` is prepended to every metric name (e.g. ``"a2b_"``). For paired
    sets (row i of A ↔ row i of B) pass ``qrels={str(i): {str(i): 1}}`` and row numbers as ids.
    Metric definitions: module docstring. Raises InputError for qrels ids absent from the ids.
    """
    aligned = align_qrels(qrels, query_ids, doc_ids)
    out = evaluate_aligned(queries, corpus, aligned, ks=ks, index=index, index_params=index_params,
                           auc=auc, separation=separation, per_query=per_query, prefix=prefix,
                           progress=progress, seed=seed)
    return out.results, out.per_query


# ----------------------------------------------------------------------------- registry

R = "retrieval"
QRELS = frozenset({"qrels"})
_CUTOFF = {"k": Param(int, 10, "rank cutoff")}
for _name in RANKING_METRICS:
    _out = RANKING_OUTPUTS[_name]
    register(Diagnostic(_name, R, _ranking_diag(_name), _out.description, outputs=(_out,), params=_CUTOFF,
                        needs=QRELS))
register(Diagnostic(
    "auc", R, auc,
    "auc_global: P(relevant pair outscores irrelevant pair), all queries pooled, ties ½; "
    "auc_query: mean per-query AUC; over the whole corpus",
    outputs=(AUC_GLOBAL, AUC_QUERY), needs=QRELS,
))
register(Diagnostic(
    "separation", R, separation,
    "positive vs negative score mean/std, d′, threshold maximising TPR−FPR, FPR at TPR 0.95",
    outputs=(POS_SCORE_MEAN, POS_SCORE_STD, NEG_SCORE_MEAN, NEG_SCORE_STD, D_PRIME, BEST_THRESHOLD, FPR_AT_TPR95),
    needs=QRELS,
))
register(Diagnostic(
    "ann_recall", R, ann_recall,
    "approximate index only: overlap of its top-K with exact search on a sample of queries",
    outputs=(ANN_RECALL,), needs=QRELS,
    params={"sample": Param(int, ANN_SAMPLE, "queries checked against exact search")},
))

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

# The seams: qrels alignment, ranking metrics, and the all-pairs AUC engine live in their own
# modules; their names are re-exported here so ``embeval.diagnostics.retrieval`` stays the one
# import for retrieval evaluation.
from embeval.compute.auc import (  # noqa: F401
    BIN_BITS,
    EXACT_LIMIT,
    QUERY_BLOCK,
    AucStats,
    RocCurve,
    ScoreLevels,
    _rounding_window,
    auc_estimated,
    auc_global_query,
)
from embeval.compute.backend import BLOCK_ELEMENTS  # noqa: F401
from embeval.diagnostics.qrels import AlignedQrels, Qrels, align_qrels
from embeval.diagnostics.ranking import (
    DEFAULT_KS,
    RANKING_METRICS,
    ideal_gains,
    ranked_gains,
    ranking_metrics,
)
from embeval.diagnostics.registry import (
    HIGHER,
    LOWER,
    NEITHER,
    Diagnostic,
    Output,
    Param,
    get,
    parse_ks,
    register,
)
from embeval.errors import UsageError
from embeval.index.search import build_index, resolve_params, search_recall
from embeval.progress import NULL, Progress
from embeval.results import Result

ANN_SAMPLE = 1000  # queries on which an approximate index is checked against exact search

# ----------------------------------------------------------------------------- outputs (declared once)

# The cut-off is part of the name (ndcg@10), so no parameter identifies a ranking output.
RANKING_OUTPUTS = {
    "ndcg": Output(
        "ndcg@K",
        HIGHER,
        "Σ_{r≤K} rel_r / log2(r+1), divided by the same sum over the qrels' grades sorted descending (linear gain"
        " as trec_eval `ndcg_cut`)",
    ),
    "map": Output(
        "map@K",
        HIGHER,
        "Σ over relevant documents at ranks r ≤ K of precision@r, / R (trec_eval `map_cut`; note "
        "sentence-transformers divides by min(K, R))",
    ),
    "recall": Output("recall@K", HIGHER, "relevant documents in the top K / R (trec_eval recall_K)"),
    "precision": Output(
        "precision@K",
        HIGHER,
        "relevant documents in the top K / K (K even when the corpus is smaller; trec_eval P_K)",
    ),
    "mrr": Output("mrr@K", HIGHER, "1 / rank of the first relevant document within K, 0 if none"),
}
AUC_GLOBAL = Output(
    "auc_global",
    HIGHER,
    "probability that a random positive pair outscores a random negative pair, all queries pooled, ties ½: the "
    "AUC of one global threshold (Optimizing What Matters: AUC-Driven Learning for Robust Neural Retrieval, 2025)",
)
AUC_QUERY = Output(
    "auc_query",
    HIGHER,
    "mean over queries of the same probability within each query (its relevant vs all its other documents). "
    "`auc_query − auc_global` shows how far per-query ranking is from one global calibration",
)
POS_SCORE_MEAN = Output("pos_score_mean", NEITHER, "mean score of the positive (query, document) pairs")
POS_SCORE_STD = Output("pos_score_std", NEITHER, "population standard deviation of the positive pair scores")
NEG_SCORE_MEAN = Output(
    "neg_score_mean",
    NEITHER,
    "mean score of the negative pairs (every other pair of the corpus)",
)
NEG_SCORE_STD = Output("neg_score_std", NEITHER, "population standard deviation of the negative pair scores")
D_PRIME = Output(
    "d_prime",
    HIGHER,
    "(μ₊ − μ₋) / √((σ₊² + σ₋²)/2): how far apart the positive and negative scores lie",
)
BEST_THRESHOLD = Output(
    "best_threshold",
    NEITHER,
    "the score threshold maximising TPR − FPR (Youden's J) on the pooled ROC; its TPR and FPR are in `params`",
)
FPR_AT_TPR95 = Output("fpr@tpr95", LOWER, "FPR at the highest threshold whose TPR reaches 0.95")
ANN_RECALL = Output(
    "ann_recall@K",
    HIGHER,
    "only with `--index hnsw/ivf`: mean overlap of the approximate top K with exact search, on up to 1,000 seeded"
    " queries",
    identity=("sample",),
)

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
    backend: Any = None  # embeval.compute back end of the flat search and the AUC pass; None: NumPy on the CPU
    plan: Any = None  # embeval.diagnostics.scale.ScalePlan of the AUC pass; None or exact: all pairs
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
                self._search_index = build_index(
                    self.index, self.corpus, seed=self.seed, backend=self.backend, **self.index_params
                )
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
                self._gains = (ranked_gains(self.aligned, self.ranking()[1]), ideal_gains(self.aligned, self.depth))
            gains, ideal = self._gains
            for metric, values in ranking_metrics(gains, self.aligned.n_rel, ideal, k).items():
                self._per_query[(metric, k)] = values
        return self._per_query[(name, k)]

    def auc_stats(self) -> AucStats:
        if self._auc is None:
            plan = self.plan
            if plan is not None and not plan.exact and plan.auc_queries is not None:
                self._auc = auc_estimated(
                    self.queries,
                    self.corpus,
                    self.aligned.positives(),
                    plan.auc_queries,
                    plan.neg_sample,
                    seed=self.seed,
                    progress=self.progress,
                )
            else:
                self._auc = auc_global_query(
                    self.queries, self.corpus, self.aligned.positives(), progress=self.progress, backend=self.backend
                )
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
    gci: dict[str, Any] = {}
    if st.neg_sample:
        gparams.update(
            negatives=run.m * run.corpus.shape[0] - lv.n_pos,
            exact=False,
            sample=st.neg_sample,
            estimator="every positive vs sampled negative pairs",
        )
        if st.auc_global_ci is not None:
            gci = {"ci_low": st.auc_global_ci[0], "ci_high": st.auc_global_ci[1]}
    vals = st.per_query if st.query_rows is None else st.per_query[st.query_rows]
    defined = np.isfinite(vals)
    qparams: dict[str, Any] = {}
    if not defined.all():
        qparams["queries_without_negatives"] = int((~defined).sum())
    aq = float(vals[defined].mean()) if defined.any() else math.nan
    qci: dict[str, Any] = {}
    if st.query_rows is not None:
        qparams.update(exact=False, sample=len(st.query_rows), estimator="seeded subset of queries")
        if defined.sum() > 1:
            from embeval.diagnostics.scale import mean_ci

            _, lo, hi = mean_ci(vals[defined])
            qci = {"ci_low": max(lo, 0.0), "ci_high": min(hi, 1.0)}
    return [
        AUC_GLOBAL(lv.auc(), gparams, n=run.m, name=f"{run.prefix}auc_global", **gci),
        AUC_QUERY(aq, qparams, n=int(defined.sum()), name=f"{run.prefix}auc_query", **qci),
    ]


def separation(run: RetrievalRun) -> list[Result]:
    st = run.auc_stats()
    lv = st.levels
    pm, ps = float(st.pos_scores.mean()), float(st.pos_scores.std())
    nm, ns = st.neg_mean, st.neg_std
    pooled = math.sqrt((ps**2 + ns**2) / 2)
    d = (pm - nm) / pooled if pooled > 0 else math.nan
    thr, tpr, fpr = lv.best_threshold()
    p = run.prefix
    counts: dict[str, Any] = {"positives": lv.n_pos, "negatives": lv.n_neg}
    tparams: dict[str, Any] = {"tpr": tpr, "fpr": fpr, "method": lv.method}
    if lv.method == "binned":
        tparams["bin_width"] = lv.bin_width
    fparams: dict[str, Any] = {"method": lv.method}
    ncounts = counts
    if st.neg_sample:  # estimated form: the negatives are a uniform sample of all negative pairs
        est = {"exact": False, "sample": st.neg_sample, "estimator": "sampled negative pairs"}
        counts = {"positives": lv.n_pos, "negatives": run.m * run.corpus.shape[0] - lv.n_pos}
        ncounts = {**counts, **est}
        tparams.update(est)
        fparams.update(est)
    return [
        POS_SCORE_MEAN(pm, counts, n=run.m, name=f"{p}pos_score_mean"),
        POS_SCORE_STD(ps, counts, n=run.m, name=f"{p}pos_score_std"),
        NEG_SCORE_MEAN(nm, ncounts, n=run.m, name=f"{p}neg_score_mean"),
        NEG_SCORE_STD(ns, ncounts, n=run.m, name=f"{p}neg_score_std"),
        D_PRIME(d, ncounts, n=run.m, name=f"{p}d_prime"),
        BEST_THRESHOLD(thr, tparams, n=run.m, name=f"{p}best_threshold"),
        FPR_AT_TPR95(lv.fpr_at_tpr(0.95), fparams, n=run.m, name=f"{p}fpr@tpr95"),
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
    return [
        ANN_RECALL(
            float(rec.mean()),
            {"index": run.index, "sample": len(take)},
            n=len(take),
            name=f"{run.prefix}ann_recall@{run.depth}",
        )
    ]


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
    backend: Any = None,
    plan: Any = None,
) -> RetrievalOutcome:
    """Everything :func:`evaluate_retrieval` does, on qrels already aligned, plus the ROC curve."""
    ks = parse_ks(ks)
    if queries.ndim != 2 or corpus.ndim != 2 or queries.shape[1] != corpus.shape[1]:
        raise UsageError(f"queries have shape {queries.shape} and the corpus {corpus.shape}; the dimensions must match")
    params = resolve_params(index, corpus.shape[0], index_params)
    run = RetrievalRun(
        queries=np.ascontiguousarray(queries[aligned.query_rows], dtype=np.float32),
        corpus=np.ascontiguousarray(corpus, dtype=np.float32),
        aligned=aligned,
        depth=max(ks),
        index=index,
        index_params=params,
        prefix=prefix,
        seed=seed,
        progress=progress,
        backend=backend,
        plan=plan,
    )
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
    plan=None,
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
    out = evaluate_aligned(
        queries,
        corpus,
        aligned,
        ks=ks,
        index=index,
        index_params=index_params,
        auc=auc,
        separation=separation,
        per_query=per_query,
        prefix=prefix,
        progress=progress,
        seed=seed,
        plan=plan,
    )
    return out.results, out.per_query


# ----------------------------------------------------------------------------- registry

R = "retrieval"
QRELS = frozenset({"qrels"})
_CUTOFF = {"k": Param(int, 10, "rank cutoff")}
for _name in RANKING_METRICS:
    _out = RANKING_OUTPUTS[_name]
    register(Diagnostic(_name, R, _ranking_diag(_name), _out.description, outputs=(_out,), params=_CUTOFF, needs=QRELS))
register(
    Diagnostic(
        "auc",
        R,
        auc,
        "auc_global: P(relevant pair outscores irrelevant pair), all queries pooled, ties ½; "
        "auc_query: mean per-query AUC; over the whole corpus",
        outputs=(AUC_GLOBAL, AUC_QUERY),
        needs=QRELS,
    )
)
register(
    Diagnostic(
        "separation",
        R,
        separation,
        "positive vs negative score mean/std, d′, threshold maximising TPR−FPR, FPR at TPR 0.95",
        outputs=(POS_SCORE_MEAN, POS_SCORE_STD, NEG_SCORE_MEAN, NEG_SCORE_STD, D_PRIME, BEST_THRESHOLD, FPR_AT_TPR95),
        needs=QRELS,
    )
)
register(
    Diagnostic(
        "ann_recall",
        R,
        ann_recall,
        "approximate index only: overlap of its top-K with exact search on a sample of queries",
        outputs=(ANN_RECALL,),
        needs=QRELS,
        params={"sample": Param(int, ANN_SAMPLE, "queries checked against exact search")},
    )
)

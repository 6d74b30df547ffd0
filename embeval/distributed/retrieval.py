"""Retrieval over a sharded corpus on a Dask cluster: the same results as
:func:`embeval.api.retrieval_report` with the exact (flat) index.

Two passes over the corpus shards, each task one shard against every scored query (the queries are
small and sent to every worker once):

1. top-k of each query in the shard (the flat search, same tie rule), and the float32 score of
   every relevant (query, document) pair whose document lies in the shard, taken from the same
   blocked product the single-machine pass uses;
2. with those positive scores known, counts per shard: for each positive, the documents of its
   query scoring below / equal to it (per-query AUC), and for each distinct positive score (or
   score bin, when m·n is over the exact limit) the pairs of all queries below / equal to it
   (pooled AUC, ROC, best threshold), plus the float64 sum and sum of squares of all scores.

Top-k lists merge by score then row, on the workers (a binary tree: the driver receives the final
m×k ranking once); counts add exactly, also on the workers; the driver holds the merged m×k ranking, the m·(relevant)
positive scores and the counts, and no per-corpus-row state: the qrels are aligned from the judged
documents' rows and the ranked documents' ids are read from their shards (:mod:`.ids`). The
registered retrieval diagnostics then run on these, so every metric is computed by the same code
as on one machine.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import embeval.diagnostics.retrieval  # noqa: F401  (registers the diagnostics this provider serves)
from embeval.compute.auc import _block_shape, _less_equal, _to_bins
from embeval.diagnostics.ranking import RANKING_METRICS
from embeval.diagnostics.registry import compute, get, provide
from embeval.distributed import tiles
from embeval.distributed.cluster import DASK, run_tree
from embeval.distributed.ids import ids_at, rows_of
from embeval.io.shards import ShardedSet
from embeval.progress import NULL, Progress

# ----------------------------------------------------------------------------- worker tasks


def _blocks(m: int, rows: int, block_elements: int):
    B, D = _block_shape(m, rows, block_elements)
    for qs in range(0, m, B):
        for c0 in range(0, rows, D):
            yield qs, min(m, qs + B), c0, min(rows, c0 + D)


def _pass1(shard, queries, depth: int, pos_q, pos_local, cols, block_elements: int, where=None, n_pos: int = 0):
    """(top-k sims, top-k global rows, positive scores) for one corpus shard. ``pos_q`` and
    ``pos_local``: query index and shard-local row of each positive whose document is here. With
    ``where`` (the positions of those positives among all ``n_pos``), the scores come as one
    array of all positives, NaN where another shard holds the document (what :func:`_merge1`
    merges)."""
    x = tiles.unit_shard(shard, *cols)
    sims, idx = tiles.topk_tile(queries, x, depth, shard.offset)
    own = np.full(len(pos_q), np.nan, dtype=np.float32)
    m = queries.shape[0]
    for qs, qe, c0, c1 in _blocks(m, x.shape[0], block_elements):
        sel = (pos_q >= qs) & (pos_q < qe) & (pos_local >= c0) & (pos_local < c1)
        if not sel.any():
            continue
        s = queries[qs:qe] @ x[c0:c1].T
        own[sel] = s[pos_q[sel] - qs, pos_local[sel] - c0]
    if where is not None:
        every = np.full(n_pos, np.nan, dtype=np.float32)
        every[where] = own
        own = every
    return sims, idx, own


def _merge1(a, b, depth: int):
    """Two pass-1 results merged on a worker: the top-k lists by score then row (exact and
    associative), the positive scores by position (each positive is scored by one shard)."""
    sims, idx = tiles.merge_topk([(a[0], a[1]), (b[0], b[1])], depth)
    return sims, idx, np.where(np.isnan(a[2]), b[2], a[2])


def _identity(value):
    return value


def _below_equal(v: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each value u_j of the sorted distinct thresholds ``u``: (#v < u_j, #v == u_j), exactly,
    with one binary search per value (v == u_j implies v's insertion point is j)."""
    left = np.searchsorted(u, v, side="left")
    at = np.minimum(left, len(u) - 1)
    hit = u[at] == v
    eq = np.bincount(left[hit], minlength=len(u))
    upto = np.cumsum(np.bincount(left, minlength=len(u) + 1))[: len(u)]  # #v with insertion point ≤ j
    return (upto - eq).astype(np.int64), eq.astype(np.int64)


def _pass2(shard, queries, own, indptr, thresholds, exact: bool, bits: int, cols, block_elements: int):
    """Counts over one corpus shard (see the module docstring): per positive (below, equal) among
    its query's documents; per threshold (below, equal) among all pairs; Σs and Σs² (binned: of
    the bin centres)."""
    x = tiles.unit_shard(shard, *cols)
    m = queries.shape[0]
    q_less = np.zeros(len(own), dtype=np.int64)
    q_eq = np.zeros(len(own), dtype=np.int64)
    p_less = np.zeros(len(thresholds), dtype=np.int64)
    p_eq = np.zeros(len(thresholds), dtype=np.int64)
    s1 = s2 = 0.0
    width = 2.0**-bits
    for qs, qe, c0, c1 in _blocks(m, x.shape[0], block_elements):
        s = queries[qs:qe] @ x[c0:c1].T
        for r in range(qe - qs):
            a, b = indptr[qs + r], indptr[qs + r + 1]
            if b > a:
                lt, eq = _less_equal(s[r], own[a:b])
                q_less[a:b] += lt
                q_eq[a:b] += eq
        if exact:
            v = s.ravel()
            s1 += float(v.sum(dtype=np.float64))
            v64 = v.astype(np.float64)
            s2 += float(v64 @ v64)
        else:
            v = _to_bins(s, bits, np.int64).ravel()
            centres = (v + 0.5) * width - 1.0
            s1 += float(centres.sum())
            s2 += float(centres @ centres)
        lt, eq = _below_equal(v, thresholds)
        p_less += lt
        p_eq += eq
    return q_less, q_eq, p_less, p_eq, [s1], [s2]


def _merge2(a, b):
    """Two pass-2 results merged on a worker: counts add (exactly), the per-shard float sums are
    kept as lists (the driver adds them with ``math.fsum``, correctly rounded in any order)."""
    return tuple(x + y for x, y in zip(a, b))


# ----------------------------------------------------------------------------- driver


def ranking_and_auc(
    client,
    queries: np.ndarray,
    sharded: ShardedSet,
    aligned,
    depth: int,
    *,
    progress: Progress = NULL,
    block_elements: int | None = None,
):
    """(ranking (scores m×depth, rows m×depth), :class:`AucStats`) of the scored ``queries``
    (m×d float32 unit rows, row i ↔ aligned query i) against the sharded corpus."""
    from embeval.compute.auc import BIN_BITS, EXACT_LIMIT, AucStats, ScoreLevels
    from embeval.compute.backend import BLOCK_ELEMENTS

    block_elements = BLOCK_ELEMENTS if block_elements is None else block_elements
    m, n = queries.shape[0], sharded.n
    cols = (sharded.id_col, sharded.vector_col)
    # hash=False: a key of its own per run, so that a previous run's release of the same data (same
    # content hash) cannot remove it from under this run's tasks ("lost dependencies").
    q_fut = client.scatter(np.ascontiguousarray(queries, dtype=np.float32), broadcast=True, hash=False)
    pos_q_all = np.repeat(np.arange(m, dtype=np.int64), aligned.n_rel)
    pos_doc = aligned.pos_doc
    shards = sharded.shards
    where = [np.flatnonzero((pos_doc >= s.offset) & (pos_doc < s.stop)) for s in shards]
    weights = [m * s.rows for s in shards]

    # Pass 1's per-shard top-k lists merge on the workers as a binary tree: the driver receives
    # the final m × depth ranking and the positive scores once, not one list per shard.
    n_pos = len(pos_doc)
    args1 = [
        (s, q_fut, depth, pos_q_all[w], pos_doc[w] - s.offset, cols, block_elements, w, n_pos)
        for s, w in zip(shards, where)
    ]
    got: list[Any] = [None]

    def take1(_: int, value) -> None:
        got[0] = value

    run_tree(
        client,
        _pass1,
        [args1],
        merge=(_merge1, (depth,)),
        finish=[(_identity, ())],
        progress=progress,
        label="top-k and positive scores (shards)",
        weights=[weights],
        on_result=take1,
    )
    sims, idx, own = got[0]
    merged: list[Any] = [(sims, idx)]
    if np.isnan(own).any():  # pragma: no cover - every positive lies in exactly one shard
        raise RuntimeError("internal error: a positive score was not computed")

    exact = m * n <= EXACT_LIMIT
    if exact:
        thresholds = np.unique(own)  # ascending float32
    else:
        pbins = _to_bins(own.copy(), BIN_BITS, np.int64)
        thresholds, pos_at_bins = np.unique(pbins, return_counts=True)
    own_fut = client.scatter(own, broadcast=True, hash=False)
    args2 = [(s, q_fut, own_fut, aligned.indptr, thresholds, exact, BIN_BITS, cols, block_elements) for s in shards]
    got2: list[Any] = [None]

    def take2(_: int, value) -> None:
        got2[0] = value

    run_tree(  # the counts add up on the workers: the driver receives one set of them
        client,
        _pass2,
        [args2],
        merge=(_merge2, ()),
        finish=[(_identity, ())],
        progress=progress,
        label="scoring every (query, doc) pair (shards)",
        weights=[weights],
        on_result=take2,
    )
    q_less, q_eq, p_less, p_eq, s1_parts, s2_parts = got2[0]
    acc = {"q_less": q_less, "q_eq": q_eq, "p_less": p_less, "p_eq": p_eq}
    all_sum = math.fsum(s1_parts)
    all_sq = math.fsum(s2_parts)

    # Per-query AUC, as in embeval.compute.auc.auc_global_query.
    per_query = np.full(m, np.nan)
    for i in range(m):
        a, b = aligned.indptr[i], aligned.indptr[i + 1]
        o = own[a:b]
        n_neg = n - len(o)
        if n_neg == 0 or len(o) == 0:
            continue
        plt, peq = _less_equal(o, o)
        less, eq = acc["q_less"][a:b], acc["q_eq"][a:b]
        per_query[i] = float(np.sum((less - plt) + 0.5 * (eq - peq))) / (len(o) * n_neg)

    P = len(own)
    N = m * n - P
    pos64 = own.astype(np.float64)
    a_left = np.asarray(acc["p_less"])
    a_right = a_left + np.asarray(acc["p_eq"])
    total = m * n
    if exact:  # as _levels_exact, thresholds = the distinct positive scores
        ps = np.sort(own)
        p_left, p_right = np.searchsorted(ps, thresholds, "left"), np.searchsorted(ps, thresholds, "right")
        pos_at = p_right - p_left
        rev = slice(None, None, -1)
        levels = ScoreLevels(
            value=thresholds.astype(np.float64)[rev],
            pos=pos_at.astype(np.int64)[rev],
            tied=((a_right - a_left) - pos_at).astype(np.int64)[rev],
            above=((total - a_right) - (P - p_right)).astype(np.int64)[rev],
            n_pos=P,
            n_neg=N,
            method="exact",
        )
        neg_sum, neg_sq = all_sum - float(pos64.sum()), all_sq - float(pos64 @ pos64)
    else:  # as _levels_binned, thresholds = the bins holding a positive
        width = 2.0**-BIN_BITS
        tied = (a_right - a_left) - pos_at_bins
        prefix_neg = a_right - np.cumsum(pos_at_bins)  # negatives in bins ≤ each positive bin
        rev = slice(None, None, -1)
        levels = ScoreLevels(
            value=(thresholds * width - 1.0)[rev],
            pos=pos_at_bins.astype(np.int64)[rev],
            tied=tied.astype(np.int64)[rev],
            above=(N - prefix_neg).astype(np.int64)[rev],
            n_pos=P,
            n_neg=N,
            method="binned",
            bin_width=width,
        )
        pc = (pbins + 0.5) * width - 1.0
        neg_sum, neg_sq = all_sum - float(pc.sum()), all_sq - float(pc @ pc)
    neg_mean = neg_sum / N if N else math.nan
    neg_var = max(neg_sq / N - neg_mean**2, 0.0) if N else math.nan
    stats = AucStats(
        levels=levels, per_query=per_query, pos_scores=pos64, neg_mean=neg_mean, neg_std=math.sqrt(neg_var)
    )
    return merged[0], stats


# The Dask provider of the retrieval diagnostics: the ranking and the AUC counts are computed on the
# cluster (ranking_and_auc) into a RetrievalRun, on which the registered functions run unchanged.
SERVED = (*RANKING_METRICS, "auc", "separation")
for _name in SERVED:
    provide(DASK, _name, get(_name, "retrieval").func)


def ranked_ids(
    client, sharded: ShardedSet, scores: np.ndarray, idx: np.ndarray, *, progress: Progress = NULL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(doc ids, scores, compact idx) of a ranking ``idx`` (m×K global rows, −1 = empty): the ids of
    the distinct ranked rows only, and ``idx`` renumbered into them."""
    filled = idx >= 0
    rows = np.unique(idx[filled])
    compact = np.full(idx.shape, -1, dtype=np.int64)
    compact[filled] = np.searchsorted(rows, idx[filled])
    return ids_at(client, sharded, rows, progress=progress), scores, compact


class _ExactStub:
    """Stands in for the flat search index: the ranking is already computed on the cluster."""

    exact = True


def cluster_run(
    client,
    queries: np.ndarray,
    query_ids,
    sharded: ShardedSet,
    qrels,
    *,
    depth: int,
    sources: tuple[str, str, str] = ("queries", "corpus", "qrels"),
    seed: int = 0,
    progress: Progress = NULL,
):
    """The Dask provider's context for the retrieval diagnostics: a ``RetrievalRun`` whose ranking
    (top ``depth``) and AUC counts were computed on the cluster (:func:`ranking_and_auc`), for
    ``queries`` (q×d, any non-zero rows) against the sharded corpus, judged by ``qrels``. The
    qrels are aligned from the rows of the judged documents alone (:func:`.ids.rows_of`, looked up
    on the workers when the ids stay with the shards): no map of every corpus id."""
    from embeval.diagnostics.qrels import align_qrels_rows, judged_docs
    from embeval.diagnostics.retrieval import RetrievalRun
    from embeval.diagnostics.space import l2_normalize
    from embeval.errors import InputError

    q_src, c_src, r_src = sources
    if queries.shape[1] != sharded.d:
        raise InputError(q_src, f"dimension {queries.shape[1]} does not match {c_src} ({sharded.d})")
    dpos = rows_of(client, sharded, judged_docs(qrels) if qrels else (), progress=progress)
    aligned = align_qrels_rows(
        qrels, query_ids, dpos, sharded.n, source=r_src, queries_source=q_src, corpus_source=c_src
    )
    q_unit = np.ascontiguousarray(l2_normalize(queries)[aligned.query_rows], dtype=np.float32)
    ranking, stats = ranking_and_auc(client, q_unit, sharded, aligned, depth, progress=progress)
    return RetrievalRun(
        queries=q_unit,
        corpus=np.empty((0, sharded.d), dtype=np.float32),
        aligned=aligned,
        depth=depth,
        index="flat",
        index_params={},
        seed=seed,
        progress=progress,
        _ranking=ranking,
        _search_index=_ExactStub(),
        _auc=stats,
    )


def retrieval_report_distributed(
    client,
    queries: np.ndarray,
    query_ids,
    sharded: ShardedSet,
    qrels,
    *,
    inputs: dict,
    sources: tuple[str, str, str],
    k="1,10,100",
    per_query: bool = False,
    seed: int = 0,
    progress: Progress = NULL,
):
    """The retrieval report (flat index) of ``queries`` (q×d, any non-zero rows) against the sharded
    corpus, judged by ``qrels``; mirrors :func:`embeval.api.retrieval_report_from_arrays`, including
    its artifacts (the pooled ROC curve ``roc_curve`` and the merged top-K ``ranking``). Writes no file.

    ``ranking`` is ``(query ids, doc ids, scores, idx)`` as on one machine, except that ``doc ids``
    holds only the documents ranked (read from their shards: :func:`.ids.ids_at`) and ``idx``
    indexes it (−1: an empty slot), so ``doc_ids[idx]`` is the same id in both."""
    from embeval.diagnostics.registry import parse_ks
    from embeval.diagnostics.series import roc_series
    from embeval.results import Report

    ks = parse_ks(k)
    run = cluster_run(
        client, queries, query_ids, sharded, qrels, depth=max(ks), sources=sources, seed=seed, progress=progress
    )
    aligned, stats, ranking = run.aligned, run.auc_stats(), run.ranking()
    results = []
    for name in RANKING_METRICS:
        for kk in ks:
            results.extend(compute(get(name, "retrieval"), run, {"k": kk}, DASK))
    results.extend(compute(get("auc", "retrieval"), run, {}, DASK))
    results.extend(compute(get("separation", "retrieval"), run, {}, DASK))
    rows: list[dict[str, Any]] = []
    if per_query:
        cols = [(f"{name}@{kk}", run.per_query(name, kk)) for name in RANKING_METRICS for kk in ks]
        cols.append(("auc_query", stats.per_query))
        for i, qid in enumerate(aligned.query_ids):
            for metric, vals in cols:
                rows.append({"query_id": qid, "metric": metric, "value": float(vals[i])})
    curve = stats.levels.roc()
    settings = {
        "seed": seed,
        "index": "flat",
        "index_params": {},
        "k": list(ks),
        "threads": "cluster",
        "normalized": True,
        "cluster": True,
    }
    report = Report("retrieval", inputs=inputs, settings=settings, results=results, per_query=rows)
    report.artifacts["roc_curve"] = curve
    report.artifacts["ranking"] = (aligned.query_ids, *ranked_ids(client, sharded, *ranking, progress=progress))
    report.series = {"roc": roc_series(curve)}
    report.notes.append(
        f"scored {aligned.m} of {len(query_ids)} queries (those judged in the qrels); "
        f"score = cosine (rows L2-normalised); AUCs over all {sharded.n} documents; "
        f"computed on a Dask cluster over {len(sharded.shards)} corpus shards"
    )
    auc_res = next((r for r in results if r.metric == "auc_global"), None)
    if auc_res is not None and auc_res.params.get("method") == "binned":
        report.notes.append(
            f"auc_global counted in bins of width {auc_res.params['bin_width']:.3g} "
            f"(error at most {auc_res.params['max_error']:.2g}); auc_query is exact"
        )
    return report

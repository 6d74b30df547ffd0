"""Retrieval diagnostics: hand-computed cases, pytrec_eval parity for the ranking metrics,
scikit-learn parity for AUC/ROC/separation, exact vs binned vs chunked all-pairs passes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytrec_eval
from hypothesis import given, settings, strategies as st
from sklearn.metrics import roc_auc_score, roc_curve

from embeval.diagnostics import retrieval as rt
from embeval.diagnostics.space import l2_normalize
from embeval.errors import InputError, UsageError
from tests.conftest import SAMPLE

KS = (1, 10, 100)


def _values(results):
    return {r.metric: r.value for r in results}


def _per_query(rows):
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        out.setdefault(row["metric"], {})[row["query_id"]] = row["value"]
    return out


# ----------------------------------------------------------------------------- hand-computed


def _unit(deg):
    r = np.radians(deg)
    return np.array([np.cos(r), np.sin(r)], dtype=np.float32)


@pytest.fixture
def tiny():
    """2 queries × 5 docs on the unit circle. q1 at 0°, q2 at 170°; docs at 0, 40, 80, 120, 160°.
    q1 ranks d0 d1 d2 d3 d4; q2 ranks d4 d3 d2 d1 d0."""
    corpus = np.stack([_unit(a) for a in (0, 40, 80, 120, 160)])
    queries = np.stack([_unit(0), _unit(170)])
    qrels = {"q1": {"d1": 2, "d3": 1, "d0": 0}, "q2": {"d4": 1}}
    return queries, corpus, qrels, ["q1", "q2"], ["d0", "d1", "d2", "d3", "d4"]


def test_hand_computed_ranking_metrics(tiny):
    res, rows = rt.evaluate_retrieval(*tiny, ks=(1, 3, 5), per_query=True)
    v = _values(res)
    l2 = math.log2
    # q1: relevant d1 (grade 2) at rank 2, d3 (grade 1) at rank 4; the judged-0 d0 at rank 1.
    q1 = {
        "recall@1": 0, "recall@3": 1 / 2, "recall@5": 1,
        "precision@1": 0, "precision@3": 1 / 3, "precision@5": 2 / 5,
        "mrr@1": 0, "mrr@3": 1 / 2, "mrr@5": 1 / 2,
        "ndcg@1": 0,
        "ndcg@3": (2 / l2(3)) / (2 / l2(2) + 1 / l2(3)),
        "ndcg@5": (2 / l2(3) + 1 / l2(5)) / (2 / l2(2) + 1 / l2(3)),
        "map@1": 0, "map@3": (1 / 2) / 2, "map@5": (1 / 2 + 2 / 4) / 2,
    }
    # q2: its one relevant doc d4 is ranked first.
    q2 = {m: 1.0 for m in q1}
    q2.update({"precision@3": 1 / 3, "precision@5": 1 / 5})
    pq = _per_query(rows)
    assert q1, "nothing to check"
    for metric in q1:
        assert pq[metric]["q1"] == pytest.approx(q1[metric]), metric
        assert pq[metric]["q2"] == pytest.approx(q2[metric]), metric
        assert v[metric] == pytest.approx((q1[metric] + q2[metric]) / 2), metric


def test_hand_computed_auc_and_separation(tiny):
    queries, corpus, *_ = tiny
    v = _values(rt.evaluate_retrieval(*tiny, ks=(1,))[0])
    # q1: positives d1 (cos 40°) and d3 (cos 120°) vs negatives d0, d2, d4:
    #   d1 beats d2, d4; d3 beats d4  -> 3 of 6.  q2: d4 beats all four -> 1.
    assert v["auc_query"] == pytest.approx((3 / 6 + 1) / 2)
    # Pooled: positives cos40=.766, cos120=-.5, cos10=.985; negatives 1, cos80, cos160 (q1) and
    # cos170, cos130, cos90, cos50 (q2). .766 beats 6, -.5 beats 3, .985 beats 6 -> 15 of 21.
    assert v["auc_global"] == pytest.approx(15 / 21)
    pos = np.cos(np.radians([40, 120, 10]))
    neg = np.cos(np.radians([0, 80, 160, 170, 130, 90, 50]))
    assert v["pos_score_mean"] == pytest.approx(pos.mean(), abs=1e-6)
    assert v["neg_score_std"] == pytest.approx(neg.std(), abs=1e-6)
    d = (pos.mean() - neg.mean()) / math.sqrt((pos.var() + neg.var()) / 2)
    assert v["d_prime"] == pytest.approx(d, abs=1e-5)
    # Thresholds at the positives: .985 -> J = 1/3 - 1/7; .766 -> 2/3 - 1/7; -.5 -> 1 - 4/7.
    assert v["best_threshold"] == pytest.approx(math.cos(math.radians(40)), abs=1e-6)
    assert v["fpr@tpr95"] == pytest.approx(4 / 7)


def test_ties_count_half_and_rank_by_row():
    # Three identical documents; the relevant one is the middle row.
    corpus = np.array([[1, 0], [0.6, 0.8], [0.6, 0.8], [0.6, 0.8], [0, 1]], dtype=np.float32)
    queries = np.array([[0.6, 0.8]], dtype=np.float32)
    qrels = {"q": {"d2": 1}}
    res, _ = rt.evaluate_retrieval(queries, corpus, qrels, ["q"], [f"d{i}" for i in range(5)], ks=(1, 2, 3))
    v = _values(res)
    # Ranking d1, d2, d3 (tied, by row), then d4 (.8), d0 (.6).
    assert v["mrr@1"] == 0 and v["mrr@2"] == 0.5 and v["recall@3"] == 1
    # vs 4 negatives: ties with d1, d3 (½ each), beats d0 and d4 -> 3/4.
    assert v["auc_query"] == pytest.approx(0.75)
    assert v["auc_global"] == pytest.approx(0.75)


# ----------------------------------------------------------------------------- pytrec_eval parity


def synthetic(seed=0, n_docs=5000, n_queries=300, d=32, extra_queries=20):
    """SciFact-sized data: each query sits near 1-4 relevant docs (grades 1-3), plus judged-0 docs
    and queries absent from the qrels."""
    rng = np.random.default_rng(seed)
    corpus = l2_normalize(rng.standard_normal((n_docs, d)))
    nq = n_queries + extra_queries
    queries = l2_normalize(rng.standard_normal((nq, d)))
    qids = [f"q{i}" for i in range(nq)]
    dids = [f"doc{j}" for j in range(n_docs)]
    qrels = {}
    for i in rng.permutation(nq)[:n_queries]:
        docs = rng.choice(n_docs, size=rng.integers(1, 7), replace=False)
        grades = rng.integers(0, 4, size=len(docs))
        grades[0] = max(grades[0], 1)
        qrels[qids[i]] = {dids[j]: int(g) for j, g in zip(docs, grades)}
        rel = docs[grades > 0]
        queries[i] = l2_normalize((0.8 * queries[i] + corpus[rel].sum(0) * rng.uniform(0.2, 1.0))[None])[0]
    return queries, corpus, qrels, qids, dids


def pytrec_per_query(qrels, run_ids, qids_scored, ks):
    """pytrec_eval on the run's ranking (scores = descending rank, so no tie rule is involved)."""
    measures = {f"ndcg_cut.{','.join(map(str, ks))}", f"map_cut.{','.join(map(str, ks))}",
                f"recall.{','.join(map(str, ks))}", f"P.{','.join(map(str, ks))}"}
    run = {q: {d: float(len(docs) - r) for r, d in enumerate(docs)} for q, docs in zip(qids_scored, run_ids)}
    ev = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    out = {}
    for k in ks:
        cut = {q: {d: float(k - r) for r, d in enumerate(docs[:k])} for q, docs in zip(qids_scored, run_ids)}
        rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
        out[f"ndcg@{k}"] = {q: ev[q][f"ndcg_cut_{k}"] for q in ev}
        out[f"map@{k}"] = {q: ev[q][f"map_cut_{k}"] for q in ev}
        out[f"recall@{k}"] = {q: ev[q][f"recall_{k}"] for q in ev}
        out[f"precision@{k}"] = {q: ev[q][f"P_{k}"] for q in ev}
        out[f"mrr@{k}"] = {q: rr[q]["recip_rank"] for q in rr}
    return out


def _check_against_pytrec(queries, corpus, qrels, qids, dids, index="flat"):
    aligned = rt.align_qrels(qrels, qids, dids)
    out = rt.evaluate_aligned(queries, corpus, aligned, ks=KS, index=index, per_query=True, auc=False,
                              separation=False)
    # The ranking itself: FAISS (float32) vs brute-force float64 NumPy, by score.
    q = queries[aligned.query_rows].astype(np.float64)
    full = q @ corpus.T.astype(np.float64)
    ref = np.sort(full, axis=1)[:, ::-1][:, :max(KS)]
    from embeval.index.search import build_index

    s, idx = build_index(index, corpus).search(queries[aligned.query_rows], max(KS))
    if index == "flat":
        np.testing.assert_allclose(s, ref, atol=1e-5)
    run_ids = [[dids[j] for j in row if j >= 0] for row in idx]
    ref_pq = pytrec_per_query(qrels, run_ids, aligned.query_ids, KS)
    ours = _per_query(out.per_query)
    means = _values(out.results)
    for metric, per_q in ref_pq.items():
        assert set(per_q) == set(ours[metric])
        assert per_q, "nothing to check"
        for qid, val in per_q.items():
            assert ours[metric][qid] == pytest.approx(val, rel=1e-12, abs=1e-12), (metric, qid)
        assert means[metric] == pytest.approx(np.mean(list(per_q.values())), rel=1e-12), metric
    return out


def test_pytrec_eval_parity_scifact_sized_synthetic():
    queries, corpus, qrels, qids, dids = synthetic()
    out = _check_against_pytrec(queries, corpus, qrels, qids, dids)
    v = _values(out.results)
    assert 0.2 < v["ndcg@10"] < 0.99  # a non-trivial ranking, so the check has teeth
    assert out.n_scored == 300


def test_pytrec_eval_parity_real_scifact_sample():
    from embeval.io.embeddings import load_embeddings
    from embeval.io.qrels import load_qrels

    d = SAMPLE / "scifact_small"
    q = load_embeddings(d / "queries.npz", min_rows=1)
    c = load_embeddings(d / "corpus.npz")
    qrels = {q: {doc: int(g) for doc, g in j.items()} for q, j in load_qrels(d / "qrels/test.tsv").items()}
    out = _check_against_pytrec(l2_normalize(q.vectors), l2_normalize(c.vectors), qrels, q.ids, c.ids)
    assert _values(out.results)["ndcg@10"] > 0.5


def _trec_reference(gains_ranked, grades_all, k):
    """Plain-Python trec_eval definitions on one query's ranking (independent of the NumPy code)."""
    R = sum(1 for g in grades_all if g > 0)
    top = gains_ranked[:k]
    hits = [g > 0 for g in top]
    dcg = sum(g / math.log2(r + 2) for r, g in enumerate(top))
    ideal = sorted((g for g in grades_all if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
    ap, seen = 0.0, 0
    for r, h in enumerate(hits):
        if h:
            seen += 1
            ap += seen / (r + 1)
    first = next((r + 1 for r, h in enumerate(hits) if h), None)
    return {"ndcg": dcg / idcg, "map": ap / R, "recall": sum(hits) / R, "precision": sum(hits) / k,
            "mrr": 1 / first if first else 0.0}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n_docs=st.integers(2, 30), depth=st.integers(1, 12))
def test_ranking_metrics_property(data, n_docs, depth):
    depth = min(depth, n_docs)
    grades = data.draw(st.lists(st.integers(-1, 3), min_size=n_docs, max_size=n_docs))
    if not any(g > 0 for g in grades):
        grades[0] = 1
    order = data.draw(st.permutations(list(range(n_docs))))
    qrels = {"q": {f"d{j}": g for j, g in enumerate(grades) if g != 0 or j % 2}}
    aligned = rt.align_qrels(qrels, ["q"], [f"d{j}" for j in range(n_docs)])
    idx = np.array([order[:depth]], dtype=np.int64)
    gains = rt.ranked_gains(aligned, idx)
    ideal = rt.ideal_gains(aligned, depth)
    for k in range(1, depth + 1):
        got = rt.ranking_metrics(gains, aligned.n_rel, ideal, k)
        ref = _trec_reference([max(grades[j], 0) for j in order[:depth]], grades, k)
        assert ref, "nothing to check"
        for name, val in ref.items():
            assert got[name][0] == pytest.approx(val, abs=1e-12), (name, k)
            assert 0.0 <= got[name][0] <= 1.0 + 1e-12


# ----------------------------------------------------------------------------- AUC vs scikit-learn


def _pooled(queries, corpus, positives):
    s = queries @ corpus.T
    lab = np.zeros_like(s, dtype=bool)
    for i, p in enumerate(positives):
        lab[i, p] = True
    return s, lab


def _quantised(rng, m, n, d=16, max_pos=4):
    """Vectors with entries in multiples of 1/8 and |entry| ≤ 1/4: every score is a multiple of
    1/64 in [-1, 1], exact in float32 however it is summed — and full of exact ties."""
    q = rng.integers(-2, 3, size=(m, d)).astype(np.float32) / 8
    c = rng.integers(-2, 3, size=(n, d)).astype(np.float32) / 8
    q[np.abs(q).sum(1) == 0, 0] = 0.25
    c[np.abs(c).sum(1) == 0, 0] = 0.25
    positives = [np.sort(rng.choice(n, size=rng.integers(1, max_pos + 1), replace=False)) for _ in range(m)]
    return q, c, positives


@pytest.mark.parametrize("kw", [{}, {"exact_limit": 0}, {"block_elements": 97},
                                {"exact_limit": 0, "block_elements": 97, "bin_bits": 16}],
                         ids=["exact", "binned", "chunked", "binned+chunked"])
def test_auc_matches_sklearn_with_ties(rng, kw):
    q, c, positives = _quantised(rng, 40, 300)
    st_ = rt.auc_global_query(q, c, positives, **kw)
    s, lab = _pooled(q, c, positives)
    assert st_.levels.method == ("binned" if kw.get("exact_limit") == 0 else "exact")
    # Scores are exact multiples of 1/64, so even the binned count is exact here.
    assert st_.levels.auc() == pytest.approx(roc_auc_score(lab.ravel(), s.ravel()), abs=1e-12)
    per_q = [roc_auc_score(lab[i], s[i]) for i in range(len(q))]
    np.testing.assert_allclose(st_.per_query, per_q, atol=1e-12)


@pytest.mark.parametrize("exact_limit", [rt.EXACT_LIMIT, 0], ids=["exact", "binned"])
def test_auc_matches_sklearn_continuous(exact_limit):
    queries, corpus, qrels, qids, dids = synthetic(seed=1, n_docs=3000, n_queries=120, extra_queries=0)
    aligned = rt.align_qrels(qrels, qids, dids)
    q = queries[aligned.query_rows]
    positives = aligned.positives()
    st_ = rt.auc_global_query(q, corpus, positives, exact_limit=exact_limit, block_elements=50_000)
    s, lab = _pooled(q, corpus, positives)
    ref = roc_auc_score(lab.ravel(), s.ravel())
    lv = st_.levels
    if lv.method == "exact":
        assert lv.max_error() == 0
        # Block products may differ from the one-shot product in the last bit: a flip moves the
        # AUC by 1/(P·N) ≈ 2e-9.
        assert lv.auc() == pytest.approx(ref, abs=1e-7)
    else:
        assert lv.bin_width == 2.0 ** -23
        assert abs(lv.auc() - ref) <= lv.max_error() + 1e-7
        assert lv.max_error() < 1e-5
    np.testing.assert_allclose(st_.per_query, [roc_auc_score(lab[i], s[i]) for i in range(len(q))], atol=1e-9)
    neg = s[~lab].astype(np.float64)
    assert st_.neg_mean == pytest.approx(neg.mean(), abs=1e-7)
    assert st_.neg_std == pytest.approx(neg.std(), abs=1e-7)
    np.testing.assert_allclose(np.sort(st_.pos_scores), np.sort(s[lab]), atol=1e-6)


@pytest.mark.parametrize("block_elements", [rt.BLOCK_ELEMENTS, 1000, 7])
def test_auc_many_positives_per_query_with_ties(rng, block_elements):
    # More than 8 positives per query takes the sorted-windows path of the per-query counts.
    q, c, positives = _quantised(rng, 12, 150, max_pos=40)
    assert max(len(p) for p in positives) > 8
    st_ = rt.auc_global_query(q, c, positives, block_elements=block_elements)
    s, lab = _pooled(q, c, positives)
    np.testing.assert_allclose(st_.per_query, [roc_auc_score(lab[i], s[i]) for i in range(len(q))], atol=1e-12)
    assert st_.levels.auc() == pytest.approx(roc_auc_score(lab.ravel(), s.ravel()), abs=1e-12)


def test_rounding_window_bounds_float32_products(rng):
    q = l2_normalize(rng.standard_normal((500, 384)))
    c = l2_normalize(rng.standard_normal((500, 384)))
    centre, radius = rt._rounding_window(q, c)
    f32 = np.einsum("ij,ij->i", q, c)  # a float32 evaluation
    blas = np.array([q[i] @ c[i] for i in range(500)], dtype=np.float32)
    assert np.all(np.abs(f32 - centre) <= radius) and np.all(np.abs(blas - centre) <= radius)
    assert radius.max() < 5e-5


def test_chunked_and_blocked_passes_agree_exactly(rng):
    queries, corpus, qrels, qids, dids = synthetic(seed=2, n_docs=700, n_queries=50, extra_queries=0)
    aligned = rt.align_qrels(qrels, qids, dids)
    q, pos = queries[aligned.query_rows], aligned.positives()
    base = rt.auc_global_query(q, corpus, pos)
    for kw in ({"block_elements": 700 * 7}, {"block_elements": 300}, {"block_elements": 1}):
        other = rt.auc_global_query(q, corpus, pos, **kw)
        assert other.levels.auc() == pytest.approx(base.levels.auc(), abs=1e-9)
        np.testing.assert_allclose(other.per_query, base.per_query, atol=1e-12)


def test_separation_and_roc_match_sklearn_roc_curve(rng):
    q, c, positives = _quantised(rng, 30, 200)
    st_ = rt.auc_global_query(q, c, positives)
    s, lab = _pooled(q, c, positives)
    fpr, tpr, thr = roc_curve(lab.ravel(), s.ravel(), drop_intermediate=False)
    lv = st_.levels
    j = np.argmax(tpr - fpr)
    best, btpr, bfpr = lv.best_threshold()
    assert best == pytest.approx(thr[j]) and btpr == pytest.approx(tpr[j]) and bfpr == pytest.approx(fpr[j])
    assert lv.fpr_at_tpr(0.95) == pytest.approx(fpr[np.argmax(tpr >= 0.95)])
    curve = lv.roc()
    # Every corner we export is a point of sklearn's full curve; the areas agree.
    sk = set(zip(np.round(fpr, 12), np.round(tpr, 12)))
    assert set(zip(np.round(curve.fpr, 12), np.round(curve.tpr, 12))) <= sk
    assert np.trapezoid(curve.tpr, curve.fpr) == pytest.approx(roc_auc_score(lab.ravel(), s.ravel()), abs=1e-12)
    assert curve.fpr[0] == 0 and curve.tpr[-1] == 1 and np.all(np.diff(curve.fpr) >= 0)


def test_binned_roc_and_thresholds_match_exact_on_distinct_scores():
    queries, corpus, qrels, qids, dids = synthetic(seed=4, n_docs=1500, n_queries=80, extra_queries=0)
    aligned = rt.align_qrels(qrels, qids, dids)
    q, pos = queries[aligned.query_rows], aligned.positives()
    ex = rt.auc_global_query(q, corpus, pos).levels
    bi = rt.auc_global_query(q, corpus, pos, exact_limit=0).levels
    assert abs(bi.best_threshold()[0] - ex.best_threshold()[0]) <= bi.bin_width
    assert bi.fpr_at_tpr(0.95) == pytest.approx(ex.fpr_at_tpr(0.95), abs=1e-4)
    cb, ce = bi.roc(), ex.roc()
    assert np.trapezoid(cb.tpr, cb.fpr) == pytest.approx(np.trapezoid(ce.tpr, ce.fpr), abs=bi.max_error() + 1e-9)


# ----------------------------------------------------------------------------- approximate indexes


@pytest.mark.parametrize("index,params", [("hnsw", {"m": 16, "ef_search": 200}), ("ivf", {"nlist": 32, "nprobe": 32})])
def test_approximate_index_reports_recall(index, params):
    queries, corpus, qrels, qids, dids = synthetic(seed=5, n_docs=3000, n_queries=150)
    flat = _values(rt.evaluate_retrieval(queries, corpus, qrels, qids, dids, auc=False, separation=False)[0])
    res, _ = rt.evaluate_retrieval(queries, corpus, qrels, qids, dids, index=index, index_params=params,
                                   auc=False, separation=False)
    v = {r.metric: r for r in res}
    assert "ann_recall@100" not in flat
    rec = v["ann_recall@100"]
    assert rec.params == {"index": index, "sample": 150}
    assert 0.95 <= rec.value <= 1.0
    if index == "ivf":  # probing every cell is exhaustive
        assert rec.value == 1.0
        assert v["ndcg@10"].value == pytest.approx(flat["ndcg@10"], abs=1e-12)
    again = _values(rt.evaluate_retrieval(queries, corpus, qrels, qids, dids, index=index, index_params=params,
                                          auc=False, separation=False)[0])
    assert again == {k: r.value for k, r in v.items()}  # deterministic


def test_ann_recall_below_one_when_search_is_coarse():
    queries, corpus, qrels, qids, dids = synthetic(seed=6, n_docs=3000, n_queries=100)
    res, _ = rt.evaluate_retrieval(queries, corpus, qrels, qids, dids, index="ivf",
                                   index_params={"nlist": 64, "nprobe": 1}, auc=False, separation=False)
    assert _values(res)["ann_recall@100"] < 0.9


# ----------------------------------------------------------------------------- API contract


def test_prefix_and_per_query_rows(tiny):
    res, rows = rt.evaluate_retrieval(*tiny, ks=(1, 2), prefix="a2b_", per_query=True)
    names = {r.metric for r in res}
    assert {"a2b_recall@1", "a2b_ndcg@2", "a2b_auc_global", "a2b_auc_query", "a2b_d_prime",
            "a2b_fpr@tpr95"} <= names
    assert all(n.startswith("a2b_") for n in names)
    assert len(rows) == 2 * (5 * 2 + 1)
    assert {r["query_id"] for r in rows} == {"q1", "q2"}
    assert all(set(r) == {"query_id", "metric", "value"} for r in rows)


def test_paired_retrieval_use():
    """The gap diagnostics' use: row i of A is the one match of row i of B."""
    rng = np.random.default_rng(7)
    a = l2_normalize(rng.standard_normal((200, 16)))
    b = l2_normalize(a + 0.3 * rng.standard_normal((200, 16)).astype(np.float32))
    ids = [str(i) for i in range(200)]
    res, _ = rt.evaluate_retrieval(a, b, {i: {i: 1} for i in ids}, ids, ids, ks=(1,), prefix="a2b_")
    v = _values(res)
    s = a.astype(np.float64) @ b.T.astype(np.float64)
    assert v["a2b_recall@1"] == pytest.approx(np.mean(s.argmax(1) == np.arange(200)))
    lab = np.eye(200, dtype=bool)
    assert v["a2b_auc_global"] == pytest.approx(roc_auc_score(lab.ravel(), s.ravel()), abs=1e-6)


def test_only_judged_queries_are_scored(tiny):
    queries, corpus, qrels, qids, dids = tiny
    _, rows = rt.evaluate_retrieval(queries, corpus, {"q2": qrels["q2"]}, qids, dids, ks=(1,))
    assert rows == []  # per-query rows only when asked
    res, rows = rt.evaluate_retrieval(queries, corpus, {"q2": qrels["q2"]}, qids, dids, ks=(1,), per_query=True)
    assert {r["query_id"] for r in rows} == {"q2"}
    assert all(r.n == 1 for r in res)


@pytest.mark.parametrize("qrels,match", [
    ({}, "empty qrels"),
    ({"q9": {"d1": 1}}, "query id 'q9' is not in"),
    ({"q1": {"d7": 1, "d1": 1}}, "document id 'd7' .* is not in"),
    ({"q1": {"d1": 0, "d2": -1}, "q2": {"d4": 1}}, "query 'q1' has no relevant document"),
])
def test_qrels_errors_name_the_id(tiny, qrels, match):
    queries, corpus, _, qids, dids = tiny
    with pytest.raises(InputError, match=match):
        rt.evaluate_retrieval(queries, corpus, qrels, qids, dids)


def test_usage_errors(tiny):
    queries, corpus, qrels, qids, dids = tiny
    with pytest.raises(UsageError, match="at least 1"):
        rt.evaluate_retrieval(queries, corpus, qrels, qids, dids, ks=(0, 5))
    with pytest.raises(UsageError, match="not an integer"):
        rt.parse_ks("1,ten")
    with pytest.raises(UsageError, match="dimensions must match"):
        rt.evaluate_retrieval(queries, np.ones((5, 3), np.float32), qrels, qids, dids)
    assert rt.parse_ks("10, 1,10") == (1, 10)


def test_k_deeper_than_corpus_behaves_like_trec_eval(tiny):
    v = _values(rt.evaluate_retrieval(*tiny, ks=(1, 10))[0])
    assert v["recall@10"] == 1.0
    assert v["precision@10"] == pytest.approx((2 / 10 + 1 / 10) / 2)  # trec_eval divides by k


def test_registry_lists_retrieval_diagnostics():
    from embeval.diagnostics.registry import all_diagnostics, parse_spec

    names = {d.name for d in all_diagnostics("retrieval")}
    assert names == {"ndcg", "map", "recall", "precision", "mrr", "auc", "separation", "ann_recall"}
    diag, params = parse_spec("ndcg(k=5)", "retrieval")
    assert diag.name == "ndcg" and params == {"k": 5}
    assert all(d.needs == frozenset({"qrels"}) for d in all_diagnostics("retrieval"))

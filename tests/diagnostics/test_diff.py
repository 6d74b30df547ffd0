"""Fidelity of ``embeval diff``'s numbers against independent computations: the published CKA
formulas in Gram form, scipy's orthogonal Procrustes, the ``rbo`` package (a test oracle only) and
brute-force set overlaps."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from embeval.diagnostics.diff import (
    DiffSpace,
    bridge,
    cka,
    jaccard,
    knn_overlap,
    linear_cka,
    procrustes,
    rbo_ext,
    ridge_map,
    set_overlap,
)
from embeval.stats.paired import paired_test


def _hsic_biased(k, l_):
    """Gretton et al. 2005: tr(KHLH)/(n−1)²."""
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return np.trace(k @ h @ l_ @ h) / (n - 1) ** 2


def _hsic_unbiased(k, l_):
    """Song et al. 2012, eq. 5, written out term by term."""
    n = k.shape[0]
    kt, lt = k.copy(), l_.copy()
    np.fill_diagonal(kt, 0)
    np.fill_diagonal(lt, 0)
    one = np.ones(n)
    term1 = np.trace(kt @ lt)
    term2 = (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * (one @ kt @ lt @ one)
    return (term1 + term2 - term3) / (n * (n - 3))


def _cka_brute(x, y, hsic):
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    x, y = x - x.mean(0), y - y.mean(0)  # centred features, as Kornblith et al.'s code
    k, l_ = x @ x.T, y @ y.T
    return hsic(k, l_) / math.sqrt(hsic(k, k) * hsic(l_, l_))


@pytest.fixture
def xy():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 7))
    y = x @ rng.standard_normal((7, 5)) + 0.5 * rng.standard_normal((60, 5))
    return x, y


def test_cka_equals_the_published_formulas(xy):
    x, y = xy
    assert linear_cka(x, y) == pytest.approx(_cka_brute(x, y, _hsic_biased), rel=1e-10)
    assert linear_cka(x, y, debiased=True) == pytest.approx(_cka_brute(x, y, _hsic_unbiased), rel=1e-9)
    # The biased and debiased values differ on a small n (the point of debiasing).
    assert abs(linear_cka(x, y) - linear_cka(x, y, debiased=True)) > 1e-3


def test_cka_is_one_under_rotation_and_isotropic_scaling(xy):
    x, _ = xy
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((7, 7)))
    for y in (x @ q, 3.7 * x, 0.2 * x @ q + 5.0):
        assert linear_cka(x, y) == pytest.approx(1.0, abs=1e-12)
        assert linear_cka(x, y, debiased=True) == pytest.approx(1.0, abs=1e-12)


def test_cka_drops_monotonically_with_noise():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 16))
    noise = rng.standard_normal((400, 16))
    values = [linear_cka(x, x + s * noise, debiased=True) for s in (0.0, 0.3, 0.6, 1.0, 2.0, 4.0)]
    assert values[0] == pytest.approx(1.0)
    assert all(a > b for a, b in itertools.pairwise(values)), values
    assert values[-1] < 0.2


def test_cka_of_independent_sets_debiased_near_zero_biased_not():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((200, 100)), rng.standard_normal((200, 100))
    assert abs(linear_cka(x, y, debiased=True)) < 0.05
    assert linear_cka(x, y) > 0.3  # the known upward bias of the biased estimator when d ~ n


def test_cka_diagnostic_ci_covers_the_value():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((150, 8)).astype(np.float32)
    space = DiffSpace.build(x, x + 0.5 * rng.standard_normal((150, 8)).astype(np.float32))
    res = {r.metric: r for r in cka(space, n_boot=100)}
    for r in res.values():
        assert r.ci_low <= r.value <= r.ci_high
    # On unit rows, as the diagnostic sees them.
    ux = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert res["cka"].value == pytest.approx(_cka_brute(ux, space.new, _hsic_biased), rel=1e-6)


def test_procrustes_equals_scipy():
    from scipy.linalg import orthogonal_procrustes

    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((50, 6)), rng.standard_normal((50, 6))
    r, _ = orthogonal_procrustes(a, b)
    np.testing.assert_allclose(procrustes(a, b), r, atol=1e-10)


def test_ridge_map_is_the_closed_form_and_recovers_an_affine_map():
    rng = np.random.default_rng(6)
    src = rng.standard_normal((300, 5))
    w_true, b_true = rng.standard_normal((5, 3)), rng.standard_normal(3)
    w, b = ridge_map(src, src @ w_true + b_true, alpha=0.0)
    np.testing.assert_allclose(w, w_true, atol=1e-10)
    np.testing.assert_allclose(b, b_true, atol=1e-10)
    # With a penalty: sklearn-free closed form on centred data.
    dst = src @ w_true + rng.standard_normal((300, 3))
    w, b = ridge_map(src, dst, alpha=7.0)
    a = src - src.mean(0)
    w_ref = np.linalg.inv(a.T @ a + 7.0 * np.eye(5)) @ a.T @ (dst - dst.mean(0))
    np.testing.assert_allclose(w, w_ref, atol=1e-10)


def test_rbo_equals_the_rbo_package():
    rbo = pytest.importorskip("rbo")
    rng = np.random.default_rng(7)
    a = np.stack([rng.choice(30, 10, replace=False) for _ in range(40)])
    b = np.stack([rng.choice(30, 10, replace=False) for _ in range(40)])
    b[0] = a[0]  # identical lists
    b[1] = a[1][::-1]  # same set, reversed
    for p in (0.5, 0.9, 0.98):
        ours = rbo_ext(a, b, p)
        ref = [rbo.RankingSimilarity(list(x), list(y)).rbo_ext(p=p) for x, y in zip(a, b)]
        np.testing.assert_allclose(ours, ref, atol=1e-12)
    assert rbo_ext(a[:1], a[:1], 0.9)[0] == pytest.approx(1.0)


def test_overlap_and_jaccard_equal_brute_force():
    rng = np.random.default_rng(8)
    a = np.stack([rng.choice(20, 5, replace=False) for _ in range(30)])
    b = np.stack([rng.choice(20, 5, replace=False) for _ in range(30)])
    inter = np.array([len(set(x) & set(y)) for x, y in zip(a, b)])
    union = np.array([len(set(x) | set(y)) for x, y in zip(a, b)])
    np.testing.assert_array_equal(set_overlap(a, b), inter)
    np.testing.assert_allclose(jaccard(a, b), inter / union)


def _brute_knn(x, k):
    s = x.astype(np.float64) @ x.astype(np.float64).T
    np.fill_diagonal(s, -np.inf)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def test_knn_overlap_equals_brute_force_and_is_one_under_rotation():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((120, 8)).astype(np.float32)
    y = x + 0.4 * rng.standard_normal((120, 8)).astype(np.float32)
    space = DiffSpace.build(x, y)
    res = {r.metric: r.value for r in knn_overlap(space, k=5)}
    a, b = _brute_knn(space.old, 5), _brute_knn(space.new, 5)
    ref = np.mean([len(set(p) & set(q)) / len(set(p) | set(q)) for p, q in zip(a, b)])
    assert res["knn_overlap@5"] == pytest.approx(ref)
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    rot = DiffSpace.build(x, (x @ q).astype(np.float32))
    assert {r.metric: r.value for r in knn_overlap(rot, k=5)} == {"knn_overlap@5": 1.0, "knn_unchanged@5": 1.0}


def test_knn_overlap_on_a_sample_estimates_the_full_value():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((400, 8)).astype(np.float32)
    y = x + 0.5 * rng.standard_normal((400, 8)).astype(np.float32)
    full = knn_overlap(DiffSpace.build(x, y), k=5)[0]
    est = knn_overlap(DiffSpace.build(x, y, sample=150), k=5)[0]
    assert est.params["exact"] is False and est.n == 150
    assert est.ci_low <= full.value <= est.ci_high


def test_bridge_recovers_a_rotation_and_fails_on_unrelated_sets():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((600, 12)).astype(np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    space = DiffSpace.build(x, (x @ q).astype(np.float32))
    res = bridge(space, calibration=200, holdout=100, k=5, sizes="50")
    top1 = {(r.params["map"], r.params["calibration"]): r.value for r in res if r.metric == "bridge_top1"}
    assert top1[("procrustes", 200)] == 1.0 and top1[("procrustes", 50)] == 1.0
    assert top1[("ridge", 200)] == 1.0
    ov = [r.value for r in res if r.metric == "bridge_overlap@5" and r.params["map"] == "procrustes"]
    assert min(ov) == pytest.approx(1.0)
    np.testing.assert_allclose(space.maps["procrustes"]["W"], q.T, atol=1e-4)  # the inverse rotation
    unrelated = DiffSpace.build(x, rng.standard_normal((600, 12)).astype(np.float32))
    bad = {
        r.params["map"]: r.value
        for r in bridge(unrelated, calibration=200, holdout=100, k=5, sizes="")
        if r.metric == "bridge_top1"
    }
    assert bad["procrustes"] < 0.1 and bad["ridge"] < 0.1


def _queries_space(rng, noise):
    from embeval.diagnostics.qrels import align_qrels

    corpus = rng.standard_normal((200, 8)).astype(np.float32)
    queries = corpus[:40] + 0.3 * rng.standard_normal((40, 8)).astype(np.float32)
    new = corpus + noise * rng.standard_normal((200, 8)).astype(np.float32)
    qnew = queries + noise * rng.standard_normal((40, 8)).astype(np.float32)
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(40)}
    aligned = align_qrels(qrels, [f"q{i}" for i in range(40)], [f"d{i}" for i in range(200)])
    return DiffSpace.build(
        corpus, new, queries_old=queries, queries_new=qnew, aligned=aligned, paired=paired_test, seed=0
    )


def test_query_overlap_and_retrieval_change_against_brute_force():
    from embeval.diagnostics.diff import query_overlap, retrieval_change

    space = _queries_space(np.random.default_rng(12), 0.5)
    res = {r.metric: r for r in query_overlap(space, k=5) + retrieval_change(space, k=5)}
    so = space.queries_old.astype(np.float64) @ space.old.astype(np.float64).T
    sn = space.queries_new.astype(np.float64) @ space.new.astype(np.float64).T
    ta, tb = np.argsort(-so, axis=1)[:, :5], np.argsort(-sn, axis=1)[:, :5]
    ref = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(ta, tb)])
    assert res["query_overlap@5"].value == pytest.approx(ref)
    # recall@5 with one relevant document per query: is document i in query i's top 5?
    rec_old = np.mean([i in ta[i] for i in range(40)])
    rec_new = np.mean([i in tb[i] for i in range(40)])
    assert res["old_recall@5"].value == pytest.approx(rec_old)
    assert res["delta_recall@5"].value == pytest.approx(rec_new - rec_old)
    assert "p_value" in res["delta_recall@5"].params


def test_score_scale_threshold_rates_brute_force():
    from embeval.diagnostics.diff import score_scale

    space = _queries_space(np.random.default_rng(13), 0.3)
    res = {r.metric: r for r in score_scale(space)}
    thr = res["old_best_threshold"].value - res["old_threshold_tpr_on_new"].params["tolerance"]
    sn = space.queries_new.astype(np.float32) @ space.new.T
    pos = np.zeros_like(sn, dtype=bool)
    pos[np.arange(40), np.arange(40)] = True
    assert res["old_threshold_tpr_on_new"].value == pytest.approx(np.mean(sn[pos] >= thr))
    assert res["old_threshold_fpr_on_new"].value == pytest.approx(np.mean(sn[~pos] >= thr))
    assert res["old_pos_score_mean"].value > res["old_neg_score_mean"].value
    # A rotated NEW keeps OLD's threshold's TPR and FPR exactly.
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((8, 8)))
    space.new, space.queries_new = space.old @ q, space.queries_old @ q
    space._runs.clear()
    rot = {r.metric: r for r in score_scale(space)}
    assert rot["old_threshold_tpr_on_new"].value == rot["old_best_threshold"].params["tpr"]
    assert rot["old_threshold_fpr_on_new"].value == rot["old_best_threshold"].params["fpr"]


def test_bridge_retention_with_queries_is_about_one_for_a_rotation():
    rng = np.random.default_rng(14)
    space = _queries_space(rng, 0.0)
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    space.new = (space.old @ q).astype(np.float32)
    space.queries_new = (space.queries_old @ q).astype(np.float32)
    res = bridge(space, calibration=100, holdout=40, k=5, sizes="", map="procrustes")
    ret = {r.metric: r for r in res if r.metric.startswith("bridge_retention_")}
    assert ret["bridge_retention_ndcg@5"].value == pytest.approx(1.0, abs=1e-6)

"""Hygiene diagnostics against brute-force NumPy, and against vecscope where definitions coincide."""

from __future__ import annotations

import numpy as np
import pytest

from embeval.diagnostics import hygiene, measures
from embeval.diagnostics.space import Space


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute_knn(x, k):
    s = x.astype(np.float64) @ x.T.astype(np.float64)
    np.fill_diagonal(s, -np.inf)
    idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, idx, axis=1), idx


@pytest.fixture
def raw():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 24)).astype(np.float32)
    x[:40] *= rng.uniform(0.2, 5, size=(40, 1)).astype(np.float32)
    x[50] = x[7]  # an exact duplicate
    x[60] = x[8] + 1e-3  # a near-duplicate
    x[70] = 30 * np.eye(24, dtype=np.float32)[0] + x[70]  # far away
    return x


def _val(results, metric):
    return next(r for r in results if r.metric == metric)


def test_near_duplicates_brute_force(raw):
    sp = Space.build(raw)
    res = hygiene.near_duplicates(sp, tau=0.99)
    sims, _ = _brute_knn(_unit(raw.astype(np.float64)), 1)
    assert _val(res, "near_duplicate_share").value == pytest.approx(np.mean(sims[:, 0] >= 0.99))
    assert _val(res, "exact_duplicate_share").value == pytest.approx(1 - len(np.unique(raw, axis=0)) / len(raw))
    groups = _val(res, "near_duplicate_share").params
    assert groups["groups"] == 2 and sorted(groups["sample_ids"]) == [7, 8, 50, 60]


def test_outliers_brute_force(raw):
    sp = Space.build(raw)
    r = hygiene.outliers(sp)[0]
    sims, _ = _brute_knn(_unit(raw.astype(np.float64)), 1)
    d = 1 - sims[:, 0]
    q1, q3 = np.percentile(d[d > 1e-4], [25, 75])
    want = d > q3 + 3 * (q3 - q1)
    assert r.value == pytest.approx(want.mean())
    assert set(r.params.get("sample_ids", [])) == set(np.flatnonzero(want)[:10])


def test_rogue_norms_and_metric_mismatch_brute_force(raw):
    x = raw.copy()
    x[:, 5] *= 8
    sp = Space.build(x)
    r = hygiene.rogue_dimensions(sp)[0]
    var = x.astype(np.float64).var(axis=0)
    assert r.value == pytest.approx(var.max() / var.sum() * x.shape[1]) and r.params["dims"][0] == 5
    nv = np.linalg.norm(x.astype(np.float64), axis=1)
    assert _val(hygiene.norms(sp), "norm_cv").value == pytest.approx(nv.std() / nv.mean())
    _, cos_idx = _brute_knn(_unit(x.astype(np.float64)), 10)
    ip = x.astype(np.float64) @ x.T.astype(np.float64)
    np.fill_diagonal(ip, -np.inf)
    ip_idx = np.argsort(-ip, axis=1, kind="stable")[:, :10]
    want = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(cos_idx, ip_idx)])
    assert hygiene.metric_mismatch(sp, k=10)[0].value == pytest.approx(want, abs=2e-3)


def test_relative_contrast_and_connectivity_brute_force(raw):
    sp = Space.build(raw)
    u = _unit(raw.astype(np.float64))
    sims, idx = _brute_knn(u, 10)
    g = u @ u.T
    n = len(u)
    mean_cos = (g.sum() - n) / (n * (n - 1))
    d = 1 - sims[:, 0]
    want = (1 - mean_cos) / np.median(d[d > 1e-4])
    assert hygiene.distance_concentration(sp)[0].value == pytest.approx(want, rel=1e-4)
    # 12 rows in coordinates the other rows do not use: an island of the kNN graph
    rng = np.random.default_rng(0)
    main = raw.copy()
    main[:, 20:] = 0
    island = np.zeros((12, 24), np.float32)
    island[:, 20:] = np.abs(rng.standard_normal((12, 4)))
    blob = np.concatenate([main, island])
    res = hygiene.connectivity(Space.build(blob), k=5)
    assert _val(res, "knn_components").value == 2
    assert _val(res, "island_share").value == 0.0  # 12 rows ≥ max(k + 1, 0.5% of n): a cluster, not an island
    _, idx = _brute_knn(_unit(blob.astype(np.float64)), 5)
    share, comps, n_islands, rows = measures.islands(idx, min_frac=0.05)
    assert (share, comps, n_islands) == (12 / len(blob), 2, 1) and list(rows) == list(range(400, 412))


def test_query_findings_brute_force(raw):
    c = _unit(raw.astype(np.float64)).astype(np.float32)
    rng = np.random.default_rng(5)
    q = _unit(np.concatenate([raw[:30] + 0.1 * rng.standard_normal((30, 24)), rng.standard_normal((10, 24)) + 50]))
    sims, _ = _brute_knn(c, 1)
    res = hygiene.query_findings(c, q.astype(np.float32), 1 - sims[:, 0], k=10)
    s = q @ c.T.astype(np.float64)
    top = np.argsort(-s, axis=1, kind="stable")[:, :10]
    nn = 1 - s.max(axis=1)
    d = 1 - sims[:, 0]
    assert _val(res, "ood_query_share").value == pytest.approx(np.mean(nn > np.quantile(d[d > 1e-4], 0.99)))
    assert _val(res, "query_hubness_skew").value == pytest.approx(
        measures.skew(np.bincount(top.ravel(), minlength=400))
    )


def test_cluster_map_partitions_the_rows(raw):
    u = _unit(raw.astype(np.float64)).astype(np.float32)
    occ = np.ones(len(u))
    m = hygiene.cluster_map(u, occ, clusters=4)
    assert sum(c["size"] for c in m) == len(u)
    assert sum(c["hub_traffic"] for c in m) == pytest.approx(1.0)


def test_equal_to_vecscope_where_definitions_coincide(raw):
    vs = pytest.importorskip("vecscope")
    from vecscope.diagnostics import collapse, hubness

    from embeval.diagnostics.geometry import hubness as eh

    sp = Space.build(raw)
    mine = {r.metric: r.value for r in eh(sp, k=10)}
    theirs = hubness(raw, k=10)
    assert mine["hubness_skew"] == pytest.approx(theirs["skewness"], rel=1e-6)
    assert mine["antihub_share"] == pytest.approx(theirs["antihub_ratio"])
    near = _val(hygiene.near_duplicates(sp, tau=0.99), "near_duplicate_share").value
    assert near == pytest.approx(collapse(raw, 0.99)["near_duplicate_ratio"])
    assert vs.__version__

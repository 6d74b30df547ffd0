"""Label-aware diagnostics: hand-computed cases and independent cross-checks (scikit-learn,
brute-force NumPy over the full n×n matrix)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.metrics import silhouette_samples, silhouette_score
from sklearn.metrics.pairwise import cosine_distances
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from embeval.diagnostics import labels as L
from embeval.diagnostics.registry import all_diagnostics
from embeval.diagnostics.space import Space, l2_normalize
from embeval.errors import UsageError


def clusters(rng, n_classes=6, per=40, d=24, noise=1.0):
    cent = rng.standard_normal((n_classes, d)) * 2
    y = np.repeat(np.arange(n_classes), per)
    x = (cent[y] + rng.standard_normal((len(y), d)) * noise).astype(np.float32)
    return x, y


def values(diag_func, x, y, **params):
    sp = Space.build(x, labels=np.asarray(y).astype(str))
    return {r.metric: r for r in diag_func(sp, **params)}


# ---------------------------------------------------------------- tolerance


def test_tolerance_hand_computed():
    # class a: e1, e2 (cos 0); class b: e1, (e1+e2)/√2, e2 (cos 1/√2, 0, 1/√2).
    s = 1 / math.sqrt(2)
    x = np.array([[1, 0], [0, 1], [1, 0], [s, s], [0, 1]], np.float32)
    y = ["a", "a", "b", "b", "b"]
    expected = (0 + s + 0 + s) / 4  # four same-label pairs
    assert values(L.tolerance, x, y)["tolerance"].value == pytest.approx(expected, abs=1e-6)


def test_tolerance_matches_brute_force(rng):
    x, y = clusters(rng)
    y[:7] = 99  # an extra, smaller class
    u = l2_normalize(x).astype(np.float64)
    c = u @ u.T
    same = (y[:, None] == y[None, :]) & ~np.eye(len(y), dtype=bool)
    assert values(L.tolerance, x, y)["tolerance"].value == pytest.approx(c[same].mean(), abs=1e-6)


# ---------------------------------------------------------------- kNN


def test_knn_label_agreement_matches_sklearn(rng):
    x, y = clusters(rng, noise=2.0)
    k = 7
    nn = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(x)
    idx = nn.kneighbors(return_distance=False)  # X=None: self is not its own neighbour
    ref = np.mean(y[idx] == y[:, None])
    assert values(L.knn_label_agreement, x, y, k=k)["knn_label_agreement"].value == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("k", [1, 5, 9])
def test_knn_accuracy_matches_sklearn_two_classes(rng, k):
    # Two classes and odd k: a majority vote cannot tie, so sklearn's rule and ours coincide.
    x, y = clusters(rng, n_classes=2, per=80, noise=3.0)
    clf = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute").fit(x, y)
    ref = np.mean(clf.predict(None) == y)  # X=None: leave-one-out
    got = values(L.knn_accuracy, x, y, k=k)["knn_accuracy"].value
    assert got == pytest.approx(ref, abs=1e-12)
    assert 0.5 < got < 1.0  # a case that can fail in both directions


def brute_vote(neigh_labels: np.ndarray) -> np.ndarray:
    """Reference for the tie rule: the most frequent label; ties to the one met first."""
    out = []
    for row in neigh_labels:
        best, best_count = None, -1
        for lab in row:  # nearest first
            c = int(np.sum(row == lab))
            if c > best_count:
                best, best_count = lab, c
        out.append(best)
    return np.array(out)


def test_knn_accuracy_with_ties_matches_sklearn_and_brute_force(rng):
    x, y = clusters(rng, n_classes=5, per=30, noise=3.0)
    k = 4
    clf = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute").fit(x, y)
    proba = clf.predict_proba(None)
    top = proba.max(axis=1)
    untied = (proba == top[:, None]).sum(axis=1) == 1
    assert 0 < untied.sum() < len(y)  # both kinds of rows occur
    sp = Space.build(x, labels=y.astype(str))
    codes, classes = sp.label_codes()
    _, idx = sp.knn(k)
    pred = classes[L.knn_vote(codes, idx)].astype(int)
    # Untied rows: exactly sklearn's prediction. Tied rows: one of the tied labels, the nearest one.
    np.testing.assert_array_equal(pred[untied], clf.predict(None)[untied])
    assert np.all(proba[np.arange(len(y)), pred] == top)
    sk_idx = clf.kneighbors(return_distance=False)
    np.testing.assert_array_equal(pred, brute_vote(y[sk_idx]))
    acc = values(L.knn_accuracy, x, y, k=k)["knn_accuracy"].value
    assert acc == pytest.approx(np.mean(brute_vote(y[sk_idx]) == y), abs=1e-12)


def test_knn_vote_hand_computed():
    codes = np.array([0, 1, 2, 3])
    idx = np.array([[1, 2, 2, 1],    # labels 1,2,2,1: tie 2-2 → nearest (1)
                    [3, 0, 0, 3],    # 3,0,0,3: tie → 3
                    [0, 1, 1, 3],    # 0,1,1,3: majority 1
                    [2, 1, 0, 2]])   # 2,1,0,2: majority 2
    np.testing.assert_array_equal(L.knn_vote(codes, idx), [1, 3, 1, 2])
    np.testing.assert_array_equal(L.knn_vote(codes, idx, block=3), [1, 3, 1, 2])


def test_k_out_of_range(rng):
    x, y = clusters(rng, n_classes=2, per=3)
    with pytest.raises(UsageError, match="needs more than"):
        values(L.knn_accuracy, x, y, k=6)


# ---------------------------------------------------------------- silhouette


def test_silhouette_matches_sklearn_with_singleton(rng):
    x, y = clusters(rng, noise=2.5)
    y[0] = 77  # a class of one row: silhouette 0 there, as sklearn
    got = values(L.silhouette, x, y)["silhouette"].value
    assert got == pytest.approx(silhouette_score(x, y, metric="cosine"), abs=1e-6)
    per_row = L.silhouette_samples_cosine(l2_normalize(x), np.unique(y, return_inverse=True)[1])
    np.testing.assert_allclose(per_row, silhouette_samples(x, y, metric="cosine"), atol=1e-6)
    assert per_row[0] == 0.0


@pytest.mark.parametrize("block", [1, 7, 1 << 20])
def test_silhouette_blocking_does_not_change_result(rng, block):
    x, y = clusters(rng, n_classes=4, per=20)
    u = l2_normalize(x)
    ref = silhouette_samples(x, y, metric="cosine")
    np.testing.assert_allclose(L.silhouette_samples_cosine(u, y, block_elements=block), ref, atol=1e-6)


def test_silhouette_hand_computed():
    # Two tight pairs on orthogonal axes: a = 0 inside each pair, b = 1 (cosine distance 1).
    x = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.float32)
    assert values(L.silhouette, x, [0, 0, 1, 1])["silhouette"].value == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(4, 40), d=st.integers(2, 6), c=st.integers(2, 5), seed=st.integers(0, 10**6))
def test_silhouette_and_tolerance_property(n, d, c, seed):
    r = np.random.default_rng(seed)
    x = (r.standard_normal((n, d)) + 0.05).astype(np.float32)
    y = r.integers(0, c, n)
    y[:2] = [0, 1]
    y[2] = y[3]  # at least one shared label
    if len(np.unique(y)) >= n:
        return
    u = l2_normalize(x)
    codes = np.unique(y, return_inverse=True)[1]
    np.testing.assert_allclose(L.silhouette_samples_cosine(u, codes),
                               silhouette_samples(x, codes, metric="cosine"), atol=2e-5)
    cos = 1 - cosine_distances(x)
    same = (y[:, None] == y[None, :]) & ~np.eye(n, dtype=bool)
    assert L.tolerance_value(u, codes) == pytest.approx(cos[same].mean(), abs=1e-5)


# ---------------------------------------------------------------- OPIS


def brute_opis(x, y, far_low, far_high, grid):
    """Full-matrix reference: same definition, no blocking, no histograms except for the range."""
    u = l2_normalize(x).astype(np.float64)
    dist = 1 - u @ u.T
    n = len(y)
    off = ~np.eye(n, dtype=bool)
    neg = dist[(y[:, None] != y[None, :])]
    q = np.sort(neg)
    lo, hi = q[math.ceil(far_low * len(q)) - 1], q[math.ceil(far_high * len(q)) - 1]
    thr = np.linspace(lo, hi, grid)
    curves = []
    for c in np.unique(y):
        rows = y == c
        pos = dist[np.ix_(rows, rows)][off[np.ix_(rows, rows)]]
        negc = dist[np.ix_(rows, ~rows)].ravel()
        if len(pos) == 0:
            continue
        tar = np.array([(pos <= t).mean() for t in thr])
        trr = np.array([(negc > t).mean() for t in thr])
        with np.errstate(invalid="ignore"):
            curves.append(np.where(tar + trr > 0, 2 * tar * trr / (tar + trr), 0.0))
    curves = np.array(curves)
    return float(np.mean(np.var(curves, axis=0))), lo, hi, curves


def test_opis_matches_brute_force(rng):
    x, y = clusters(rng, n_classes=5, per=30, noise=1.5)
    y[:3] = 42  # a small class
    ref, lo, hi, curves = brute_opis(x, y, 0.01, 0.1, 21)
    r = values(L.opis, x, y, grid=21)["opis"]
    # The range comes from a 2/65536-wide histogram: the ends agree to that resolution.
    assert r.params["d_low"] == pytest.approx(lo, abs=1e-4)
    assert r.params["d_high"] == pytest.approx(hi, abs=1e-4)
    # With the same thresholds, the per-class curves are exact.
    u = l2_normalize(x)
    codes = np.unique(y, return_inverse=True)[1]
    thr = np.linspace(r.params["d_low"], r.params["d_high"], 21)
    got, _, _ = L.class_utility_curves(u, codes, r.params["d_low"], r.params["d_high"], 21,
                                       block_elements=97)
    ref2 = brute_curves_at(x, y, thr)
    np.testing.assert_allclose(got, ref2, atol=1e-12)
    assert r.value == pytest.approx(float(np.mean(np.var(ref2, axis=0))), abs=1e-12)
    assert r.value == pytest.approx(ref, rel=0.05)
    assert r.params["classes"] == 6


def brute_curves_at(x, y, thr):
    u = l2_normalize(x)
    dist = (1 - u @ u.T).astype(np.float32)  # float32, as the blocked code compares
    out = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        others = np.flatnonzero(y != c)
        pos = np.array([dist[i, j] for i in rows for j in rows if i != j])
        negc = dist[np.ix_(rows, others)].ravel()
        tar = np.array([(pos <= t).mean() for t in thr.astype(np.float32)])
        trr = np.array([(negc > t).mean() for t in thr.astype(np.float32)])
        with np.errstate(invalid="ignore"):
            out.append(np.where(tar + trr > 0, 2 * tar * trr / (tar + trr), 0.0))
    return np.array(out)


def symmetric_classes(spreads, per=10, m=4, g=4, seed=0):
    """Class c, point p: α_c·e_c + β_c·R_p (in class c's own block of m axes) + γ·G_p (shared axes),
    with the same R and G patterns in every class. Swapping the axes of two classes maps one onto
    the other, so with equal spreads β every class has exactly the same utility curve."""
    r = np.random.default_rng(seed)
    R = r.standard_normal((per, m))
    R /= np.linalg.norm(R, axis=1, keepdims=True)
    G = r.standard_normal((per, g))
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    n_classes = len(spreads)
    d = n_classes * (1 + m) + g
    rows, y = [], []
    for c, beta in enumerate(spreads):
        gamma = 0.5
        alpha = math.sqrt(max(1 - beta ** 2 - gamma ** 2, 0.0))
        for p in range(per):
            v = np.zeros(d)
            v[c] = alpha
            v[n_classes + c * m: n_classes + (c + 1) * m] = beta * R[p]
            v[n_classes * (1 + m):] = gamma * G[p]
            rows.append(v)
            y.append(c)
    return np.array(rows, np.float32), np.array(y)


def test_opis_identical_classes_is_zero():
    x, y = symmetric_classes([0.5] * 4)
    r = values(L.opis, x, y, far_low=0.2, far_high=0.8)["opis"]
    assert r.params["d_low"] < r.params["d_high"]  # a real range, not a degenerate one
    assert r.value == pytest.approx(0.0, abs=1e-12)


def test_opis_grows_with_unequal_spreads():
    vals = []
    for spreads in ([0.5] * 4, [0.45, 0.5, 0.55, 0.6], [0.1, 0.35, 0.6, 0.8]):
        x, y = symmetric_classes(spreads)
        vals.append(values(L.opis, x, y, far_low=0.2, far_high=0.8)["opis"].value)
    assert vals[0] == pytest.approx(0.0, abs=1e-12)
    assert 0 < vals[1] < vals[2]


def test_opis_subsample_is_seeded_and_reported(rng):
    x, y = clusters(rng, n_classes=4, per=30)
    sp = Space.build(x, labels=y.astype(str), seed=3)
    a = L.opis(sp, max_rows=60)[0]
    b = L.opis(Space.build(x, labels=y.astype(str), seed=3), max_rows=60)[0]
    assert a.value == b.value and a.n == 60 and "random subset" in a.params["estimator"]
    assert L.opis(sp, max_rows=0)[0].n == len(y)


def test_opis_parameter_errors(rng):
    x, y = clusters(rng, n_classes=2, per=5)
    for bad in ({"far_low": 0.2, "far_high": 0.1}, {"grid": 1}, {"max_rows": -1}):
        with pytest.raises(UsageError):
            values(L.opis, x, y, **bad)


# ---------------------------------------------------------------- invariants over the family

LABELS = all_diagnostics("labels")


def _run(diag, x, y, seed=0):
    sp = Space.build(x, labels=np.asarray(y).astype(str), seed=seed)
    return {r.metric: r.value for r in diag.func(sp, **diag.defaults())}


@pytest.fixture
def labelled(rng):
    return clusters(rng, n_classes=5, per=30, d=16, noise=2.0)


def test_family_is_registered():
    assert {d.name for d in LABELS} == {"tolerance", "knn_label_agreement", "knn_accuracy", "silhouette", "opis"}
    assert all(d.needs == frozenset({"labels"}) for d in LABELS)


@pytest.mark.parametrize("diag", LABELS, ids=lambda d: d.name)
def test_permutation_and_relabelling_invariance(diag, labelled, rng):
    x, y = labelled
    perm = rng.permutation(len(y))
    renamed = np.array([f"class-{9 - v}" for v in y])  # a bijective renaming that reorders classes
    a = _run(diag, x, y)
    for xb, yb in ((x[perm], y[perm]), (x, renamed)):
        b = _run(diag, xb, yb)
        assert a, "nothing to check"
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-5), k


@pytest.mark.parametrize("diag", LABELS, ids=lambda d: d.name)
def test_scale_invariance_and_declared_outputs(diag, labelled, rng):
    x, y = labelled
    scales = rng.uniform(0.1, 10, size=(len(y), 1)).astype(np.float32)
    a = _run(diag, x, y)
    b = _run(diag, x * scales, y)
    assert a, "nothing to check"
    for k in a:
        assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-5), k
    sp = Space.build(x, labels=y.astype(str))
    for r in diag.func(sp, **diag.defaults()):
        assert r.higher_is_better is diag.output(r.metric).higher_is_better
        assert np.isfinite(r.value)


@pytest.mark.parametrize("diag", LABELS, ids=lambda d: d.name)
def test_better_separated_classes_score_better(diag, rng):
    x_sep, y = clusters(rng, n_classes=4, per=30, noise=0.5)
    x_mix = x_sep + rng.standard_normal(x_sep.shape).astype(np.float32) * 3
    sep, mix = _run(diag, x_sep, y), _run(diag, x_mix, y)
    for k in sep:
        if diag.outputs[0].higher_is_better:
            assert sep[k] > mix[k], k
        elif diag.name != "opis":  # OPIS measures consistency, not separation
            assert sep[k] < mix[k], k


def test_missing_labels_is_a_usage_error(gauss):
    with pytest.raises(UsageError, match="needs labels"):
        L.tolerance(Space.build(gauss))

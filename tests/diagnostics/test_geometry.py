"""Hand-computed cases and independent cross-checks for each geometry diagnostic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from embeval.diagnostics import geometry as g
from embeval.diagnostics.space import Space, l2_normalize


def brute_uniformity(x: np.ndarray, t: float = 2.0) -> float:
    x = x.astype(np.float64)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    iu = np.triu_indices(len(x), 1)
    return math.log(np.exp(-t * d2[iu]).mean())


def test_uniformity_hand_computed_square():
    # Four unit vectors at 90° steps in the plane: 4 pairs at distance² 2, 2 pairs at 4.
    x = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.float32)
    expected = math.log((4 * math.exp(-4) + 2 * math.exp(-8)) / 6)
    assert g.uniformity_exact(x) == pytest.approx(expected, rel=1e-6)


def test_uniformity_collapse_is_zero():
    x = np.tile(np.array([[0.6, 0.8]], dtype=np.float32), (10, 1))
    assert g.uniformity_exact(x) == pytest.approx(0.0, abs=1e-6)


def test_uniformity_matches_torch_pdist_reference(gauss):
    torch = pytest.importorskip("torch")
    x = l2_normalize(gauss)
    ref = torch.pdist(torch.from_numpy(x).double()).pow(2).mul(-2).exp().mean().log().item()
    assert g.uniformity_exact(x) == pytest.approx(ref, abs=1e-5)


@pytest.mark.parametrize("block", [1, 7, 300, 1 << 20])
def test_uniformity_blocking_does_not_change_result(gauss, block, monkeypatch):
    from embeval.compute import backend as pairsum  # the NumPy back end reads its block size per call

    x = l2_normalize(gauss)
    monkeypatch.setattr(pairsum, "BLOCK_ELEMENTS", block * x.shape[0])
    val = g.uniformity_exact(x, t=3.0)
    assert val == pytest.approx(brute_uniformity(x, t=3.0), abs=1e-5)


def test_uniformity_unnormalized_matches_brute(gauss):
    val = g.uniformity_exact(gauss * 0.3, normalized=False)
    assert val == pytest.approx(brute_uniformity(gauss * 0.3), abs=1e-5)


def test_uniformity_sampled_ci_covers_exact(gauss):
    x = l2_normalize(gauss)
    exact = g.uniformity_exact(x)
    est, lo, hi = g.uniformity_sampled(x, 2.0, 200_000, seed=3)
    assert lo < exact < hi
    assert hi - lo < 0.05
    assert g.uniformity_sampled(x, 2.0, 1000, seed=3) == g.uniformity_sampled(x, 2.0, 1000, seed=3)


def test_alignment_hand_computed():
    a = np.array([[1, 0], [0, 1]], dtype=np.float32)
    b = np.array([[0, 1], [0, 1]], dtype=np.float32)
    # pair 0: distance² 2, pair 1: 0
    assert g.alignment_value(a, b, 2.0) == pytest.approx(1.0)
    assert g.alignment_value(a, b, 1.0) == pytest.approx(math.sqrt(2) / 2)


def test_mam_hand_computed():
    # Three unit vectors: e1, e2, and one at 30° from e1.
    x = np.array([[1, 0], [0, 1], [math.cos(math.radians(30)), math.sin(math.radians(30))]], np.float32)
    sp = Space.build(x)
    # nearest angles: e1->30°, e2->60°, third->30°  => margins 60, 30, 60
    assert g.mam(sp)[0].value == pytest.approx(50.0, abs=1e-3)
    # pairwise: angles 90, 30, 60 => |90-θ| = 0, 60, 30 => mean 30
    assert g.mam(sp, mode="pairwise")[0].value == pytest.approx(30.0, abs=1e-3)


def test_mam_pairwise_matches_brute(gauss):
    sp = Space.build(gauss)
    u = sp.unit.astype(np.float64)
    ang = np.degrees(np.arccos(np.clip(u @ u.T, -1, 1)))
    iu = np.triu_indices(len(u), 1)
    assert g.mam(sp, mode="pairwise")[0].value == pytest.approx(np.abs(90 - ang[iu]).mean(), abs=1e-3)


def test_anisotropy_closed_form_matches_brute(gauss):
    u = l2_normalize(gauss + 0.5).astype(np.float64)
    c = u @ u.T
    brute = (c.sum() - np.trace(c)) / (len(u) * (len(u) - 1))
    assert g.anisotropy_value(u.astype(np.float32)) == pytest.approx(brute, abs=1e-6)


def test_effective_rank_against_numpy_svd(gauss):
    s = np.linalg.svd(gauss.astype(np.float64), compute_uv=False)
    p = s / s.sum() + 1e-7
    assert g.effective_rank_value(gauss) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-6)
    # Wide matrices (n < d) take the other Gram matrix.
    assert g.effective_rank_value(gauss[:5]) == pytest.approx(
        g.effective_rank_value(np.ascontiguousarray(gauss[:5])), rel=1e-9)


def test_effective_rank_of_rank_one_is_one():
    x = np.outer(np.arange(1, 11), np.ones(8)).astype(np.float32)
    assert g.effective_rank_value(x) == pytest.approx(1.0, abs=1e-4)


def test_hubness_against_brute_force(gauss):
    sp = Space.build(gauss)
    res = {r.metric: r.value for r in g.hubness(sp, k=5)}
    u = sp.unit.astype(np.float64)
    s = u @ u.T
    np.fill_diagonal(s, -np.inf)
    nn = np.argsort(-s, axis=1)[:, :5]
    occ = np.bincount(nn.ravel(), minlength=len(u))
    assert res["hubness_skew"] == pytest.approx(scipy.stats.skew(occ), abs=1e-9)
    assert res["antihub_share"] == pytest.approx(np.mean(occ == 0))
    hubs = np.flatnonzero(occ >= 10)
    assert res["hub_occurrence"] == pytest.approx(np.isin(nn, hubs).mean())


def test_hubness_hand_computed_star():
    # A centre surrounded by 4 points: with k=1 everyone's nearest neighbour is the centre,
    # which itself points to one of them.
    x = np.array([[1, 0, 0], [1, 0.5, 0], [1, -0.5, 0], [1, 0, 0.5], [1, 0, -0.5]], np.float32)
    res = {r.metric: r.value for r in g.hubness(Space.build(x), k=1)}
    # N_1: centre 4, one leaf 1, three leaves 0
    occ = np.array([4, 1, 0, 0, 0])
    assert res["antihub_share"] == pytest.approx(3 / 5)
    assert res["hubness_skew"] == pytest.approx(scipy.stats.skew(occ))
    assert res["hub_occurrence"] == pytest.approx(4 / 5)  # 4 of 5 slots point at the hub


@pytest.mark.parametrize("dim", [2, 5, 8])
def test_twonn_recovers_dimension_of_linear_manifold(dim):
    rng = np.random.default_rng(dim)
    z = rng.uniform(size=(4000, dim))
    basis = np.linalg.qr(rng.standard_normal((40, dim)))[0]
    x = (z @ basis.T).astype(np.float32) + 5.0  # an affine dim-D patch inside R^40
    sp = Space.build(x, normalize=False)
    est = g.intrinsic_dim(sp)[0].value
    assert est == pytest.approx(dim, rel=0.15)


def test_twonn_on_sphere_after_normalisation():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4000, 4))  # normalised: the 3-sphere, dimension 3
    x = np.hstack([z, np.zeros((4000, 20))]).astype(np.float32)
    assert g.intrinsic_dim(Space.build(x))[0].value == pytest.approx(3.0, rel=0.15)


def test_twonn_counts_and_removes_duplicates(gauss):
    x = np.vstack([gauss, gauss[:10]])
    res = g.intrinsic_dim(Space.build(x))[0]
    assert res.params["duplicates_removed"] == 20


def test_twonn_formula_on_known_ratios():
    # μ_i all equal to e: x = 1 for every kept point; d = Σy / Σ1 · ... closed form.
    n = 100
    r1 = np.ones(n)
    r2 = np.full(n, math.e)
    keep = 90
    y = -np.log(1 - np.arange(1, n + 1)[:keep] / n)
    est, removed = g.twonn(r1, r2)
    assert est == pytest.approx(y.sum() / keep)
    assert removed == 0

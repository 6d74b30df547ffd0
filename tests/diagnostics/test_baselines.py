"""Isotropic reference points: the closed form against Monte Carlo and a known value; the
simulation is seeded and cached; declarations point at them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embeval.diagnostics import baselines
from embeval.diagnostics.registry import declared_output


def test_uniformity_of_the_sphere_at_d384_is_the_published_value():
    assert baselines.uniformity_sphere(384, 2.0) == pytest.approx(-3.979168, abs=5e-7)


def test_uniformity_closed_form_against_monte_carlo():
    rng = np.random.default_rng(0)
    for d in (3, 16, 64):
        x = rng.standard_normal((100_000, d))
        y = rng.standard_normal((100_000, d))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        y /= np.linalg.norm(y, axis=1, keepdims=True)
        mc = math.log(np.mean(np.exp(-2.0 * np.sum((x - y) ** 2, axis=1))))
        assert baselines.uniformity_sphere(d, 2.0) == pytest.approx(mc, abs=0.03), d


def test_uniformity_closed_form_stays_finite_where_the_bessel_term_underflows():
    from scipy.special import ive

    assert ive(1023, 4.0) == 0.0  # the direct evaluation underflows
    v = baselines.uniformity_sphere(2048, 2.0)
    assert math.isfinite(v) and v == pytest.approx(-4 + 8 / 2048, abs=1e-3)


def test_log_bessel_matches_scipy_where_scipy_is_finite():
    from scipy.special import ive

    for nu, x in ((0, 0.5), (2.5, 4.0), (40, 4.0), (191, 4.0)):
        assert baselines.log_bessel_i(nu, x) == pytest.approx(math.log(ive(nu, x)) + x, rel=1e-10)


def test_simulation_is_seeded_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEVAL_CACHE_DIR", str(tmp_path))
    a = baselines.simulate(300, 32, 5, seed=1)
    files = list((tmp_path / "baselines").glob("*.json"))
    assert len(files) == 1 and "n300-d32-k5-s1" in files[0].name
    assert baselines.simulate(300, 32, 5, seed=1) == a
    # independent recomputation of the k-occurrence skewness with scipy
    from scipy.stats import skew

    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    idx = np.argsort(-s, axis=1, kind="stable")[:, :5]
    occ = np.bincount(idx.ravel(), minlength=300)
    assert a["hubness_skew"] == pytest.approx(skew(occ), rel=1e-6)
    assert a["antihub_share"] == pytest.approx(np.mean(occ == 0))


def test_declarations_carry_baselines(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEVAL_CACHE_DIR", str(tmp_path))
    import embeval.diagnostics  # noqa: F401  (registers)

    assert declared_output("anisotropy").baseline is not None
    assert baselines.baseline_of("anisotropy", {}, 100, 8) == 0.0
    assert baselines.baseline_of("uniformity", {"t": 2.0}, 100, 384) == pytest.approx(-3.979168, abs=1e-6)
    assert baselines.baseline_of("hubness_skew", {"k": 5}, 200, 16) is not None
    assert baselines.baseline_of("intrinsic_dim", {}, 200, 16) is None

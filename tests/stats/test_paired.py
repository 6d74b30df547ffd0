"""The paired test behind `embeval compare`: known true difference, no difference, and
cross-checks against brute-force enumeration and scipy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from embeval.stats.paired import bootstrap_means, paired_test, sign_flip_p


def test_known_true_difference_is_detected():
    rng = np.random.default_rng(1)
    old = rng.uniform(0.2, 0.9, 80)
    new = old + 0.05 + rng.normal(0, 0.04, 80)  # true mean improvement 0.05
    t = paired_test(old, new, n_boot=4000, n_perm=4000, seed=3)
    assert t.n == 80
    assert t.mean_delta == pytest.approx(np.mean(new - old))
    assert 0 < t.ci_low < 0.05 < t.ci_high  # excludes 0, covers the truth
    assert t.p_value < 0.001
    # The same data the other way round is a regression with the mirrored interval.
    r = paired_test(new, old, n_boot=4000, n_perm=4000, seed=3)
    assert r.ci_high < 0 and r.mean_delta == pytest.approx(-t.mean_delta)


def test_no_difference_interval_covers_zero_at_the_stated_rate():
    """Under H0 (symmetric noise) the 95% interval covers 0 about 95% of the time and the
    sign-flip test rejects at about 5%."""
    rng = np.random.default_rng(7)
    covered, rejected, runs = 0, 0, 300
    for i in range(runs):
        old = rng.uniform(0, 1, 40)
        new = old + rng.normal(0, 0.1, 40)
        t = paired_test(old, new, n_boot=1000, n_perm=1000, seed=i)
        covered += t.ci_low <= 0 <= t.ci_high
        rejected += t.p_value < 0.05
    assert 0.89 <= covered / runs <= 0.99
    assert 0.01 <= rejected / runs <= 0.10


def test_single_seeded_null_case():
    rng = np.random.default_rng(11)
    old = rng.uniform(0, 1, 100)
    new = old + rng.normal(0, 0.05, 100)
    t = paired_test(old, new, seed=0)
    assert t.ci_low < 0 < t.ci_high and t.p_value > 0.05


def test_exact_sign_flip_matches_brute_force():
    d = np.array([0.3, -0.1, 0.25, 0.05, -0.02, 0.4, 0.1, -0.3])
    obs = abs(d.mean())
    brute = np.mean([abs(np.mean(np.array(s) * d)) >= obs - 1e-12
                     for s in itertools.product([1, -1], repeat=len(d))])
    p, exact = sign_flip_p(d, 10_000, np.random.default_rng(0))
    assert exact and p == pytest.approx(brute, abs=1e-12)


def test_random_sign_flip_agrees_with_scipy_permutation_test():
    rng = np.random.default_rng(5)
    old = rng.uniform(0, 1, 40)
    new = old + 0.02 + rng.normal(0, 0.08, 40)
    p, exact = sign_flip_p(new - old, 20_000, np.random.default_rng(0))
    assert not exact
    ref = stats.permutation_test((new, old), lambda x, y: np.mean(x - y), permutation_type="samples",
                                 n_resamples=20_000, alternative="two-sided", random_state=1).pvalue
    assert p == pytest.approx(ref, abs=0.015)  # two Monte Carlo estimates of the same p


def test_bootstrap_interval_agrees_with_scipy_and_the_normal_approximation():
    rng = np.random.default_rng(9)
    d = rng.normal(0.01, 0.1, 400)
    t = paired_test(np.zeros_like(d), d, n_boot=20_000, seed=2)
    ref = stats.bootstrap((d,), np.mean, method="percentile", n_resamples=20_000, random_state=4).confidence_interval
    assert t.ci_low == pytest.approx(ref.low, abs=0.0015) and t.ci_high == pytest.approx(ref.high, abs=0.0015)
    se = d.std(ddof=1) / np.sqrt(len(d))
    assert t.ci_low == pytest.approx(d.mean() - 1.96 * se, abs=0.002)
    assert t.ci_high == pytest.approx(d.mean() + 1.96 * se, abs=0.002)


def test_deterministic_and_chunked():
    rng = np.random.default_rng(0)
    old, new = rng.uniform(size=30), rng.uniform(size=30)
    assert paired_test(old, new, seed=4) == paired_test(old, new, seed=4)
    # Chunked resampling equals one block: the means are the same draws in the same order.
    import embeval.stats.paired as paired

    d = new - old
    a = bootstrap_means(d, 500, np.random.default_rng(1))
    saved = paired._CHUNK
    try:
        paired._CHUNK = 30 * 7  # 7 resamples per block
        b = bootstrap_means(d, 500, np.random.default_rng(1))
    finally:
        paired._CHUNK = saved
    np.testing.assert_allclose(a, b)


def test_degenerate_inputs():
    t = paired_test([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    assert t.mean_delta == 0 and t.ci_low == 0 and t.ci_high == 0 and t.p_value == 1
    t = paired_test([0.1], [0.4])
    assert t.ci_low == pytest.approx(0.3) and t.ci_high == pytest.approx(0.3) and t.p_value == 1
    with pytest.raises(ValueError):
        paired_test([1, 2], [1])

"""Paired tests for the difference between two runs over the same queries.

Given per-query values ``old_i`` and ``new_i`` of one metric on the same n queries, the paired
differences are d_i = new_i − old_i and the statistic is their mean d̄.

- **Paired bootstrap** (Efron & Tibshirani 1993; for IR, Sakai 2006 "Evaluating evaluation
  metrics based on the bootstrap"): resample the n queries with replacement B times, take d̄ of
  each resample; the (1−c)/2 and (1+c)/2 percentiles are the confidence interval of d̄.
- **Sign-flip randomisation test** (Fisher's paired randomisation test; Smucker, Allan &
  Carterette 2007 "A comparison of statistical significance tests for information retrieval
  evaluation"): under H0 (no difference) each d_i is as likely to be −d_i. Two-sided
  p = (1 + #{|mean(s·d)| ≥ |d̄|}) / (R + 1) over R random sign vectors s; exact enumeration of
  all 2^n sign vectors when 2^n ≤ R.

Both are seeded (``numpy.random.default_rng(seed)``) and so repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK = 4_000_000  # random draws per block: bounded memory for any n and B


@dataclass(frozen=True)
class PairedTest:
    n: int
    mean_delta: float
    ci_low: float
    ci_high: float
    p_value: float
    confidence: float
    method: str

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "mean_delta": self.mean_delta,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "confidence": self.confidence,
            "method": self.method,
        }


def bootstrap_means(d: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of the 1-D array ``d``."""
    n = d.shape[0]
    out = np.empty(n_boot, dtype=np.float64)
    step = max(1, _CHUNK // max(n, 1))
    for s in range(0, n_boot, step):
        m = min(step, n_boot - s)
        idx = rng.integers(0, n, size=(m, n))
        out[s : s + m] = d[idx].mean(axis=1)
    return out


def sign_flip_p(d: np.ndarray, n_perm: int, rng: np.random.Generator) -> tuple[float, bool]:
    """Two-sided sign-flip p-value of mean(d) = 0; returns (p, exact)."""
    n = d.shape[0]
    observed = abs(d.mean())
    tol = 1e-12 * max(1.0, float(np.abs(d).max(initial=0.0)))
    if n <= 20 and 2**n <= n_perm:
        # Every sign vector once: row j of the bit matrix is the binary expansion of j.
        codes = np.arange(2**n, dtype=np.int64)[:, None]
        signs = 1.0 - 2.0 * ((codes >> np.arange(n)) & 1)
        means = np.abs(signs @ d) / n
        return float(np.mean(means >= observed - tol)), True
    hits = 0
    step = max(1, _CHUNK // max(n, 1))
    for s in range(0, n_perm, step):
        m = min(step, n_perm - s)
        signs = (rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1).astype(np.float64)
        hits += int(np.sum(np.abs(signs @ d) / n >= observed - tol))
    return (1 + hits) / (n_perm + 1), False


def paired_test(
    old, new, *, n_boot: int = 10_000, n_perm: int = 10_000, confidence: float = 0.95, seed: int = 0
) -> PairedTest:
    """Paired bootstrap CI of mean(new − old) and sign-flip p-value. ``old``, ``new``: 1-D float
    arrays of equal length n ≥ 1, aligned by query."""
    old = np.asarray(old, dtype=np.float64)
    new = np.asarray(new, dtype=np.float64)
    if old.shape != new.shape or old.ndim != 1 or old.size == 0:
        raise ValueError("paired_test needs two 1-D arrays of the same non-zero length")
    d = new - old
    rng = np.random.default_rng(seed)
    means = bootstrap_means(d, n_boot, rng)
    a = (1 - confidence) / 2
    lo, hi = np.quantile(means, [a, 1 - a])
    p, exact = sign_flip_p(d, n_perm, rng)
    method = f"paired bootstrap (B={n_boot}, percentile); sign-flip randomisation " + (
        "(exact, all 2^n sign vectors)" if exact else f"(R={n_perm})"
    )
    return PairedTest(
        n=int(d.size),
        mean_delta=float(d.mean()),
        ci_low=float(lo),
        ci_high=float(hi),
        p_value=float(p),
        confidence=confidence,
        method=method,
    )

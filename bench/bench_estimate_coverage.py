"""Coverage of every estimated form's 95% CI, measured over sampling seeds (issue 20, item 9).

One fixed data set (default 8,000 × 32 clustered rows: 20 Gaussian clusters), its exact values
computed once; then, for each seed, the estimated forms a run over its budget produces:

- ``uniformity``: sampled pairs (``--pairs`` pairs, seeded);
- ``mam`` (pairwise): sampled pairs; ``mam`` (nn): seeded query rows against all rows;
- ``hubness_skew``: seeded query rows against all rows, thinning-corrected, jackknife CI
  (:func:`embeval.diagnostics.geometry.hubness_skew_sampled`), and for contrast the former
  estimate (the kNN graph within a 2,000-row subset: no CI; its bias).

Prints one table: per form, the mean estimate, the exact value, the mean relative bias, the share
of seeds whose CI holds the exact value (coverage; 95% is the claim), the mean CI width, and the
width an interval would need (2·1.96 × the spread of the estimates over seeds).
A coverage of 95% over 100 seeds has a binomial standard error of ≈ 2.2 points.

Run: ``python bench/bench_estimate_coverage.py --seeds 100`` (≈ 2 min on 2 cores).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def clustered(n: int, d: int, clusters: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)) * 2.0
    lab = rng.integers(0, clusters, n)
    x = centres[lab] + rng.standard_normal((n, d))
    return x.astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--queries", type=int, default=1000, help="seeded query rows (the plan's MIN_KNN_QUERIES)")
    ap.add_argument("--pairs", type=int, default=200_000, help="sampled pairs for the pair means")
    ap.add_argument("--k", type=int, default=10)
    a = ap.parse_args()

    from embeval.compute import knn
    from embeval.diagnostics.geometry import (
        _angles,
        hubness_skew_sampled,
        k_occurrence,
        skewness,
        uniformity_exact,
        uniformity_sampled,
    )
    from embeval.diagnostics.scale import mean_ci
    from embeval.diagnostics.space import l2_normalize

    t0 = time.time()
    x = l2_normalize(clustered(a.n, a.d))
    n, k = a.n, a.k
    sims, idx = knn(x, k)
    exact = {
        "uniformity (sampled pairs)": uniformity_exact(x, 2.0),
        "mam nn (query rows)": float(np.mean(90.0 - _angles(sims[:, 0].astype(np.float64)))),
        "hubness_skew (query rows, corrected)": skewness(k_occurrence(idx, n)),
        "hubness_skew (old: 2,000-row subset)": skewness(k_occurrence(idx, n)),
    }
    cos = x.astype(np.float64) @ x.astype(np.float64).T
    iu = np.triu_indices(n, 1)
    exact["mam pairwise (sampled pairs)"] = float(np.mean(np.abs(90.0 - _angles(cos[iu]))))
    del cos, iu
    print(f"data {n} × {a.d} clustered; exact values in {time.time() - t0:.1f} s")

    from embeval.compute import sampled_pair_mean

    def margin(p, q):
        c = np.einsum("ij,ij->i", p.astype(np.float64), q.astype(np.float64))
        return np.abs(90.0 - _angles(c))

    rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in exact}
    for seed in range(a.seeds):
        rows["uniformity (sampled pairs)"].append(uniformity_sampled(x, 2.0, a.pairs, seed))
        val, half, _ = sampled_pair_mean(x, margin, a.pairs, seed)
        rows["mam pairwise (sampled pairs)"].append((val, val - half, val + half))
        q = np.sort(np.random.default_rng(seed).choice(n, size=a.queries, replace=False))
        qs, qi = knn(x, k, queries=q)
        rows["mam nn (query rows)"].append(mean_ci(90.0 - _angles(qs[:, 0].astype(np.float64))))
        rows["hubness_skew (query rows, corrected)"].append(hubness_skew_sampled(qi, n, k, seed=seed))
        sub = np.sort(np.random.default_rng(seed).choice(n, size=2000, replace=False))
        _, si = knn(x[sub], k)
        v = skewness(k_occurrence(si, 2000))
        rows["hubness_skew (old: 2,000-row subset)"].append((v, np.nan, np.nan))

    print(f"\n{a.seeds} seeds, {a.queries} query rows, {a.pairs:,} pairs, k={k}; {time.time() - t0:.0f} s in all\n")
    print("| estimated form | exact | mean estimate | mean bias | CI coverage | mean CI width | 2·1.96·sd over seeds |")
    print("|---|---|---|---|---|---|---|")
    for name, vals in rows.items():
        v = np.array(vals, dtype=np.float64)
        ex = exact[name]
        bias = (v[:, 0].mean() - ex) / abs(ex)
        has_ci = np.isfinite(v[:, 1]).all()
        cover = np.mean((v[:, 1] <= ex) & (ex <= v[:, 2])) if has_ci else np.nan
        width = np.mean(v[:, 2] - v[:, 1]) if has_ci else np.nan
        cov = f"{100 * cover:.1f}%" if has_ci else "no CI"
        wid = f"{width:.4g}" if has_ci else "—"
        spread = 2 * 1.96 * float(np.std(v[:, 0], ddof=1))
        print(f"| {name} | {ex:.4f} | {v[:, 0].mean():.4f} | {100 * bias:+.1f}% | {cov} | {wid} | {spread:.4g} |")


if __name__ == "__main__":
    main()

"""Costs of the reporting layer, side by side with what they sit on.

- paired test (bootstrap CI + sign-flip p, B = R = 10,000) for 100 to 100,000 queries, against
  scipy.stats.bootstrap (percentile) on the same deltas;
- the series a retrieval report now always carries (ROC thinning, relevant/irrelevant score
  histograms) against the retrieval evaluation itself, on a synthetic 20,000-doc corpus;
- rendering the HTML page (matplotlib) for a batch of 6 items.
"""

from __future__ import annotations

import time

import numpy as np


def timed(fn, *args, repeat: int = 1, **kw):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args, **kw)
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_paired() -> None:
    from scipy import stats

    from embeval.stats.paired import paired_test

    print("paired test, B = R = 10,000")
    print(f"{'queries':>8} {'embeval (s)':>12} {'scipy bootstrap (s)':>20} {'ratio':>7}")
    rng = np.random.default_rng(0)
    for n in (100, 1_000, 10_000, 100_000):
        old = rng.uniform(size=n)
        new = old + rng.normal(0, 0.05, n)
        t_e, _ = timed(paired_test, old, new, n_boot=10_000, n_perm=10_000, seed=0)
        if n <= 10_000:
            t_s, _ = timed(stats.bootstrap, (new - old,), np.mean, method="percentile", n_resamples=10_000,
                           random_state=0, vectorized=True)
            print(f"{n:>8} {t_e:>12.3f} {t_s:>20.3f} {t_s / t_e:>7.2f}")
        else:
            print(f"{n:>8} {t_e:>12.3f} {'(skipped)':>20} {'':>7}")


def bench_retrieval_series() -> None:
    from embeval.diagnostics.retrieval import align_qrels, evaluate_aligned
    from embeval.diagnostics.series import roc_series, score_series
    from embeval.diagnostics.space import l2_normalize

    rng = np.random.default_rng(1)
    m, n, d = 500, 20_000, 384
    q = l2_normalize(rng.standard_normal((m, d)).astype(np.float32))
    c = l2_normalize(rng.standard_normal((n, d)).astype(np.float32))
    qrels = {str(i): {str(j): 1 for j in rng.choice(n, 3, replace=False)} for i in range(m)}
    aligned = align_qrels(qrels, [str(i) for i in range(m)], [str(j) for j in range(n)])
    t_eval, out = timed(evaluate_aligned, q, c, aligned, ks=(1, 10, 100), roc=True)
    t_roc, _ = timed(roc_series, out.roc, repeat=3)
    t_scores, _ = timed(score_series, q, c, aligned, repeat=3)
    print(f"\nretrieval series on {m} queries × {n} docs (d={d})")
    print(f"  evaluate_aligned (metrics, AUC, ROC): {t_eval:.3f} s")
    print(f"  roc_series: {t_roc * 1e3:.1f} ms   score_series: {t_scores * 1e3:.1f} ms   "
          f"overhead {(t_roc + t_scores) / t_eval:.1%}")


def bench_html() -> None:
    from embeval.report.batch import Batch, Item
    from embeval.report.html import batch_html
    from embeval.results import Report, Result

    rng = np.random.default_rng(2)
    items = []
    for i in range(6):
        rep = Report("retrieval", results=[Result(f"m{j}", float(rng.uniform()), higher_is_better=True)
                                           for j in range(8)])
        rep.per_query = [{"query_id": str(q), "metric": "ndcg@10", "value": float(v)}
                         for q, v in enumerate(rng.uniform(size=1000))]
        fpr = np.linspace(0, 1, 400)
        rep.series = {"roc": {"fpr": fpr.tolist(), "tpr": np.sqrt(fpr).tolist(), "auc": 0.7}}
        items.append(Item("retrieval", f"model{i}", "data", "ok", rep))
    t, page = timed(batch_html, Batch(items=items))
    print(f"\nHTML page for 6 items (bars, per-query boxes, ROC): {t:.2f} s, {len(page) / 1e6:.2f} MB")


if __name__ == "__main__":
    bench_paired()
    bench_retrieval_series()
    bench_html()

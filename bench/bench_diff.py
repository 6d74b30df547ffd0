"""``embeval diff`` at scale: where the time goes, and what the default budget estimates.

  python bench/bench_diff.py [--n 1000000] [--d 384] [--budget 120] [--threads 2]

OLD: n×d rows with a decaying spectrum (a stand-in for real embeddings); NEW: OLD rotated, with
noise (a model upgrade that moves some neighbourhoods). Runs the default ``embeval diff`` (CKA with
its bootstrap, kNN overlap, bridge, drift) under ``--budget`` seconds and prints each diagnostic's
wall time, which parts were estimated (sampled items / fewer held-out items) and the total; then
the exact CKA in feature form against the Gram form on a 2,000-row subset (same value, and the
ratio of their times), the reason the feature form is used at any n.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--budget", type=float, default=120.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))

    import numpy as np

    from embeval.api.diff import diff_report_from_sets
    from embeval.diagnostics import registry
    from embeval.diagnostics.diff import _cka_from_grams, linear_cka, unit_rows
    from embeval.io.embeddings import EmbeddingSet

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    scale = (1.0 / np.sqrt(np.arange(1, args.d + 1))).astype(np.float32)
    old = np.empty((args.n, args.d), dtype=np.float32)
    new = np.empty_like(old)
    q, _ = np.linalg.qr(rng.standard_normal((args.d, args.d)))
    q = q.astype(np.float32)
    for s in range(0, args.n, 100_000):
        e = min(args.n, s + 100_000)
        block = rng.standard_normal((e - s, args.d), dtype=np.float32) * scale
        old[s:e] = block
        new[s:e] = (block + 0.3 * scale * rng.standard_normal((e - s, args.d), dtype=np.float32)) @ q
    ids = np.arange(args.n).astype(str)
    print(f"data: {args.n:,}×{args.d} twice, {time.perf_counter() - t0:.1f} s to make")

    # Time each diagnostic as the report runs it.
    timings: dict[str, float] = {}
    for d in registry.all_diagnostics("diff") + registry.all_diagnostics("drift"):
        func = d.func

        def timed(*a, _f=func, _name=d.name, **kw):
            t = time.perf_counter()
            try:
                return _f(*a, **kw)
            finally:
                timings[_name] = timings.get(_name, 0.0) + time.perf_counter() - t

        object.__setattr__(d, "func", timed)
    t0 = time.perf_counter()
    rep = diff_report_from_sets(
        EmbeddingSet(old, ids, "old"), EmbeddingSet(new, ids, "new"), budget=args.budget, seed=0
    )
    total = time.perf_counter() - t0
    print(f"embeval diff, default settings, --budget {args.budget:g} s, {args.threads} threads: {total:.1f} s total")
    for name, t in timings.items():
        print(f"  {name:<14} {t:8.1f} s")
    for r in rep.results:
        if r.metric in ("cka", "cka_debiased", "knn_overlap@10", "drift_p") or (
            r.metric == "bridge_top1" and r.params.get("calibration") == 2000
        ):
            ci = "" if r.ci_low is None else f" [{r.ci_low:.4f}, {r.ci_high:.4f}]"
            est = " (estimated: " + str(r.params.get("sample")) + " items)" if r.params.get("exact") is False else ""
            print(f"  {r.label():<45} {r.value:.4f}{ci}{est}")
    for note in rep.notes:
        print("  note:", note)

    m = min(2000, args.n)
    x, y = unit_rows(old[:m]), unit_rows(new[:m])
    t = time.perf_counter()
    feat = linear_cka(x, y)
    t_feat = time.perf_counter() - t
    t = time.perf_counter()
    gram = _cka_from_grams(
        x.astype(np.float64) @ x.T.astype(np.float64), y.astype(np.float64) @ y.T.astype(np.float64)
    )[0]
    t_gram = time.perf_counter() - t
    print(
        f"CKA on {m:,} rows: feature form {feat:.6f} in {t_feat * 1e3:.1f} ms, Gram form {gram:.6f} in "
        f"{t_gram * 1e3:.1f} ms (Gram/feature time ratio {t_gram / max(t_feat, 1e-9):.1f}×)"
    )


if __name__ == "__main__":
    main()

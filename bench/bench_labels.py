"""Label diagnostics: embeval vs scikit-learn / brute-force references, side by side in one process.

  python bench/bench_labels.py [--n 10000] [--d 384] [--classes 77] [--opis-n 20000]

On the same clustered data (n×d, `--classes` classes) prints wall time of embeval and of the
reference, their ratio and the absolute difference of the values:
  silhouette      class-sum closed form  vs sklearn.metrics.silhouette_score(metric="cosine")
  knn_accuracy    FAISS kNN + vote       vs sklearn KNeighborsClassifier(brute, cosine).predict(None)
  knn_agreement   FAISS kNN              vs sklearn NearestNeighbors(brute, cosine).kneighbors()
  tolerance       class sums             vs the full n×n cosine matrix in NumPy
then OPIS time and peak extra memory (tracemalloc) at --opis-n rows (no outside reference exists).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from embeval.diagnostics import labels as L
from embeval.diagnostics.space import Space


def timed(fn):
    t0 = time.perf_counter()
    val = fn()
    return time.perf_counter() - t0, val


def data(n, d, classes, seed=0):
    rng = np.random.default_rng(seed)
    cent = rng.standard_normal((classes, d)).astype(np.float32)
    y = rng.integers(0, classes, n)
    x = cent[y] + rng.standard_normal((n, d)).astype(np.float32) * 1.5
    return x.astype(np.float32), y


def row(name, t_ours, t_ref, v_ours, v_ref):
    print(f"{name:<14} embeval {t_ours:8.3f}s   reference {t_ref:8.3f}s   speed-up {t_ref / t_ours:7.1f}x   "
          f"|diff| {abs(v_ours - v_ref):.2e}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--classes", type=int, default=77)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--opis-n", type=int, default=20000)
    args = ap.parse_args()

    from sklearn.metrics import silhouette_score
    from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

    x, y = data(args.n, args.d, args.classes)
    labels = y.astype(str)
    print(f"n={args.n} d={args.d} classes={args.classes} k={args.k}")

    sp = Space.build(x, labels=labels)
    t_o, v_o = timed(lambda: L.silhouette(sp)[0].value)
    t_r, v_r = timed(lambda: silhouette_score(x, y, metric="cosine"))
    row("silhouette", t_o, t_r, v_o, v_r)

    def ours_knn():
        s = Space.build(x, labels=labels)  # fresh: includes the FAISS search
        return L.knn_accuracy(s, k=args.k)[0].value

    t_o, v_o = timed(ours_knn)
    t_r, v_r = timed(lambda: float(np.mean(
        KNeighborsClassifier(n_neighbors=args.k, metric="cosine", algorithm="brute").fit(x, y).predict(None) == y)))
    row("knn_accuracy", t_o, t_r, v_o, v_r)

    def ours_agree():
        s = Space.build(x, labels=labels)
        return L.knn_label_agreement(s, k=args.k)[0].value

    def ref_agree():
        idx = NearestNeighbors(n_neighbors=args.k, metric="cosine", algorithm="brute").fit(x).kneighbors(
            return_distance=False)
        return float(np.mean(y[idx] == y[:, None]))

    t_o, v_o = timed(ours_agree)
    t_r, v_r = timed(ref_agree)
    row("knn_agreement", t_o, t_r, v_o, v_r)

    def ref_tolerance():
        u = sp.unit.astype(np.float64)
        c = u @ u.T
        same = y[:, None] == y[None, :]
        np.fill_diagonal(same, False)
        return float(c[same].mean())

    t_o, v_o = timed(lambda: L.tolerance(sp)[0].value)
    t_r, v_r = timed(ref_tolerance)
    row("tolerance", t_o, t_r, v_o, v_r)

    if args.opis_n:
        xo, yo = data(args.opis_n, args.d, args.classes, seed=1)
        so = Space.build(xo, labels=yo.astype(str))
        tracemalloc.start()
        t_o, r = timed(lambda: L.opis(so, max_rows=0)[0])
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        n2 = args.opis_n ** 2 * 4 / 2 ** 20
        print(f"opis           n={args.opis_n}: {t_o:.2f}s, value {r.value:.4e}, range "
              f"[{r.params['d_low']}, {r.params['d_high']}], peak extra memory {peak / 2 ** 20:.0f} MiB "
              f"(an n² float32 matrix: {n2:.0f} MiB)")


if __name__ == "__main__":
    main()

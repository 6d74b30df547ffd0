"""Where the all-pairs AUC pass spends its CPU time, phase by phase, against an earlier revision.

Runs the phases of ``embeval/compute/auc.py`` one after another on one thread (the products on
BLAS's threads) and sums each phase's CPU time (``time.process_time``, so a shared machine's load
moves it far less than wall-clock time): the float32 products, the binned histogram (bins of the
scores and their counting), the per-query counts, their finish, and the levels and moments from
the histogram. The ratio of all phases to the products alone is the pass's CPU-time ratio to its
BLAS bound (the bound's own products allocate their output; these reuse one buffer).

    python bench/bench_auc_phases.py --rev main --n 200000 --queries 1000 --reps 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_auc_ab import load_rev
from bench_scale import unit_rows

from embeval.compute import auc as NEW


def data(n: int, m: int, d: int):
    c = unit_rows(n, d, 1)
    rng = np.random.default_rng(2)
    pos = [np.sort(rng.choice(n, size=int(rng.integers(1, 6)), replace=False)) for _ in range(m)]
    q = np.ascontiguousarray(c[[p[0] for p in pos]] + 0.5 * unit_rows(m, d, 3))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q, c, pos


def phases_new(q, c, pos, t):
    m, n = len(q), len(c)
    B, D = NEW._block_shape(m, n, NEW.BLOCK_ELEMENTS)
    with t("setup"):
        sb = np.empty((B, D), np.float32)
        hist, binner = NEW._Histogram(NEW.BIN_BITS), NEW._Binner(B * D, NEW.BIN_BITS)
    ps, pq = [np.empty(0, np.float32)] * m, np.full(m, np.nan)
    for qs in range(0, m, B):
        with t("setup"):
            counts = NEW._BlockCounts(q, c, pos, qs, min(m, qs + B))
        for c0 in range(0, n, D):
            with t("products"):
                s = product(q[qs : qs + B], c[c0 : c0 + D], sb)
            with t("histogram"):
                binner.add(s, hist)
            with t("per-query"):
                counts.add(s, c0)
        with t("finish"):
            counts.finish(n, ps, pq)
    with t("levels"):
        pa = np.concatenate(ps)
        NEW._levels_binned(hist.result(), pa, m * n - len(pa), NEW.BIN_BITS, (hist.lo, hist.hi))


def phases_old(old, q, c, pos, t):
    m, n = len(q), len(c)
    B, D = old._block_shape(m, n, NEW.BLOCK_ELEMENTS)
    with t("setup"):
        sb = np.empty((B, D), np.float32)
        hist, binner = np.zeros(1 << (NEW.BIN_BITS + 1), np.int64), old._Binner(B * D, NEW.BIN_BITS)
    ps, pq = [np.empty(0, np.float32)] * m, np.full(m, np.nan)
    for qs in range(0, m, B):
        with t("setup"):
            counts, pos_row, pos_doc, block_own = old._block_counts(q, c, pos, qs, min(m, qs + B))
        for c0 in range(0, n, D):
            with t("products"):
                s = product(q[qs : qs + B], c[c0 : c0 + D], sb)
            with t("histogram"):
                binner.add(s, hist)
            with t("per-query"):
                sel = (pos_doc >= c0) & (pos_doc < c0 + s.shape[1])
                block_own[sel] = s[pos_row[sel], pos_doc[sel] - c0]
                for r, cnt in enumerate(counts):
                    cnt.add(s[r], c0, own_set=True)
        with t("finish"):
            old._finish_block(counts, qs, n, ps, pq)
    with t("levels"):
        pa = np.concatenate(ps)
        old._levels_binned(hist, pa, m * n - len(pa), NEW.BIN_BITS)


def product(a, b, out):
    """As NumpyBackend.scores: into ``out`` when the shape fits, else a fresh (contiguous) array."""
    return np.matmul(a, b.T, out=out) if out.shape == (len(a), len(b)) else a @ b.T


class Timer:
    def __init__(self):
        self.cpu: dict[str, float] = {}

    def __call__(self, name):
        timer = self

        class _Span:
            def __enter__(self):
                self.c0 = time.process_time()

            def __exit__(self, *exc):
                timer.cpu[name] = timer.cpu.get(name, 0.0) + time.process_time() - self.c0

        return _Span()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default="main")
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    load_rev(args.rev)
    old = sys.modules["auc_rev"]
    q, c, pos = data(args.n, args.queries, args.d)
    runs = {args.rev: Timer(), "new": Timer()}
    for _ in range(args.reps):  # interleaved: both see the same load
        phases_old(old, q, c, pos, runs[args.rev])
        phases_new(q, c, pos, runs["new"])
    names = ["products", "histogram", "per-query", "finish", "levels", "setup"]
    print(
        f"CPU seconds per pass, mean of {args.reps} reps, {args.queries:,}×{args.n:,}, d={args.d}"
        f" (load average {os.getloadavg()[0]:.1f}); in brackets: × the products"
    )
    print(f"{'phase':10s} " + " ".join(f"{k:>18s}" for k in runs))
    for name in names:
        cells = []
        for t in runs.values():
            v, p = t.cpu.get(name, 0.0) / args.reps, t.cpu["products"] / args.reps
            cells.append(f"{v:8.2f} s ({v / p:4.2f}×)")
        print(f"{name:10s} " + " ".join(f"{x:>18s}" for x in cells))
    for k, t in runs.items():
        print(f"{k}: all phases {sum(t.cpu.values()) / t.cpu['products']:.2f}× the products' CPU time")


if __name__ == "__main__":
    main()

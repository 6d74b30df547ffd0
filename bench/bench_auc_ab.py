"""A/B of the all-pairs AUC engine against an earlier revision, in one process (issue 11, item 4).

Loads ``embeval/compute/auc.py`` as it was at ``--rev`` (``git show``) next to the current one,
then times, interleaved rep after rep on the same data: the BLAS bound (the same blocked float32
products alone), the old engine and the new one, and checks that the two engines' outputs are
identical (auc_global, per-query AUCs, positive scores, negative mean/std). Prints every rep and
the minimum of each column and the median per-rep ratios (a shared machine's load varies), in
wall-clock time and in CPU time (``time.process_time``, which the load moves far less).

    python bench/bench_auc_ab.py --rev main --n 200000 --queries 1000 --reps 5

Measured on the project's machine (2 cores shared with 5 other jobs; load average per rep),
1,000 × 200,000, d = 384, ratios to the BLAS bound, median per rep (issue 19, item 6):

    time (UTC)  load      reps  wall: main → new   CPU time: main → new   identical
    09:44       0.3–2.3   3     2.78× (the same code on both sides, 2.25×)   —   yes
    10:16       7.6–10.1  3     1.78× → 1.84×      1.79× → 1.87×          yes
    10:20       6.1–7.0   5     2.69× → 2.12×      2.42× → 1.93×          yes
    10:23       3.5–3.6   5     2.47× → 2.09×      2.47× → 2.07×          yes
    10:25       6.1–6.9   5     1.87× → 2.20×      2.37× → 1.93×          yes
    10:32       3.3–4.0   5     2.38× → 1.97×      2.04× → 1.83×          yes

Wall-clock ratios on this machine move by ±0.5 from rep to rep with the other jobs; the CPU-time
ratio is the steadier figure: 2.0–2.5× before, 1.8–2.1× after. ``bench_auc_phases.py`` splits
it (load 7.0; × the products' CPU time, main → new): histogram 0.61 → 0.52, per-query counts
0.15 → 0.12, levels and moments 0.17 → 0.07, finish and setup 0.03 → 0.03. Three quarters of
the histogram is FAISS's ``ivec_hist`` (16M random increments per block into a ~13 MB table,
bound by cache misses), which the bit-identical moments need at full resolution.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_scale import blas_bound_cross, unit_rows

from embeval.compute.auc import auc_global_query


def load_rev(rev: str):
    root = Path(__file__).resolve().parent.parent
    src = subprocess.run(
        ["git", "-C", str(root), "show", f"{rev}:embeval/compute/auc.py"], check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "auc_rev.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("auc_rev", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["auc_rev"] = mod
    spec.loader.exec_module(mod)
    return mod.auc_global_query


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default="main")
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    old = load_rev(args.rev)
    m, n, d = args.queries, args.n, args.d
    c = unit_rows(n, d, 1)
    rng = np.random.default_rng(2)
    pos = [np.sort(rng.choice(n, size=int(rng.integers(1, 6)), replace=False)) for _ in range(m)]
    q = np.ascontiguousarray(c[[p[0] for p in pos]] + 0.5 * unit_rows(m, d, 3))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    cols = {"blas": [], "old": [], "new": []}
    cpu = {"blas": [], "old": [], "new": []}

    def timed(key, fn):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        cols[key].append(time.perf_counter() - t0)
        cpu[key].append(time.process_time() - c0)
        return out

    for _ in range(args.reps):
        load = os.getloadavg()[0]
        timed("blas", lambda: blas_bound_cross(q, c))
        a = timed("old", lambda: old(q, c, pos))
        b = timed("new", lambda: auc_global_query(q, c, pos))
        same = (
            a.levels.auc() == b.levels.auc()
            and a.neg_mean == b.neg_mean
            and a.neg_std == b.neg_std
            and np.array_equal(a.per_query, b.per_query, equal_nan=True)
            and np.array_equal(a.pos_scores, b.pos_scores)
            and all(
                np.array_equal(getattr(a.levels, f), getattr(b.levels, f)) for f in ("value", "pos", "tied", "above")
            )
        )
        bl, o, nw = cols["blas"][-1], cols["old"][-1], cols["new"][-1]
        cb, co, cn = cpu["blas"][-1], cpu["old"][-1], cpu["new"][-1]
        print(
            f"load {load:4.1f}  blas {bl:.2f} s  {args.rev} {o:.2f} s ({o / bl:.2f}× bound)  new {nw:.2f} s"
            f" ({nw / bl:.2f}× bound)  CPU time: {co / cb:.2f}× / {cn / cb:.2f}×  identical={same}",
            flush=True,
        )
    bl, o, nw = (min(v) for v in cols.values())
    print(f"min over {args.reps} reps, {m:,}×{n:,}, d={d}: blas {bl:.2f} s, {args.rev} {o:.2f} s, new {nw:.2f} s")
    r_old = np.median(np.array(cols["old"]) / np.array(cols["blas"]))
    r_new = np.median(np.array(cols["new"]) / np.array(cols["blas"]))
    c_old = np.median(np.array(cpu["old"]) / np.array(cpu["blas"]))
    c_new = np.median(np.array(cpu["new"]) / np.array(cpu["blas"]))
    speed = np.median(np.array(cols["old"]) / np.array(cols["new"]))
    print(
        f"median per rep: {args.rev} {r_old:.2f}× the BLAS bound, new {r_new:.2f}×; new is {speed:.2f}× faster"
        f" (CPU time: {args.rev} {c_old:.2f}×, new {c_new:.2f}× the bound's)"
    )


if __name__ == "__main__":
    main()

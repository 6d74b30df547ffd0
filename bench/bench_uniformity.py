"""Exact uniformity: embeval's blocked Gram products vs the torch.pdist reference, one process.

  python bench/bench_uniformity.py [--n 20000] [--d 384] [--big 200000]

Prints wall time for both on the same data (n×d random unit rows), their ratio, the absolute
difference of the values, and the peak extra memory (tracemalloc: numpy's allocations) of the
exact computation at n=--big, next to what an n² float32 matrix would take.
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc

import numpy as np

from embeval.diagnostics.geometry import uniformity_exact
from embeval.diagnostics.space import l2_normalize


def reference(x: np.ndarray, t: float = 2.0) -> float:
    import torch

    xt = torch.from_numpy(x)
    return torch.pdist(xt).pow(2).mul(-t).exp().mean().log().item()


def best_of(fn, repeat: int) -> tuple[float, float]:
    times, val = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        val = fn()
        times.append(time.perf_counter() - t0)
    return min(times), val


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--big", type=int, default=200000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import torch

    rng = np.random.default_rng(0)
    x = l2_normalize(rng.standard_normal((args.n, args.d)).astype(np.float32))
    print(f"threads: torch={torch.get_num_threads()}")
    t_ours, v_ours = best_of(lambda: uniformity_exact(x), args.repeat)
    t_ref, v_ref = best_of(lambda: reference(x), max(1, args.repeat - 1))
    print(f"uniformity exact n={args.n} d={args.d}: embeval {t_ours:.3f}s, torch.pdist {t_ref:.3f}s, "
          f"speed-up {t_ref / t_ours:.1f}x, |diff| {abs(v_ours - v_ref):.2e}")

    if args.big:
        xb = l2_normalize(rng.standard_normal((args.big, args.d)).astype(np.float32))
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        val = uniformity_exact(xb)
        dt = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        n2 = args.big * (args.big - 1) // 2 * 4
        print(f"uniformity exact n={args.big}: {dt:.1f}s, value {val:.6f}, peak extra memory "
              f"{peak / 2**20:.1f} MiB (input {xb.nbytes / 2**20:.0f} MiB; an n(n-1)/2 float32 "
              f"matrix would be {n2 / 2**30:.0f} GiB)")
        assert math.isfinite(val)


if __name__ == "__main__":
    main()

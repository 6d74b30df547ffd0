"""Gap diagnostics: timings against reference implementations, side by side in one process.

  python bench/bench_gap.py [--n 10000] [--d 512] [--big 100000]

1. Cross-set uniformity log mean exp(−2‖â_i − b̂_j‖²): embeval's blocked A×B products vs the
   torch.cdist reference (which holds all n_a·n_b distances at once); value difference and ratio.
2. Cross-set uniformity at n_a = n_b = --big: time and peak extra memory (tracemalloc) next to
   what an n_a×n_b float32 matrix would take.
3. Each default diagnostic of ``embeval gap`` on two n×d sets (unpaired and paired), so one can
   see where the time goes.
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc

import numpy as np

from embeval.diagnostics import gap as G
from embeval.diagnostics.space import l2_normalize


def reference_cross(a: np.ndarray, b: np.ndarray, t: float = 2.0) -> float:
    import torch

    d2 = torch.cdist(torch.from_numpy(a), torch.from_numpy(b)).pow(2)
    return d2.mul(-t).exp().mean().log().item()


def best_of(fn, repeat: int):
    times, val = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        val = fn()
        times.append(time.perf_counter() - t0)
    return min(times), val


def sets(rng, n: int, d: int):
    a = l2_normalize(rng.standard_normal((n, d)).astype(np.float32) + 0.3)
    b = l2_normalize(a + rng.standard_normal((n, d)).astype(np.float32) - 0.3)
    return a, b


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--big", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import torch

    rng = np.random.default_rng(0)
    a, b = sets(rng, args.n, args.d)
    print(f"threads: torch={torch.get_num_threads()}")
    t_ours, v_ours = best_of(lambda: G.cross_uniformity(a, b), args.repeat)
    t_ref, v_ref = best_of(lambda: reference_cross(a, b), max(1, args.repeat - 1))
    print(f"cross uniformity {args.n}×{args.n}, d={args.d}: embeval {t_ours:.3f}s, torch.cdist "
          f"{t_ref:.3f}s, ratio {t_ref / t_ours:.1f}x, |diff| {abs(v_ours - v_ref):.2e}")

    if args.big:
        ab, bb = sets(rng, args.big, args.d)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        val = G.cross_uniformity(ab, bb, skip_matched=True)
        dt = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        print(f"cross uniformity {args.big}×{args.big} (partners left out): {dt:.1f}s, value {val:.6f}, "
              f"peak extra memory {peak / 2**20:.1f} MiB (an n×n float32 matrix would be "
              f"{args.big ** 2 * 4 / 2**30:.0f} GiB)")
        assert math.isfinite(val)
        del ab, bb

    from embeval.diagnostics.registry import all_diagnostics

    for paired in (False, True):
        space = G.GapSpace.build(a, b, paired=paired)
        line = []
        for diag in all_diagnostics("gap"):
            if "pairs" in diag.needs and not paired:
                continue
            t0 = time.perf_counter()
            try:
                diag.func(space, **diag.defaults())
            except ImportError as exc:  # the retrieval family is not installed in this checkout
                line.append(f"{diag.name} n/a ({exc.name})")
                continue
            line.append(f"{diag.name} {time.perf_counter() - t0:.2f}s")
        print(f"gap diagnostics, {'paired' if paired else 'unpaired'} {args.n}+{args.n}: " + ", ".join(line))


if __name__ == "__main__":
    main()

"""Benchmark (issue 11): embeval's compute layer at scale, side by side in one process.

Columns, for each task:

- ``cpu``: embeval on the CPU (NumPy/BLAS back end, all cores), and ``×bound``: its time over the
  time of the float32 products alone (same blocks, NumPy's BLAS, measured in this run: the BLAS
  bound; 1.0 would be perfect).
- ``torch-cuda``: embeval's torch back end on the GPU (when CUDA is present).
- ``plain torch``: a plain torch reference (fp32 products, TF32 off, float64 sums) on the GPU when
  present, else on the CPU; and ``|Δ|``: the largest difference between the values embeval
  reported and the reference's.

Tasks (full sizes; ``--quick`` or ``--n`` make them small enough for a laptop):

- uniformity, exact, n = 200,000 and 1,000,000, d = 384
- retrieval, 1,000 queries × 1,000,000 documents: top-100 search + auc_global + auc_query
  (embeval's AUC pass always runs on the CPU; its exact top-k search runs on the device)
- hubness (k = 10), n = 1,000,000: the exact kNN graph, k-occurrence skewness

CPU runs whose estimated time (embeval's cost model) exceeds ``--cpu-max-seconds`` are skipped and
their estimate printed instead.

    PYTHONPATH=. python bench/bench_scale.py --quick          # seconds, any machine
    PYTHONPATH=. python bench/bench_scale.py                  # full sizes (a GPU machine)
    PYTHONPATH=. python bench/bench_scale.py --n 300000 --tasks uniformity,hubness
"""

# ruff: noqa: B023  (the lambdas handed to timed() run at once, inside their loop iteration)
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def unit_rows(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, 1 << 16):
        b = rng.standard_normal((min(n, s + (1 << 16)) - s, d), dtype=np.float32)
        x[s:s + len(b)] = b / np.linalg.norm(b, axis=1, keepdims=True)
    return x


def timed(fn, sync=None):
    if sync:
        sync()
    t0 = time.perf_counter()
    out = fn()
    if sync:
        sync()
    return time.perf_counter() - t0, out


def blas_bound_upper(x: np.ndarray) -> float:
    """Seconds for the float32 products of the upper-triangle pass alone (embeval's block shape)."""
    from embeval.compute.backend import BLOCK_ELEMENTS

    n = len(x)
    b = max(1, BLOCK_ELEMENTS // n)
    t0 = time.perf_counter()
    for s in range(0, n, b):
        x[s:s + b] @ x[s:].T
    return time.perf_counter() - t0


def blas_bound_cross(q: np.ndarray, x: np.ndarray, rows: int = 1024) -> float:
    from embeval.compute.backend import BLOCK_ELEMENTS

    cols = max(1, BLOCK_ELEMENTS // min(rows, len(q)))
    t0 = time.perf_counter()
    for s in range(0, len(q), rows):
        for c in range(0, len(x), cols):
            q[s:s + rows] @ x[c:c + cols].T
    return time.perf_counter() - t0


# ---------------------------------------------------------------- plain torch references


def torch_uniformity(x, dev, t=2.0, block=32768):
    import torch

    xt = torch.from_numpy(x).to(dev)
    n = len(x)
    total = torch.zeros((), dtype=torch.float64, device=dev)
    for s in range(0, n, block):
        g = xt[s:s + block] @ xt[s:].T
        w = g.shape[0]
        g = torch.exp(-t * (2 - 2 * g).clamp_min_(0))
        total += g[:, w:].sum(dtype=torch.float64) + torch.triu(g[:, :w], 1).sum(dtype=torch.float64)
    return math.log(float(total) / (n * (n - 1) / 2))


def torch_auc(q, c, pos, dev):
    """auc_global (pooled) and mean auc_query, exact with ties ½, from sorted scores."""
    import torch

    qt, ct = torch.from_numpy(q).to(dev), torch.from_numpy(c).to(dev)
    m, n = len(q), len(c)
    s = qt @ ct.T                                              # m × n float32
    per_query, pos_all = [], []
    for i in range(m):
        row, _ = torch.sort(s[i])
        p = s[i, torch.from_numpy(pos[i]).to(dev)]
        below = torch.searchsorted(row, p, right=False).double()
        eq = torch.searchsorted(row, p, right=True).double() - below
        pp, _ = torch.sort(p)
        p_below = torch.searchsorted(pp, p, right=False).double()
        p_eq = torch.searchsorted(pp, p, right=True).double() - p_below
        n_neg = n - len(p)
        per_query.append(float(((below - p_below) + 0.5 * (eq - p_eq)).sum()) / (len(p) * n_neg))
        pos_all.append(p)
    pos_all = torch.cat(pos_all)
    flat, _ = torch.sort(s.reshape(-1))
    del s
    below = torch.searchsorted(flat, pos_all, right=False).double()
    eq = torch.searchsorted(flat, pos_all, right=True).double() - below
    pp, _ = torch.sort(pos_all)
    p_below = torch.searchsorted(pp, pos_all, right=False).double()
    p_eq = torch.searchsorted(pp, pos_all, right=True).double() - p_below
    P, N = len(pos_all), m * n - len(pos_all)
    auc_global = float(((below - p_below) + 0.5 * (eq - p_eq)).sum()) / (P * N)
    return auc_global, float(np.mean(per_query))


def torch_hubness(x, dev, k=10, block=8192):
    import torch

    xt = torch.from_numpy(x).to(dev)
    n = len(x)
    occ = torch.zeros(n, dtype=torch.int64, device=dev)
    for s in range(0, n, block):
        g = xt[s:s + block] @ xt.T
        r = torch.arange(g.shape[0], device=dev)
        g[r, r + s] = float("-inf")
        _, idx = torch.topk(g, k, dim=1)
        occ += torch.bincount(idx.reshape(-1), minlength=n)
    o = occ.double()
    c = o - o.mean()
    return float((c ** 3).mean() / (c ** 2).mean() ** 1.5)


# ---------------------------------------------------------------- tasks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (10k uniformity, 1k×20k retrieval, 10k hubness)")
    ap.add_argument("--n", type=int, default=None, help="use this n for every task (documents for retrieval)")
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--tasks", default="uniformity,retrieval,hubness")
    ap.add_argument("--cpu-max-seconds", type=float, default=300.0,
                    help="skip a CPU run whose estimated time is longer (print the estimate)")
    ap.add_argument("--no-cpu", action="store_true", help="GPU columns only")
    args = ap.parse_args()

    from embeval.compute import estimate_seconds, get_backend, knn, upper_pair_sum
    from embeval.compute.kernels import ExpSqDist

    try:
        import torch

        cuda = torch.cuda.is_available()
        dev = "cuda:0" if cuda else "cpu"
        torch_ok = True
    except ImportError:
        cuda, dev, torch_ok = False, "cpu", False
    sync = (lambda: torch.cuda.synchronize()) if cuda else None
    cpu = get_backend("cpu")
    gpu = get_backend("cuda:0") if cuda else None

    if args.quick:
        sizes = {"uniformity": [10_000], "retrieval": [20_000], "hubness": [10_000]}
    elif args.n:
        sizes = {t: [args.n] for t in ("uniformity", "retrieval", "hubness")}
    else:
        sizes = {"uniformity": [200_000, 1_000_000], "retrieval": [1_000_000], "hubness": [1_000_000]}
    d = args.d
    print(f"# bench_scale: d={d}, CPU cores={os.cpu_count()}, torch={'yes' if torch_ok else 'no'}, "
          f"GPU={torch.cuda.get_device_name(0) if cuda else 'none'}")
    print(f"{'task':<34} {'cpu s':>9} {'×bound':>7} {'torch-cuda s':>13} {'plain torch s':>14} {'|Δ| value':>10}")

    def row(task, cpu_s, ratio, gpu_s, ref_s, delta):
        def f(v):
            return "-" if v is None else (v if isinstance(v, str) else f"{v:.2f}")

        print(f"{task:<34} {f(cpu_s):>9} {f(ratio):>7} {f(gpu_s):>13} {f(ref_s):>14} "
              f"{'-' if delta is None else f'{delta:.1e}':>10}", flush=True)

    def cpu_allowed(kind, pairs):
        est = estimate_seconds(kind, pairs, d, cpu)
        return (not args.no_cpu and est <= args.cpu_max_seconds), est

    for task in args.tasks.split(","):
        for n in sizes[task]:
            if task == "uniformity":
                x = unit_rows(n, d, 0)
                pairs = n * (n - 1) / 2
                ok, est = cpu_allowed("pair_sum", pairs)
                vals = {}
                cpu_s = ratio = None
                if ok:
                    cpu_s, tot = timed(lambda: upper_pair_sum(x, ExpSqDist(2.0), backend=cpu))
                    vals["cpu"] = math.log(tot / pairs)
                    ratio = cpu_s / blas_bound_upper(x)
                else:
                    cpu_s = f"~{est:.0f} est"
                gpu_s = None
                if gpu is not None:
                    gpu_s, tot = timed(lambda: upper_pair_sum(x, ExpSqDist(2.0), backend=gpu), sync)
                    vals["gpu"] = math.log(tot / pairs)
                ref_s = None
                if torch_ok and (cuda or ok):
                    ref_s, vals["ref"] = timed(lambda: torch_uniformity(x, dev), sync)
                delta = max((abs(v - vals["ref"]) for k, v in vals.items() if k != "ref"), default=None) \
                    if "ref" in vals else None
                row(f"uniformity n={n:,}", cpu_s, ratio, gpu_s, ref_s, delta)
            elif task == "retrieval":
                from embeval.diagnostics.qrels import align_qrels
                from embeval.diagnostics.retrieval import evaluate_aligned

                m = args.queries
                c = unit_rows(n, d, 1)
                rng = np.random.default_rng(2)
                pos = [np.sort(rng.choice(n, size=int(rng.integers(1, 6)), replace=False)) for _ in range(m)]
                q = np.ascontiguousarray(c[[p[0] for p in pos]] + 0.5 * unit_rows(m, d, 3))
                q /= np.linalg.norm(q, axis=1, keepdims=True)
                qrels = {str(i): {str(j): 1 for j in p} for i, p in enumerate(pos)}
                aligned = align_qrels(qrels, [str(i) for i in range(m)], [str(j) for j in range(n)])
                ok, est = cpu_allowed("topk", float(m) * n * 3)
                vals = {}
                cpu_s = ratio = None

                def run(be):
                    out = evaluate_aligned(q, c, aligned, ks=(10, 100), backend=be)
                    r = {x.metric: x.value for x in out.results}
                    return r["auc_global"], r["auc_query"]

                if ok:
                    cpu_s, vals["cpu"] = timed(lambda: run(None))
                    ratio = cpu_s / (2 * blas_bound_cross(q, c))  # search + AUC pass: two product passes
                else:
                    cpu_s = f"~{est:.0f} est"
                gpu_s = None
                if gpu is not None:
                    gpu_s, vals["gpu"] = timed(lambda: run(gpu), sync)
                ref_s = None
                if torch_ok and (cuda or ok):
                    ref_s, vals["ref"] = timed(lambda: torch_auc(q, c, pos, dev), sync)
                delta = max((max(abs(a - b) for a, b in zip(v, vals["ref"])) for k, v in vals.items() if k != "ref"),
                            default=None) if "ref" in vals else None
                row(f"retrieval {m:,}×{n:,} (AUC+top-100)", cpu_s, ratio, gpu_s, ref_s, delta)
                if ok:  # the all-pairs AUC pass alone against one pass of products
                    from embeval.compute.auc import auc_global_query

                    auc_s, _ = timed(lambda: auc_global_query(q, c, pos))
                    row(f"  AUC pass only {m:,}×{n:,}", auc_s, auc_s / blas_bound_cross(q, c), None, None, None)
            elif task == "hubness":
                from embeval.diagnostics.geometry import k_occurrence, skewness

                x = unit_rows(n, d, 4)
                ok, est = cpu_allowed("topk", float(n) * n)
                vals = {}
                cpu_s = ratio = None

                def hub(be):
                    _, idx = knn(x, 10, backend=be)
                    return skewness(k_occurrence(idx, n))

                if ok:
                    cpu_s, vals["cpu"] = timed(lambda: hub(cpu))
                    ratio = cpu_s / blas_bound_cross(x, x)
                else:
                    cpu_s = f"~{est:.0f} est"
                gpu_s = None
                if gpu is not None:
                    gpu_s, vals["gpu"] = timed(lambda: hub(gpu), sync)
                ref_s = None
                if torch_ok and (cuda or ok):
                    ref_s, vals["ref"] = timed(lambda: torch_hubness(x, dev), sync)
                delta = max((abs(v - vals["ref"]) for k, v in vals.items() if k != "ref"), default=None) \
                    if "ref" in vals else None
                row(f"hubness k=10 n={n:,}", cpu_s, ratio, gpu_s, ref_s, delta)


if __name__ == "__main__":
    main()

"""GPU check (issue 11), one command for a session that has an NVIDIA GPU:

    PYTHONPATH=. python bench/gpu_check.py            # parity + end-to-end + bench (≈ 6-8 min on one H100)

1. device: GPU name, memory, torch/CUDA versions; TF32 really off after embeval's back end loads.
2. parity, embeval's NumPy back end vs its torch back end on CUDA (n = 20,000, d = 384): pair sums
   (uniformity, mam pairwise, anisotropy-type), exact kNN and top-k search, histograms, class sums,
   within the documented bound (README "Devices, budgets and estimated forms").
3. out-of-memory fallback: a pair sum asked to use blocks larger than the free GPU memory still
   finishes (blocks halve) with the same value.
4. end to end: ``embeval geometry --exact`` on n = 20,000 with ``--device cpu`` and ``--device
   cuda``: every value within the bound; then the default run on n = 1,000,000 with ``--device
   cuda``, timed (target ≤ 60 s), and ``--exact`` uniformity at n = 1,000,000 (target ≤ 20 s).
5. ``bench/bench_scale.py`` at full sizes (``--skip-bench`` to leave it out).
6. cluster tiles (issue 25): a ``LocalCluster`` (``--cluster-workers``, default 1 per GPU) over 4
   shards (n = 20,000, d = 384): the geometry report with every worker on ``cpu`` (NumPy) and on
   ``cuda`` (torch), timed side by side; hubness (counts on the kNN lists) identical, uniformity
   within 4·t·2γ_d, mam within the relative 1e-5 of step 2; ``settings["devices"]`` says which
   device each worker used. ``--cluster-only`` runs this step alone (≈ 1 min).

``--allow-cpu`` runs steps 2-4 and 6 with the torch back end on CPU tensors and small sizes (to
test this script without a GPU). Exit 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
FAILED: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"  [{'ok' if ok else 'FAIL'}] {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILED.append(name)


def unit_rows(n, d, seed):
    x = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def embeval_json(*args: str, ok: tuple[int, ...] = (0,)) -> tuple[dict, float]:
    """The JSON report of ``embeval ARGS`` run as a whole process, and its wall time; an exit code
    outside ``ok`` stops the check (1 is a failed gate or finding: the report is still whole)."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "embeval", *args, "-q", "-f", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    dt = time.perf_counter() - t0
    if res.returncode not in ok:
        raise SystemExit(f"embeval {' '.join(args)} failed ({res.returncode}): {res.stderr.strip()}")
    return json.loads(res.stdout), dt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--allow-cpu", action="store_true")
    ap.add_argument("--skip-bench", action="store_true")
    ap.add_argument("--cluster-only", action="store_true", help="only step 6 (cluster tiles)")
    ap.add_argument("--cluster-workers", type=int, default=0, help="LocalCluster workers (default: GPUs, or 2)")
    args = ap.parse_args()
    import torch

    from embeval.compute import (
        AbsAngleMargin,
        CosineSlots,
        Dot,
        ExpSqDist,
        dot_error_bound,
        get_backend,
        knn,
        search,
        upper_pair_sum,
    )

    cuda = torch.cuda.is_available()
    if not cuda and not args.allow_cpu:
        print("no CUDA device: run on a GPU machine (or --allow-cpu to test this script)")
        return 2
    if args.cluster_only:
        cluster_check(cuda, args.cluster_workers)
        print("FAILED: " + ", ".join(FAILED) if FAILED else "all checks passed")
        return 1 if FAILED else 0
    print("1. device")
    if cuda:
        p = torch.cuda.get_device_properties(0)
        print(f"  {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}")
    gpu = get_backend("cuda:0") if cuda else get_backend("cpu", engine="torch")
    cpu = get_backend("cpu")
    check("TF32 off", not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32)

    small = 20_000 if cuda else 3_000
    d = 384
    eps = dot_error_bound(d)
    print(f"2. parity NumPy vs torch ({gpu.device}), n={small:,}, d={d}, 2γ_d={eps:.2e}")
    x = unit_rows(small, d, 0)
    pairs = small * (small - 1) / 2
    for kernel, bound in ((ExpSqDist(2.0), 4 * 2.0 * eps), (Dot(), pairs * eps), (AbsAngleMargin(), None)):
        a = upper_pair_sum(x, kernel, backend=cpu)
        b = upper_pair_sum(x, kernel, backend=gpu)
        if isinstance(kernel, ExpSqDist):
            diff = abs(math.log(a / pairs) - math.log(b / pairs))
        elif isinstance(kernel, Dot):
            diff = abs(a - b)
        else:  # no Lipschitz bound near ±1: compare the means relatively
            diff, bound = abs(a - b) / abs(a), 1e-5
        check(f"pair sum {type(kernel).__name__}", diff <= bound, f"|Δ| = {diff:.2e} ≤ {bound:.2e}")
    s1, i1 = knn(x, 10, backend=cpu)
    s2, i2 = knn(x, 10, backend=gpu)
    check("kNN scores", float(np.abs(s1 - s2).max()) <= eps, f"max |Δ| = {np.abs(s1 - s2).max():.2e}")
    check("kNN indices", float((i1 == i2).mean()) > 0.999, f"{(i1 == i2).mean():.6f} identical")
    q = unit_rows(500, d, 1)
    t1, j1 = search(q, x, 100, backend=cpu)
    t2, j2 = search(q, x, 100, backend=gpu)
    check(
        "top-100 search",
        float(np.abs(t1 - t2).max()) <= eps and float((j1 == j2).mean()) > 0.999,
        f"max |Δ| = {np.abs(t1 - t2).max():.2e}, {(j1 == j2).mean():.6f} identical",
    )
    binner = CosineSlots(scale=50.0, offset=50.0, nbins=100)
    pc, pg = cpu.put(x), gpu.put(x)
    h1 = cpu.histogram(pc, pc, slice(0, 2000), slice(0, small), binner, skip_diagonal=True)
    h2 = gpu.histogram(pg, pg, slice(0, 2000), slice(0, small), binner, skip_diagonal=True)
    moved = int(np.abs(h1 - h2).sum())
    check("histogram", moved <= 2 * 2000 * small * 1e-5, f"{moved} of {2000 * small:,} pairs in another bin")
    codes = np.arange(small) % 7
    c1, c2 = cpu.class_sums(pc, slice(0, small), codes, 7), gpu.class_sums(pg, slice(0, small), codes, 7)
    check("class sums", float(np.abs(c1 - c2).max()) < 1e-9, f"max |Δ| = {np.abs(c1 - c2).max():.1e}")

    print("3. out-of-memory fallback")
    if cuda:
        n_oom = 200_000  # one block of all pairs = 160 GB of float32: more than any GPU holds
        x_oom = unit_rows(n_oom, d, 5)
        free, _ = torch.cuda.mem_get_info()
        t0 = time.perf_counter()
        v = upper_pair_sum(x_oom, ExpSqDist(2.0), backend=gpu, block_elements=n_oom * n_oom)
        t_oom = time.perf_counter() - t0
        w = upper_pair_sum(x_oom, ExpSqDist(2.0), backend=gpu)
        check(
            f"OOM → smaller blocks, same value ({free / 2**30:.0f} GiB free, {t_oom:.1f} s)",
            abs(v - w) <= 1e-9 * abs(w),
            f"{v!r} vs {w!r}",
        )
        del x_oom
    else:
        print("  (skipped without CUDA)")

    print("4. end to end")
    dev = "cuda" if cuda else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.npy")
        np.save(path, unit_rows(small, d, 2) + 0.3 * unit_rows(1, d, 9))
        a, ta = embeval_json("geometry", path, "--exact", "--device", "cpu")
        b, tb = embeval_json("geometry", path, "--exact", "--device", dev)
        va = {(r["metric"], json.dumps(r["params"], sort_keys=True)): r["value"] for r in a["results"]}
        vb = {(r["metric"], json.dumps(r["params"], sort_keys=True)): r["value"] for r in b["results"]}
        worst = max(abs(va[k] - vb[k]) / max(1.0, abs(va[k])) for k in va)
        check(
            f"geometry --exact cpu ({ta:.1f} s) vs {dev} ({tb:.1f} s)",
            va.keys() == vb.keys() and worst <= 1e-4,
            f"largest relative |Δ| = {worst:.1e}",
        )
        if cuda:
            big = os.path.join(tmp, "big.npy")
            arr = np.lib.format.open_memmap(big, mode="w+", dtype="f4", shape=(1_000_000, d))
            for s in range(0, 1_000_000, 100_000):
                arr[s : s + 100_000] = unit_rows(100_000, d, 10 + s)
            arr.flush()
            del arr
            doc, t = embeval_json("geometry", big, "--device", "cuda")
            est = [r["metric"] for r in doc["results"] if r["params"].get("exact") is False]
            print(
                f"  default geometry n=1,000,000 on cuda: {t:.1f} s whole process (target ≤ 60 s); "
                f"estimated: {est or 'none'}; settings {doc['settings']}"
            )
            doc, t = embeval_json("geometry", big, "--device", "cuda", "--exact", "-m", "uniformity")
            print(
                f"  exact uniformity n=1,000,000 on cuda: {t:.1f} s whole process (target ≤ 20 s), "
                f"value {doc['results'][0]['value']:.6f}"
            )
    if not args.skip_bench:
        print("5. bench/bench_scale.py")
        sys.stdout.flush()
        cmd = [sys.executable, os.path.join(ROOT, "bench", "bench_scale.py")]
        if not cuda:
            cmd.append("--quick")
        subprocess.run(cmd, check=False, env={**os.environ, "PYTHONPATH": ROOT})
    cluster_check(cuda, args.cluster_workers)
    print("FAILED: " + ", ".join(FAILED) if FAILED else "all checks passed")
    return 1 if FAILED else 0


def cluster_check(cuda: bool, workers: int = 0) -> None:
    """Step 6: the same geometry report on a LocalCluster with NumPy tiles and with torch tiles
    (CUDA, or CPU tensors with --allow-cpu), timed side by side, compared within the bounds."""
    import importlib.util

    print("6. cluster tiles: NumPy vs torch on a LocalCluster")
    if importlib.util.find_spec("distributed") is None:
        print("  (skipped: dask[distributed] not installed)")
        return
    import torch

    from embeval.compute import dot_error_bound
    from embeval.distributed.cluster import open_client
    from embeval.distributed.devices import on_devices
    from embeval.distributed.geometry import geometry_report_distributed
    from embeval.io.shards import scan_shards

    n, d = (20_000, 384) if cuda else (3_000, 64)
    workers = workers or (torch.cuda.device_count() if cuda else 2)
    metrics = ["uniformity", "hubness(k=10)", "mam", "mam(mode=pairwise)", "anisotropy"]
    eps = dot_error_bound(d)
    with tempfile.TemporaryDirectory() as tmp:
        x = unit_rows(n, d, 21) + 0.3 * unit_rows(1, d, 22)
        for i, rows in enumerate(np.array_split(np.arange(n), 4)):
            np.save(os.path.join(tmp, f"part{i}.npy"), x[rows])
        sharded = scan_shards(tmp)
        with open_client(f"local:{workers}") as client:
            runs = {}
            for name, dev, engine in (("numpy", "cpu", None), ("torch", "cuda" if cuda else "cpu", "torch")):
                dc = on_devices(client, dev, engine=engine, rows=n)
                t0 = time.perf_counter()
                rep = geometry_report_distributed(dc, sharded, metrics=metrics)
                runs[name] = (rep, time.perf_counter() - t0, dc.device_counts())
        (a, ta, da), (b, tb, db) = runs["numpy"], runs["torch"]
        print(
            f"  {workers} worker(s), n={n:,}, d={d}, 4 shards: NumPy tiles {ta:.1f} s on {da}, "
            f"torch tiles {tb:.1f} s on {db} (×{ta / max(tb, 1e-9):.1f})"
        )
        check(
            "cluster: torch workers on the GPU" if cuda else "cluster: torch workers (CPU tensors)",
            all(k.startswith("cuda") for k in db) if cuda else db == {"cpu": workers},
            str(db),
        )
        for r, s in zip(a.results, b.results):
            if r.metric == "uniformity":
                bound = 4 * r.params["t"] * eps
                diff = abs(r.value - s.value)
            elif r.metric in ("hubness_skew", "antihub_share", "hub_occurrence"):
                bound, diff = 0.0, abs(r.value - s.value)
            else:  # mam, anisotropy: relative, as step 2's AbsAngleMargin
                bound, diff = 1e-5, abs(r.value - s.value) / max(abs(r.value), 1e-12)
            check(
                f"cluster {r.metric} {r.params or ''}",
                r.metric == s.metric and diff <= bound,
                f"|Δ| = {diff:.2e} ≤ {bound:.2e}",
            )


if __name__ == "__main__":
    sys.exit(main())

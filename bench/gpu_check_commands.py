"""GPU check of the commands built on the compute layer (part of ``bench/gpu_check.sh``).

For each command with O(n²) or O(q·n) work (retrieval's ranking and all-pairs AUC, audit, diff,
gap, sweep index's exact ground truth, sweep compress), runs the same whole process twice on the
same synthetic data, ``--device cpu`` then ``--device cuda``, and prints side by side the wall
times, the speed-up and the largest relative difference over every value both reports computed
exactly. Timings, throughput, memory and build-time outputs are not compared (they are
measurements of the machine, not of the space).

    python bench/gpu_check_commands.py                 # n = 50,000, d = 384 on a GPU machine
    python bench/gpu_check_commands.py --allow-cpu --n 4000   # checks the script itself (cpu vs cpu)

Data: ``n`` unit rows with a shared offset (anisotropic, like real text embeddings); 1,000 queries
= noisy copies of random corpus rows, each judging its source row relevant (plus two others); a
NEW model for diff = a random rotation of the corpus plus noise, projected to d/2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_check import embeval_json

MEASUREMENTS = ("qps", "time", "seconds", "memory", "bytes", "build", "latency", "_s")
FAILED: list[str] = []


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_data(tmp: str, n: int, d: int, q: int, seed: int = 0) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    corpus = unit(rng.standard_normal((n, d), dtype=np.float32) + 0.4 * rng.standard_normal(d, dtype=np.float32))
    src = rng.choice(n, size=q, replace=False)
    queries = unit(corpus[src] + 0.8 * rng.standard_normal((q, d), dtype=np.float32) / math.sqrt(d) * 4)
    rot, _ = np.linalg.qr(rng.standard_normal((d, d)))
    new = unit((corpus @ rot.astype(np.float32))[:, : d // 2] + 0.05 * rng.standard_normal((n, d // 2), dtype="f4"))
    new_q = unit((queries @ rot.astype(np.float32))[:, : d // 2])
    paths = {k: os.path.join(tmp, f"{k}.npy") for k in ("corpus", "queries", "new", "new_q", "half_a", "half_b")}
    np.save(paths["corpus"], corpus)
    np.save(paths["queries"], queries)
    np.save(paths["new"], new)
    np.save(paths["new_q"], new_q)
    np.save(paths["half_a"], corpus[: n // 2])
    np.save(paths["half_b"], unit(corpus[n // 2 :] + 0.1))
    qrels = os.path.join(tmp, "qrels.tsv")
    with open(qrels, "w") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for i, s in enumerate(src):
            for doc in (s, (s + 1) % n, (s + 7) % n):
                fh.write(f"{i}\t{doc}\t1\n")
    paths["qrels"] = qrels
    return paths


def exact_values(doc: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in doc.get("results", []):
        name = r.get("metric", "")
        params = r.get("params", {}) or {}
        if params.get("exact") is False or any(m in name for m in MEASUREMENTS):
            continue
        if not isinstance(r.get("value"), (int, float)) or r["value"] is None:
            continue
        out[f"{name} {json.dumps(params, sort_keys=True)}"] = float(r["value"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--allow-cpu", action="store_true", help="no CUDA: compare cpu with cpu (tests the script)")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest relative |Δ| allowed (float32 GEMM rounding)")
    a = ap.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not a.allow_cpu:
        print("no CUDA device: run on a GPU machine (or --allow-cpu to test this script)")
        return 2
    dev = "cuda" if cuda else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        p = make_data(tmp, a.n, a.d, a.queries)
        q_args = ["--queries", p["queries"], "--qrels", p["qrels"]]
        commands = {
            "retrieval (ranking + AUC)": ["retrieval", "--corpus", p["corpus"], *q_args, "--exact"],
            "audit": ["audit", p["corpus"], "--queries", p["queries"], "--exact"],
            "diff": ["diff", p["corpus"], p["new"], "--queries-old", p["queries"], "--queries-new", p["new_q"],
                     "--qrels", p["qrels"], "--exact"],
            "gap": ["gap", p["half_a"], p["half_b"], "--exact"],
            "sweep index (truth)": ["sweep", "index", p["corpus"], "--queries", p["queries"], "--kinds", "ivf",
                                    "--nprobe", "1,8"],
            "sweep compress": ["sweep", "compress", p["corpus"], "--queries", p["queries"]],
        }
        print(f"commands on n={a.n:,}, d={a.d}, {a.queries:,} queries: --device cpu vs --device {dev}")
        print(f"  {'command':28} {'cpu s':>8} {dev + ' s':>8} {'speed-up':>9} {'values':>7} {'max rel Δ':>10}")
        for name, args in commands.items():
            try:
                doc_c, t_c = embeval_json(*args, "--device", "cpu", ok=(0, 1))
                doc_g, t_g = embeval_json(*args, "--device", dev, ok=(0, 1))
            except SystemExit as exc:
                print(f"  [FAIL] {name}: {exc}")
                FAILED.append(name)
                continue
            vc, vg = exact_values(doc_c), exact_values(doc_g)
            shared = sorted(set(vc) & set(vg))
            worst = max((abs(vc[k] - vg[k]) / max(1.0, abs(vc[k])) for k in shared), default=math.nan)
            ok = bool(shared) and vc.keys() == vg.keys() and worst <= a.tol
            print(f"  {name:28} {t_c:8.1f} {t_g:8.1f} {t_c / t_g:8.2f}× {len(shared):7d} {worst:10.1e}"
                  f"{'' if ok else '  FAIL'}", flush=True)
            if not ok:
                FAILED.append(name)
    print("FAILED: " + ", ".join(FAILED) if FAILED else "all command checks passed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())

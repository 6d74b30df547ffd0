"""Whole-process wall time of ``embeval audit`` vs ``vecscope audit --sample 0`` on the same file.

    python bench/bench_audit_vs_vecscope.py                 # n = 20,000 and 50,000, d = 384
    python bench/bench_audit_vs_vecscope.py --sizes 20000   # one size

Data: a seeded mixture of 200 Gaussian clusters on the sphere (text-embedding-like: anisotropic,
clustered), float32, written once to a temporary .npy. Both tools audit every row exactly
(embeval: ``--exact``; vecscope: ``--sample 0``); embeval also computes the isotropic baselines
(cached after the first run: the first run of each n, d is timed separately). Prints one line per
size with both times (wall and CPU: on a shared machine CPU time is the steadier figure) and the
ratios vecscope / embeval. Needs ``pip install vecscope``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, d)) + 2.0 * rng.standard_normal(d)
    x = centres[rng.integers(0, 200, n)] + 1.5 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode not in (0, 1):  # 1: a finding failed, still a complete audit
        sys.exit(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr[-2000:]}")
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20000,50000")
    ap.add_argument("--d", type=int, default=384)
    args = ap.parse_args()
    vecscope = shutil.which("vecscope") or str(Path(sys.executable).with_name("vecscope"))
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(root), "EMBEVAL_CACHE_DIR": str(Path(tmp) / "cache")}
        print(f"cpu cores: {os.cpu_count()}, d = {args.d}")
        for n in (int(s) for s in args.sizes.split(",")):
            f = Path(tmp) / f"x{n}.npy"
            np.save(f, make(n, args.d))
            emb = [sys.executable, "-m", "embeval", "audit", str(f), "-q", "--exact", "--format", "json"]
            first, _ = timed(emb, env)  # fills the baseline cache
            e, ec = timed(emb, env)
            v, vc = timed([vecscope, "audit", str(f), "--sample", "0", "--json"], env)
            print(
                f"n={n:>7,}  embeval audit {e:6.1f} s wall {ec:6.1f} s CPU (first run {first:.1f} s wall)  |  "
                f"vecscope audit --sample 0 {v:6.1f} s wall {vc:6.1f} s CPU  |  ratio wall {v / e:.2f}x, "
                f"CPU {vc / ec:.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()

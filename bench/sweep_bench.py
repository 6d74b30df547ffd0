"""Sweep benchmarks (issue 23). Two parts, each printed as a table with the time it took:

1. ``compress``: the compression sweep on SciFact (5,183 docs, 300 test queries, the default
   model's vectors from bench/encode_scifact.py) next to the published all-MiniLM-L6-v2 retention
   (sentence-transformers/mixedbread embedding-quantization study, MTEB retrieval average with
   rescoring: int8 90.79%, binary 93.79%; different data).
2. ``index``: the index sweep at 200,000 × 384 synthetic unit vectors (200 Gaussian clusters in a
   32-dimensional latent space, see :func:`clustered`), 1,000 queries sampled from the corpus
   (seeded), default grid and budget.

    PYTHONPATH=. python bench/sweep_bench.py compress /tmp/sweep_data ../shared/data/scifact/qrels/test.tsv
    PYTHONPATH=. python bench/sweep_bench.py index [N] [BUDGET_S]

3. ``truth``: the sweeps' exact ground truth (top-10 of 1,000 queries) at N × 384 (default 10⁶) on
   ``DEVICE`` (default cuda), timed, and checked equal to NumPy on the CPU for 20 queries:

    PYTHONPATH=. python bench/sweep_bench.py truth [N] [DEVICE]     # a GPU session: seconds
"""

import sys
import time

import numpy as np


def clustered(n: int, d: int, clusters: int, latent: int = 32, seed: int = 0) -> np.ndarray:
    """Unit rows: Gaussian clusters in a ``latent``-dimensional space, mapped to d dimensions by a
    random linear map, plus small isotropic noise. A low intrinsic dimension makes neighbours a
    continuum as in real embeddings (IVF recall@10 at nprobe=1 ≈ 0.5 at n = 50,000; iid clusters in
    all d dimensions give ≈ 0.99 and flatter the indexes)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, latent)).astype(np.float32)
    z = centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, latent)).astype(np.float32)
    w = rng.standard_normal((latent, d)).astype(np.float32) / np.sqrt(latent)
    x = z @ w + 0.1 * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main() -> None:
    from embeval.progress import as_progress
    from embeval.python_api import sweep_compress, sweep_index
    from embeval.report.render import to_markdown

    what = sys.argv[1]
    t0 = time.perf_counter()
    if what == "compress":
        folder, qrels = sys.argv[2], sys.argv[3]
        rep = sweep_compress(
            f"{folder}/corpus.npz", queries=f"{folder}/queries.npz", qrels=qrels, dims="128,256", rescore="0,4"
        )
        print(to_markdown(rep.raw))
        print("published all-MiniLM-L6-v2 (MTEB retrieval avg, rescore x4): int8 90.79%, binary 93.79%")
    elif what == "truth":
        from embeval.sweep.common import exact_truth

        n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
        device = sys.argv[3] if len(sys.argv) > 3 else "cuda"
        x = clustered(n, 384, 200)
        q = x[np.random.default_rng(1).choice(n, 1000, replace=False)]
        t1 = time.perf_counter()
        truth, info = exact_truth(x, q, k=10, ks=[10], aligned=None, device=device)
        dt = time.perf_counter() - t1
        cpu, _ = exact_truth(x, q[:20], k=10, ks=[10], aligned=None, device="cpu")
        same = bool((cpu.exact_idx == truth.exact_idx[:20]).all())
        print(f"exact top-10 of 1,000 queries x {n:,} x 384 on {info['device']}: {dt:.2f} s; equal to CPU: {same}")
    else:
        n = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
        budget = float(sys.argv[3]) if len(sys.argv) > 3 else 600.0
        x = clustered(n, 384, 200)
        print(f"data {x.shape} in {time.perf_counter() - t0:.1f} s", flush=True)
        rep = sweep_index(x, n_queries=1000, budget=budget, progress=as_progress(True))
        print(to_markdown(rep.raw))
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

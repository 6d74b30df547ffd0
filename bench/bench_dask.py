"""Scale-out: throughput per Dask worker (1 vs 2 local worker processes) for exact uniformity over
a sharded corpus and for retrieval of --queries queries against it (top-k + every (query, doc)
pair counted for the AUCs), against the single-process run of the same data; then a capacity
plan for 10^8 vectors worked from the measured per-worker throughput.

  python bench/bench_dask.py [--n 32000] [--d 384] [--shards 16] [--queries 1000] [--workers 1,2]

The issue asks for 2M × 384 in 16 shards; exact uniformity on 2M rows is 2·10^12 pairs (hours on
2 cores), so the default here is smaller: the figures are per pair / per score, and the plan
scales them. Each worker is one process with one BLAS thread; the single-process reference uses
every core. Prints JSON lines, then the plan.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np


def make_data(root: Path, n: int, d: int, shards: int, m: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    (root / "corpus").mkdir()
    bounds = np.linspace(0, n, shards + 1).astype(int)
    src = rng.integers(0, n, m)
    queries = np.empty((m, d), dtype=np.float32)
    for i in range(shards):
        a, b = bounds[i], bounds[i + 1]
        x = rng.standard_normal((b - a, d), dtype=np.float32)
        sel = (src >= a) & (src < b)
        # Noise 12× the signal: the source document is usually but not always on top (AUC ≈ 0.95).
        queries[sel] = x[src[sel] - a] + 12 * rng.standard_normal((int(sel.sum()), d), dtype=np.float32)
        np.save(root / "corpus" / f"part{i:03d}.npy", x)
    np.save(root / "queries.npy", queries)
    with open(root / "qrels.tsv", "w") as fh:
        for i, s in enumerate(src):
            fh.write(f"{i}\t{s}\t1\n")


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def worker_cpu(client) -> float:
    """CPU seconds used so far by every worker process together (robust to a shared machine)."""
    return sum(client.run(time.process_time).values())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=32_000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--no-single", action="store_true", help="skip the single-process reference")
    args = ap.parse_args()

    import os

    from embeval.api import geometry_report, retrieval_report
    from embeval.distributed.cluster import open_client
    from embeval.distributed.geometry import geometry_report_distributed
    from embeval.distributed.retrieval import retrieval_report_distributed
    from embeval.io.embeddings import load_embeddings
    from embeval.io.qrels import load_qrels
    from embeval.io.shards import scan_shards

    n, d, m = args.n, args.d, args.queries
    print(json.dumps({"cores": os.cpu_count(), "load_average_1min": os.getloadavg()[0]}), flush=True)
    pairs = n * (n - 1) / 2
    scores = m * n
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_data(root, n, d, args.shards, m)
        corpus = str(root / "corpus" / "*.npy")
        base = {"n": n, "d": d, "shards": args.shards, "queries": m}
        single = {}
        if not args.no_single:
            t, rep = timed(lambda: geometry_report(corpus, metrics=["uniformity"], exact=True))
            single["uniformity"] = rep.results[0].value
            rows.append(
                {
                    **base,
                    "what": "uniformity",
                    "where": "one process",
                    "seconds": round(t, 2),
                    "pairs_per_s": pairs / t,
                    "value": rep.results[0].value,
                }
            )
            t, rep = timed(lambda: retrieval_report(root / "queries.npy", corpus, root / "qrels.tsv", k="10"))
            auc = next(r.value for r in rep.results if r.metric == "auc_global")
            single["auc_global"] = auc
            rows.append(
                {
                    **base,
                    "what": "retrieval",
                    "where": "one process",
                    "seconds": round(t, 2),
                    "scores_per_s": scores / t,
                    "auc_global": auc,
                }
            )
            for r in rows:
                print(json.dumps(r), flush=True)
        sharded = scan_shards(corpus)
        q = load_embeddings(root / "queries.npy")
        qrels = load_qrels(root / "qrels.tsv")
        per_worker = {}
        for w in [int(x) for x in args.workers.split(",")]:
            with open_client(f"local:{w}") as client:
                client.run(lambda: None)  # workers up
                c0 = worker_cpu(client)
                t, rep = timed(lambda: geometry_report_distributed(client, sharded, metrics=["uniformity"]))
                cpu = worker_cpu(client) - c0
                u = rep.results[0].value
                row = {
                    **base,
                    "what": "uniformity",
                    "where": f"dask local:{w}",
                    "seconds": round(t, 2),
                    "pairs_per_s": pairs / t,
                    "pairs_per_s_per_worker": pairs / t / w,
                    "worker_cpu_s": round(cpu, 2),
                    "pairs_per_cpu_s": pairs / cpu,
                    "value": u,
                }
                if "uniformity" in single:
                    row["abs_diff_vs_one_process"] = abs(u - single["uniformity"])
                print(json.dumps(row), flush=True)
                per_worker.setdefault("uniformity", []).append((w, pairs / cpu))
                c0 = worker_cpu(client)
                t, rep = timed(
                    lambda: retrieval_report_distributed(
                        client, q.vectors, q.ids, sharded, qrels, inputs={}, sources=("q", "c", "r"), k="10"
                    )
                )
                cpu = worker_cpu(client) - c0
                auc = next(r.value for r in rep.results if r.metric == "auc_global")
                row = {
                    **base,
                    "what": "retrieval",
                    "where": f"dask local:{w}",
                    "seconds": round(t, 2),
                    "scores_per_s": scores / t,
                    "scores_per_s_per_worker": scores / t / w,
                    "worker_cpu_s": round(cpu, 2),
                    "scores_per_cpu_s": scores / cpu,
                    "auc_global": auc,
                }
                if "auc_global" in single:
                    row["auc_equal_to_one_process"] = auc == single["auc_global"]
                print(json.dumps(row), flush=True)
                per_worker.setdefault("retrieval", []).append((w, scores / cpu))
    print(json.dumps({"load_average_1min": os.getloadavg()[0]}), flush=True)
    plan(per_worker, d)


def plan(per_worker: dict, d: int, n: float = 1e8, m: int = 1000, cores: int = 2048, shard_rows: int = 250_000) -> None:
    """Capacity plan for n vectors from the measured throughput per worker CPU-second (one core each):
    ``cores`` single-threaded workers (e.g. 64 nodes × 32), shards of ``shard_rows`` rows."""
    if not per_worker:
        return
    from embeval.distributed.tiles import CACHE_SHARDS

    up = max(v for _, v in per_worker["uniformity"])
    rp = max(v for _, v in per_worker["retrieval"])
    pairs = n * (n - 1) / 2
    shards = math.ceil(n / shard_rows)
    shard_gb = shard_rows * d * 4 / 1e9
    print(
        f"\ncapacity plan: n = {n:.0e}, d = {d}: {n * d * 4 / 1e9:,.0f} GB float32 in {shards} shards of "
        f"{shard_rows:,} rows ({shard_gb:.2f} GB each); {cores:,} single-threaded workers (e.g. 64 nodes × 32)"
    )
    print(
        f"  measured per worker CPU-second (one core, this machine): uniformity {up:.3g} pairs/s; "
        f"retrieval {rp:.3g} (query, doc) scores/s (two passes, top-k and AUC counts)"
    )
    tiles_u = shards * (shards + 1) // 2
    tile_u = shard_rows * shard_rows / up  # seconds for one off-diagonal shard-pair tile
    print(
        f"  exact uniformity: {pairs:.2e} pairs in {tiles_u:,} shard-pair tiles ({tile_u / 60:,.0f} min each) = "
        f"{pairs / up / 3600:,.0f} core-hours -> {math.ceil(tiles_u / cores) * tile_u / 3600:,.1f} h on "
        f"{cores:,} workers ({math.ceil(tiles_u / cores)} rounds of tiles)"
    )
    tile_r = m * shard_rows / rp
    print(
        f"  retrieval, {m:,} queries: {m * n:.1e} scores = {m * n / rp / 3600:,.2f} core-hours in {shards} shard "
        f"tiles ({tile_r:,.0f} s each, so at most {shards} workers busy) -> "
        f"{math.ceil(shards / cores) * tile_r:,.0f} s "
        f"+ reading {n * d * 4 / 1e9:,.0f} GB twice (one read per pass)"
    )
    print(
        f"  memory per worker: up to {CACHE_SHARDS} cached shards ({CACHE_SHARDS * shard_gb:.1f} GB) + one 64 MiB "
        f"block of products + the queries; driver: the queries, the merged top-k (m×k) and the counts, no per-row state"
    )
    print(
        "  (exact kNN diagnostics cost as much as uniformity and send n×k to the driver; under --budget the "
        "cluster estimates them on seeded query rows, and uniformity from sampled pairs)"
    )


if __name__ == "__main__":
    main()

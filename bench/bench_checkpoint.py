"""Resumable cluster runs: what ``--checkpoint`` costs and what a rerun saves. On one LocalCluster
(reached by address, so no start-up is timed), side by side in one run:

1. geometry (uniformity + hubness) and retrieval without a checkpoint;
2. the same with ``checkpoint=`` a new folder (every tile computed and written);
3. the same again with that folder (every tile loaded, nothing computed);

with wall times, the folder's size and file count, and whether the three reports are the same JSON.

  python bench/bench_checkpoint.py [--n 20000] [--d 64] [--shards 8] [--queries 500] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def make_data(root: Path, n: int, d: int, shards: int, m: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    (root / "corpus").mkdir()
    bounds = np.linspace(0, n, shards + 1).astype(int)
    x = rng.standard_normal((n, d), dtype=np.float32)
    for i in range(shards):
        np.save(root / "corpus" / f"part{i:03d}.npy", x[bounds[i] : bounds[i + 1]])
    src = rng.integers(0, n, m)
    np.save(root / "queries.npy", x[src] + 2 * rng.standard_normal((m, d), dtype=np.float32))
    (root / "qrels.tsv").write_text("".join(f"{i}\t{s}\t1\n" for i, s in enumerate(src)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    import distributed

    from embeval.api import geometry_report, retrieval_report

    with (
        tempfile.TemporaryDirectory() as tmp,
        distributed.LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50
        ) as cluster,
    ):
        root = Path(tmp)
        make_data(root, args.n, args.d, args.shards, args.queries)
        addr = cluster.scheduler_address
        runs = {
            "geometry uniformity+hubness": lambda **kw: geometry_report(
                root / "corpus", metrics=["uniformity", "hubness(k=10)"], cluster=addr, **kw
            ),
            "retrieval": lambda **kw: retrieval_report(
                root / "queries.npy", root / "corpus", root / "qrels.tsv", k="1,10,100", cluster=addr, **kw
            ),
        }
        for name, run in runs.items():
            ck = root / f"ck-{name.split()[0]}"
            walls, reports = {}, {}
            phases = (("none", {}), ("write", {"checkpoint": ck}), ("resume", {"checkpoint": ck}), ("none again", {}))
            for phase, kw in phases:
                t0 = time.perf_counter()
                reports[phase] = run(**kw).to_json()
                walls[phase] = round(time.perf_counter() - t0, 2)
            files = list(ck.glob("*.npz"))
            print(
                json.dumps(
                    {
                        "run": name,
                        "n": args.n,
                        "d": args.d,
                        "shards": args.shards,
                        "workers": args.workers,
                        "wall_s": walls,
                        "tile_files": len(files),
                        "checkpoint_bytes": sum(f.stat().st_size for f in files),
                        "same_json": len(set(reports.values())) == 1,
                    }
                )
            )


if __name__ == "__main__":
    main()

"""Driver (client) peak memory of a cluster run as the corpus grows: does the driver hold per-row
state? Generates n × d float32 rows (d small) in tiny ``.npy`` shards, then runs, each in a fresh
driver process, (1) ``scan_shards`` alone (what the driver does before any task: shard headers
and every id), (2) ``geometry -m anisotropy`` on ``local:W`` (an O(n·d) pass: one task per
shard, the driver only merges d × d moments) and (3) ``hubness(k=10)`` (the exact kNN graph:
shards² tiles; the driver gets the n × k lists; use a smaller n). The driver's peak RSS is ``VmHWM`` of its own
process (workers are other processes; not ``ru_maxrss``, which on Linux starts from the parent's
RSS at ``fork``: this script's, after it wrote the data); the baseline is an idle driver that
only imports embeval.

With ``--format parquet`` the shards are Parquet files with a string ``id`` column (``doc<row>``),
and two more runs compare the id check before and after the ids stayed with their shards:
``scan`` is the one-process scan (every id read into the driver, one global ``np.unique``), and
``scan-cluster`` is what a cluster run does now: ``scan_shards(read_ids=False)`` (footers only)
then ``check_unique`` on ``local:W`` (the hash partition on the workers; the LocalCluster's
scheduler runs in the driver process, so its memory is counted too).

  python bench/bench_driver_memory.py [--n 1000000] [--d 16] [--shards 100] [--workers 2]
      [--format npy|parquet] [--what idle,scan,scan-cluster,geometry,hubness]

Run it from outside the repository with PYTHONPATH pointing at the checkout to measure (the
driver is ``python -c``, which puts the working directory first on sys.path).

Prints one JSON line per run: n, shards, what, wall seconds, driver peak MiB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DRIVER = r"""
import json, sys, time
what, spec, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
import embeval.api  # noqa: F401
t0 = time.perf_counter()
if what == "scan":
    from embeval.io.shards import scan_shards
    s = scan_shards(spec)
    n = s.n
elif what == "scan-cluster":
    from embeval.distributed.cluster import open_client
    from embeval.distributed.ids import check_unique
    from embeval.io.shards import scan_shards
    with open_client(f"local:{workers}") as client:
        t0 = time.perf_counter()  # the cluster's start-up is not the scan
        s = scan_shards(spec, read_ids=False)
        check_unique(client, s)
elif what == "geometry":
    from embeval.api import geometry_report
    r = geometry_report(spec, metrics=["anisotropy"], cluster=f"local:{workers}")
    n = r.inputs["embeddings"]["n"] if "embeddings" in r.inputs else None
elif what == "hubness":
    from embeval.api import geometry_report
    r = geometry_report(spec, metrics=["hubness(k=10)"], cluster=f"local:{workers}")
else:
    n = 0
wall = time.perf_counter() - t0
with open("/proc/self/status") as fh:  # VmHWM: this process's own peak (see the docstring)
    peak = int(next(l for l in fh if l.startswith("VmHWM:")).split()[1]) / 1024
print(json.dumps({"wall_s": round(wall, 2), "peak_mib": round(peak, 1)}))
"""


def make(root: Path, n: int, d: int, shards: int, fmt: str = "npy") -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    bounds = np.linspace(0, n, shards + 1).astype(int)
    for i in range(shards):
        rows = int(bounds[i + 1] - bounds[i])
        x = rng.standard_normal((rows, d)).astype(np.float32)
        if fmt == "npy":
            np.save(root / f"part{i:05d}.npy", x)
            continue
        ids = pa.array([f"doc{j}" for j in range(int(bounds[i]), int(bounds[i + 1]))])
        emb = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), d)
        pq.write_table(pa.table({"id": ids, "embedding": emb}), root / f"part{i:05d}.parquet")
    return str(root / f"*.{fmt}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--shards", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--format", choices=("npy", "parquet"), default="npy")
    ap.add_argument("--what", default="idle,scan,geometry")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = make(Path(tmp), args.n, args.d, args.shards, args.format)
        for what in args.what.split(","):
            out = subprocess.run(
                [sys.executable, "-c", DRIVER, what, spec, str(args.workers)],
                capture_output=True,
                text=True,
                check=True,
            )
            got = json.loads(out.stdout.strip().splitlines()[-1])
            row = {"n": args.n, "d": args.d, "shards": args.shards, "format": args.format, "what": what, **got}
            print(json.dumps(row), flush=True)
            time.sleep(0.5)


if __name__ == "__main__":
    main()

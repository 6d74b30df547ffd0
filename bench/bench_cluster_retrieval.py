"""Retrieval over a sharded Parquet corpus with string ids on a real Dask cluster, started as a
user would: ``dask scheduler`` and W × ``dask worker --nthreads 1`` processes (this venv's ``dask``
command, each in its own empty working directory), and the driver ``embeval retrieval --cluster
tcp://...`` in a child process. Measures what issue 25 asks of the driver: wall time, its peak
memory and the bytes it receives, so the numbers say whether the driver grows with the corpus.

  python bench/bench_cluster_retrieval.py [--n 1000000] [--d 64] [--shards N/250000] [--queries 1000]
      [--workers 2] [--dir DIR] [--keep] [--compare] [--k 1,10,100]

Data (written shard by shard: at most one shard's rows, ``--shard-rows`` default 250,000, are in
memory at once, so 10⁷ × 64 needs ~0.5 GB of RAM to generate): ``DIR/corpus/partNNNNN.parquet``
with columns ``id`` (string ``doc<row>``) and ``embedding`` (FixedSizeList<float32>[d]), rows of a
rank-16 signal plus noise; ``DIR/queries.npy`` (each query a corpus row plus noise, rows chosen
before the corpus is written and taken as their shard goes by); ``DIR/qrels.tsv`` judging 3
documents per query (its source row, grade 2, and two random rows, grade 1). Disk:
n × (4·d + ~12) bytes (10⁷ × 64: ~2.7 GB); the script prints the size it wrote.

Measured, for the driver process (the one that runs ``embeval retrieval``):

- ``wall_s``: the CLI's run, from ``main()`` to its exit (imports excluded: they are the same in
  any run);
- ``driver_peak_mib``: the driver process's peak resident memory, ``VmHWM`` of
  ``/proc/self/status`` (workers and the scheduler are other processes). Not ``ru_maxrss``: Linux
  carries the parent's RSS at ``fork`` into a child's ``ru_maxrss`` across ``exec``, so a child
  started by a big parent reports at least the parent's size (measured: 464 MiB for every driver
  run after this script had written 10⁶ rows);
- ``driver_in_mb``: bytes the driver received from the scheduler and the workers: the payload of
  every message read on its Dask TCP comms (``distributed.comm.tcp.read_bytes_rw`` wrapped with a
  counter in the driver process; the 8-byte length prefixes are not counted). Files the driver
  opens itself (queries, qrels, shard footers) are not in it;
- ``worker_peak_mib``: ``VmHWM`` of each worker process after the run (asked with
  ``Client.run`` from this script, not the driver).

``--compare`` also runs one process on the same shards (no cluster) and checks that the report's
values and the ``--run`` file are the same (the run file byte for byte). ``--before CHECKOUT`` runs
the same cluster retrieval with another checkout (driver and workers), e.g. the commit before the
ids stayed with their shards: ``mkdir /tmp/before && git archive dfe3f5c | tar -x -C /tmp/before``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DASK = str(Path(sys.executable).with_name("dask"))

DRIVER = r"""
import json, sys, time
def peak_mib():  # VmHWM: this process's own peak RSS (see the module docstring)
    with open("/proc/self/status") as fh:
        return round(int(next(l for l in fh if l.startswith("VmHWM:")).split()[1]) / 1024, 1)
from embeval.cli import main  # imports first: the same in every run
got = [0]
try:  # count the payload bytes of every message this process receives over Dask's TCP comms
    import distributed.comm.tcp as tcp
    _read = tcp.read_bytes_rw
    async def _counted(stream, n):
        got[0] += n
        return await _read(stream, n)
    tcp.read_bytes_rw = _counted
except ImportError:
    pass
sys.argv = ["embeval", *sys.argv[1:]]
t0 = time.perf_counter()
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
wall = time.perf_counter() - t0
print(json.dumps({"rc": code, "wall_s": round(wall, 2), "in_bytes": got[0],
                  "peak_mib": peak_mib()}))
"""


def make(root: Path, n: int, d: int, shard_rows: int, m: int, seed: int = 0) -> dict:
    """Write the corpus shards, the queries and the qrels (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((16, d)).astype(np.float32)
    src = np.sort(rng.choice(n, m, replace=False))
    others = rng.integers(0, n, (m, 2))
    (root / "corpus").mkdir(parents=True)
    queries = np.empty((m, d), dtype=np.float32)
    for i, start in enumerate(range(0, n, shard_rows)):
        stop = min(n, start + shard_rows)
        r = np.random.default_rng([seed, i])
        x = (r.standard_normal((stop - start, 16), dtype=np.float32) @ basis) + 0.5 * r.standard_normal(
            (stop - start, d), dtype=np.float32
        )
        here = (src >= start) & (src < stop)
        queries[here] = x[src[here] - start] + 0.6 * r.standard_normal((int(here.sum()), d), dtype=np.float32)
        ids = pa.array([f"doc{j}" for j in range(start, stop)], type=pa.string())
        emb = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel(), type=pa.float32()), d)
        pq.write_table(pa.table({"id": ids, "embedding": emb}), root / "corpus" / f"part{i:05d}.parquet")
        del x, ids, emb
    np.save(root / "queries.npy", queries)
    with open(root / "qrels.tsv", "w") as fh:
        for q in range(m):
            fh.write(f"{q}\tdoc{src[q]}\t2\n")
            for o in others[q]:
                if o != src[q]:
                    fh.write(f"{q}\tdoc{o}\t1\n")
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    return {"disk_mb": round(size / 1e6, 1), "shards": len(list((root / "corpus").iterdir()))}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, limit: float = 60.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.3)
    raise RuntimeError(f"the scheduler did not listen on {port} within {limit} s")


@contextlib.contextmanager
def cluster(root: Path, workers: int, memory_limit: str, repo: Path = REPO):
    """A ``dask scheduler`` and ``workers`` × ``dask worker --nthreads 1``, each in its own empty
    working directory under ``root``, with ``repo`` first on PYTHONPATH; stopped by pid."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    procs = []
    try:
        wd = root / "cwd-scheduler"
        wd.mkdir()
        log = open(wd / "log", "w")  # noqa: SIM115 (closed with the process)
        cmd = [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
        procs.append((subprocess.Popen(cmd, cwd=wd, env=env, stdout=log, stderr=log), log))
        _wait_port(port)
        for w in range(workers):
            wd = root / f"cwd-worker{w}"
            wd.mkdir()
            log = open(wd / "log", "w")  # noqa: SIM115
            cmd = [DASK, "worker", addr, "--nthreads", "1", "--memory-limit", memory_limit, "--name", f"w{w}"]
            procs.append((subprocess.Popen(cmd, cwd=wd, env=env, stdout=log, stderr=log), log))
        import distributed

        with distributed.Client(addr, timeout="60s") as c:
            c.wait_for_workers(workers, timeout=120)
        yield addr
    finally:
        for p, log in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.close()


def _vmhwm_mib() -> float:
    with open("/proc/self/status") as fh:
        return int(next(line for line in fh if line.startswith("VmHWM:")).split()[1]) / 1024


def worker_peaks(addr: str) -> list[float]:
    import distributed

    def peak() -> float:
        return _vmhwm_mib()

    with distributed.Client(addr, timeout="60s") as c:
        return [round(v, 1) for _, v in sorted(c.run(peak).items())]


def drive(root: Path, tag: str, cluster_addr: str | None, k: str, repo: Path = REPO) -> dict:
    """``embeval retrieval`` in a child process (see DRIVER); its measurements and outputs."""
    out = root / f"{tag}.json"
    run = root / f"{tag}.trec"
    args = ["retrieval", "--queries", str(root / "queries.npy"), "--corpus", str(root / "corpus")]
    args += ["--qrels", str(root / "qrels.tsv"), "--k", k, "-q", "-f", "json", "-o", str(out), "--run", str(run)]
    if cluster_addr:
        args += ["--cluster", cluster_addr]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, *args], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        raise RuntimeError(f"driver failed ({proc.returncode}): {proc.stderr[-2000:]}")
    got = json.loads(lines[-1])
    if got["rc"]:
        raise RuntimeError(f"embeval exited {got['rc']}: {proc.stderr[-2000:]}")
    return {**got, "report": out, "run": run}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--shard-rows", type=int, default=250_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="6GiB", help="per worker (dask worker --memory-limit)")
    ap.add_argument("--k", default="1,10,100")
    ap.add_argument("--dir", type=Path, default=None, help="where the data goes (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the data (reused by a later run with the same --dir)")
    ap.add_argument("--compare", action="store_true", help="also run one process and compare the outputs")
    ap.add_argument(
        "--before",
        type=Path,
        default=None,
        help="another checkout of embeval (e.g. an older commit) run on the same cluster data too",
    )
    args = ap.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="embeval-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        if (root / "qrels.tsv").exists():
            data = {"disk_mb": round(sum(f.stat().st_size for f in root.rglob("*.parquet")) / 1e6, 1)}
            data["shards"] = len(list((root / "corpus").glob("*.parquet")))
            print(f"reusing the data in {root}", flush=True)
        else:
            data = make(root, args.n, args.d, args.shard_rows, args.queries)
        print(
            f"data: {args.n:,} × {args.d} in {data['shards']} Parquet shards, {data['disk_mb']:,} MB on disk "
            f"({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        for f in root.glob("cwd-*"):
            shutil.rmtree(f)
        rows = []
        runs = [("cluster", REPO)] + ([("before", args.before.resolve())] if args.before else [])
        for name, repo in runs:  # a fresh cluster each: the workers' peaks are their own run's
            with cluster(root, args.workers, args.memory_limit, repo) as addr:
                got = drive(root, name, addr, args.k, repo)
                got["worker_peak_mib"] = worker_peaks(addr)
                rows.append((name, got))
            for f in root.glob("cwd-*"):
                shutil.rmtree(f)
        if args.compare:
            rows.append(("one process", drive(root, "single", None, args.k)))
        load = os.getloadavg()[0]
        head = f"{'run':<12} {'wall s':>8} {'driver peak MiB':>16} {'driver in MB':>13}  worker peaks MiB"
        print(f"\n{head}  (load1 {load:.1f})")
        for name, g in rows:
            peaks = ", ".join(f"{v:,.0f}" for v in g.get("worker_peak_mib", [])) or "-"
            print(f"{name:<12} {g['wall_s']:>8.1f} {g['peak_mib']:>16,.0f} {g['in_bytes'] / 1e6:>13.1f}  {peaks}")
        summary = {
            "n": args.n,
            "d": args.d,
            "shards": data["shards"],
            "queries": args.queries,
            "workers": args.workers,
            "disk_mb": data["disk_mb"],
            **{
                f"{name.replace(' ', '_')}_{key}": g[key]
                for name, g in rows
                for key in ("wall_s", "peak_mib", "in_bytes", "worker_peak_mib")
                if key in g
            },
        }
        if args.compare:
            r1 = json.loads(rows[0][1]["report"].read_text())["results"]
            r2 = json.loads(rows[-1][1]["report"].read_text())["results"]
            same = [a["metric"] for a, b in zip(r1, r2) if a["value"] == b["value"]]
            rel = max(
                (abs(a["value"] - b["value"]) / max(abs(a["value"]), 1e-300) for a, b in zip(r1, r2)), default=0.0
            )
            run_same = rows[0][1]["run"].read_bytes() == rows[-1][1]["run"].read_bytes()
            print(f"compare: {len(same)}/{len(r1)} values identical (max relative difference {rel:.2g}); ", end="")
            print(f"run file identical: {run_same}")
            summary.update(
                {"identical_values": f"{len(same)}/{len(r1)}", "max_rel_diff": rel, "run_identical": run_same}
            )
        print(json.dumps(summary))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Property-based fuzzing of every loader: random bytes, truncations, byte mutations and splices of
valid files. Whatever the bytes, a loader either returns or raises a typed EmbevalError (the CLI's
exit 2 with one line); never any other exception. Through the CLI, the same inputs give exit 0 or
2, one stderr line, and never a traceback.

Budget: a fixed number of derandomised examples per loader (``EXAMPLES``), no per-example deadline;
the whole module runs in about 20-40 s on 2 cores.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embeval.errors import EmbevalError

EXAMPLES = 120
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _parquet(cols) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    return buf.getvalue()


V = np.random.default_rng(0).standard_normal((6, 3)).astype("f4")
IDS = [f"x{i}" for i in range(6)]
CSV = "id,d0,d1,d2\n" + "".join(f"{i}," + ",".join(f"{x:.4f}" for x in row) + "\n" for i, row in zip(IDS, V))
JSONL = "".join(json.dumps({"id": i, "embedding": row.tolist()}) + "\n" for i, row in zip(IDS, V))
TEXTS_JSONL = "".join(json.dumps({"id": f"t{i}", "text": f"text number {i}", "label": i % 2}) + "\n" for i in range(6))
TEXTS_CSV = "id,text,label\n" + "".join(f"t{i},text number {i},{i % 2}\n" for i in range(6))
PAIRS_CSV = "text_a,text_b,score\n" + "".join(f"a {i},b {i},{i / 2}\n" for i in range(6))
PAIRS_JSONL = "".join(json.dumps({"text_a": f"a {i}", "text_b": f"b {i}", "score": i / 2}) + "\n" for i in range(6))
STSB = "".join(f"main-news\tfile\t2012\t{i:04d}\t{i / 2}\ta {i}\tb {i}\n" for i in range(6))
QRELS = "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(6))
CONFIG = ('[settings]\nseed = 1\n[[datasets]]\nname = "a"\nkind = "embeddings"\npath = "a.npy"\n'
          '[[jobs]]\ncommand = "geometry"\nmetrics = ["uniformity"]\noptions = { sample = 10 }\n')
REPORT = json.dumps({"embeval_version": "0.1.0", "command": "geometry", "inputs": {}, "settings": {},
                     "results": [{"metric": "uniformity", "value": -2.0, "params": {"t": 2.0}, "n": 6,
                                  "ci_low": None, "ci_high": None, "higher_is_better": False}],
                     "gates": [], "passed": True})


def _loaders() -> dict[str, tuple[str, bytes, Callable[[Path], object]]]:
    from embeval.batch import load_config
    from embeval.io.embeddings import load_embeddings, load_stacked_pair
    from embeval.io.labels import load_labels
    from embeval.io.pairs import load_pairs
    from embeval.io.qrels import load_qrels
    from embeval.io.texts import load_texts
    from embeval.report.compare import load_side

    return {
        "emb_npy": (".npy", _npy(V), load_embeddings),
        "emb_npz": (".npz", _npz(embedding=V, id=np.array(IDS)), load_embeddings),
        "emb_parquet": (".parquet", _parquet({"id": IDS, "embedding": V.tolist()}), load_embeddings),
        "emb_csv": (".csv", CSV.encode(), load_embeddings),
        "emb_tsv": (".tsv", CSV.replace(",", "\t").encode(), load_embeddings),
        "emb_jsonl": (".jsonl", JSONL.encode(), load_embeddings),
        "stacked_npy": (".npy", _npy(np.stack([V, V + 1])), load_stacked_pair),
        "texts_txt": (".txt", b"first text\nsecond text\n", load_texts),
        "texts_jsonl": (".jsonl", TEXTS_JSONL.encode(), load_texts),
        "texts_csv": (".csv", TEXTS_CSV.encode(), load_texts),
        "texts_parquet": (".parquet", _parquet({"id": IDS, "text": [f"t {i}" for i in range(6)]}), load_texts),
        "labels_txt": (".txt", b"a\nb\na\nb\n", load_labels),
        "labels_csv": (".csv", b"label\na\nb\na\n", load_labels),
        "labels_jsonl": (".jsonl", b'{"label": "a"}\n{"label": "b"}\n', load_labels),
        "labels_npy": (".npy", _npy(np.array([0, 1, 0, 1])), load_labels),
        "pairs_csv": (".csv", PAIRS_CSV.encode(), load_pairs),
        "pairs_jsonl": (".jsonl", PAIRS_JSONL.encode(), load_pairs),
        "pairs_stsb": (".csv", STSB.encode(), load_pairs),
        "qrels_tsv": (".tsv", QRELS.encode(), load_qrels),
        "config_toml": (".toml", CONFIG.encode(), lambda p: load_config(p, out_dir=p.parent / "out")),
        "report_json": (".json", REPORT.encode(), load_side),
    }


LOADERS = _loaders()


@st.composite
def hostile_bytes(draw, valid: bytes):
    """Random bytes, a truncation, byte mutations, or a splice of random bytes into a valid file."""
    kind = draw(st.sampled_from(["random", "truncate", "mutate", "splice"]))
    if kind == "random":
        return draw(st.binary(min_size=0, max_size=400))
    if kind == "truncate":
        return valid[:draw(st.integers(0, max(0, len(valid) - 1)))]
    data = bytearray(valid)
    if kind == "mutate":
        for _ in range(draw(st.integers(1, 8))):
            if data:
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    at = draw(st.integers(0, len(data)))
    return bytes(data[:at]) + draw(st.binary(min_size=1, max_size=40)) + bytes(data[at:])


def _run(loader, suffix: str, payload: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"input{suffix}"
        p.write_bytes(payload)
        np.save(Path(d) / "a.npy", V)  # what the fuzzed config refers to
        with contextlib.suppress(EmbevalError):  # a typed error is fine; anything else fails the test
            loader(p)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_loader_raises_only_typed_errors(name):
    suffix, valid, loader = LOADERS[name]
    _run(loader, suffix, valid)  # the seed file itself loads

    @FUZZ
    @given(hostile_bytes(valid))
    def fuzz(payload):
        _run(loader, suffix, payload)

    fuzz()


@pytest.mark.parametrize("name", ["emb_npy", "emb_npz", "emb_csv", "emb_jsonl", "emb_parquet"])
def test_cli_gives_exit_0_or_2_never_a_traceback(name, cli):
    suffix, valid, _ = LOADERS[name]

    @settings(max_examples=EXAMPLES // 3, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(hostile_bytes(valid))
    def fuzz(payload):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / f"input{suffix}"
            p.write_bytes(payload)
            out = Path(d) / "r.json"
            res = cli("geometry", p, "-q", "-m", "uniformity", "-o", out)
            assert "Traceback" not in res.stdout + res.stderr
            assert res.exit_code in (0, 2), (res.exit_code, res.stderr)
            if res.exit_code == 2:
                assert len(res.stderr.strip().splitlines()) == 1 and not out.exists(), res.stderr
            else:  # ran: with -q nothing at all on stderr (no stray warnings)
                assert res.stderr == "", res.stderr

    fuzz()


def _trec_run_loader():
    from embeval.io.trec import read_run

    return read_run


TREC_RUN = "".join(f"q{i} Q0 d{j} {j + 1} {1.0 - j / 10} tag\n" for i in range(3) for j in range(4)).encode()


def test_trec_run_reader_raises_only_typed_errors():
    loader = _trec_run_loader()
    _run(loader, ".run", TREC_RUN)

    @FUZZ
    @given(hostile_bytes(TREC_RUN))
    def fuzz(payload):
        _run(loader, ".run", payload)

    fuzz()


FAISS_FUZZ = r'''
import random, resource, sys
import numpy as np, faiss
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a corrupt header must not eat the machine
from embeval.errors import EmbevalError
from embeval.io.embeddings import load_embeddings
x = np.random.default_rng(0).standard_normal((10, 4)).astype("f4")
seeds = {}
for kind in ("flat", "idmap", "hnsw", "ivf"):
    if kind == "flat":
        idx = faiss.IndexFlatIP(4)
    elif kind == "idmap":
        idx = faiss.IndexIDMap(faiss.IndexFlatIP(4))
    elif kind == "hnsw":
        idx = faiss.IndexHNSWFlat(4, 8)
    else:
        idx = faiss.IndexIVFFlat(faiss.IndexFlatIP(4), 4, 2)
        idx.cp.min_points_per_centroid = 1
        idx.train(x)
    idx.add_with_ids(x, np.arange(10) * 7) if kind == "idmap" else idx.add(x)
    faiss.write_index(idx, "v.faiss")
    seeds[kind] = open("v.faiss", "rb").read()
r = random.Random(0)
for i in range(int(sys.argv[1])):
    data = bytearray(seeds[r.choice(sorted(seeds))])
    op = r.choice(("trunc", "mut", "rand"))
    if op == "trunc":
        data = data[: r.randrange(len(data))]
    elif op == "mut":
        for _ in range(r.randint(1, 6)):
            data[r.randrange(len(data))] = r.randrange(256)
    else:
        data = bytearray(r.randbytes(r.randint(1, 300)))
    open("f.faiss", "wb").write(bytes(data))
    try:
        load_embeddings("f.faiss")
    except EmbevalError:
        pass
print("ok")
'''


def test_faiss_index_reader_raises_only_typed_errors(tmp_path):
    """FAISS parses index files in C++: fuzzed in a child process (a crash would be a signal exit,
    not a failed assertion here), under a 3 GiB address-space limit."""
    import subprocess
    import sys

    pytest.importorskip("faiss")
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    res = subprocess.run([sys.executable, "-c", FAISS_FUZZ, "300"], cwd=tmp_path, capture_output=True, text=True,
                         env=env, timeout=300, check=False)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-3000:]

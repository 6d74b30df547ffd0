"""Corpus ids on a cluster stay with their shards (embeval.distributed.ids): the driver reads no id
column and builds no array of every id, yet the report, the TREC run file and the errors for
repeated or missing ids are those of one process."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from embeval.api import retrieval_report
from embeval.distributed import ids as dids
from embeval.errors import InputError
from embeval.io import shards as io_shards
from embeval.io.shards import scan_shards

N, D, M = 600, 16, 60
BOUNDS = (0, 90, 91, 330, 600)  # uneven shards, one of a single row


@pytest.fixture(scope="module")
def cluster(dask_client):
    """(address, client) of the run's shared LocalCluster of 2 worker processes (tests/conftest.py)."""
    return dask_client.scheduler.address, dask_client


def _parquet(path, x, ids):
    pd.DataFrame({"id": ids, "embedding": list(x)}).to_parquet(path)


def _write_shards(folder, x, ids, bounds=BOUNDS):
    folder.mkdir()
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        _parquet(folder / f"part{i}.parquet", x[a:b], ids[a:b])
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """600 × 16 Parquet rows with string ids in no sorted order (row order ≠ id order), as one
    file and as 4 shards; 60 queries near corpus rows, graded qrels with some grade-0 judgements."""
    root = tmp_path_factory.mktemp("ids")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((N, D)).astype(np.float32)
    ids = [f"doc-{v:05d}" for v in rng.permutation(99_999)[:N]]
    _parquet(root / "full.parquet", x, ids)
    _write_shards(root / "shards", x, ids)
    src = rng.integers(0, N, M)
    np.save(root / "queries.npy", x[src] + 0.7 * rng.standard_normal((M, D)).astype(np.float32))
    with open(root / "qrels.tsv", "w") as fh:
        for i, s in enumerate(src):
            fh.write(f"{i}\t{ids[s]}\t2\n")
            for j in rng.choice(N, 3, replace=False):
                if j != s:
                    fh.write(f"{i}\t{ids[j]}\t{int(rng.integers(0, 2))}\n")
    return root, x, ids


def test_bucket_of_is_the_same_in_every_process(cluster):
    _, client = cluster
    ids = np.array(["a", "doc-1", "doc-10", "é€😀", "x" * 40, "doc-1"])
    mine = dids.bucket_of(ids, 7)
    assert mine[1] == mine[5] and set(mine.tolist()) <= set(range(7))
    # independent of the array's width (a shard's widest id) and of the process (Python's hash is not)
    np.testing.assert_array_equal(dids.bucket_of(ids[:3].astype("<U60"), 7), mine[:3])
    for theirs in client.run(dids.bucket_of, ids, 7).values():
        np.testing.assert_array_equal(theirs, mine)
    spread = np.bincount(dids.bucket_of(np.array([f"d{i}" for i in range(7000)]), 7), minlength=7)
    assert spread.min() > 800  # about 1000 each: a usable partition


@pytest.mark.parametrize("buckets", [1, 3, 8])
def test_duplicates_found_on_workers_as_in_one_process(cluster, data, tmp_path, buckets):
    _, client = cluster
    _, x, ids = data
    cases = {
        "across": [*ids[:200], ids[5], *ids[201:]],  # row 200 repeats row 5 (another shard)
        "within": [*ids[:100], ids[95], *ids[101:]],  # row 100 repeats row 95 (same shard)
        "many": [*ids[:300], *ids[:300]],  # 300 ids repeated
    }
    for name, case in cases.items():
        folder = _write_shards(tmp_path / name, x, case)
        with pytest.raises(InputError) as one:
            scan_shards(folder)  # one process: every id in memory, one np.unique
        lazy = scan_shards(folder, read_ids=False)
        assert lazy.ids_on_shards and "ids" not in vars(lazy)
        with pytest.raises(InputError) as many:
            dids.check_unique(client, lazy, buckets=buckets)
        assert str(many.value) == str(one.value), name
    dids.check_unique(client, scan_shards(data[0] / "shards", read_ids=False), buckets=buckets)  # unique: no error


def test_rows_of_and_ids_at_equal_the_ids_in_memory(cluster, data, tmp_path):
    _, client = cluster
    root, x, _ = data
    np.save(tmp_path / "a.npy", x[:50])
    np.save(tmp_path / "b.npy", x[50:80])
    for spec in (root / "shards", tmp_path):  # ids in the shards; row numbers (.npy)
        full = scan_shards(spec)
        every = full.ids
        lazy = scan_shards(spec, read_ids=False)
        rng = np.random.default_rng(3)
        rows = np.unique(rng.integers(0, full.n, 40))
        for s in (full, lazy):
            np.testing.assert_array_equal(dids.ids_at(client, s, rows), every[rows])
            wanted = [*every[rows].tolist(), "absent", "007", str(full.n)]
            assert dids.rows_of(client, s, wanted) == {str(every[r]): int(r) for r in rows}


def _same_reports(one, two):
    assert [(r.metric, r.params, r.n) for r in one.results] == [(r.metric, r.params, r.n) for r in two.results]
    assert len(one.results) > 0
    for a, b in zip(one.results, two.results):
        assert b.value == pytest.approx(a.value, rel=1e-7, abs=1e-10, nan_ok=True), a.metric
        if ("@" in a.metric and not a.metric.startswith("fpr@")) or a.metric == "auc_query":
            assert b.value == a.value, a.metric  # ranking metrics and the per-query AUC: bit for bit
    assert one.per_query == two.per_query


def test_cluster_retrieval_reads_no_id_in_the_driver(cluster, data, monkeypatch):
    """The report equals one process's on the same Parquet shards, while every way the driver
    could read or gather the corpus ids raises."""
    address, _ = cluster
    root, _, _ = data
    args = (root / "queries.npy", root / "shards", root / "qrels.tsv")
    single = retrieval_report(*args, per_query=True, k="1,5,10")
    assert single.value("ndcg@10") > 0.2

    def forbidden(*a, **k):
        raise AssertionError("the driver read or gathered corpus ids")

    real_read = io_shards._parquet_read

    def footer_only(src, p, id_col, vector_col, read_ids=True):
        if read_ids:
            forbidden()
        return real_read(src, p, id_col, vector_col, read_ids)

    monkeypatch.setattr(io_shards, "_parquet_read", footer_only)
    monkeypatch.setattr(io_shards, "_part_ids", forbidden)  # what ShardedSet.ids concatenates
    monkeypatch.setattr(io_shards, "shard_ids", forbidden)
    monkeypatch.setattr(dids, "shard_ids", forbidden)  # the workers import their own (unpatched) copy
    dist = retrieval_report(*args, per_query=True, k="1,5,10", cluster=address)
    _same_reports(single, dist)
    _, doc_ids, _, idx = dist.artifacts["ranking"]
    assert len(doc_ids) == len(np.unique(idx[idx >= 0])) < N  # only the ranked documents' ids


def test_cli_run_file_and_report_equal_one_process(cluster, data, tmp_path, cli):
    import json

    address, _ = cluster
    root, _, _ = data
    base = [
        "retrieval",
        "--queries",
        root / "queries.npy",
        "--qrels",
        root / "qrels.tsv",
        "-q",
        "-f",
        "json",
        "--k",
        "1,10,50",
    ]
    one = cli(*base, "--corpus", root / "full.parquet", "-o", tmp_path / "one.json", "--run", tmp_path / "one.trec")
    two = cli(
        *base,
        "--corpus",
        root / "shards",
        "--cluster",
        address,
        "-o",
        tmp_path / "two.json",
        "--run",
        tmp_path / "two.trec",
    )
    assert one.exit_code == 0 and two.exit_code == 0, (one.output, two.output)
    assert (tmp_path / "one.trec").read_bytes() == (tmp_path / "two.trec").read_bytes()
    assert len((tmp_path / "one.trec").read_text().splitlines()) == M * 50
    r1, r2 = (json.loads((tmp_path / f"{w}.json").read_text())["results"] for w in ("one", "two"))
    assert [(r["metric"], r["params"]) for r in r1] == [(r["metric"], r["params"]) for r in r2]
    for a, b in zip(r1, r2):
        assert b["value"] == pytest.approx(a["value"], rel=1e-7, abs=1e-10), a["metric"]


def test_cli_repeated_and_missing_ids_on_a_cluster_exit_2_as_in_one_process(cluster, data, tmp_path, cli):
    address, _ = cluster
    root, x, ids = data
    dup = _write_shards(tmp_path / "dup", x, [*ids[:400], ids[399], *ids[401:]])  # within part3
    base = ["retrieval", "--queries", root / "queries.npy", "--qrels", root / "qrels.tsv", "-q"]
    for corpus in (dup,):
        one = cli(*base, "--corpus", corpus)
        two = cli(*base, "--corpus", corpus, "--cluster", address)
        assert one.exit_code == two.exit_code == 2, (one.output, two.output)
        assert two.stderr == one.stderr and "duplicate id 'doc-" in two.stderr and "within the shard" in two.stderr
    # a judged document the corpus lacks: the same message as one process (align_qrels)
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text((root / "qrels.tsv").read_text() + "3\tnot-a-doc\t1\n")
    base = ["retrieval", "--queries", root / "queries.npy", "--qrels", qrels, "--corpus", root / "shards", "-q"]
    one, two = cli(*base), cli(*base, "--cluster", address)
    assert one.exit_code == two.exit_code == 2, (one.output, two.output)
    assert two.stderr == one.stderr and "'not-a-doc'" in two.stderr


def test_a_checkpointed_cluster_retrieval_still_gathers_no_id(cluster, data, tmp_path, monkeypatch):
    """With --checkpoint the id check and id lookups are not checkpointed (they take futures of every
    shard's ids, which a tile name would have to fetch to hash): no id array reaches the driver,
    and the resumed run gives the same report."""
    from embeval.distributed import checkpoint as ckpt

    address, _ = cluster
    root, _, _ = data
    args = (root / "queries.npy", root / "shards", root / "qrels.tsv")
    plain = retrieval_report(*args, k="1,5,10", cluster=address)
    fetched: list[np.ndarray] = []
    real = ckpt.Checkpoint._future_digest

    def spy(self, fut):
        value = fut.result()
        fetched.extend(v for v in (value if isinstance(value, tuple) else (value,)) if isinstance(v, np.ndarray))
        return real(self, fut)

    monkeypatch.setattr(ckpt.Checkpoint, "_future_digest", spy)
    first = retrieval_report(*args, k="1,5,10", cluster=address, checkpoint=tmp_path / "ck")
    again = retrieval_report(*args, k="1,5,10", cluster=address, checkpoint=tmp_path / "ck")
    assert fetched, "the queries are scattered and hashed by content"
    assert not [a for a in fetched if a.dtype.kind in "USO"], "an id array reached the driver"
    for rep in (first, again):
        assert [(r.metric, r.params, r.value) for r in rep.results] == [
            (r.metric, r.params, r.value) for r in plain.results
        ]

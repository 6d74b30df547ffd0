"""Distributed diagnostics on a LocalCluster of 2 worker processes: sharded on the cluster equals
unsharded in one process, a killed worker changes nothing, a bad shard is exit 2 in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("distributed")

from embeval.api import geometry_report, retrieval_report
from embeval.distributed.cluster import open_client, resolve_spec
from embeval.errors import UsageError
from embeval.io.shards import scan_shards
from embeval.progress import Progress, Task

GEOMETRY = [
    "uniformity",
    "uniformity(t=5)",
    "anisotropy",
    "effective_rank",
    "hubness(k=5)",
    "mam",
    "mam(mode=pairwise)",
]


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client  # one LocalCluster of 2 worker processes for the whole run (conftest)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A 1,200 × 24 corpus (a few exact duplicates), as one file and as 5 uneven shards; 150 queries
    near corpus rows with graded qrels."""
    root = tmp_path_factory.mktemp("dist")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1200, 24)).astype(np.float32)
    x[100] = x[50]  # a duplicate pair: the kNN tie and self-drop rules matter
    np.save(root / "full.npy", x)
    (root / "shards").mkdir()
    for i, (a, b) in enumerate([(0, 100), (100, 450), (450, 451), (451, 900), (900, 1200)]):
        np.save(root / "shards" / f"part{i:02d}.npy", x[a:b])
    src = rng.integers(0, 1200, 150)
    q = x[src] + 0.8 * rng.standard_normal((150, 24)).astype(np.float32)
    np.save(root / "queries.npy", q)
    with open(root / "qrels.tsv", "w") as fh:
        for i, s in enumerate(src):
            fh.write(f"{i}\t{s}\t2\n")
            for j in rng.choice(1200, int(rng.integers(0, 4)), replace=False):
                if j != s:
                    fh.write(f"{i}\t{j}\t1\n")
    return root


def _same(r1, r2, rel=1e-7):  # float32 resolution: a product can differ by an ulp between tile shapes
    assert [(r.metric, r.params, getattr(r, "identity", None)) for r in r1.results] == [
        (r.metric, r.params, getattr(r, "identity", None)) for r in r2.results
    ]
    assert len(r1.results) == len(r2.results) > 0
    for a, b in zip(r1.results, r2.results):
        assert a.n == b.n, a.metric
        assert b.value == pytest.approx(a.value, rel=rel, abs=1e-10, nan_ok=True), a.metric


def test_geometry_sharded_on_cluster_equals_one_process(client, data):
    from embeval.distributed.geometry import geometry_report_distributed

    single = geometry_report(data / "full.npy", metrics=GEOMETRY)
    dist = geometry_report_distributed(client, scan_shards(data / "shards"), metrics=GEOMETRY)
    _same(single, dist)
    exact = {"hubness_skew", "antihub_share", "hub_occurrence"}
    for a, b in zip(single.results, dist.results):
        if a.metric in exact:  # merged top-k lists: the same neighbours, so the same counts
            assert a.value == b.value, a.metric


def test_label_diagnostics_sharded_on_cluster_equal_one_process(client, data):
    from embeval.distributed.geometry import geometry_report_distributed
    from embeval.io.labels import load_labels

    rng = np.random.default_rng(11)
    x = np.load(data / "full.npy")
    # Labels that follow the geometry a little (so every diagnostic has something to measure).
    lab = np.where(x[:, 0] > 0.3, "a", np.where(x[:, 1] > 0, "b", "c"))
    lab[rng.choice(1200, 100, replace=False)] = "d"
    (data / "labels.txt").write_text("\n".join(lab) + "\n")
    metrics = ["tolerance", "knn_label_agreement(k=5)", "knn_accuracy(k=3)", "opis(max_rows=0)", "opis(max_rows=500)"]
    single = geometry_report(data / "full.npy", metrics=metrics, labels=data / "labels.txt")
    dist = geometry_report_distributed(
        client, scan_shards(data / "shards"), metrics=metrics, labels=load_labels(data / "labels.txt")
    )
    _same(single, dist)
    assert single.settings["classes"] == dist.settings["classes"] == 4
    opis_full = next(r for r in dist.results if r.metric == "opis")
    assert opis_full.params["d_low"] < opis_full.params["d_high"] and opis_full.value > 0


def test_alignment_with_partner_shards(client, data, tmp_path):
    from embeval.distributed.geometry import geometry_report_distributed

    x = np.load(data / "full.npy")
    y = x + 0.3 * np.random.default_rng(2).standard_normal(x.shape).astype(np.float32)
    np.save(tmp_path / "y.npy", y)
    (tmp_path / "ys").mkdir()
    for f in sorted((data / "shards").iterdir()):
        a = sum(np.load(g).shape[0] for g in sorted((data / "shards").iterdir()) if g.name < f.name)
        np.save(tmp_path / "ys" / f.name, y[a : a + np.load(f).shape[0]])
    metrics = ["alignment", "alignment(alpha=1)"]
    single = geometry_report(data / "full.npy", metrics=metrics, pairs=tmp_path / "y.npy")
    dist = geometry_report_distributed(
        client, scan_shards(data / "shards"), metrics=metrics, pairs=scan_shards(tmp_path / "ys")
    )
    _same(single, dist)
    with pytest.raises(UsageError, match="cut at the same rows"):
        geometry_report_distributed(
            client, scan_shards(data / "shards"), metrics=metrics, pairs=scan_shards(tmp_path / "y.npy")
        )


def test_geometry_unsupported_metric_on_cluster(client, data):
    from embeval.distributed.geometry import geometry_report_distributed

    with pytest.raises(UsageError, match="intrinsic_dim is not available on a cluster"):
        geometry_report_distributed(client, scan_shards(data / "shards"), metrics=["intrinsic_dim"])
    rep = geometry_report_distributed(client, scan_shards(data / "shards"), metrics=None)
    assert any("skipped intrinsic_dim" in n for n in rep.notes)


def test_retrieval_sharded_on_cluster_equals_one_process(client, data):
    from embeval.distributed.retrieval import retrieval_report_distributed
    from embeval.io.embeddings import load_embeddings
    from embeval.io.qrels import load_qrels

    single = retrieval_report(data / "queries.npy", data / "full.npy", data / "qrels.tsv", per_query=True)
    q = load_embeddings(data / "queries.npy")
    dist = retrieval_report_distributed(
        client,
        q.vectors,
        q.ids,
        scan_shards(data / "shards"),
        load_qrels(data / "qrels.tsv"),
        inputs={},
        sources=("q", "c", "r"),
        per_query=True,
    )
    _same(single, dist)
    by_metric = {r.metric: r for r in dist.results}
    assert by_metric["auc_global"].params["method"] == "exact"
    for name in ("auc_global", "auc_query", "ndcg@10", "recall@100", "best_threshold", "fpr@tpr95"):
        assert by_metric[name].value == next(r.value for r in single.results if r.metric == name), name
    assert single.per_query == dist.per_query  # every query's every metric, bit for bit


def test_binned_auc_counts_merge_exactly(client, data, monkeypatch):
    """Above the exact limit auc_global is counted in bins: force it here, compare with the
    single-process binned pass."""
    import embeval.compute.auc as R
    from embeval.diagnostics.qrels import align_qrels
    from embeval.diagnostics.space import l2_normalize
    from embeval.distributed.retrieval import ranking_and_auc
    from embeval.io.embeddings import load_embeddings
    from embeval.io.qrels import load_qrels

    q = load_embeddings(data / "queries.npy")
    c = np.load(data / "full.npy")
    sharded = scan_shards(data / "shards")
    aligned = align_qrels(load_qrels(data / "qrels.tsv"), q.ids, sharded.ids)
    qu = np.ascontiguousarray(l2_normalize(q.vectors)[aligned.query_rows])
    ref = R.auc_global_query(qu, l2_normalize(c), aligned.positives(), exact_limit=0)
    monkeypatch.setattr(R, "EXACT_LIMIT", 0)
    _, got = ranking_and_auc(client, qu, sharded, aligned, 10)
    assert got.levels.method == ref.levels.method == "binned"
    # A shard's float32 products can differ from the same products inside the full GEMM by one ulp
    # under some OpenBLAS kernels (OPENBLAS_CORETYPE): the levels agree within 2 ulps, the counts
    # merge exactly, and the AUC agrees to float32 rounding.
    np.testing.assert_allclose(got.levels.value, ref.levels.value, rtol=0, atol=2.5e-7)
    for f in ("pos", "tied", "above"):
        np.testing.assert_array_equal(getattr(got.levels, f), getattr(ref.levels, f))
    assert got.levels.auc() == pytest.approx(ref.levels.auc(), rel=1e-6)
    np.testing.assert_array_equal(got.per_query, ref.per_query)
    assert got.neg_mean == pytest.approx(ref.neg_mean, abs=1e-10)  # float32 products: see README
    assert got.neg_std == pytest.approx(ref.neg_std, rel=1e-9)


class _KillOnce(Progress):
    """A progress sink that SIGKILLs one worker process when the first tile is done."""

    def __init__(self, client):
        self.client = client
        self.killed: list[int] = []

    def task(self, description, total):
        from contextlib import contextmanager

        outer = self

        class _T(Task):
            def advance(self, amount=1):
                if not outer.killed:
                    pids = outer.client.run(os.getpid)
                    victim = min(pids.values())
                    os.kill(victim, signal.SIGKILL)
                    outer.killed.append(victim)

        @contextmanager
        def ctx():
            yield _T()

        return ctx()


def test_killed_worker_tiles_are_recomputed(data):
    from embeval.distributed.geometry import geometry_report_distributed

    metrics = ["uniformity", "hubness(k=5)"]
    single = geometry_report(data / "full.npy", metrics=metrics)
    with open_client("local:2") as c:
        before = set(c.run(os.getpid).values())
        prog = _KillOnce(c)
        dist = geometry_report_distributed(c, scan_shards(data / "shards"), metrics=metrics, progress=prog)
        assert prog.killed and prog.killed[0] in before
    _same(single, dist)


def test_bad_shard_exit_2_one_line(client, data, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in (data / "shards").iterdir():
        x = np.load(f)
        if f.name == "part03.npy":
            x[7, 2] = np.inf  # only a worker reading this shard can see it
        np.save(bad / f.name, x)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    addr = client.scheduler.address  # the run's shared cluster: its workers read the shards (local:N: below)
    proc = subprocess.run(
        [sys.executable, "-m", "embeval", "geometry", str(bad), "--cluster", addr, "-q", "-m", "uniformity"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "part03.npy (row 7): non-finite value" in lines[0]
    assert proc.stdout == ""


def test_cluster_spec_and_env(monkeypatch):
    monkeypatch.delenv("EMBEVAL_CLUSTER", raising=False)
    assert resolve_spec(None) is None
    assert resolve_spec("local:3") == "local:3"
    assert resolve_spec("tcp://10.0.0.1:8786") == "tcp://10.0.0.1:8786"
    monkeypatch.setenv("EMBEVAL_CLUSTER", "tls://sched:8786")
    assert resolve_spec(None) == "tls://sched:8786"
    for bad in ("local:0", "local:x", "somehost"):
        with pytest.raises(UsageError):
            resolve_spec(bad)


def test_help_does_not_import_dask():
    code = (
        "import sys, embeval.cli, embeval.api; "
        "print(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert out.stdout.strip() == "False", out.stderr


def test_batch_config_cluster_key(tmp_path):
    from embeval.batch.config import load_config
    from embeval.errors import ConfigError

    body = '[[datasets]]\nname = "d"\nkind = "embeddings"\npath = "x.npy"\n[[jobs]]\ncommand = "geometry"\n'
    np.save(tmp_path / "x.npy", np.eye(3, dtype=np.float32))
    (tmp_path / "ok.toml").write_text('[settings]\ncluster = "tcp://sched:8786"\n' + body)
    assert load_config(tmp_path / "ok.toml").settings.cluster == "tcp://sched:8786"
    (tmp_path / "bad.toml").write_text('[settings]\ncluster = "local:zero"\n' + body)
    with pytest.raises(ConfigError, match=r"bad\.toml: settings\.cluster: choose local:N"):
        load_config(tmp_path / "bad.toml")


@pytest.mark.parametrize("paired", [False, True])
def test_gap_sharded_on_cluster_equals_one_process(client, tmp_path, paired):
    from embeval.diagnostics import gap as G
    from embeval.distributed.gap import gap_results_distributed

    rng = np.random.default_rng(3)
    a = rng.standard_normal((500, 16)).astype(np.float32)
    b = (
        (a + 0.7 + rng.standard_normal((500, 16))).astype(np.float32)
        if paired
        else (rng.standard_normal((420, 16)) + 0.5).astype(np.float32)
    )
    for name, x, cuts in (
        ("a", a, [0, 120, 300, 500]),
        ("b", b, [0, 120, 300, len(b)] if paired else [0, 200, len(b)]),
    ):
        (tmp_path / name).mkdir()
        for i in range(len(cuts) - 1):
            np.save(tmp_path / name / f"p{i}.npy", x[cuts[i] : cuts[i + 1]])
    space = G.GapSpace.build(a, b, paired=paired)
    ref = G.gap(space) + G.set_uniformity(space, 2.0) + G.knn_mixing(space, 5)
    got = gap_results_distributed(
        client, scan_shards(tmp_path / "a"), scan_shards(tmp_path / "b"), paired=paired, t=2.0, k=5
    )
    assert [(r.metric, r.params, r.n) for r in ref] == [(r.metric, r.params, r.n) for r in got]
    assert len(ref) == len(got) > 0
    for r, g in zip(ref, got):
        assert g.value == pytest.approx(r.value, rel=1e-9, abs=1e-10), r.metric


def test_cli_retrieval_cluster_report_equals_unsharded(data, tmp_path, cli):
    """The issue's 'done when': a sharded corpus through --cluster local:2 gives the same report."""
    import json

    base = ["retrieval", "--queries", data / "queries.npy", "--qrels", data / "qrels.tsv", "-q", "-f", "json"]
    files = {w: ["--run", tmp_path / f"{w}.trec", "--roc", tmp_path / f"{w}.roc.csv"] for w in ("one", "two")}
    one = cli(*base, "--corpus", data / "full.npy", "-o", tmp_path / "one.json", *files["one"])
    two = cli(*base, "--corpus", data / "shards", "--cluster", "local:2", "-o", tmp_path / "two.json", *files["two"])
    assert one.exit_code == 0 and two.exit_code == 0, (one.output, two.output)
    r1 = json.loads((tmp_path / "one.json").read_text())["results"]
    r2 = json.loads((tmp_path / "two.json").read_text())["results"]
    assert [(r["metric"], r["params"]) for r in r1] == [(r["metric"], r["params"]) for r in r2]
    assert len(r1) == len(r2) > 0
    for a, b in zip(r1, r2):
        assert b["value"] == pytest.approx(a["value"], rel=1e-7, abs=1e-10), a["metric"]
    # The merged top-K (TREC run) and the pooled ROC curve come out of the cluster run as artifacts.
    run1, run2 = [(tmp_path / f"{w}.trec").read_text().splitlines() for w in ("one", "two")]
    assert len(run1) == 150 * 100 and [ln.split()[:4] for ln in run1] == [ln.split()[:4] for ln in run2]
    roc1, roc2 = [np.loadtxt(tmp_path / f"{w}.roc.csv", delimiter=",", skiprows=1) for w in ("one", "two")]
    # ROC thresholds are float32 scores: equal within 2 ulps (a one-row shard's product may take another
    # BLAS kernel than the same row inside the full GEMM), the rates exactly.
    assert roc1.shape == roc2.shape and np.allclose(roc1[:, 1:], roc2[:, 1:], rtol=0, atol=2.5e-7)


def test_cli_cluster_usage_errors(tmp_path, cli, monkeypatch):
    """A bad spec (flag or $EMBEVAL_CLUSTER) and what a cluster run cannot do: exit 2 before any
    cluster starts, one line naming the flag."""
    np.save(tmp_path / "x.npy", np.eye(4, dtype=np.float32))
    bad = cli("geometry", tmp_path / "x.npy", "--cluster", "local:0")
    assert bad.exit_code == 2 and "--cluster" in bad.output and "local:N" in bad.output, bad.output
    monkeypatch.setenv("EMBEVAL_CLUSTER", "somehost")
    env = cli("geometry", tmp_path / "x.npy")
    assert env.exit_code == 2 and "EMBEVAL_CLUSTER" in env.output, env.output
    monkeypatch.delenv("EMBEVAL_CLUSTER")
    items = cli("geometry", tmp_path / "x.npy", "--cluster", "local:1", "--items", tmp_path / "items.csv")
    assert items.exit_code == 2 and "--items" in items.output, items.output
    gap = cli("gap", tmp_path / "x.npy", tmp_path / "x.npy", "--cluster", "local:1", "--export-gap", tmp_path / "g.npy")
    assert gap.exit_code == 2 and "--export-gap" in gap.output and not (tmp_path / "g.npy").exists(), gap.output


def test_cli_gap_cluster(client, tmp_path, cli):
    import json

    rng = np.random.default_rng(5)
    a = rng.standard_normal((300, 8)).astype(np.float32)
    b = (a + 0.5 + rng.standard_normal((300, 8))).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    for name, x in (("A", a), ("B", b)):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "0.npy", x[:100])
        np.save(tmp_path / name / "1.npy", x[100:])
    m = ["-m", "gap,set_uniformity,knn_mixing(k=4)", "--paired", "-q", "-f", "json"]
    one = cli("gap", tmp_path / "a.npy", tmp_path / "b.npy", *m, "-o", tmp_path / "one.json")
    # the run's shared cluster by its address (`--cluster local:2` itself: the retrieval test above)
    addr = client.scheduler.address
    two = cli("gap", tmp_path / "A", tmp_path / "B", *m, "--cluster", addr, "-o", tmp_path / "two.json")
    assert one.exit_code == 0 and two.exit_code == 0, (one.output, two.output)
    r1 = json.loads((tmp_path / "one.json").read_text())["results"]
    r2 = json.loads((tmp_path / "two.json").read_text())["results"]
    assert [(r["metric"], r["params"]) for r in r1] == [(r["metric"], r["params"]) for r in r2]
    assert len(r1) == len(r2) > 0
    for x, y in zip(r1, r2):
        assert y["value"] == pytest.approx(x["value"], rel=1e-7, abs=1e-10), x["metric"]
    bad = cli("gap", tmp_path / "A", tmp_path / "B", "-m", "linear_separability", "--cluster", addr)
    assert bad.exit_code == 2

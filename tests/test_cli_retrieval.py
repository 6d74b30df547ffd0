"""`embeval retrieval` through Typer's runner: outputs, gates, ROC export and bad inputs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, SAMPLE

S = SAMPLE / "scifact_small"
BASE = ["retrieval", "--queries", S / "queries.npz", "--corpus", S / "corpus.npz",
        "--qrels", S / "qrels" / "test.tsv", "--quiet"]


def _json(result):
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _values(doc):
    return {r["metric"]: r["value"] for r in doc["results"]}


def test_sample_json_matches_the_library(cli):
    from embeval.diagnostics.retrieval import evaluate_retrieval
    from embeval.diagnostics.space import l2_normalize
    from embeval.io.embeddings import load_embeddings
    from embeval.io.qrels import load_qrels

    doc = _json(cli(*BASE, "--format", "json"))
    v = _values(doc)
    q, c = load_embeddings(S / "queries.npz", min_rows=1), load_embeddings(S / "corpus.npz")
    res, _ = evaluate_retrieval(l2_normalize(q.vectors), l2_normalize(c.vectors),
                                load_qrels(S / "qrels" / "test.tsv"), q.ids, c.ids)
    assert v == pytest.approx({r.metric: r.value for r in res})
    for k in (1, 10, 100):
        assert {f"recall@{k}", f"precision@{k}", f"mrr@{k}", f"ndcg@{k}", f"map@{k}"} <= set(v)
    assert {"auc_global", "auc_query", "pos_score_mean", "neg_score_mean", "d_prime", "best_threshold",
            "fpr@tpr95"} <= set(v)
    assert doc["settings"]["index"] == "flat" and doc["settings"]["k"] == [1, 10, 100]
    assert doc["inputs"]["corpus"]["n"] == 1000 and doc["inputs"]["qrels"]["judgements"] == 116
    assert 0.5 < v["auc_global"] <= v["auc_query"] <= 1.0


def test_parquet_corpus_and_custom_k(cli):
    args = ["retrieval", "--queries", S / "queries.npz", "--corpus", S / "corpus.parquet",
            "--qrels", S / "qrels" / "test.tsv", "--k", "5,3", "--quiet", "-f", "json"]
    v = _values(_json(cli(*args)))
    ref = _values(_json(cli(*BASE, "--k", "3,5", "-f", "json")))
    assert v == pytest.approx(ref)
    assert "ndcg@5" in v and "ndcg@10" not in v


def test_per_query_rows_in_csv_output(cli, tmp_path):
    out = tmp_path / "r.csv"
    r = cli(*BASE, "--per-query", "--k", "1,10", "--format", "json", "--output", out)
    doc = _json(r)
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["query_id", "metric", "value"]  # per-query rows only
    per_q = [row for row in rows if row["query_id"]]
    # 100 queries × (5 metrics × 2 cutoffs + auc_query)
    assert len(per_q) == len(rows) == 100 * 11
    assert len(doc["per_query"]) == 100 * 11
    ndcg10 = [float(row["value"]) for row in per_q if row["metric"] == "ndcg@10"]
    assert np.mean(ndcg10) == pytest.approx(_values(doc)["ndcg@10"])
    aucq = [float(row["value"]) for row in per_q if row["metric"] == "auc_query"]
    assert np.mean(aucq) == pytest.approx(_values(doc)["auc_query"])


def test_roc_csv_and_png(cli, tmp_path):
    roc_csv = tmp_path / "roc.csv"
    v = _values(_json(cli(*BASE, "-f", "json", "--roc", roc_csv)))
    rows = list(csv.DictReader(roc_csv.open()))
    assert list(rows[0]) == ["threshold", "fpr", "tpr"]
    fpr = np.array([float(r["fpr"]) for r in rows])
    tpr = np.array([float(r["tpr"]) for r in rows])
    assert rows[0]["threshold"] == "inf" and (fpr[0], tpr[0]) == (0, 0)
    assert rows[-1]["threshold"] == "-inf" and (fpr[-1], tpr[-1]) == (1, 1)
    assert np.trapezoid(tpr, fpr) == pytest.approx(v["auc_global"], abs=1e-12)
    png = tmp_path / "roc.png"
    assert cli(*BASE, "-f", "json", "--roc", png).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gates_and_exit_codes(cli):
    failing = cli(*BASE, "-f", "json", "--fail-if", "ndcg@10 < 0.99")
    assert failing.exit_code == 1 and "ndcg@10" in failing.stderr
    passing = cli(*BASE, "-f", "json", "--fail-if", "ndcg@10 < 0.1", "--fail-if", "auc_global < 0.5")
    assert passing.exit_code == 0 and json.loads(passing.stdout)["passed"] is True


def test_ivf_and_hnsw_report_recall_against_exact(cli):
    v = _values(_json(cli(*BASE, "-f", "json", "--index", "ivf", "--nlist", "8", "--nprobe", "8")))
    assert v["ann_recall@100"] == 1.0
    doc = _json(cli(*BASE, "-f", "json", "--index", "hnsw", "--hnsw-m", "8", "--ef-search", "16",
                    "--threads", "1"))
    assert 0.5 < _values(doc)["ann_recall@100"] <= 1.0
    assert doc["settings"]["index_params"] == {"m": 8, "ef_construction": 200, "ef_search": 16}


def test_results_are_deterministic_and_threads_change_only_rounding(cli):
    a = _values(_json(cli(*BASE, "-f", "json", "--threads", "1")))
    assert a == _values(_json(cli(*BASE, "-f", "json", "--threads", "1")))
    b = _values(_json(cli(*BASE, "-f", "json")))
    # BLAS may split the float32 products differently with another thread count (more so under the
    # kernel OPENBLAS_CORETYPE picks on some processors): float32 rounding of the score statistics only.
    assert b == pytest.approx(a, rel=1e-6, abs=1e-9)


# ----------------------------------------------------------------------------- bad inputs


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    c = rng.standard_normal((20, 8)).astype(np.float32)
    q = rng.standard_normal((4, 8)).astype(np.float32)
    np.savez(tmp_path / "c.npz", embedding=c, id=np.array([f"d{i}" for i in range(20)]))
    np.savez(tmp_path / "q.npz", embedding=q, id=np.array([f"q{i}" for i in range(4)]))
    np.savez(tmp_path / "q16.npz", embedding=np.ones((4, 16), np.float32), id=np.array([f"q{i}" for i in range(4)]))
    bad = c.copy()
    bad[7, 3] = np.nan
    np.savez(tmp_path / "cnan.npz", embedding=bad, id=np.array([f"d{i}" for i in range(20)]))

    def qrels(name, text):
        (tmp_path / name).write_text("query-id\tcorpus-id\tscore\n" + text)
        return tmp_path / name

    qrels("ok.tsv", "q0\td1\t1\nq1\td2\t2\n")
    qrels("noq.tsv", "q0\td1\t1\nzzz\td2\t1\n")
    qrels("nod.tsv", "q0\td1\t1\nq1\tdoc-missing\t1\n")
    qrels("norel.tsv", "q0\td1\t1\nq1\td2\t0\n")
    qrels("empty.tsv", "")
    return tmp_path


BAD = [
    ({"qrels": "noq.tsv"}, "query id 'zzz' is not in"),
    ({"qrels": "nod.tsv"}, "document id 'doc-missing' (judged for query 'q1') is not in"),
    ({"qrels": "norel.tsv"}, "query 'q1' has no relevant document"),
    ({"qrels": "empty.tsv"}, "empty qrels"),
    ({"queries": "q16.npz"}, "dimension 16 does not match"),
    ({"corpus": "cnan.npz"}, "row 7, id 'd7'"),
    ({"corpus": "missing.npz"}, "no such file"),
    ({"extra": ["--k", "0"]}, "cutoffs must be at least 1"),
    ({"extra": ["--k", "1,x"]}, "'x' is not an integer"),
    ({"extra": ["--index", "hnsw", "--nlist", "4"]}, "applies to --index ivf"),
    ({"extra": ["--index", "ivf", "--nlist", "40"]}, "more than the 20 corpus rows"),
    ({"extra": ["--roc", "roc.pdf"]}, "use a .csv or .png"),
    ({"extra": ["--threads", "-1"]}, "--threads=-1: must be ≥ 1"),
    ({"qrels": None}, "missing --qrels"),
]


@pytest.mark.parametrize("change,message", BAD, ids=[m for _, m in BAD])
def test_bad_inputs_exit_2_with_one_line_and_no_output(cli, files, change, message):
    paths = {"queries": "q.npz", "corpus": "c.npz", "qrels": "ok.tsv"}
    paths.update({k: v for k, v in change.items() if k != "extra"})
    args = ["retrieval"]
    for opt, name in paths.items():
        if name is not None:
            args += [f"--{opt}", files / name]
    out, roc = files / "out.json", files / "roc.csv"
    extra = [files / a if a == "roc.pdf" else a for a in change.get("extra", [])]
    if "--roc" not in extra:
        extra += ["--roc", roc]
    r = cli(*args, *extra, "--output", out, "--quiet")
    assert r.exit_code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.stderr
    assert not out.exists() and not roc.exists()
    assert not list(files.glob(".out.json*")) and not list(files.glob(".roc.csv*"))


def test_corpus_without_ids_says_so(cli):
    r = cli("retrieval", "--queries", S / "queries.npz", "--corpus", S / "corpus.npy", "--qrels",
            S / "qrels" / "test.tsv", "-q")
    assert r.exit_code == 2
    assert "corpus.npy (it has no 'id' column or array, so its ids are row numbers)" in r.stderr


def test_good_small_files_pass(cli, files):
    r = cli("retrieval", "--queries", files / "q.npz", "--corpus", files / "c.npz", "--qrels", files / "ok.tsv",
            "--k", "1,5", "-f", "json", "--quiet")
    doc = _json(r)
    assert doc["results"][0]["n"] == 2  # q0 and q1 judged; q2, q3 not scored
    assert "scored 2 of 4 queries" in doc["notes"][0]


def test_help_and_precomputed_run_import_no_heavy_model_stack():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from embeval.cli import app\n"
        "r = CliRunner().invoke(app, ['retrieval', '--help'])\n"
        "assert r.exit_code == 0 and '--qrels' in r.stdout, r.stdout\n"
        "assert not {'faiss', 'torch', 'numpy', 'sentence_transformers'} & set(sys.modules), 'help'\n"
        f"r = CliRunner().invoke(app, ['retrieval', '--queries', r'{S / 'queries.npz'}', '--corpus',"
        f" r'{S / 'corpus.npz'}', '--qrels', r'{S / 'qrels' / 'test.tsv'}', '-f', 'json', '-q'])\n"
        "assert r.exit_code == 0, r.stderr\n"
        "assert not {'torch', 'sentence_transformers'} & set(sys.modules), 'run'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_index_choices_are_an_enum_listed_in_help(cli, files):
    """--index is an Enum: --help lists the kinds and click refuses another (exit 2) before any work."""
    assert "flat|hnsw|ivf" in cli("retrieval", "--help").stdout.replace(" ", "")
    r = cli("retrieval", "--queries", files / "q.npz", "--corpus", files / "c.npz", "--qrels", files / "ok.tsv",
            "--index", "annoy", "--output", files / "out.json", "-q")
    assert r.exit_code == 2 and "annoy" in r.stderr and not (files / "out.json").exists()

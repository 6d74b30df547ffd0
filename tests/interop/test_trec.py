"""TREC run files both ways, checked against pytrec_eval (trec_eval's own C code)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SAMPLE

pytrec_eval = pytest.importorskip("pytrec_eval")

S = SAMPLE / "scifact_small"
QRELS = S / "qrels" / "test.tsv"
VECTORS = ["retrieval", "--queries", S / "queries.npz", "--corpus", S / "corpus.npz", "--qrels", QRELS, "-q"]
KS = (1, 3, 10, 100)


def _values(res):
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    return {r["metric"]: r["value"] for r in doc["results"]}, doc


def _int_qrels(path):
    from embeval.io.qrels import load_qrels

    return {q: {d: int(g) for d, g in docs.items()} for q, docs in load_qrels(path).items()}


def _trec_eval(qrels, run, ks=KS):
    """pytrec_eval's means over the queries it scores, in embeval's metric names."""
    from embeval.io.trec import ranked_docs

    kk = ",".join(map(str, ks))
    per_q = pytrec_eval.RelevanceEvaluator(
        qrels, {f"ndcg_cut.{kk}", f"map_cut.{kk}", f"recall.{kk}", f"P.{kk}"}
    ).evaluate(run)
    out = {}
    for k in ks:
        for ours, theirs in (
            ("ndcg", f"ndcg_cut_{k}"),
            ("map", f"map_cut_{k}"),
            ("recall", f"recall_{k}"),
            ("precision", f"P_{k}"),
        ):
            out[f"{ours}@{k}"] = float(np.mean([v[theirs] for v in per_q.values()]))
        cut = {q: {d: run[q][d] for d in ranked_docs(run[q])[:k]} for q in run}
        rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
        out[f"mrr@{k}"] = float(np.mean([v["recip_rank"] for v in rr.values()]))
    return out, len(per_q)


def _read_with_pytrec(path):
    with open(path) as fh:
        return pytrec_eval.parse_run(fh)


def test_written_run_is_standard_and_matches_pytrec_eval(cli, tmp_path):
    out = tmp_path / "emb.trec"
    vec, doc = _values(cli(*VECTORS, "--k", ",".join(map(str, KS)), "--run", out, "--format", "json"))
    lines = out.read_text().splitlines()
    first = lines[0].split()
    assert len(first) == 6 and first[1] == "Q0" and first[3] == "1" and first[5] == "embeval"
    n_queries = doc["inputs"]["qrels"]["queries"]
    assert len(lines) == n_queries * 100
    run = _read_with_pytrec(out)
    want, n = _trec_eval(_int_qrels(QRELS), run)
    assert n == n_queries
    assert want, "nothing to check"
    for metric, value in want.items():  # the run holds embeval's ranking: same numbers as from vectors
        assert vec[metric] == pytest.approx(value, abs=1e-12), metric
    # read back by embeval: identical to pytrec_eval too
    back, doc2 = _values(
        cli("retrieval", "--qrels", QRELS, "--run-in", out, "--k", ",".join(map(str, KS)), "-q", "--format", "json")
    )
    assert set(back) == set(want)
    assert want, "nothing to check"
    for metric, value in want.items():
        assert back[metric] == pytest.approx(value, abs=1e-12), metric
    assert any("auc_global" in note and "need a score" in note for note in doc2["notes"])
    assert "auc_global" not in back and "d_prime" not in back


def test_external_run_with_ties_and_gaps_equals_pytrec_eval(cli, tmp_path):
    """A BM25-like run: coarse scores (many ties), unjudged documents, a judged query with no
    line, a ranked query with no judgement, graded relevance and a query with none relevant."""
    rng = np.random.default_rng(3)
    docs = [f"D{i}" for i in range(80)]
    qrels, run = {}, {}
    for q in range(40):
        judged = rng.choice(80, size=int(rng.integers(1, 9)), replace=False)
        qrels[f"Q{q}"] = {docs[j]: int(rng.integers(0, 4)) for j in judged}
        if q < 37:
            cand = rng.choice(80, size=int(rng.integers(2, 50)), replace=False)
            run[f"Q{q}"] = {docs[c]: float(np.round(rng.random() * 3, 1)) for c in cand}
    run["UNJUDGED"] = {"D1": 1.0, "D2": 0.5}
    qrels_path, run_path = tmp_path / "qrels.tsv", tmp_path / "bm25.run"
    qrels_path.write_text("".join(f"{q} 0 {d} {g}\n" for q, ds in qrels.items() for d, g in ds.items()))
    lines = []
    for q, ds in run.items():  # written in a shuffled order with meaningless ranks: order comes from scores
        items = list(ds.items())
        rng.shuffle(items)
        lines += [f"{q} Q0 {d} {r} {s} bm25\n" for r, (d, s) in enumerate(items)]
    run_path.write_text("".join(lines))
    ks = (1, 5, 10, 20)
    got, doc = _values(
        cli("retrieval", "--qrels", qrels_path, "--run-in", run_path, "--k", "1,5,10,20", "-q", "--format", "json")
    )
    want, n = _trec_eval(qrels, run, ks)
    assert n == 37
    assert got == pytest.approx(want, abs=1e-12)
    assert len(got) == 20
    notes = " ".join(doc["notes"])
    assert "3 judged queries have no line in the run" in notes and "1 ranked queries are not in the qrels" in notes


def test_run_errors(cli, tmp_path):
    bad = tmp_path / "bad.run"
    bad.write_text("q1 Q0 d1 1 0.5 tag\nq1 Q0 d2 2 high tag\n")
    res = cli("retrieval", "--qrels", QRELS, "--run-in", bad, "-q")
    assert res.exit_code == 2 and "line 2" in res.stderr and "'high' is not a number" in res.stderr
    bad.write_text("q1 Q0 d1 1 0.5\n")
    res = cli("retrieval", "--qrels", QRELS, "--run-in", bad, "-q")
    assert res.exit_code == 2 and "expected 6 columns" in res.stderr
    bad.write_text("q1 Q0 d1 1 0.5 t\nq1 Q0 d1 2 0.4 t\n")
    res = cli("retrieval", "--qrels", QRELS, "--run-in", bad, "-q")
    assert res.exit_code == 2 and "listed twice" in res.stderr
    res = cli("retrieval", "--qrels", QRELS, "--run-in", bad, "--queries", S / "queries.npz", "-q")
    assert res.exit_code == 2 and "--run-in" in res.stderr
    res = cli(*VECTORS, "--run", tmp_path / "run.json")
    assert res.exit_code == 2 and "--run " in res.stderr and "TREC run is plain text" in res.stderr
    assert not (tmp_path / "run.json").exists()
    bad.write_text("other Q0 d1 1 0.5 t\n")
    res = cli("retrieval", "--qrels", QRELS, "--run-in", bad, "-q")
    assert res.exit_code == 2 and "no query of the run is judged" in res.stderr


def test_run_report_pairs_with_the_vector_report_in_compare(cli, tmp_path):
    """--per-query rows of --run-in line up with those of the vector report: compare runs its
    paired test, and a run re-read from embeval's own ranking changes nothing."""
    run, vec, back = tmp_path / "r.trec", tmp_path / "vec.json", tmp_path / "run.json"
    assert cli(*VECTORS, "--k", "10", "--run", run, "--per-query", "-o", vec).exit_code == 0
    assert (
        cli("retrieval", "--qrels", QRELS, "--run-in", run, "--k", "10", "--per-query", "-q", "-o", back).exit_code == 0
    )
    doc = json.loads(cli("compare", vec, back, "--format", "json").stdout)
    rows = {r["metric"]: r for r in doc["rows"] if r["old"] is not None and r["new"] is not None}
    assert set(rows) == {"ndcg@10", "map@10", "recall@10", "precision@10", "mrr@10"}
    for r in rows.values():
        assert r["old"] == pytest.approx(r["new"], abs=1e-12) and r["paired_test"] is not None

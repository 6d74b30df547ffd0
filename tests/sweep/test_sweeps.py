"""Index and compression sweeps: numbers against brute-force NumPy, FAISS settings read back,
recommendation, budget, gates and report formats (small synthetic data: fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embeval.api.sweep import sweep_compress_report, sweep_index_report
from embeval.errors import UsageError
from embeval.report.render import to_csv, to_html, to_markdown
from embeval.results import Report
from embeval.sweep.common import pareto


def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((8, 32)).astype(np.float32)
    x = centres[rng.integers(0, 8, 400)] + 0.7 * rng.standard_normal((400, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = _unit(rng, 30, 32) * 0.5 + x[:30] * 0.5
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    qrels = {f"q{i}": {f"d{j}": 1 for j in rng.choice(400, 2, replace=False)} for i in range(30)}
    return x, q, qrels


def _topk(q, x, k):
    s = q.astype(np.float64) @ x.astype(np.float64).T
    return np.lexsort((np.broadcast_to(np.arange(x.shape[0]), s.shape), -s), axis=1)[:, :k]


def _row(report, setting):
    return next(r for r in report.series["sweep"]["rows"] if r["setting"] == setting)


def _compress(data, **kw):
    x, q, qrels = data
    kw.setdefault("repeats", 1)
    return sweep_compress_report(
        x, q, qrels, corpus_ids=[f"d{i}" for i in range(400)], query_ids=[f"q{i}" for i in range(30)], **kw
    )


def test_truncation_recall_equals_brute_force(data):
    x, q, _ = data
    rep = _compress(data, quant="fp16", dims="8,16", rescore="0")
    exact = _topk(q, x, 10)
    for d in (8, 16):
        xt, qt = x[:, :d], q[:, :d]
        xt = xt / np.linalg.norm(xt, axis=1, keepdims=True)
        qt = qt / np.linalg.norm(qt, axis=1, keepdims=True)
        got = _topk(qt, xt, 10)
        want = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact)])
        assert rep.find("ann_recall@10", {"setting": f"d{d}"})[0].value == pytest.approx(want, abs=1e-12)
    ref = rep.find("ann_recall@10", {"setting": "float32"})[0]
    assert ref.value == 1.0


def test_retention_is_ratio_of_means_with_ci_and_p(data):
    rep = _compress(data, quant="binary", rescore="0,2")
    ref = rep.find("ndcg@10", {"setting": "float32"})[0].value
    for setting in ("binary", "binary/rescore2"):
        mine = rep.find("ndcg@10", {"setting": setting})[0].value
        ret = rep.find("retention_ndcg@10", {"setting": setting})[0]
        assert ret.value == pytest.approx(mine / ref)
        assert ret.ci_low <= ret.value <= ret.ci_high
        assert 0 < ret.params["p_value"] <= 1
    same = rep.find("retention_ndcg@10", {"setting": "float32"})[0]
    assert same.value == 1.0 and same.params["p_value"] == 1.0
    # bytes per vector: float32 4·d, binary d/8
    assert _row(rep, "float32")["bytes_per_vector"] == 128 and _row(rep, "binary")["bytes_per_vector"] == 4
    sizes = [r["bytes_per_vector"] for r in rep.series["sweep"]["rows"]]
    assert sizes == sorted(sizes)  # the table is sorted by memory


def test_compress_without_qrels_reports_recall_only():
    rng = np.random.default_rng(0)
    x = _unit(rng, 300, 16)
    rep = sweep_compress_report(x, quant="int8", rescore="0", n_queries=20, repeats=1)
    assert not rep.find("retention_ndcg@10")
    assert rep.settings["quality"] == "ann_recall@10"
    assert rep.inputs["queries"]["n"] == 20


def test_index_sweep_reads_back_faiss_settings_and_exhaustive_ivf_is_exact(data):
    x, q, _ = data
    rep = sweep_index_report(
        x,
        q,
        kinds="hnsw,ivf",
        hnsw_m="8",
        ef_construction="40",
        ef_search="4,40",
        nlist=10,
        nprobe="1,10,999",
        repeats=1,
        budget=None,
    )
    labels = [r["setting"] for r in rep.series["sweep"]["rows"]]
    # efSearch below k runs at k (FAISS needs efSearch ≥ k); nprobe above nlist runs at nlist
    assert labels == [
        "ivf/nlist10/nprobe1",
        "ivf/nlist10/nprobe10",
        "hnsw/M8/efC40/efS10",
        "hnsw/M8/efC40/efS40",
    ]
    r = rep.find("ann_recall@10", {"setting": "hnsw/M8/efC40/efS10"})[0]
    assert (r.params["M"], r.params["efConstruction"], r.params["efSearch"]) == (8, 40, 10)
    exhaustive = rep.find("ann_recall@10", {"setting": "ivf/nlist10/nprobe10"})[0]
    assert exhaustive.value == pytest.approx(1.0) and exhaustive.params["nprobe"] == 10
    one = rep.find("ann_recall@10", {"setting": "ivf/nlist10/nprobe1"})[0]
    assert one.ci_low <= one.value <= one.ci_high
    assert rep.find("qps_1thread") and rep.find("index_bytes") and rep.find("build_seconds")


def test_ivfpq_rerank_reads_back_k_factor(data):
    x, q, _ = data
    rep = sweep_index_report(x, q, kinds="ivfpq", nlist=8, pq_m="8", pq_nprobe="8", rerank="0,5", repeats=1)
    plain = rep.find("ann_recall@10", {"setting": "ivfpq/m8/nprobe8"})[0]
    rr = rep.find("ann_recall@10", {"setting": "ivfpq/m8/nprobe8/rerank5"})[0]
    assert plain.params["pq_m"] == 8 and plain.params["pq_nbits"] == 8
    assert rr.params["rerank_k_factor"] == 5.0
    assert rr.value >= plain.value  # exact re-ranking of 50 candidates cannot lose neighbours found by PQ
    assert _row(rep, "ivfpq/m8/nprobe8/rerank5")["bytes_per_vector"] > 4 * 32  # keeps the float32 vectors


def test_recommendation_and_gate_fire_and_stay_quiet(data):
    x = data[0]
    q = _unit(np.random.default_rng(5), 40, 32)  # far from the corpus rows: one probed cell misses neighbours
    kw = dict(kinds="ivf", nlist=10, repeats=1, target_recall=1.0)
    ok = sweep_index_report(x, q, nprobe="1,10", fail_if="ann_recall@10 < 1", **kw)
    rows = ok.series["sweep"]["rows"]
    meeting = [r for r in rows if r["ann_recall@10"] >= 1.0]
    assert ok.settings["recommended"] == max(meeting, key=lambda r: r["qps_1thread"])["setting"]
    assert ok.passed  # the exhaustive setting reaches the target: the gate stays quiet
    low = sweep_index_report(x, q, nprobe="1", fail_if="ann_recall@10 < 1", **kw)
    assert low.settings["recommended"] is None and low.settings["chosen"] == "ivf/nlist10/nprobe1"
    assert not low.passed and "ann_recall@10(setting=ivf/nlist10/nprobe1)" in low.gates[0].message
    assert any("no setting reached" in n for n in low.notes)
    named = sweep_index_report(x, q, nprobe="1,10", fail_if="ann_recall@10(setting=ivf/nlist10/nprobe1) < 1", **kw)
    assert not named.passed  # a selector checks that setting, not the recommendation


def test_budget_skips_with_a_note(data):
    x, q, _ = data
    rep = sweep_index_report(
        x, q, kinds="hnsw", hnsw_m="4,8,16", ef_construction="16", ef_search="10", budget=1e-6, repeats=1
    )
    # every build is estimated (the first from a pilot build on a sample) and none fits
    assert rep.series["sweep"]["rows"] == [] and rep.settings["recommended"] is None
    assert any("skipped 3 setting" in n for n in rep.notes) and any("no setting ran" in n for n in rep.notes)


def test_progress_note_per_setting_with_eta(data):
    from embeval.progress import Progress

    class Notes(Progress):
        def __init__(self):
            self.lines = []

        def note(self, text):
            self.lines.append(text)

    x, q, _ = data
    p = Notes()
    sweep_index_report(x, q, kinds="ivf", nlist=10, nprobe="1,2,4", repeats=1, progress=p)
    lines = [t for t in p.lines if "s left" in t]
    assert [t.split("]")[0] for t in lines] == ["[1/3", "[2/3", "[3/3"] and "ivf/nlist10/nprobe4" in lines[-1]


def test_pareto_matches_brute_force():
    rng = np.random.default_rng(1)
    pts = [tuple(p) for p in rng.integers(0, 5, (40, 2)).astype(float)]
    flags = pareto(pts)
    for (a, b), f in zip(pts, flags):
        dominated = any(x >= a and y >= b and (x, y) != (a, b) for x, y in pts)
        assert f == (not dominated)


def test_formats_and_json_round_trip(data):
    rep = _compress(data, quant="int8,binary", rescore="0,4", fail_if="retention_ndcg@10 < 0.5")
    md = to_markdown(rep)
    assert "| setting | bytes_per_vector" in md and "binary/rescore4" in md and "| gate |" in md
    csv = to_csv(rep)
    assert csv.splitlines()[0].startswith("setting,") and len(csv.splitlines()) == 1 + len(rep.series["sweep"]["rows"])
    assert "<img" in to_html(rep)
    back = Report.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert back.series["sweep"]["rows"] == rep.series["sweep"]["rows"]


def test_bad_options_are_usage_errors(data):
    x = data[0]
    with pytest.raises(UsageError, match="quant"):
        sweep_compress_report(x, quant="int4")
    with pytest.raises(UsageError, match="dims"):
        sweep_compress_report(x, dims="64")
    with pytest.raises(UsageError, match="kinds"):
        sweep_index_report(x, kinds="annoy")
    with pytest.raises(UsageError, match="qrels"):
        sweep_index_report(x, qrels={"a": {"b": 1}})
    with pytest.raises(UsageError, match="pq_m"):
        sweep_index_report(x, kinds="ivfpq", pq_m="7")

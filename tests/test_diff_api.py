"""``embeval.api.diff``: matching by id, qrels filtering, the estimated form above the budget, the
per-item table and the saved maps."""

from __future__ import annotations

import numpy as np
import pytest

from embeval.api.diff import diff_report, diff_report_from_sets, match_ids
from embeval.compute.context import ComputeContext
from embeval.errors import InputError, UsageError
from embeval.io.embeddings import EmbeddingSet


def _set(x, ids, path="mem"):
    return EmbeddingSet(vectors=np.ascontiguousarray(x, dtype=np.float32), ids=np.asarray(ids, dtype=str), path=path)


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((150, 8)).astype(np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    return x, (x @ q).astype(np.float32)


def test_match_ids_reports_one_side_ids_and_keeps_old_order():
    old = _set(np.eye(4), ["a", "b", "c", "d"])
    new = _set(np.eye(4)[::-1], ["e", "c", "b", "a"])
    ro, rn, only_old, only_new = match_ids(old, new)
    assert ro.tolist() == [0, 1, 2] and rn.tolist() == [3, 2, 1]
    assert only_old == ["d"] and only_new == ["e"]


def test_a_rotation_gives_cka_one_overlap_one_and_a_perfect_bridge(pair):
    x, y = pair
    ids = [f"i{i}" for i in range(150)]
    perm = np.random.default_rng(1).permutation(150)  # NEW in another row order: matched by id
    rep = diff_report_from_sets(
        _set(x, ids), _set(y[perm], np.asarray(ids)[perm]), metrics=["cka", "knn_overlap(k=5)", "bridge(k=5)"]
    )
    v = {r.label(): r.value for r in rep.results}
    assert v["cka"] == pytest.approx(1.0, abs=1e-6) and v["cka_debiased"] == pytest.approx(1.0, abs=1e-6)
    assert v["knn_overlap@5"] == 1.0 and v["knn_unchanged@5"] == 1.0
    assert v["bridge_top1(map=procrustes, calibration=113)"] == 1.0
    assert rep.artifacts["maps"]["procrustes"]["W"].shape == (8, 8)
    items = rep.artifacts["diff_items"]
    assert items.n == 150 and (items.columns["knn_overlap@5"] == 1.0).all()


def test_one_side_ids_are_left_out_with_a_note(pair):
    x, y = pair
    old = _set(x, [f"i{i}" for i in range(150)])
    new = _set(y[:140], [f"i{i}" for i in range(140)])
    rep = diff_report_from_sets(old, new, metrics=["cka"])
    assert rep.settings["matched"] == 140 and rep.settings["only_old"] == 10
    assert any("10 items only in OLD (i140, i141" in n for n in rep.notes)


def test_estimated_overlap_above_the_budget_has_a_ci_and_a_note():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1300, 6)).astype(np.float32)
    y = x + 0.3 * rng.standard_normal((1300, 6)).astype(np.float32)
    ids = [str(i) for i in range(1300)]
    tight, exact = ComputeContext(budget=1e-6), ComputeContext(budget=1e-6, exact=True)
    est = diff_report_from_sets(_set(x, ids), _set(y, ids), metrics=["knn_overlap(k=5)"], compute=tight)
    r = est.find("knn_overlap@5")[0]
    assert r.params["exact"] is False and r.n == 1000
    assert any("subset of 1,000" in n for n in est.notes)
    full = diff_report_from_sets(_set(x, ids), _set(y, ids), metrics=["knn_overlap(k=5)"], compute=exact)
    f = full.find("knn_overlap@5")[0]
    assert "exact" not in f.params and f.n == 1300
    assert r.ci_low <= f.value <= r.ci_high
    b = diff_report_from_sets(_set(x, ids), _set(y, ids), metrics=["bridge(k=5, sizes=50)"], compute=tight)
    assert b.find("bridge_top1")[0].params["held_out"] == 200
    assert any("200 held-out items" in n for n in b.notes)


def test_usage_errors_before_any_work(pair):
    x, y = pair
    s = _set(x, [str(i) for i in range(150)])
    with pytest.raises(UsageError, match="queries_new"):
        diff_report_from_sets(s, s, queries_old=s)
    with pytest.raises(UsageError, match="metric query_overlap needs queries"):
        diff_report_from_sets(s, s, metrics=["query_overlap"])
    with pytest.raises(InputError, match="repeated ids"):
        diff_report_from_sets(_set(x, ["a"] * 150), s)
    with pytest.raises(InputError, match="only 0 ids"):
        diff_report_from_sets(s, _set(y, [f"z{i}" for i in range(150)]))


def test_files_with_queries_and_qrels(tmp_path):
    rng = np.random.default_rng(3)
    corpus = rng.standard_normal((120, 8)).astype(np.float32)
    queries = corpus[:30] + 0.3 * rng.standard_normal((30, 8)).astype(np.float32)
    d_ids = np.array([f"d{i}" for i in range(120)])
    q_ids = np.array([f"q{i}" for i in range(30)])
    np.savez(tmp_path / "old.npz", embedding=corpus, id=d_ids)
    np.savez(tmp_path / "new.npz", embedding=corpus[:, :6], id=d_ids)  # truncated dims
    np.savez(tmp_path / "qo.npz", embedding=queries, id=q_ids)
    np.savez(tmp_path / "qn.npz", embedding=queries[:, :6], id=q_ids)
    lines = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t1" for i in range(30)] + ["q0\tmissing\t1"]
    (tmp_path / "qrels.tsv").write_text("\n".join(lines) + "\n")
    rep = diff_report(
        tmp_path / "old.npz",
        tmp_path / "new.npz",
        queries_old=tmp_path / "qo.npz",
        queries_new=tmp_path / "qn.npz",
        qrels=tmp_path / "qrels.tsv",
        k=5,
        calibration=60,
    )
    names = {r.metric for r in rep.results}
    assert {"query_overlap@5", "rbo@5", "delta_ndcg@5", "old_threshold_fpr_on_new"} <= names
    assert "bridge_retention_ndcg@5" in names and "drift_p" not in names  # dims differ: no drift
    assert any("1 judgements left out" in n for n in rep.notes)
    assert rep.artifacts["maps"]["ridge"]["W"].shape == (6, 8)
    assert rep.series["diff_calibration"]["points"]
    assert sum(rep.series["diff_overlap_hist"]["counts"]) == 120
    assert {row["metric"] for row in rep.per_query} >= {"old_ndcg@5", "new_ndcg@5"}


def test_every_format_renders_the_diff(tmp_path):
    from embeval.report.render import to_csv, to_html, to_json, to_markdown

    rng = np.random.default_rng(5)
    x = rng.standard_normal((200, 8)).astype(np.float32)
    ids = [f"i{i}" for i in range(200)]
    rep = diff_report_from_sets(
        _set(x, ids),
        _set(x[:, :6] + 0.1 * rng.standard_normal((200, 6)).astype(np.float32), ids),
        texts={"i0": "first <b>text</b>"},
        metrics=["knn_overlap(k=5)", "bridge(k=5, sizes=20)"],
    )
    html = to_html(rep)
    assert "Most moved items (knn_overlap@5)" in html and html.count("<img") >= 2
    assert "first &lt;b&gt;text&lt;/b&gt;" in html or "i0" not in [r["id"] for r in rep.series["diff_moved"]["rows"]]
    assert "knn_overlap@5" in to_markdown(rep) and "bridge_top1" in to_csv(rep)
    import json

    assert json.loads(to_json(rep))["series"]["diff_calibration"]["points"][0]["map"] == "ridge"


def test_python_api_diff_on_arrays(tmp_path):
    import embeval

    rng = np.random.default_rng(6)
    x = rng.standard_normal((150, 8)).astype(np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    ids = [f"i{i}" for i in range(150)]
    r = embeval.diff(
        x,
        (x @ q)[::-1],
        ids=ids,
        new_ids=ids[::-1],
        texts=[f"text {i}" for i in range(150)],
        metrics="cka,knn_overlap(k=5),bridge(k=5)",
        items=tmp_path / "items.csv",
        save_map=tmp_path / "m.npz",
    )
    assert r.value("cka") == pytest.approx(1.0, abs=1e-6) and r.value("knn_overlap@5") == 1.0
    assert r.inputs["old"]["path"] == "<old array>"
    assert str(np.load(tmp_path / "m.npz")["kind"]) == "procrustes"
    assert "text 0" in (tmp_path / "items.csv").read_text()
    with pytest.raises(TypeError, match="diff"):
        embeval.diff(x, x, nonsense=1)


def test_python_api_diff_takes_qrels_in_memory_as_from_a_file(tmp_path):
    import embeval

    rng = np.random.default_rng(7)
    x = rng.standard_normal((120, 8)).astype(np.float32)
    y = x + 0.2 * rng.standard_normal((120, 8)).astype(np.float32)
    qx, qy = x[:12] + 0.05, y[:12] + 0.05
    ids, qids = [f"d{i}" for i in range(120)], [f"q{i}" for i in range(12)]
    qrels = {f"q{i}": {f"d{i}": 1, f"d{i + 20}": 1} for i in range(12)}
    path = tmp_path / "qrels.tsv"
    path.write_text("".join(f"{q}\t0\t{d}\t{g}\n" for q, docs in qrels.items() for d, g in docs.items()))
    common = dict(ids=ids, queries_old=qx, queries_new=qy, query_ids=qids, metrics="retrieval_change", drift=False)
    mem = embeval.diff(x, y, qrels=qrels, **common)
    disk = embeval.diff(x, y, qrels=str(path), **common)
    assert mem.results and [(r.metric, r.value) for r in mem.results] == [(r.metric, r.value) for r in disk.results]
    assert mem.inputs["qrels"] == {"path": "<qrels dict>", "queries": 12, "judgements": 24}
    assert disk.inputs["qrels"]["judgements"] == 24 and disk.inputs["qrels"]["path"].endswith("qrels.tsv")

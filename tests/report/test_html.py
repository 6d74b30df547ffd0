"""The self-contained HTML page: parses, embeds its pictures, escapes what it shows, and draws
each kind of series a report can carry (ROC, score distributions, gap picture, per-query)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SAMPLE
from embeval.report.batch import Batch, Item
from embeval.report.html import batch_html, report_html
from embeval.results import Report, Result
from test_cli_run import parse_html, png_images


def _retrieval_report(seed: int) -> Report:
    rng = np.random.default_rng(seed)
    rep = Report("retrieval", inputs={"queries": {"path": "q.npy", "sha256": "a" * 64, "n": 30, "d": 8}},
                 settings={"seed": 0, "k": [10]},
                 results=[Result("ndcg@10", 0.5 + seed / 10, higher_is_better=True),
                          Result("auc_global", 0.9, higher_is_better=True)])
    rep.per_query = [{"query_id": f"q{i}", "metric": "ndcg@10", "value": float(v)}
                     for i, v in enumerate(rng.uniform(size=30))]
    fpr = np.linspace(0, 1, 50)
    rep.series = {
        "roc": {"fpr": fpr.tolist(), "tpr": np.sqrt(fpr).tolist(), "auc": 0.66},
        "scores": {"edges": np.linspace(-1, 1, 21).tolist(), "pos": rng.integers(0, 5, 20).tolist(),
                   "neg": rng.integers(0, 50, 20).tolist()},
        "gap_pca": {"a": rng.normal(size=(40, 2)).tolist(), "b": (rng.normal(size=(40, 2)) + 2).tolist(),
                    "paired": True, "explained": [0.3, 0.1]},
    }
    return rep


def test_every_series_is_drawn_for_a_batch():
    items = [Item("retrieval", m, "scifact", "ok", _retrieval_report(i)) for i, m in enumerate(["m1", "m2"])]
    page = parse_html(batch_html(Batch(title="t", items=items)))
    pngs = png_images(page)
    # bars, per-query distribution, ROC overlay, score histograms, one gap picture per item
    assert len(pngs) == 1 + 1 + 1 + 1 + 2
    captions = [img["alt"] for img in page.imgs]
    assert any("ROC" in c for c in captions) and any("per-query distributions of ndcg@10" in c for c in captions)
    assert sum("gap picture" in c for c in captions) == 2


def test_single_report_page_escapes_text():
    rep = Report("geometry", inputs={"embeddings": {"path": "<script>alert(1)</script>.npy", "sha256": "b" * 64}},
                 results=[Result("uniformity", -3.0, {"t": 2.0}, higher_is_better=False)],
                 notes=["a & b <i>"])
    text = report_html(rep)
    assert "<script>" not in text and "&lt;script&gt;" in text and "a &amp; b &lt;i&gt;" in text
    page = parse_html(text)
    assert page.imgs == []  # nothing to draw from one scalar
    assert "uniformity" in " ".join(page.text)


def test_html_output_of_a_command(cli, tmp_path):
    out = tmp_path / "geometry.html"
    res = cli("geometry", SAMPLE / "scifact_small" / "corpus.npy", "-q", "-o", out)
    assert res.exit_code == 0, res.stderr
    page = parse_html(out.read_text())
    assert len(png_images(page)) == 2  # nearest-neighbour cosine and k-occurrence
    doc = json.loads(cli("geometry", SAMPLE / "scifact_small" / "corpus.npy", "-q", "-f", "json").stdout)
    # The k-occurrence histogram counts every row once and sums N_k to n·k.
    occ = doc["series"]["k_occurrence"]
    assert sum(occ["counts"]) == 1000 and sum(j * c for j, c in enumerate(occ["counts"])) == 1000 * occ["k"]
    assert sum(doc["series"]["nn_cosine"]["counts"]) == 1000
    assert "<html" in cli("geometry", SAMPLE / "scifact_small" / "corpus.npy", "-q", "-m", "anisotropy",
                          "-f", "html").stdout


def test_geometry_series_match_brute_force(cli):
    x = np.load(SAMPLE / "scifact_small" / "corpus.npy").astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    c = x @ x.T
    np.fill_diagonal(c, -np.inf)
    top = np.argsort(-c, axis=1)[:, :5]
    doc = json.loads(cli("geometry", SAMPLE / "scifact_small" / "corpus.npy", "-q", "-f", "json",
                         "-m", "hubness(k=5)").stdout)
    occ = np.bincount(np.bincount(top.ravel(), minlength=len(x)))
    assert doc["series"]["k_occurrence"]["k"] == 5
    assert doc["series"]["k_occurrence"]["counts"] == occ.tolist()
    nn = doc["series"]["nn_cosine"]
    ref, _ = np.histogram(c.max(axis=1), bins=np.asarray(nn["edges"]))
    assert np.abs(ref - np.asarray(nn["counts"])).sum() <= 2  # float32 search vs float64 at bin edges


def test_retrieval_series_match_brute_force(cli, tmp_path):
    s = SAMPLE / "scifact_small"
    doc = json.loads(cli("retrieval", "--queries", s / "queries.npz", "--corpus", s / "corpus.npz", "--qrels",
                         s / "qrels" / "test.tsv", "-q", "-f", "json", "--k", "10").stdout)
    q = np.load(s / "queries.npz")
    c = np.load(s / "corpus.npz")
    qv = q["embedding"] / np.linalg.norm(q["embedding"], axis=1, keepdims=True)
    cv = c["embedding"] / np.linalg.norm(c["embedding"], axis=1, keepdims=True)
    qpos = {str(i): j for j, i in enumerate(q["id"])}
    dpos = {str(i): j for j, i in enumerate(c["id"])}
    rel = set()
    for line in (s / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, score = line.split("\t")
        if int(score) > 0:
            rel.add((qpos[qid], dpos[did]))
    judged = sorted({i for i, _ in rel})
    scores = (qv[judged] @ cv.T).astype(np.float64)
    is_pos = np.zeros_like(scores, dtype=bool)
    for i, d in rel:
        is_pos[judged.index(i), d] = True
    sc = doc["series"]["scores"]
    edges = np.asarray(sc["edges"])
    assert not sc["neg_sampled"] and sc["n_pos"] == is_pos.sum() and sc["n_neg"] == (~is_pos).sum()
    assert np.abs(np.histogram(scores[is_pos], edges)[0] - np.asarray(sc["pos"])).sum() <= 1
    ref_neg = np.histogram(scores[~is_pos], edges)[0]
    assert np.abs(ref_neg - np.asarray(sc["neg"])).sum() <= 2  # float32 vs float64 at bin edges
    # ROC: from (0,0) to (1,1), monotone, and its area is auc_global (sklearn's, independently).
    from sklearn.metrics import roc_auc_score

    roc = doc["series"]["roc"]
    fpr, tpr = np.asarray(roc["fpr"]), np.asarray(roc["tpr"])
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    ref_auc = roc_auc_score(is_pos.ravel(), scores.ravel())
    assert np.trapezoid(tpr, fpr) == pytest.approx(ref_auc, abs=1e-6)
    assert roc["auc"] == pytest.approx(ref_auc, abs=1e-9)


def test_series_are_bounded():
    from types import SimpleNamespace

    from embeval.diagnostics.retrieval import align_qrels
    from embeval.diagnostics.series import BINS, ROC_POINTS, roc_series, score_series

    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(size=5000))
    curve = SimpleNamespace(fpr=np.concatenate([[0], t, [1]]), tpr=np.concatenate([[0], np.sqrt(t), [1]]), auc=0.6)
    r = roc_series(curve)
    assert len(r["fpr"]) <= ROC_POINTS + 2 and r["fpr"][0] == 0 and r["fpr"][-1] == 1
    area = np.trapezoid(r["tpr"], r["fpr"])
    assert area == pytest.approx(np.trapezoid(curve.tpr, curve.fpr), abs=2e-3)
    q = rng.standard_normal((50, 8)).astype(np.float32)
    c = rng.standard_normal((400, 8)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    qrels = {str(i): {str(i): 1, str(i + 100): 2} for i in range(50)}
    aligned = align_qrels(qrels, [str(i) for i in range(50)], [str(i) for i in range(400)])
    sc = score_series(q, c, aligned, seed=1, sample=1000)  # 20,000 pairs > 1,000: sampled
    assert sc["neg_sampled"] and sc["n_pos"] == 100 and 980 <= sc["n_neg"] <= 1000  # 50 × 20 grid
    assert len(sc["edges"]) == BINS + 1 and sum(sc["neg"]) == sc["n_neg"]


def test_sampled_negative_histogram_matches_the_full_one():
    from embeval.diagnostics.retrieval import align_qrels
    from embeval.diagnostics.series import score_series

    rng = np.random.default_rng(3)
    q = rng.standard_normal((300, 16)).astype(np.float32)
    c = rng.standard_normal((2000, 16)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    qrels = {str(i): {str(i): 1} for i in range(300)}
    aligned = align_qrels(qrels, [str(i) for i in range(300)], [str(i) for i in range(2000)])
    full = score_series(q, c, aligned, sample=10**7)
    part = score_series(q, c, aligned, seed=5, sample=40_000)
    assert not full["neg_sampled"] and part["neg_sampled"] and 39_000 < part["n_neg"] <= 40_000

    def moments(h):
        e = np.asarray(h["edges"])
        mid, w = (e[1:] + e[:-1]) / 2, np.asarray(h["neg"]) / sum(h["neg"])
        mean = (w * mid).sum()
        return mean, np.sqrt((w * (mid - mean) ** 2).sum())

    (m_full, s_full), (m_part, s_part) = moments(full), moments(part)
    exact = (q @ c.T)[~np.eye(300, 2000, dtype=bool)]
    assert full["n_neg"] == exact.size and m_full == pytest.approx(exact.mean(), abs=0.01)
    assert m_part == pytest.approx(m_full, abs=0.01) and s_part == pytest.approx(s_full, rel=0.05)

"""The self-contained HTML page: parses, embeds its pictures, escapes what it shows, and draws
each kind of series a report can carry (ROC, score distributions, gap picture, per-query)."""

from __future__ import annotations

import json

import numpy as np

from conftest import SAMPLE
from embeval.report.batch import Batch, Item
from embeval.report.html import batch_html, report_html
from embeval.report.results import Report, Result
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
    assert any("ROC" in c for c in captions) and any("per-query ndcg@10" in c for c in captions)
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

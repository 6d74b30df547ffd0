"""Reports people read: each table once, no empty Gates section, tables scroll in their own box,
bars of close values zoomed with the best marked, worst queries, named gap sets, per-query CSV,
paths relative to the working folder."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest
from conftest import SAMPLE

from embeval.report.figures import bar_range, best_index

S = SAMPLE / "scifact_small"
BASE = ("retrieval", "--queries", S / "queries.npz", "--corpus", S / "corpus.npz", "--qrels", S / "qrels" / "test.tsv")


def test_single_report_page_has_each_table_once_and_no_empty_gates(cli, tmp_path):
    page = tmp_path / "r.html"
    assert cli(*BASE, "-q", "-o", page).exit_code == 0
    html = page.read_text()
    assert "<h2>Gates</h2>" not in html and "No gates were set" not in html
    assert html.count("<th>metric</th><th>value</th>") == 1  # the results table, once
    # every table sits in a box that scrolls horizontally on its own
    assert html.count("<table>") == html.count("<div class=wide><table>")
    page2 = tmp_path / "g.html"
    assert cli(*BASE, "-q", "-o", page2, "--fail-if", "ndcg@10 < 0.1").exit_code == 0
    assert "<h2>Gates</h2>" in page2.read_text()


def test_worst_queries_table(cli, tmp_path):
    out = tmp_path / "r.json"
    page = tmp_path / "r.html"
    assert cli(*BASE, "-q", "--per-query", "-o", out).exit_code == 0
    assert cli(*BASE, "-q", "--per-query", "-o", page).exit_code == 0
    doc = json.loads(out.read_text())
    worst = doc["series"]["worst_queries"]
    assert worst["by"] == "ndcg@10"
    ndcg = {r["query_id"]: r["value"] for r in doc["per_query"] if r["metric"] == "ndcg@10"}
    expect = sorted(ndcg.items(), key=lambda kv: (kv[1], kv[0]))[:10]
    assert [r["query_id"] for r in worst["rows"]] == [q for q, _ in expect]
    # top documents: brute-force cosine ranking of the worst query
    z = np.load(S / "queries.npz")
    c = np.load(S / "corpus.npz")
    qi = list(z["id"].astype(str)).index(worst["rows"][0]["query_id"])
    q = z["embedding"][qi] / np.linalg.norm(z["embedding"][qi])
    docs = c["embedding"] / np.linalg.norm(c["embedding"], axis=1, keepdims=True)
    top3 = np.argsort(-(docs @ q), kind="stable")[:3]
    assert [d["id"] for d in worst["rows"][0]["top"]] == [str(x) for x in c["id"][top3]]
    html = page.read_text()
    assert "Worst queries by ndcg@10" in html and worst["rows"][0]["query_id"] in html
    assert "Worst queries" not in cli(*BASE, "-q", "-f", "html").stdout  # only with per-query values


def test_per_query_csv_holds_only_per_query_rows(cli, tmp_path):
    out = tmp_path / "pq.csv"
    assert cli(*BASE, "-q", "--per-query", "--k", "10", "-o", out).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert set(rows[0]) == {"query_id", "metric", "value"}
    assert all(r["query_id"] for r in rows) and len(rows) == 100 * 6


def test_bar_range_zooms_on_close_values_and_marks_best():
    lo, hi = bar_range([0.5879, 0.5861])
    assert 0.5 < lo < 0.5861 and hi > 0.5879  # not from zero
    assert bar_range([0.2, 0.9])[0] == 0  # far apart: from zero
    assert bar_range([-0.1, 0.3])[0] <= -0.1
    assert best_index([0.5879, 0.5861], True) == 0
    assert best_index([0.5879, 0.5861], False) == 1
    assert best_index([0.5, 0.5], True) is None and best_index([0.1, 0.2], None) is None


def test_gap_names(cli, tmp_path):
    out = tmp_path / "g.json"
    r = cli("gap", S / "queries.npz", S / "corpus.npz", "-m", "gap", "--name-a", "questions", "--name-b", "abstracts",
            "-q", "-o", out)
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["settings"]["names"] == {"a": "questions", "b": "abstracts"}
    page = tmp_path / "g.html"
    assert cli("gap", S / "queries.npz", S / "corpus.npz", "-m", "gap", "--name-a", "questions", "-q",
               "-o", page).exit_code == 0
    assert "gap picture" in page.read_text()


def test_report_paths_are_relative_to_the_working_folder(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(SAMPLE.parent)
    doc = json.loads(cli("geometry", "examples/../sample_data/scifact_small/corpus.npy", "-q", "-m", "uniformity",
                         "-f", "json").stdout)
    assert doc["inputs"]["embeddings"]["path"] == "sample_data/scifact_small/corpus.npy"
    monkeypatch.chdir(tmp_path)
    doc = json.loads(cli("geometry", S / "corpus.npy", "-q", "-m", "uniformity", "-f", "json").stdout)
    assert doc["inputs"]["embeddings"]["path"] == str(S / "corpus.npy")  # outside: absolute
    assert not re.search(r"/\.\./", doc["inputs"]["embeddings"]["path"])


@pytest.mark.parametrize("close", [True, False])
def test_metric_bars_render(close):
    from embeval.report.figures import metric_bars

    vals = [0.5879, 0.5861] if close else [0.2, 0.9]
    png = metric_bars([("ndcg@10", True, [("a", vals[0], None, None), ("b", vals[1], None, None)])])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"

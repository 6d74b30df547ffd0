"""`embeval run CONFIG.toml`: a batch over sample_data producing every output, item failures,
--fail-fast, gates and JUnit, and bad configs (exit 2 naming the key, nothing written)."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import textwrap
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE

CORPUS = SAMPLE / "scifact_small" / "corpus.npy"
QUERIES = SAMPLE / "scifact_small" / "queries.npz"


class _Page(HTMLParser):
    """Collects tags, image sources and text; counts unclosed structural tags."""

    def __init__(self):
        super().__init__()
        self.imgs, self.tags, self.text, self.open = [], [], [], {}

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(dict(attrs))
        if tag in ("table", "figure", "details", "html", "body"):
            self.open[tag] = self.open.get(tag, 0) + 1

    def handle_endtag(self, tag):
        if tag in self.open:
            self.open[tag] -= 1

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    assert all(v == 0 for v in page.open.values()), page.open
    return page


def png_images(page: _Page) -> list[bytes]:
    out = []
    for img in page.imgs:
        src = img["src"]
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        out.append(data)
    return out


def _config(tmp_path, body: str) -> str:
    p = tmp_path / "batch.toml"
    p.write_text(textwrap.dedent(body))
    return str(p)


VECTORS = f"""
    [settings]
    title = "vectors"
    seed = 3

    [[datasets]]
    name = "corpus"
    kind = "embeddings"
    path = "{CORPUS}"
    model = "minilm"

    [[datasets]]
    name = "queries"
    kind = "embeddings"
    path = "{QUERIES}"
    model = "minilm"

    [[jobs]]
    command = "geometry"
    metrics = ["uniformity,anisotropy,effective_rank,hubness(k=5),mam"]
    fail_if = ["anisotropy > 0.5"]
"""


def test_batch_over_sample_data_writes_every_output(cli, tmp_path):
    cfg = _config(tmp_path, VECTORS)
    out = tmp_path / "out"
    res = cli("run", cfg, "--out-dir", out, "--junit", tmp_path / "gates.xml", "-q")
    assert res.exit_code == 0, res.stderr
    assert {p.name for p in out.iterdir()} == {"report.json", "report.csv", "report.md", "report.html"}
    doc = json.loads((out / "report.json").read_text())
    assert doc["kind"] == "batch" and doc["passed"] and doc["settings"]["seed"] == 3
    assert [(i["command"], i["model"], i["dataset"], i["status"]) for i in doc["items"]] == [
        ("geometry", "minilm", "corpus", "ok"), ("geometry", "minilm", "queries", "ok")]
    assert len(doc["config"]["sha256"]) == 64 and "[[jobs]]" in doc["config"]["toml"]
    # Each item equals the single command run on its own (same seed).
    single = json.loads(cli("geometry", CORPUS, "-q", "-f", "json", "--seed", "3", "-m",
                            "uniformity,anisotropy,effective_rank,hubness(k=5),mam").stdout)
    item = doc["items"][0]["report"]
    assert [(r["metric"], r["params"], r["value"]) for r in item["results"]] == \
        [(r["metric"], r["params"], pytest.approx(r["value"], abs=1e-12)) for r in single["results"]]
    assert item["inputs"]["embeddings"]["sha256"] == single["inputs"]["embeddings"]["sha256"]
    assert item["provenance"]["embeval_version"] and item["settings"]["seed"] == 3
    # Long-form CSV: one row per (item, result), the same numbers as the JSON.
    rows = list(csv.DictReader(io.StringIO((out / "report.csv").read_text())))
    assert len(rows) == sum(len(i["report"]["results"]) for i in doc["items"])
    first = rows[0]
    assert (first["command"], first["model"], first["dataset"], first["metric"]) == \
        ("geometry", "minilm", "corpus", "uniformity")
    assert float(first["value"]) == pytest.approx(item["results"][0]["value"])
    # Markdown for a pull request: verdict, gates, a table per command, provenance.
    md = (out / "report.md").read_text()
    assert md.startswith("## ✅ vectors") and "| geometry/minilm/corpus | `fail if anisotropy > 0.5` |" in md
    assert "| minilm | queries |" in md and "<details><summary>provenance</summary>" in md
    # HTML: parses, every image is an embedded PNG, the tables and provenance are there.
    page = parse_html((out / "report.html").read_text())
    pngs = png_images(page)
    assert len(pngs) >= 3  # metric bars, nearest-neighbour cosine, k-occurrence
    text = " ".join(page.text)
    assert "Provenance" in text and doc["items"][0]["report"]["inputs"]["embeddings"]["sha256"] in text
    assert "src=\"http" not in (out / "report.html").read_text()  # self-contained
    # JUnit: one test case per gate, class = command/model/dataset.
    root = ET.parse(tmp_path / "gates.xml").getroot()
    cases = list(root.iter("testcase"))
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("geometry/minilm/corpus", "fail if anisotropy > 0.5"), ("geometry/minilm/queries", "fail if anisotropy > 0.5")]
    assert root.get("failures") == "0"


def test_batch_with_model_texts_and_pairs(cli, tmp_path):
    """A text dataset and a graded-pairs dataset encoded (with the seeded mock encoder)."""
    (tmp_path / "texts.txt").write_text("A man plays guitar.\nA dog runs in the park.\nThe sky is blue.\n"
                                        "Kids play football.\nHe cooks pasta.\nStocks fell sharply.\n")
    (tmp_path / "sts.csv").write_text("text_a,text_b,score\nA man plays guitar.,A person plays an instrument.,4.2\n"
                                      "A dog runs.,A cat sleeps.,1.0\nThe sky is blue.,Stocks fell sharply.,0.0\n"
                                      "Kids play football.,Children play soccer.,4.8\nHe cooks pasta.,Pasta is being cooked.,4.5\n")
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    docs = ["Guitars have six strings.", "Dogs like to run in parks.", "Pasta is boiled in salted water.",
            "Football is played with a round ball.", "Stock markets fell on Monday."]
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n"
                                               for i, t in enumerate(docs)))
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "how to cook pasta"}) + "\n"
                                        + json.dumps({"_id": "q2", "text": "a pet that runs"}) + "\n")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td1\t1\n")
    cfg = _config(tmp_path, """
        [settings]
        cache_dir = "cache"

        [[datasets]]
        name = "tiny-beir"
        kind = "beir"
        path = "beir"

        [[jobs]]
        command = "retrieval"
        datasets = ["tiny-beir"]
        options = { k = "1,3", per_query = true }

        [[models]]
        name = "minilm"
        model = "mock"

        [[datasets]]
        name = "texts"
        kind = "texts"
        path = "texts.txt"

        [[datasets]]
        name = "sts"
        kind = "pairs"
        path = "sts.csv"

        [[jobs]]
        command = "geometry"
        datasets = "texts"
        metrics = "uniformity,anisotropy"

        [[jobs]]
        command = "pairs"
        fail_if = "spearman < 2"
    """)
    res = cli("run", cfg, "--out-dir", tmp_path / "out", "-q")
    assert res.exit_code == 1, res.stderr
    assert re.search(r"pairs/minilm/sts: spearman = \S+ < 2", res.stderr), res.stderr
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    ret, geo, pairs = (i["report"] for i in doc["items"])
    single = json.loads(cli("retrieval", beir, "--model", "mock", "--k", "1,3", "-q", "-f", "json",
                            "--cache-dir", tmp_path / "cache").stdout)
    assert [r["value"] for r in ret["results"]] == pytest.approx([r["value"] for r in single["results"]])
    assert ret["inputs"]["dataset"]["model"]["model"] == "mock"
    assert geo["inputs"]["embeddings"]["model"]["weights_sha256"]
    assert geo["settings"]["encoding"]["model"] == "mock"
    assert pairs["inputs"]["pairs"]["model"]["model"] == "mock"
    # The pairs value, independently: the mock's vectors and pandas' Spearman.
    from mock_encoder import mock_encode

    sts = pd.read_csv(tmp_path / "sts.csv")
    cos = (mock_encode(sts.text_a.tolist()).astype(np.float64) * mock_encode(sts.text_b.tolist())).sum(1)
    spearman = next(r["value"] for r in pairs["results"] if r["metric"] == "spearman")
    assert spearman == pytest.approx(pd.Series(cos).corr(sts.score, method="spearman"), abs=1e-6)
    # The same as the single commands.
    single = json.loads(cli("pairs", tmp_path / "sts.csv", "--model", "mock", "-q", "-f", "json", "--cache-dir",
                            tmp_path / "cache").stdout)
    assert [r["value"] for r in pairs["results"]] == pytest.approx([r["value"] for r in single["results"]])


def test_failing_item_is_reported_and_the_rest_run(cli, tmp_path, gauss):
    bad = gauss.copy()
    bad[4, 2] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    np.save(tmp_path / "good.npy", gauss)
    body = """
        [[datasets]]
        name = "bad"
        kind = "embeddings"
        path = "bad.npy"

        [[datasets]]
        name = "good"
        kind = "embeddings"
        path = "good.npy"

        [[jobs]]
        command = "geometry"
        datasets = ["bad", "good"]
        metrics = ["anisotropy"]
        fail_if = ["anisotropy > 0.5"]
    """
    cfg = _config(tmp_path, body)
    res = cli("run", cfg, "--out-dir", tmp_path / "out", "-q", "--junit", tmp_path / "j.xml")
    assert res.exit_code == 2
    assert "geometry/-/bad:" in res.stderr and "row 4" in res.stderr
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [i["status"] for i in doc["items"]] == ["error", "ok"]
    assert "row 4" in doc["items"][0]["error"]
    root = ET.parse(tmp_path / "j.xml").getroot()
    assert root.get("errors") == "1" and root.get("tests") == "2"
    err = next(c for c in root.iter("testcase") if c.find("error") is not None)
    assert err.get("classname") == "geometry/-/bad" and err.get("name") == "run"
    page = parse_html((tmp_path / "out" / "report.html").read_text())
    assert "row 4" in " ".join(page.text)
    assert "did not run" in (tmp_path / "out" / "report.md").read_text()
    # --fail-fast: the first failure stops the run; the rest are skipped.
    res = cli("run", cfg, "--out-dir", tmp_path / "out2", "-q", "--fail-fast")
    assert res.exit_code == 2
    doc = json.loads((tmp_path / "out2" / "report.json").read_text())
    assert [i["status"] for i in doc["items"]] == ["error", "skipped"]


def test_gate_failure_exit_1_and_command_line_gates(cli, tmp_path):
    cfg = _config(tmp_path, VECTORS)
    res = cli("run", cfg, "--out-dir", tmp_path / "o", "-q", "--fail-if", "effective_rank < 100")
    assert res.exit_code == 1
    line = res.stderr.strip().splitlines()[-1]
    assert "gate failed (1 of 4)" in line and "geometry/minilm/queries: effective_rank = 82.15" in line
    assert "short by 17.85" in line
    doc = json.loads((tmp_path / "o" / "report.json").read_text())
    assert doc["passed"] is False and len(doc["gates"]) == 4
    # --fail-fast also stops at a failed gate.
    res = cli("run", cfg, "--out-dir", tmp_path / "o2", "-q", "--fail-fast", "--fail-if", "effective_rank < 300")
    assert res.exit_code == 1
    assert [i["status"] for i in json.loads((tmp_path / "o2" / "report.json").read_text())["items"]] == \
        ["ok", "skipped"]
    # A command-line gate that no command of the config can compute is a usage error, before any item runs.
    res = cli("run", cfg, "--out-dir", tmp_path / "o3", "-q", "--fail-if", "ndcg@10 < 0.5")
    assert res.exit_code == 2 and "no metric 'ndcg@10'" in res.stderr and not (tmp_path / "o3").exists()


def test_stdout_formats(cli, tmp_path):
    cfg = _config(tmp_path, VECTORS)
    res = cli("run", cfg, "--out-dir", tmp_path / "o", "-q", "-f", "json")
    assert res.exit_code == 0 and json.loads(res.stdout)["kind"] == "batch"
    res = cli("run", cfg, "--out-dir", tmp_path / "o", "-q")
    assert "vectors: geometry" in res.stdout and "uniformity(t=2)" in res.stdout
    res = cli("run", cfg, "--out-dir", tmp_path / "o", "-q", "-f", "html")
    assert res.exit_code == 2


def test_out_dir_from_settings_is_relative_to_the_config(cli, tmp_path, monkeypatch):
    cfg = _config(tmp_path, VECTORS.replace('seed = 3', 'seed = 3\nout_dir = "reports/nightly"'))
    monkeypatch.chdir(tmp_path.parent)
    assert cli("run", cfg, "-q").exit_code == 0
    assert (tmp_path / "reports" / "nightly" / "report.html").exists()


BASE = f"""
    [[datasets]]
    name = "corpus"
    kind = "embeddings"
    path = "{CORPUS}"
"""


@pytest.mark.parametrize("body, fragment", [
    ("[[jobs]\ncommand = 'geometry'", "invalid TOML"),
    (BASE, "jobs: missing: add at least one [[jobs]]"),
    (BASE + "[[jobs]]\ncomand = 'geometry'\n", "jobs[0].comand: unknown key; did you mean 'command'?"),
    (BASE + "[[jobs]]\nmetrics = ['mam']\n", "jobs[0].command: missing (required)"),
    (BASE + "[[jobs]]\ncommand = 'geometri'\n", "jobs[0].command: unknown command 'geometri'; did you mean 'geometry'?"),
    (BASE + "[[jobs]]\ncommand = 'geometry'\ndatasets = ['corpsu']\n", "jobs[0].datasets[0]: no dataset named 'corpsu'; did you mean 'corpus'?"),
    (BASE + "[[jobs]]\ncommand = 'pairs'\ndatasets = ['corpus']\n", "jobs[0].datasets[0]: pairs does not take embeddings datasets"),
    (BASE + "[[jobs]]\ncommand = 'geometry'\nfail_if = ['anisotropy >> 1']\n", "jobs[0].fail_if[0]: 'anisotropy >> 1': expected 'METRIC OP NUMBER'"),
    (BASE + "[[jobs]]\ncommand = 'geometry'\nmetrics = ['hubnes']\n", "jobs[0].metrics[0]: unknown metric 'hubnes' for geometry/labels; did you mean hubness"),
    (BASE + "[[jobs]]\ncommand = 'geometry'\noptions = { sampel = 5 }\n", "jobs[0].options.sampel: geometry has no option 'sampel'; did you mean 'sample'?"),
    (BASE + "[[jobs]]\ncommand = 'geometry'\noptions = { sample = 'many' }\n", "jobs[0].options.sample: must be a number"),
    (BASE + "[[jobs]]\ncommand = 'geometry'\noptions = { seed = 1 }\n", "jobs[0].options.seed: set by the runner"),
    (BASE + "[[jobs]]\ncommand = 'geometry'\nmetrics = 3\n", "jobs[0].metrics: must be a string or a list of strings, not an integer"),
    ("[settings]\nseed = 'zero'\n" + BASE + "[[jobs]]\ncommand = 'geometry'\n", "settings.seed: must be an integer, not a string"),
    (BASE.replace("corpus.npy", "nope.npy") + "[[jobs]]\ncommand = 'geometry'\n", "datasets[0].path: no such file or folder"),
    (BASE + BASE + "[[jobs]]\ncommand = 'geometry'\n", "datasets[1].name: dataset 'corpus' is defined twice"),
    (BASE.replace("embeddings", "embedings") + "[[jobs]]\ncommand = 'geometry'\n", "datasets[0].kind: unknown kind 'embedings'; did you mean 'embeddings'?"),
    (BASE.replace("kind = \"embeddings\"", "kind = \"texts\"") + "[[jobs]]\ncommand = 'geometry'\n", "jobs[0].models: dataset 'corpus' holds texts: add a [[models]] table"),
    ("[[models]]\nname = 'm'\n" + BASE + "[[jobs]]\ncommand = 'geometry'\nmodels = ['x']\n", "jobs[0].models[0]: no model named 'x'"),
    (BASE + "[[jobs]]\ncommand = 'geometry'\n[[jobs]]\ncommand = 'geometry'\n", "jobs[1]: item geometry/-/corpus is already produced by jobs[0]"),
    (BASE.replace('name = "corpus"', 'name = "a/b"') + "[[jobs]]\ncommand = 'geometry'\n", "datasets[0].name: 'a/b': '/' is not allowed"),
])
def test_bad_config_exit_2_naming_the_key(cli, tmp_path, body, fragment):
    cfg = _config(tmp_path, body)
    res = cli("run", cfg, "--out-dir", tmp_path / "out", "-q")
    assert res.exit_code == 2, res.stdout
    assert fragment in res.stderr, res.stderr
    assert str(tmp_path / "batch.toml") in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_missing_config_file(cli, tmp_path):
    res = cli("run", tmp_path / "nope.toml")
    assert res.exit_code == 2 and "no such file" in res.stderr


def test_batch_retrieval_writes_per_query_and_its_pictures(cli, tmp_path):
    s = SAMPLE / "scifact_small"
    cfg = _config(tmp_path, f"""
        [[datasets]]
        name = "scifact"
        kind = "retrieval"
        queries = "{s / 'queries.npz'}"
        corpus = "{s / 'corpus.npz'}"
        qrels = "{s / 'qrels' / 'test.tsv'}"

        [[jobs]]
        command = "retrieval"
        options = {{ k = "1,10", per_query = true }}
        fail_if = ["ndcg@10 < 0.5"]
    """)
    out = tmp_path / "out"
    res = cli("run", cfg, "--out-dir", out, "-q")
    assert res.exit_code == 0, res.stderr
    assert {p.name for p in out.iterdir()} == {"report.json", "report.csv", "report.md", "report.html",
                                               "per_query.csv"}
    single = json.loads(cli("retrieval", "--queries", s / "queries.npz", "--corpus", s / "corpus.npz", "--qrels",
                            s / "qrels" / "test.tsv", "--k", "1,10", "--per-query", "-q", "-f", "json").stdout)
    item = json.loads((out / "report.json").read_text())["items"][0]["report"]
    assert [r["value"] for r in item["results"]] == [r["value"] for r in single["results"]]
    rows = list(csv.DictReader(io.StringIO((out / "per_query.csv").read_text())))
    assert len(rows) == len(single["per_query"]) == 100 * 11
    assert {(r["query_id"], r["metric"]): float(r["value"]) for r in rows} == \
        {(r["query_id"], r["metric"]): pytest.approx(r["value"]) for r in single["per_query"]}
    page = parse_html((out / "report.html").read_text())
    captions = [img["alt"] for img in page.imgs]
    assert len(png_images(page)) == 3  # per-query distributions, ROC, score histograms
    assert any("ROC" in c for c in captions) and any("score distributions" in c for c in captions)
    assert any("per-query distributions of ndcg@1, ndcg@10" in c for c in captions)
    assert any("every metric" in c for c in captions) is False  # one item: no bar chart


def test_batch_gap_labels_and_items(cli, tmp_path, gauss):
    """The gap command (with its picture) and label-aware geometry with a per-item table."""
    import pandas as pd

    labels = np.repeat(["x", "y", "z"], 100)
    pd.DataFrame({"id": [f"r{i}" for i in range(300)], "embedding": list(gauss.astype(np.float64)),
                  "label": labels}).to_parquet(tmp_path / "lab.parquet")
    s = SAMPLE / "scifact_small"
    cfg = _config(tmp_path, f"""
        [[datasets]]
        name = "labelled"
        kind = "embeddings"
        path = "lab.parquet"
        options = {{ label_col = "label" }}

        [[datasets]]
        name = "queries-vs-docs"
        kind = "gap"
        a = "{s / 'queries.npz'}"
        b = "{s / 'corpus.npz'}"

        [[jobs]]
        command = "geometry"
        metrics = ["anisotropy,knn_label_agreement(k=5)"]
        options = {{ items = true }}

        [[jobs]]
        command = "gap"
        metrics = ["gap,knn_mixing"]
        fail_if = ["gap > 0.9"]
    """)
    out = tmp_path / "out"
    res = cli("run", cfg, "--out-dir", out, "-q")
    assert res.exit_code == 0, res.stderr
    doc = json.loads((out / "report.json").read_text())
    geo, gap = (i["report"] for i in doc["items"])
    assert {r["metric"] for r in geo["results"]} == {"anisotropy", "knn_label_agreement"}
    items = (out / "items" / "geometry.labelled.csv").read_text().splitlines()
    assert len(items) == 301
    single = json.loads(cli("gap", s / "queries.npz", s / "corpus.npz", "-q", "-f", "json", "-m",
                            "gap,knn_mixing").stdout)
    assert [r["value"] for r in gap["results"]] == [r["value"] for r in single["results"]]
    pca = gap["series"]["gap_pca"]
    assert len(pca["a"]) == 100 and len(pca["b"]) == 500 and len(pca["explained"]) == 2
    page = parse_html((out / "report.html").read_text())
    assert any("gap picture" in img["alt"] for img in page.imgs)
    png_images(page)


def test_out_dir_that_is_a_file_fails_before_running(cli, tmp_path):
    cfg = _config(tmp_path, VECTORS)
    (tmp_path / "taken").write_text("x")
    res = cli("run", cfg, "--out-dir", tmp_path / "taken", "-q")
    assert res.exit_code == 2 and "exists and is not a folder" in res.stderr
    assert res.stdout == ""  # nothing ran

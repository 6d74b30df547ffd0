"""``embeval sweep index|compress`` on sample_data: exit codes, gates, report files."""

from __future__ import annotations

import json
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "scifact_small"


def test_compress_cli_writes_reports_and_gates(cli, tmp_path):
    out = tmp_path / "c.json"
    args = [
        "sweep",
        "compress",
        SAMPLE / "corpus.npz",
        "--queries",
        SAMPLE / "queries.npz",
        "--qrels",
        SAMPLE / "qrels/test.tsv",
        "--quant",
        "binary",
        "--rescore",
        "0,4",
        "--repeats",
        "1",
        "-q",
    ]
    res = cli(*args, "--output", out, "--fail-if", "retention_ndcg@10 < 0.5")
    assert res.exit_code == 0, res.stderr
    rep = json.loads(out.read_text())
    assert rep["command"] == "sweep compress" and rep["settings"]["recommended"]
    assert {r["setting"] for r in rep["series"]["sweep"]["rows"]} == {"float32", "binary", "binary/rescore4"}
    # a gate on a named setting that fires: exit 1, the summary names the setting
    res = cli(*args, "--fail-if", "retention_ndcg@10(setting=binary) > 0.1")
    assert res.exit_code == 1 and "setting=binary" in res.stderr
    md = tmp_path / "c.md"
    assert cli(*args, "--output", md).exit_code == 0 and "| setting |" in md.read_text()


def test_index_cli_and_bad_input(cli, tmp_path):
    res = cli(
        "sweep",
        "index",
        SAMPLE / "corpus.npy",
        "--kinds",
        "ivf",
        "--nprobe",
        "1,64",
        "--n-queries",
        "50",
        "--repeats",
        "1",
        "-q",
        "--format",
        "csv",
        "--fail-if",
        "ann_recall@10 < 0.99",
    )
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines()[0].startswith("setting,")
    bad = cli("sweep", "index", SAMPLE / "corpus.npy", "--kinds", "annoy", "-q")
    assert bad.exit_code == 2 and "--kinds" in bad.stderr
    missing = cli("sweep", "compress", tmp_path / "nope.npy", "-q")
    assert missing.exit_code == 2
    typo = cli("sweep", "index", SAMPLE / "corpus.npy", "--fail-if", "recal@10 < 0.9", "-q")
    assert typo.exit_code == 2 and "ann_recall@10" in typo.stderr and "--fail-if" in typo.stderr


def test_compare_two_sweep_reports_matches_settings(cli, tmp_path):
    base = [
        "sweep",
        "compress",
        SAMPLE / "corpus.npz",
        "--queries",
        SAMPLE / "queries.npz",
        "--qrels",
        SAMPLE / "qrels/test.tsv",
        "--quant",
        "int8",
        "--rescore",
        "0",
        "--repeats",
        "1",
        "-q",
    ]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cli(*base, "-o", a).exit_code == 0
    assert cli(*base, "--calibration", "50", "-o", b).exit_code == 0
    old = {
        r["params"]["setting"]: r["value"]
        for r in json.loads(a.read_text())["results"]
        if r["metric"] == "retention_ndcg@10"
    }
    new = {
        r["params"]["setting"]: r["value"]
        for r in json.loads(b.read_text())["results"]
        if r["metric"] == "retention_ndcg@10"
    }
    res = cli("compare", a, b, "-f", "json", "-m", "retention_ndcg@10")
    assert res.exit_code == 0, res.stderr
    rows = {r["params"]["setting"]: r for r in json.loads(res.stdout)["rows"]}
    assert set(rows) == set(old) == set(new)  # matched by setting, not by the read-back parameters
    assert abs(rows["int8"]["delta"] - (new["int8"] - old["int8"])) < 1e-12
    tol = abs(new["int8"] - old["int8"]) / 2
    gate = f"retention_ndcg@10(setting=int8)>{tol}"
    worse = new["int8"] < old["int8"]
    assert cli("compare", a, b, "--fail-if-regress", gate).exit_code == (1 if worse else 0)


def test_batch_route(cli, tmp_path):
    cfg = tmp_path / "b.toml"
    cfg.write_text(
        f"""[settings]
out_dir = "{tmp_path / "out"}"
[[datasets]]
name = "scifact"
kind = "embeddings"
path = "{SAMPLE / "corpus.npy"}"
[[jobs]]
command = "sweep-index"
options = {{ kinds = "ivf", nprobe = "1,64", n_queries = 50, repeats = 1 }}
""",
        encoding="utf-8",
    )
    res = cli("run", cfg, "-q", "--format", "json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    text = json.dumps(doc)
    assert "ann_recall@10" in text and "ivf/nlist25/nprobe25" in text

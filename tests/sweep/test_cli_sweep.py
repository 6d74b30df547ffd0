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

"""MTEB result files: the real ones in ../shared/data/reference_scores as compare baselines, and
embeval's own --mteb-out files (format checked against those reference files)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import SAMPLE, shared_data

S = SAMPLE / "scifact_small"
VECTORS = [
    "retrieval",
    "--queries",
    S / "queries.npz",
    "--corpus",
    S / "corpus.npz",
    "--qrels",
    S / "qrels" / "test.tsv",
    "-q",
]


def _ref(name):
    return shared_data("reference_scores", "all-MiniLM-L6-v2", f"{name}.json")


def _load(path):
    from embeval.report.compare import load_side

    return load_side(path)


def test_reference_files_map_to_embeval_names():
    sci = _ref("SciFact")
    raw = json.loads(sci.read_text())["scores"]["test"][0]
    side = _load(sci)
    rep = side.items["retrieval"]
    got = {r.metric: r.value for r in rep.results}
    assert got["ndcg@10"] == raw["ndcg_at_10"] == 0.64508
    assert got["map@100"] == raw["map_at_100"] and got["recall@1000"] == raw["recall_at_1000"]
    assert got["precision@3"] == raw["precision_at_3"] and got["mrr@10"] == raw["mrr_at_10"]
    assert len(got) == 5 * 7  # five measures at seven cutoffs; no nauc_* diagnostics
    assert side.info["main_score"] == "ndcg@10 = 0.64508" and side.info["task"] == "SciFact"
    assert side.info["model"] == "sentence-transformers/all-MiniLM-L6-v2"

    sts = _load(_ref("STSBenchmark"))
    got = {r.metric: r.value for r in sts.items["pairs"].results}
    assert got == {"spearman": 0.8203247283076371, "pearson": 0.8274064239694425}
    assert sts.info["main_score"].startswith("spearman = ")

    fiqa = _load(_ref("FiQA2018"))  # dev, test, train: test is taken
    assert fiqa.info["split"] == "test"
    assert {r.metric: r.value for r in fiqa.items["retrieval"].results}["ndcg@10"] == 0.36867

    bank = _load(_ref("Banking77Classification"))
    assert list(bank.items) == ["mteb:Banking77Classification"]
    assert bank.info["main_score"].startswith("accuracy = 0.8004")


def test_compare_against_an_mteb_baseline(cli, tmp_path):
    cur = tmp_path / "cur.json"
    assert cli(*VECTORS, "-o", cur).exit_code == 0
    new = {r["metric"]: r["value"] for r in json.loads(cur.read_text())["results"]}
    res = cli("compare", _ref("SciFact"), cur, "--format", "json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    rows = {r["metric"]: r for r in doc["rows"]}
    assert rows["ndcg@10"]["old"] == 0.64508 and rows["ndcg@10"]["new"] == pytest.approx(new["ndcg@10"])
    assert doc["baseline"]["format"] == "mteb" and doc["baseline"]["main_score"] == "ndcg@10 = 0.64508"
    drop = 0.64508 - new["ndcg@10"]
    passing = cli("compare", _ref("SciFact"), cur, "--fail-if-regress", f"ndcg@10>{abs(drop) + 0.001}")
    assert passing.exit_code == 0, passing.stderr
    assert drop < -0.1  # the 1000-document sample is easier than full SciFact (0.83 vs 0.65)
    # the other way round (the MTEB file as the current side), ndcg@10 fell by 0.18: the gate fails
    failing = cli("compare", cur, _ref("SciFact"), "--fail-if-regress", "ndcg@10>0.01")
    assert failing.exit_code == 1, failing.stderr
    assert cli("compare", cur, _ref("SciFact"), "--fail-if-regress", f"ndcg@10>{-drop + 0.001}").exit_code == 0
    # a command mismatch is a usage error, not a silent empty comparison
    res = cli("compare", _ref("STSBenchmark"), cur)
    assert res.exit_code == 2 and "pairs report" in res.stderr


def test_retrieval_writes_mteb_format_and_reads_it_back(cli, tmp_path):
    out, rep = tmp_path / "SciFactSmall.json", tmp_path / "r.json"
    res = cli(*VECTORS, "--k", "1,3,5,10,100", "--mteb-out", out, "--mteb-task", "SciFactSmall", "-o", rep)
    assert res.exit_code == 0, res.stderr
    mine = json.loads(out.read_text())
    ref = json.loads(_ref("SciFact").read_text())
    assert set(mine) >= {"dataset_revision", "task_name", "mteb_version", "evaluation_time", "scores"}
    entry, ref_entry = mine["scores"]["test"][0], ref["scores"]["test"][0]
    assert set(entry) <= set(ref_entry)  # only keys MTEB itself writes
    values = {r["metric"]: r["value"] for r in json.loads(rep.read_text())["results"]}
    assert entry["main_score"] == entry["ndcg_at_10"] == values["ndcg@10"]
    assert entry["mrr_at_5"] == values["mrr@5"] and mine["task_name"] == "SciFactSmall"
    # embeval's MTEB file as a baseline against embeval's own report: no change anywhere
    doc = json.loads(cli("compare", out, rep, "--format", "json").stdout)
    shared = [r for r in doc["rows"] if r["old"] is not None and r["new"] is not None]
    assert len(shared) == 25 and all(r["old"] == r["new"] for r in shared)


def test_pairs_report_to_mteb_and_back(tmp_path):
    from embeval.io.mteb import is_mteb_result, write_mteb
    from embeval.report.compare.load import mteb_report
    from embeval.results import Report, Result

    rep = Report(
        "pairs",
        results=[
            Result("spearman", 0.71, n=5, higher_is_better=True),
            Result("pearson", 0.69, n=5, higher_is_better=True),
            Result("alignment", 0.4, {"alpha": 2}, n=5, higher_is_better=False),
        ],
    )
    write_mteb(tmp_path / "STS.json", rep, task_name="MySTS", split="dev")
    doc = json.loads((tmp_path / "STS.json").read_text())
    ref_keys = set(json.loads(_ref("STSBenchmark").read_text())["scores"]["test"][0])
    assert is_mteb_result(doc) and set(doc["scores"]["dev"][0]) <= ref_keys
    assert doc["scores"]["dev"][0]["main_score"] == doc["scores"]["dev"][0]["cosine_spearman"] == 0.71
    back, info = mteb_report(doc, tmp_path / "STS.json")
    assert back.command == "pairs" and {r.metric: r.value for r in back.results} == {"spearman": 0.71, "pearson": 0.69}
    assert [r.higher_is_better for r in back.results] == [True, True]  # from the registry's declarations
    assert info["main_score"] == "spearman = 0.71" and info["split"] == "dev"


def test_pairs_writes_mteb_sts(cli, tmp_path, model_cache):
    df = pd.DataFrame(
        {
            "text_a": ["A man plays guitar.", "A dog runs.", "The sky is blue.", "Kids play football."],
            "text_b": ["A person plays music.", "A cat sleeps.", "Stocks fell.", "Children play soccer."],
            "score": [4.2, 1.0, 0.0, 4.8],
        }
    )
    df.to_csv(tmp_path / "sts.csv", index=False)
    out = tmp_path / "m.json"
    res = cli(
        "pairs",
        tmp_path / "sts.csv",
        "--model",
        "mock",
        "--cache-dir",
        model_cache,
        "-q",
        "-f",
        "json",
        "--mteb-out",
        out,
    )
    assert res.exit_code == 0, res.stderr
    got = {r["metric"]: r["value"] for r in json.loads(res.stdout)["results"]}
    entry = json.loads(out.read_text())["scores"]["test"][0]
    assert entry["main_score"] == entry["cosine_spearman"] == got["spearman"]
    assert entry["cosine_pearson"] == got["pearson"]
    assert json.loads(out.read_text())["task_name"] == "sts"


def test_mteb_out_usage_errors(cli, tmp_path):
    res = cli(*VECTORS, "--mteb-out", tmp_path / "m.csv")
    assert res.exit_code == 2 and "--mteb-out" in res.stderr and "use a .json file name" in res.stderr
    bad = tmp_path / "odd.json"
    bad.write_text(
        json.dumps(
            {
                "task_name": "X",
                "scores": {"a": [{"hf_subset": "default", "x": 1}], "b": [{"hf_subset": "default", "x": 2}]},
            }
        )
    )
    res = cli("compare", bad, bad)
    assert res.exit_code == 2 and "2 splits" in res.stderr


def test_mteb_baseline_names_its_main_score_and_no_spurious_settings_note(cli, tmp_path):
    """Review P3-15: the table and Markdown name the MTEB main score; settings an MTEB file does not
    record are not 'different' (no "index None → 'flat'" note)."""
    cur = tmp_path / "cur.json"
    assert cli(*VECTORS, "-o", cur).exit_code == 0
    for fmt in ("table", "markdown"):
        res = cli("compare", _ref("SciFact"), cur, "-f", fmt)
        assert res.exit_code == 0, res.stderr
        assert "main score ndcg@10 = 0.64508" in res.stdout.replace("\n", " "), fmt
        assert "settings differ" not in res.stdout and "None →" not in res.stdout, fmt
    doc = json.loads(cli("compare", _ref("SciFact"), cur, "-f", "json").stdout)
    assert not any("settings differ" in n for n in doc["notes"])
    # N-way: the MTEB system is named with its main score in a note
    res = cli("compare", _ref("SciFact"), cur, cur, "--rank")
    assert "SciFact.json (MTEB SciFact, split test, main score ndcg@10 = 0.64508)" in res.stdout.replace("\n", " ")

"""Issue 20, items 6–9 (../shared/reviews/trust-3.md, F1–F3 and the new user's list), as hostile
cases in the format of :mod:`hostile.cases` (kept in their own module so that the branches adding
cases for items 1–5 and 6–9 merge without conflicts)."""

from __future__ import annotations

import json

import numpy as np

from hostile.cases import QRELS, RETR, Case, many, npy


def _dup_corpus(t):
    """F3: a corpus whose last row (1200) equals row 5, and a query equal to row 5."""
    rng = np.random.default_rng(20)
    x = rng.standard_normal((1201, 48)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[1200] = x[5]
    np.save(t / "c.npy", x)
    np.save(t / "q.npy", x[[5, 5]])
    (t / "qrels.tsv").write_text("0\t5\t1\n1\t1200\t1\n")


def _run_ties_by_row(t, out, err):
    lines = (t / "r.trec").read_text().split("\n")
    first = [ln.split()[:4] for ln in lines if ln.startswith("0 ")][:2]
    assert first == [["0", "Q0", "5", "1"], ["0", "Q0", "1200", "2"]], first  # tie: row ascending


def _mteb_file_loads(t, out, err):
    doc = json.loads((t / "m.json").read_text())
    assert isinstance(doc["dataset_revision"], str) and doc["dataset_revision"].startswith("embeval-sha256:")
    assert doc["scores"]["test"][0]["languages"] == ["eng-Latn"]


def _geo_pair(t):
    rng = np.random.default_rng(0)
    np.save(t / "a.npy", rng.standard_normal((30, 8)).astype(np.float32))
    np.save(t / "b.npy", rng.standard_normal((40, 8)).astype(np.float32))


def _report(name, n):
    def build(t):
        doc = {
            "embeval_version": "0.1.0",
            "command": "geometry",
            "inputs": {"embeddings": {"path": "x.npy", "sha256": f"{n:064d}", "n": n, "d": 8}},
            "settings": {"seed": 0},
            "results": [
                {
                    "metric": "anisotropy",
                    "value": 0.1 * n / 100,
                    "params": {},
                    "n": n,
                    "ci_low": None,
                    "ci_high": None,
                    "higher_is_better": False,
                }
            ],
            "gates": [],
            "passed": True,
        }
        (t / name).write_text(json.dumps(doc))

    return build


def _drift_any(t, out, err):
    names = {r["metric"] for r in json.loads(out)["results"]}
    assert {"drift_p", "c2st_p", "drift_any_p"} <= names, names


def _says_fail_if(t, out, err):
    assert "fail if anisotropy > 0.99" in out, out[-800:]


CASES_3B: list[Case] = [
    Case(
        "F3_dup_tie_run_row_order",
        _dup_corpus,
        ["retrieval", "--queries", "q.npy", "--corpus", "c.npy", "--qrels", "qrels.tsv", "--run", "r.trec", "-q"],
        0,
        check=_run_ties_by_row,
    ),
    Case(
        "F1_mteb_out_loadable",
        lambda t: None,
        ["retrieval", *RETR, "--qrels", QRELS, "--mteb-out", "m.json", "-q"],
        0,
        check=_mteb_file_loads,
    ),
    Case(
        "F1_mteb_lang_malformed",
        lambda t: None,
        ["retrieval", *RETR, "--qrels", QRELS, "--mteb-out", "m.json", "--mteb-lang", "english", "-q"],
        2,
        ["--mteb-lang", "eng-Latn"],
        absent=["m.json"],
    ),
    Case(
        "F2_compare_test_unknown",
        many(_report("a.json", 100), _report("b.json", 100)),
        ["compare", "a.json", "b.json", "--test", "tukey"],
        2,
        ["--test"],
    ),
    Case(
        "N4_compare_different_data_refused",
        many(_report("a.json", 100), _report("b.json", 300)),
        ["compare", "a.json", "b.json"],
        2,
        ["computed on different data", "100 vs 300 rows", "--allow-different-data"],
    ),
    Case(
        "N4_compare_different_data_allowed",
        many(_report("a.json", 100), _report("b.json", 300)),
        ["compare", "a.json", "b.json", "--allow-different-data", "-f", "json"],
        0,
        check=lambda t, o, e: json.loads(o)["notes"][0].startswith("computed on different data"),
    ),
    Case(
        "N3_drift_one_decision",
        _geo_pair,
        ["gap", "a.npy", "b.npy", "--drift", "-m", "gap", "-f", "json", "-q"],
        0,
        check=_drift_any,
    ),
    Case(
        "N_gate_shown_as_fail_condition",
        npy("a.npy"),
        ["geometry", "a.npy", "-m", "anisotropy", "--fail-if", "anisotropy > 0.99", "-f", "markdown", "-q"],
        0,
        check=_says_fail_if,
    ),
    Case(
        "N12_no_gates_banner",
        many(_report("a.json", 100), _report("b.json", 100), _report("c.json", 100)),
        ["compare", "a.json", "b.json", "c.json", "-o", "c.html"],
        0,
        check=lambda t, o, e: "no gates set" in (t / "c.html").read_text(),
    ),
]


def _no_unasked_note(t, out, err):
    doc = json.loads(out)
    assert not any(n.startswith("not ranked (no better direction)") for n in doc["notes"]), doc["notes"]


def _undirected(name):
    def build(t):
        doc = {
            "embeval_version": "0.1.0",
            "command": "retrieval",
            "inputs": {"queries": {"path": "q.npy", "sha256": "0" * 64, "n": 3, "d": 4}},
            "settings": {"seed": 0},
            "results": [
                {"metric": "ndcg@10", "value": 0.5, "params": {}, "n": 3, "ci_low": None, "ci_high": None,
                 "higher_is_better": True},
                {"metric": "best_threshold", "value": 0.3, "params": {}, "n": 3, "ci_low": None, "ci_high": None,
                 "higher_is_better": None},
            ],
            "gates": [],
            "passed": True,
        }
        (t / name).write_text(json.dumps(doc))

    return build


CASES_3B.append(
    Case("N13_not_ranked_note_only_for_asked_metrics", many(_undirected("a.json"), _undirected("b.json"),
                                                            _undirected("c.json")),
         ["compare", "a.json", "b.json", "c.json", "-m", "ndcg@10", "-f", "json"], 0, check=_no_unasked_note)
)

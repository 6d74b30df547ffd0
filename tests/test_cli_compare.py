"""`embeval compare` on crafted reports: deltas, directions, paired tests, regression gates,
outputs, JUnit, and every kind of bad input (exit 2, one line)."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from conftest import SAMPLE


def _report(command="retrieval", results=(), per_query=None, inputs=None, settings=None) -> dict:
    """An embeval JSON report written by hand, as SPEC §4 describes it."""
    doc = {
        "embeval_version": "0.1.0", "command": command,
        "inputs": inputs or {"queries": {"path": "q.npy", "sha256": "0" * 64, "n": 3, "d": 4}},
        "settings": settings or {"seed": 0},
        "results": [{"metric": m, "value": v, "params": p, "n": None, "ci_low": None, "ci_high": None,
                     "higher_is_better": hib} for m, v, p, hib in results],
        "gates": [], "passed": True,
    }
    if per_query is not None:
        doc["per_query"] = [{"query_id": q, "metric": m, "value": v} for m, vals in per_query.items()
                            for q, v in vals.items()]
    return doc


def _write(path, doc) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def _per_query_pair(shift: float, noise: float, n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    old = rng.uniform(0.3, 0.9, n)
    new = np.clip(old + shift + rng.normal(0, noise, n), 0, 1)
    ids = [f"q{i}" for i in range(n)]
    return dict(zip(ids, old.tolist())), dict(zip(ids, new.tolist()))


def _pair(tmp_path, old_pq, new_pq, extra=()):
    base = _report(results=[("ndcg@10", float(np.mean(list(old_pq.values()))), {}, True), *extra],
                   per_query={"ndcg@10": old_pq})
    cur = _report(results=[("ndcg@10", float(np.mean(list(new_pq.values()))), {}, True), *extra],
                  per_query={"ndcg@10": new_pq})
    return _write(tmp_path / "base.json", base), _write(tmp_path / "cur.json", cur)


def test_true_regression_fails_the_gate(cli, tmp_path):
    old, new = _per_query_pair(shift=-0.05, noise=0.02)
    b, c = _pair(tmp_path, old, new)
    res = cli("compare", b, c, "--fail-if-regress", "ndcg@10>0.01", "-f", "json")
    assert res.exit_code == 1, res.stderr
    doc = json.loads(res.stdout)
    row = doc["rows"][0]
    d = np.array(list(new.values())) - np.array(list(old.values()))
    assert row["delta"] == pytest.approx(d.mean())
    assert row["paired_test"]["n"] == 60 and row["paired_test"]["ci_high"] < 0
    assert row["paired_test"]["p_value"] < 0.001
    assert row["verdict"] == "worse (significant)"
    line = res.stderr.strip()
    assert "\n" not in line and "ndcg@10 regressed by" in line and "excludes 0" in line and "over by" in line


def test_regression_within_noise_does_not_fail(cli, tmp_path):
    # The mean drops by more than the tolerance, but per-query noise is large: the CI includes 0.
    ids = [f"q{i}" for i in range(20)]
    old_v = np.linspace(0.35, 0.65, 20)
    new_v = old_v - 0.02 + 0.3 * np.tile([1.0, -1.0], 10)  # mean delta exactly −0.02, sd 0.3
    old, new = dict(zip(ids, old_v.tolist())), dict(zip(ids, new_v.tolist()))
    b, c = _pair(tmp_path, old, new)
    res = cli("compare", b, c, "--fail-if-regress", "ndcg@10>0.01", "-f", "json")
    doc = json.loads(res.stdout)
    row = doc["rows"][0]
    assert row["delta"] < -0.01, "the crafted case must exceed the tolerance"
    assert row["paired_test"]["ci_low"] < 0 < row["paired_test"]["ci_high"]
    assert res.exit_code == 0, res.stderr
    assert doc["gates"][0]["passed"] and "includes 0" in doc["gates"][0]["message"]
    assert row["verdict"] == "worse (within noise)"


def test_without_per_query_values_the_point_rule_applies(cli, tmp_path):
    b = _write(tmp_path / "b.json", _report(results=[("ndcg@10", 0.60, {}, True)]))
    c = _write(tmp_path / "c.json", _report(results=[("ndcg@10", 0.58, {}, True)]))
    res = cli("compare", b, c, "--fail-if-regress", "ndcg@10>0.01")
    assert res.exit_code == 1
    assert "ndcg@10 regressed by 0.02 (0.6 → 0.58) > 0.01 (over by 0.01)" in res.stderr
    assert cli("compare", b, c, "--fail-if-regress", "ndcg@10>0.05").exit_code == 0
    # Improvement never fails.
    assert cli("compare", c, b, "--fail-if-regress", "ndcg@10>0").exit_code == 0


def test_direction_comes_from_the_report(cli, tmp_path):
    # uniformity: lower is better, so going up is the regression.
    b = _write(tmp_path / "b.json", _report("geometry", [("uniformity", -3.0, {"t": 2.0}, False)]))
    c = _write(tmp_path / "c.json", _report("geometry", [("uniformity", -2.5, {"t": 2.0}, False)]))
    res = cli("compare", b, c, "--fail-if-regress", "uniformity>0.1", "-f", "json")
    assert res.exit_code == 1
    assert json.loads(res.stdout)["rows"][0]["verdict"] == "worse"
    assert cli("compare", c, b, "--fail-if-regress", "uniformity>0.1").exit_code == 0
    # Relative tolerance: 0.5 is 16.7% of |−3|.
    assert cli("compare", b, c, "--fail-if-regress", "uniformity>20%").exit_code == 0
    assert cli("compare", b, c, "--fail-if-regress", "uniformity>10%").exit_code == 1
    # A parameter selector picks the result.
    assert cli("compare", b, c, "--fail-if-regress", "uniformity(t=2)>0.1").exit_code == 1


def test_table_of_old_new_delta_and_wildcard(cli, tmp_path):
    base = _report("geometry", [("uniformity", -3.0, {"t": 2.0}, False), ("effective_rank", 100.0, {}, True),
                                ("intrinsic_dim", 12.0, {}, None), ("mam", 30.0, {}, False)])
    cur = _report("geometry", [("uniformity", -3.01, {"t": 2.0}, False), ("effective_rank", 90.0, {}, True),
                               ("intrinsic_dim", 14.0, {}, None), ("anisotropy", 0.1, {}, False)])
    b, c = _write(tmp_path / "b.json", base), _write(tmp_path / "c.json", cur)
    res = cli("compare", b, c, "-f", "csv")
    assert res.exit_code == 0
    rows = {r["metric"]: r for r in csv.DictReader(io.StringIO(res.stdout))}
    assert float(rows["effective_rank"]["delta"]) == pytest.approx(-10.0)
    assert float(rows["effective_rank"]["relative"]) == pytest.approx(-0.1)
    assert rows["effective_rank"]["verdict"] == "worse"
    assert rows["uniformity"]["verdict"] == "better"
    assert rows["intrinsic_dim"]["verdict"] == "changed"
    assert rows["mam"]["verdict"] == "missing in current" and rows["anisotropy"]["verdict"] == "only in current"
    res = cli("compare", b, c, "--fail-if-regress", "*>0.5", "--junit", tmp_path / "j.xml")
    assert res.exit_code == 1 and "effective_rank regressed by 10" in res.stderr
    root = ET.parse(tmp_path / "j.xml").getroot()
    names = [tc.get("name") for tc in root.iter("testcase")]
    # Issue 20 item 8: a gate is shown as the condition under which it fails.
    w = "fail if {} worsens by > 0.5"
    assert names == [w.format("uniformity(t=2)"), w.format("effective_rank"), w.format("mam")]
    failed = [tc.get("name") for tc in root.iter("testcase") if tc.find("failure") is not None]
    assert failed == [w.format("effective_rank"), w.format("mam")]  # mam is missing in the current report
    assert {tc.get("classname") for tc in root.iter("testcase")} == {"compare"}  # not compare/compare
    md = cli("compare", b, c, "-f", "markdown").stdout
    assert "| effective_rank | 100.0000 | 90.0000 | -10.0000 | -10.0% |" in md


def test_fail_if_applies_to_current_values(cli, tmp_path):
    b = _write(tmp_path / "b.json", _report(results=[("ndcg@10", 0.60, {}, True)]))
    c = _write(tmp_path / "c.json", _report(results=[("ndcg@10", 0.61, {}, True)]))
    assert cli("compare", b, c, "--fail-if", "ndcg@10 < 0.6").exit_code == 0
    res = cli("compare", b, c, "--fail-if", "ndcg@10 < 0.65")
    assert res.exit_code == 1 and "short by 0.04" in res.stderr


def test_outputs_and_real_geometry_reports(cli, tmp_path):
    corpus = SAMPLE / "scifact_small" / "corpus.npy"
    queries = SAMPLE / "scifact_small" / "queries.npz"
    assert cli("geometry", corpus, "-q", "-m", "uniformity,anisotropy", "-o", tmp_path / "a.json").exit_code == 0
    assert cli("geometry", queries, "-q", "-m", "uniformity,anisotropy", "-o", tmp_path / "b.json").exit_code == 0
    a, b = json.loads((tmp_path / "a.json").read_text()), json.loads((tmp_path / "b.json").read_text())
    refused = cli("compare", tmp_path / "a.json", tmp_path / "b.json")  # corpus vs queries: other data
    assert refused.exit_code == 2 and "embeddings: 1,000 vs 100 rows" in refused.stderr
    other = "--allow-different-data"
    res = cli("compare", tmp_path / "a.json", tmp_path / "b.json", "-o", tmp_path / "cmp.json", other)
    assert res.exit_code == 0, res.stderr
    doc = json.loads((tmp_path / "cmp.json").read_text())
    for row in doc["rows"]:
        old = next(r["value"] for r in a["results"] if r["metric"] == row["metric"])
        new = next(r["value"] for r in b["results"] if r["metric"] == row["metric"])
        assert row["delta"] == pytest.approx(new - old)
    assert any("input 'embeddings' differs" in n for n in doc["notes"])
    assert "embeval compare" in res.stdout  # the Rich table


@pytest.mark.parametrize("make, fragment", [
    (lambda p: p.write_text("{not json"), "invalid JSON"),
    (lambda p: p.write_text(json.dumps({"a": 1})), "not an embeval JSON report"),
    (lambda p: p.write_text(json.dumps([1, 2])), "not an embeval JSON report"),
    (lambda p: p.write_bytes(b"\xff\xfe\x00"), "not UTF-8"),
    (lambda p: p.write_text(json.dumps({"embeval_version": "0.1.0", "command": "geometry"})), "no 'command' and 'results'"),
    (lambda p: p.write_text(json.dumps({"embeval_version": "0.1.0", "command": "geometry", "results": [{"value": 1}]})),
     "malformed"),
    (lambda p: None, "no such file"),
])
def test_bad_reports_exit_2(cli, tmp_path, make, fragment):
    good = _write(tmp_path / "good.json", _report(results=[("ndcg@10", 0.6, {}, True)]))
    bad = tmp_path / "bad.json"
    make(bad)
    res = cli("compare", good, bad)
    assert res.exit_code == 2
    assert fragment in res.stderr and str(bad) in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2(cli, tmp_path):
    r = _write(tmp_path / "r.json", _report(results=[("ndcg@10", 0.6, {}, True), ("intrinsic_dim", 3.0, {}, None)]))
    g = _write(tmp_path / "g.json", _report("geometry", [("uniformity", -3.0, {}, False)]))
    cases = [
        (("compare", r, g), "is a retrieval report but"),
        (("compare", r, r, "--fail-if-regress", "ndgc@10>0.01"), "did you mean ndcg@10"),
        (("compare", r, r, "--fail-if-regress", "ndcg@10<0.01"), "expected 'METRIC>TOLERANCE'"),
        (("compare", r, r, "--fail-if-regress", "ndcg@10>-1"), "must be a finite number ≥ 0"),
        (("compare", r, r, "--fail-if-regress", "intrinsic_dim>1"), "cannot regress"),
        (("compare", r, r, "--fail-if", "ndcg@10 <"), "expected 'METRIC OP NUMBER'"),
        (("compare", r, r, "--confidence", "1.5"), "--confidence"),
        (("compare", r, r, "-o", tmp_path / "x.pdf"), "use .json, .csv, .md, .tex or .html"),
        (("compare", r, r, "--junit", tmp_path), "is a folder"),
    ]
    for args, fragment in cases:
        res = cli(*args)
        assert res.exit_code == 2, args
        assert fragment in res.stderr, (args, res.stderr)
    assert not (tmp_path / "x.pdf").exists()


def test_batch_reports_match_items(cli, tmp_path):
    def batch(values):
        items = [{"command": "geometry", "model": m, "dataset": "d", "status": "ok", "error": None, "seconds": 1,
                  "report": _report("geometry", [("anisotropy", v, {}, False)])} for m, v in values.items()]
        return {"embeval_version": "0.1.0", "kind": "batch", "items": items, "gates": [], "passed": True}

    b = _write(tmp_path / "b.json", batch({"m1": 0.10, "m2": 0.20}))
    c = _write(tmp_path / "c.json", batch({"m1": 0.30, "m3": 0.20}))
    res = cli("compare", b, c, "--fail-if-regress", "anisotropy>0.05", "-f", "json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert [(r["item"], r["delta"]) for r in doc["rows"]] == [("geometry/m1/d", pytest.approx(0.2))]
    assert "geometry/m2/d: only in the baseline" in doc["notes"]
    assert "geometry/m3/d: only in the current report" in doc["notes"]
    single = _write(tmp_path / "s.json", _report("geometry", [("anisotropy", 0.1, {}, False)]))
    res = cli("compare", single, c)
    assert res.exit_code == 2 and "same kind" in res.stderr


def test_bootstrap_alone_is_not_enough_with_few_changed_queries(cli, tmp_path):
    """96 queries unchanged, 4 drop by 0.5: the percentile bootstrap interval excludes 0, but the
    exact-in-distribution sign-flip p is 2/16 = 0.125 (all four signs alike), so it is noise."""
    ids = [f"q{i}" for i in range(100)]
    old_v = np.full(100, 0.8)
    new_v = old_v.copy()
    new_v[:4] -= 0.5
    b, c = _pair(tmp_path, dict(zip(ids, old_v.tolist())), dict(zip(ids, new_v.tolist())))
    res = cli("compare", b, c, "--fail-if-regress", "ndcg@10>0.01", "-f", "json")
    doc = json.loads(res.stdout)
    t = doc["rows"][0]["paired_test"]
    assert t["ci_high"] < 0, "the crafted case must have a bootstrap interval excluding 0"
    assert t["p_value"] == pytest.approx(0.125, abs=0.01)
    assert res.exit_code == 0
    assert "sign-flip p = 0.12" in doc["gates"][0]["message"]


S = SAMPLE / "scifact_small"


def test_real_retrieval_regression_from_an_approximate_index(cli, tmp_path):
    """Exact search vs IVF visiting 2 of 32 cells: nDCG@10 drops for real and the gate fails;
    descriptive parameters (positives, TPR at the best threshold) do not break the matching."""
    common = ("retrieval", "--queries", S / "queries.npz", "--corpus", S / "corpus.npz", "--qrels",
              S / "qrels" / "test.tsv", "--k", "1,10", "--per-query", "-q")
    assert cli(*common, "-o", tmp_path / "base.json").exit_code == 0
    assert cli(*common, "--index", "ivf", "--nlist", "32", "--nprobe", "2", "-o", tmp_path / "ivf.json").exit_code == 0
    res = cli("compare", tmp_path / "base.json", tmp_path / "ivf.json", "--fail-if-regress", "ndcg@10>0.01",
              "-f", "json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    unmatched = {r["metric"] for r in doc["rows"] if r["verdict"] in ("missing in current", "only in current")}
    assert unmatched == {"ann_recall@10"}  # only the approximate index reports it
    row = next(r for r in doc["rows"] if r["metric"] == "ndcg@10")
    base = json.loads((tmp_path / "base.json").read_text())
    cur = json.loads((tmp_path / "ivf.json").read_text())
    pq = lambda d: {r["query_id"]: r["value"] for r in d["per_query"] if r["metric"] == "ndcg@10"}  # noqa: E731
    old, new = pq(base), pq(cur)
    assert row["paired_test"]["n"] == len(old) == 100
    assert row["paired_test"]["mean_delta"] == pytest.approx(np.mean([new[q] - old[q] for q in old]))
    assert row["delta"] == pytest.approx(row["paired_test"]["mean_delta"])  # same queries in both
    assert row["verdict"] == "worse (significant)"
    assert any("settings differ" in n and "index" in n for n in doc["notes"])


def test_ranx_tests_reproduce_ranx_letters_and_p_values(cli, tmp_path):
    """Issue 20 item 7 (review F2): `--test student|fisher` are ranx's tests, uncorrected, raw p ≤
    1 − confidence; ranx (a peer used as oracle) gives the same p-values (student: exactly, both
    are scipy's ttest_rel; fisher: within Monte-Carlo error) and the same significance letters.
    embeval's default (sign-flip + Holm) is the more conservative: it marks no pair ranx does not."""
    ranx = pytest.importorskip("ranx")
    rng = np.random.default_rng(5)
    n = 50
    base = rng.uniform(0.2, 0.8, n)
    systems = {"a": base, "b": np.clip(base + 0.04 + rng.normal(0, 0.05, n), 0, 1),
               "c": np.clip(base + 0.012 + rng.normal(0, 0.05, n), 0, 1),
               "d": np.clip(base + rng.normal(0, 0.05, n), 0, 1)}
    paths = []
    for name, vals in systems.items():
        pq = {"ndcg@10": {f"q{i}": float(v) for i, v in enumerate(vals)}}
        doc = _report(results=[("ndcg@10", float(vals.mean()), {}, True)], per_query=pq)
        paths.append(_write(tmp_path / f"{name}.json", doc))
    got = {}
    for test in ("student", "fisher", "signflip"):
        res = cli("compare", *paths, "--test", test, "--confidence", "0.99", "-f", "json", "--n-boot", "4000")
        assert res.exit_code == 0, res.stderr
        doc = json.loads(res.stdout)
        got[test] = doc
    from ranx.statistical_tests import fisher_randomization_test, paired_student_t_test

    names = list(systems)
    pairs = got["student"]["metrics"][0]["pairwise"]
    assert len(pairs) == 6
    for p in pairs:
        x, y = systems[names[ord(p["a"]) - 97]], systems[names[ord(p["b"]) - 97]]
        ref_p, ref_sig = paired_student_t_test(x, y, 0.01)
        assert p["p_value"] == pytest.approx(ref_p, rel=1e-9) and p["significant"] == bool(ref_sig and x.mean() != y.mean())
    fisher = got["fisher"]["metrics"][0]["pairwise"]
    for p in fisher:
        x, y = systems[names[ord(p["a"]) - 97]], systems[names[ord(p["b"]) - 97]]
        ref_p, _ = fisher_randomization_test(x, y, 4000, 0.01, 42)
        assert abs(p["p_value"] - ref_p) <= 4 * np.sqrt(max(ref_p * (1 - ref_p), 1e-4) / 4000) + 1e-3, (p, ref_p)
    sig = {test: {(p["a"], p["b"]) for p in got[test]["metrics"][0]["pairwise"] if p["significant"]} for test in got}
    assert sig["signflip"] <= sig["fisher"] and sig["student"], sig
    assert "no multiple-testing correction" in cli("compare", *paths, "--test", "student").stdout.replace("\n", " ")

"""N-way `embeval compare`: Holm–Bonferroni against statsmodels and a hand computation, the
pairwise sign-flip p-values against scipy's permutation test, and the CLI on three reports and on
one batch report with several models."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from scipy.stats import permutation_test

from embeval.report.compare import load_side
from embeval.report.compare.nway import rank_systems, systems_from_files
from embeval.stats import holm


def test_holm_matches_statsmodels_and_a_hand_computation():
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    # By hand: sorted 0.01, 0.02, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.04, 0.06, 0.06, 0.04 → running max.
    assert holm([0.03, 0.01, 0.04, 0.02]).tolist() == pytest.approx([0.06, 0.04, 0.06, 0.06])
    rng = np.random.default_rng(0)
    for m in (1, 2, 3, 6, 10, 45):
        p = rng.uniform(0, 0.2, m) ** 2
        p[: m // 3] = p[0]  # ties
        want = multipletests(p, method="holm")[1]
        assert holm(p) == pytest.approx(want, abs=1e-15)


def _report(values: dict[str, float], metric="ndcg@10", hib=True, extra=()):
    return {
        "embeval_version": "0.1.0",
        "command": "retrieval",
        "inputs": {},
        "settings": {"seed": 0},
        "results": [
            {"metric": metric, "value": float(np.mean(list(values.values()))), "params": {}, "higher_is_better": hib},
            *extra,
        ],
        "gates": [],
        "passed": True,
        "per_query": [{"query_id": q, "metric": metric, "value": v} for q, v in values.items()],
    }


def _systems(tmp_path, shifts, n=10, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.3, 0.8, n)
    paths = []
    for i, s in enumerate(shifts):
        v = base + s + rng.normal(0, noise, n)
        p = tmp_path / f"sys{i}.json"
        p.write_text(json.dumps(_report({f"q{j}": float(x) for j, x in enumerate(v)})))
        paths.append(p)
    return paths


def test_pairwise_p_values_match_scipy_and_holm_is_applied(tmp_path):
    """10 queries: 2^10 = 1024 sign vectors ≤ n_boot, so embeval enumerates them all, as does
    scipy's paired permutation test; the corrected values are statsmodels' Holm of those."""
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    paths = _systems(tmp_path, [0.0, 0.04, 0.08, 0.0])
    ranking = rank_systems(systems_from_files([load_side(p) for p in paths]), n_boot=2000)
    (m,) = ranking.metrics
    assert len(m.pairs) == 6
    vals = {p.stem: [r["value"] for r in json.loads(p.read_text())["per_query"]] for p in paths}
    letters = "abcd"
    raw = []
    for t in m.pairs:
        a, b = np.array(vals[f"sys{letters.index(t.a)}"]), np.array(vals[f"sys{letters.index(t.b)}"])
        want = permutation_test(
            (b, a), lambda x, y: np.mean(x - y), permutation_type="samples", alternative="two-sided", n_resamples=np.inf
        ).pvalue
        assert t.p_value == pytest.approx(want, abs=1e-12)
        assert t.mean_delta == pytest.approx(np.mean(b - a))
        raw.append(t.p_value)
    assert [t.p_holm for t in m.pairs] == pytest.approx(multipletests(raw, method="holm")[1].tolist())
    # Marks follow the corrected tests and the direction.
    for t in m.pairs:
        i, j = letters.index(t.a), letters.index(t.b)
        winner, loser = (j, i) if t.mean_delta > 0 else (i, j)
        assert (letters[loser] in m.cells[winner].better_than) == (t.p_holm < 0.05)
    order = np.argsort([-c.value for c in m.cells])
    assert m.cells[order[0]].rank == 1 and m.cells[order[-1]].rank == 4


def test_bootstrap_interval_of_each_system(tmp_path):
    paths = _systems(tmp_path, [0.0, 0.1, 0.2], n=200, noise=0.1)
    ranking = rank_systems(systems_from_files([load_side(p) for p in paths]), n_boot=4000, seed=3)
    for p, c in zip(paths, ranking.metrics[0].cells):
        v = np.array([r["value"] for r in json.loads(p.read_text())["per_query"]])
        se = v.std(ddof=1) / np.sqrt(v.size)
        assert c.ci_low < v.mean() < c.ci_high
        # The percentile interval of a mean of 200 values is close to the normal one.
        assert (c.ci_high - c.ci_low) == pytest.approx(2 * 1.96 * se, rel=0.15)
        assert c.ci_from == "bootstrap over 200 queries"


def test_cli_three_reports_rank_gate_and_render(cli, tmp_path):
    paths = _systems(tmp_path, [0.0, 0.1, -0.1], n=60, noise=0.02)
    junit = tmp_path / "gates.xml"
    res = cli(
        "compare", *paths, "-f", "json", "--n-boot", "1000", "--fail-if-regress", "ndcg@10>0.01", "--junit", junit
    )
    assert res.exit_code == 1, res.stderr  # sys2 is worse than the baseline sys0, for real
    cases = ET.parse(junit).getroot().iter("testcase")
    assert [(c.get("classname"), c.find("failure") is not None) for c in cases] == [
        ("compare/b sys1", False),
        ("compare/c sys2", True),
    ]
    doc = json.loads(res.stdout)
    assert [s["name"] for s in doc["systems"]] == ["sys0", "sys1", "sys2"]
    cells = doc["metrics"][0]["systems"]
    assert [cells[x]["rank"] for x in "abc"] == [2, 1, 3]
    assert cells["b"]["best"] and cells["b"]["better_than"] == ["a", "c"] and cells["a"]["better_than"] == ["c"]
    assert [(g["item"], g["passed"]) for g in doc["gates"]] == [("b sys1", True), ("c sys2", False)]
    assert "c sys2" in res.stderr or "regressed" in res.stderr
    tex = cli("compare", *paths, "-f", "latex", "--n-boot", "1000").stdout
    assert r"\begin{tabular}{clc}" in tex and r"\textbf{" in tex and "$^{ac}$" in tex
    assert tex.count(r"\\") == 4  # header + 3 systems
    html = tmp_path / "r.html"
    assert cli("compare", *paths, "-o", html, "--n-boot", "1000", "-f", "csv").exit_code == 0
    page = html.read_text()
    assert "<h3>Ranking</h3>" in page and "Change from the baseline sys0" in page
    assert re.search(r"class='num up'>\+0\.\d{4} \(\+\d+\.\d%\) ✱", page)  # sys1's delta, better
    assert re.search(r"class='num down'>-0\.\d{4} \(-\d+\.\d%\) ✱", page)  # sys2's, worse
    # --fail-if gates every system but the baseline on its own value.
    doc = json.loads(cli("compare", *paths, "--fail-if", "ndcg@10 < 0.6", "-f", "json", "--n-boot", "1000").stdout)
    values = {s["name"]: v["value"] for s, v in zip(doc["systems"], doc["metrics"][0]["systems"].values())}
    assert [(g["item"], g["passed"]) for g in doc["gates"]] == [
        ("b sys1", True),
        ("c sys2", False),
    ]
    assert values["sys1"] > 0.6 > values["sys2"]
    two = cli("compare", *paths[:2], "--rank", "-f", "markdown", "--n-boot", "1000")
    assert two.exit_code == 0 and "<sup>a</sup>" in two.stdout


def test_cli_ranks_the_models_of_one_batch_report(cli, tmp_path):
    rng = np.random.default_rng(1)
    base = rng.uniform(0.3, 0.8, 40)
    items = []
    for model, shift in (("m1", 0.0), ("m2", 0.1), ("m3", 0.05)):
        for ds in ("d1", "d2"):
            v = base + shift + rng.normal(0, 0.01, 40)
            items.append(
                {
                    "command": "retrieval",
                    "model": model,
                    "dataset": ds,
                    "status": "ok",
                    "error": None,
                    "seconds": 1,
                    "report": _report({f"q{i}": float(x) for i, x in enumerate(v)}),
                }
            )
    p = tmp_path / "batch.json"
    p.write_text(json.dumps({"embeval_version": "0.1.0", "kind": "batch", "items": items, "gates": [], "passed": True}))
    res = cli("compare", p, "-f", "json", "--n-boot", "1000")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [s["name"] for s in doc["systems"]] == ["m1", "m2", "m3"]
    assert {m["group"] for m in doc["metrics"]} == {"retrieval/d1", "retrieval/d2"}
    assert doc["metrics"], "nothing to check"
    for m in doc["metrics"]:
        assert [m["systems"][x]["rank"] for x in "abc"] == [3, 1, 2]
        assert m["systems"]["b"]["better_than"] == ["a", "c"]


def test_cli_usage_errors(cli, tmp_path):
    paths = _systems(tmp_path, [0.0, 0.1, 0.2])
    one = cli("compare", paths[0])
    assert one.exit_code == 2 and "batch report" in one.stderr
    geo = tmp_path / "geo.json"
    geo.write_text(json.dumps({**json.loads(paths[0].read_text()), "command": "geometry"}))
    mixed = cli("compare", paths[0], paths[1], geo)
    assert mixed.exit_code == 2 and "same command" in mixed.stderr
    assert cli("compare", *paths, "-f", "pdf").exit_code == 2
    typo = cli("compare", *paths, "-m", "ndgc@10")
    assert typo.exit_code == 2 and "did you mean ndcg@10" in typo.stderr
    bad = cli("compare", *paths, "-o", tmp_path / "x.pdf")
    assert bad.exit_code == 2 and not (tmp_path / "x.pdf").exists()


def test_real_retrieval_reports_ranked(cli, tmp_path):
    """The README example: exact search vs IVF (32 cells) visiting 8 and 2 of them on
    sample_data/scifact_small. Visiting 2 loses for real against both others; the exact-vs-8
    difference (−0.041 nDCG@10) does not survive the correction, and the regression gate says so."""
    from conftest import SAMPLE

    s = SAMPLE / "scifact_small"
    common = (
        "retrieval",
        "--queries",
        s / "queries.npz",
        "--corpus",
        s / "corpus.npz",
        "--qrels",
        s / "qrels" / "test.tsv",
        "--k",
        "1,10",
        "--per-query",
        "-q",
    )
    for name, extra in (("exact", ()), ("ivf8", ("--nprobe", "8")), ("ivf2", ("--nprobe", "2"))):
        index = ("--index", "ivf", "--nlist", "32", *extra) if extra else ()
        assert cli(*common, *index, "-o", tmp_path / f"{name}.json").exit_code == 0
    res = cli(
        "compare",
        tmp_path / "exact.json",
        tmp_path / "ivf8.json",
        tmp_path / "ivf2.json",
        "-m",
        "ndcg@10",
        "--fail-if-regress",
        "ndcg@10>0.01",
        "-f",
        "json",
    )
    assert res.exit_code == 1, res.stderr
    doc = json.loads(res.stdout)
    (m,) = doc["metrics"]
    assert [m["systems"][x]["rank"] for x in "abc"] == [1, 2, 3]
    assert m["systems"]["a"]["better_than"] == ["c"] and m["systems"]["b"]["better_than"] == ["c"]
    ab = next(t for t in m["pairwise"] if (t["a"], t["b"]) == ("a", "b"))
    assert ab["p_holm"] >= 0.05 and ab["mean_delta"] == pytest.approx(-0.0409, abs=5e-4)
    assert [g["passed"] for g in doc["gates"]] == [True, False]

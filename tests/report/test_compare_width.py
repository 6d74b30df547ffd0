"""`embeval compare` tables at 80, 100 and 200 columns (review P1-3, P2-6, P2-7, P3-14, P3-17):
every number and metric name whole on one line, the best value marked in plain text, the test
legend only when a test ran, gate messages naming the system, LaTeX escaping."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from embeval.report.compare.rank_render import tex

METRICS = ["ndcg@10", "recall@100", "precision@1000", "mean_reciprocal_rank@10"]
LONG = "ann_recall@100(sample=100)"  # a report-level metric with no per-query values (pooled)


def _report(shift: float, seed: int, n: int = 40) -> dict:
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(0).uniform(0.3, 0.8, (len(METRICS), n))
    vals = np.clip(base + shift + rng.normal(0, 0.02, base.shape), 0, 1)
    results = [
        {"metric": m, "value": float(v.mean()), "params": {}, "higher_is_better": True} for m, v in zip(METRICS, vals)
    ]
    results.append({"metric": LONG, "value": 0.9 + shift, "params": {}, "higher_is_better": True})
    results.append({"metric": "auc_global", "value": 0.95 + shift, "params": {}, "higher_is_better": True})
    return {
        "embeval_version": "0.1.0",
        "command": "retrieval",
        "inputs": {},
        "settings": {"seed": 0},
        "results": results,
        "gates": [],
        "passed": True,
        "per_query": [
            {"query_id": f"q{j}", "metric": m, "value": float(x)}
            for m, v in zip(METRICS, vals)
            for j, x in enumerate(v)
        ],
    }


def _files(tmp_path, shifts):
    paths = []
    for i, s in enumerate(shifts):
        p = tmp_path / f"system_{'abc'[i]}.json"
        p.write_text(json.dumps(_report(s, seed=i + 1)))
        paths.append(str(p))
    return paths


def _whole(stdout: str, tokens: list[str]) -> None:
    lines = stdout.splitlines()
    for tok in tokens:
        assert any(tok in line for line in lines), f"{tok!r} is not whole on any line:\n{stdout}"


@pytest.mark.parametrize("columns", [80, 100, 200])
def test_two_way_numbers_and_names_stay_whole(cli, tmp_path, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    a, b = _files(tmp_path, [0.0, -0.05])
    res = cli("compare", a, b)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(cli("compare", a, b, "-f", "json").stdout)
    tokens = []
    for row in doc["rows"]:
        tokens += [row["metric"], f"{row['old']:.4f}", f"{row['new']:.4f}", f"{row['delta']:+.4f}"]
    _whole(res.stdout, tokens)
    assert max(len(line) for line in res.stdout.splitlines()) <= columns
    if columns == 200:  # everything fits: the interval and p columns are there, no note
        assert "delta CI" in res.stdout and "left out" not in res.stdout
        t = doc["rows"][0]["paired_test"]
        _whole(res.stdout, [f"[{t['ci_low']:+.3f}, {t['ci_high']:+.3f}]"])
    if columns == 80:  # something had to give, and the table says what
        assert "left out at 80 columns" in res.stdout


@pytest.mark.parametrize("columns", [80, 100, 200])
def test_n_way_numbers_and_names_stay_whole(cli, tmp_path, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    paths = _files(tmp_path, [0.0, -0.05, 0.05])
    res = cli("compare", *paths)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(cli("compare", *paths, "-f", "json").stdout)
    tokens = []
    for m in doc["metrics"]:
        tokens.append(m["label"])
        for s in m["systems"].values():
            tokens.append(f"{s['value']:.4f}")
            if s["ci_low"] is not None and columns == 200:
                tokens.append(f"[{s['ci_low']:.3f}, {s['ci_high']:.3f}]")
    _whole(res.stdout, tokens)
    assert max(len(line) for line in res.stdout.splitlines()) <= columns
    # P2-6: the best value marked in plain text (system c has the highest value of every metric)
    for m in doc["metrics"]:
        best = f"{m['systems']['c']['value']:.4f}"
        assert any(re.search(re.escape(best) + r"\S* ★", line) for line in res.stdout.splitlines())
    assert "★" in res.stdout and "Best value marked ★" in res.stdout and "Superscripts" in res.stdout
    # P3-17: the pooled metrics say why they have no interval
    assert "no interval for" in res.stdout and "auc_global" in res.stdout.split("no interval for")[1]


def test_no_test_legend_without_a_test(cli, tmp_path):
    docs = []
    for v in [0.1, 0.3, 0.2]:
        docs.append(
            {
                "embeval_version": "0.1.0",
                "command": "geometry",
                "inputs": {},
                "settings": {},
                "results": [{"metric": "anisotropy", "value": v, "params": {}, "higher_is_better": False}],
                "gates": [],
                "passed": True,
            }
        )
    paths = []
    for i, d in enumerate(docs):
        p = tmp_path / f"g{i}.json"
        p.write_text(json.dumps(d))
        paths.append(str(p))
    for fmt in ("table", "markdown", "latex"):
        out = cli("compare", *paths, "-f", fmt).stdout
        assert "Superscripts" not in out and "sign-flip" not in out, fmt
        assert "Best value" in out
    out = cli("compare", *paths).stdout
    assert re.search(r"0\.1000 ★", out)  # lower is better: g0 is best
    assert "0.3000 ★" not in out
    md = cli("compare", *paths, "-f", "markdown").stdout
    assert "**0.1000** ★" in md


def test_n_way_gate_failures_name_the_system(cli, tmp_path):
    paths = _files(tmp_path, [0.0, -0.05, -0.1])
    res = cli("compare", *paths, "--fail-if-regress", "ndcg@10>0.01")
    assert res.exit_code == 1
    line = res.stderr.strip()
    assert "\n" not in line
    assert "b system_b: ndcg@10 regressed" in line and "c system_c: ndcg@10 regressed" in line


def test_compare_accepts_quiet(cli, tmp_path):
    a, b = _files(tmp_path, [0.0, 0.0])
    for flag in ("-q", "--quiet"):
        res = cli("compare", a, b, flag, "-f", "json")
        assert res.exit_code == 0, res.stderr
        assert json.loads(res.stdout)["passed"] is True


def test_latex_escapes_every_special_character(tmp_path):
    name = r"a|b<c>d&e%f$g#h_i{j}k~l^m\n"
    out = tex(name)
    for ch in "|<>&%$#_{}~^":
        assert (
            re.search(
                r"(?<!\\)" + re.escape(ch),
                out.replace(r"\textbar{}", "")
                .replace(r"\textless{}", "")
                .replace(r"\textgreater{}", "")
                .replace(r"\textasciitilde{}", "")
                .replace(r"\textasciicircum{}", "")
                .replace(r"\textbackslash{}", ""),
            )
            is None
        ), ch
    assert out == (
        r"a\textbar{}b\textless{}c\textgreater{}d\&e\%f\$g\#h\_i\{j\}k\textasciitilde{}l"
        r"\textasciicircum{}m\textbackslash{}n"
    )

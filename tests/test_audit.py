"""embeval audit: degraded copies of a real space (all-MiniLM-L6-v2 on SciFact, the sample corpus)
trip the right finding and leave the others ok; remedies measured; CLI, thresholds, transforms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embeval.api.audit import audit_arrays
from embeval.compute.context import ComputeContext
from embeval.compute.transform import AffineMap, fit
from embeval.diagnostics import baselines
from embeval.errors import UsageError
from embeval.io.qrels import load_qrels

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "scifact_small"
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EMBEVAL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "embeval-audit-cache"))


@pytest.fixture(scope="module")
def real():
    c = np.load(SAMPLE / "corpus.npz")
    q = np.load(SAMPLE / "queries.npz")
    return (
        c["embedding"].astype(np.float32),
        [str(i) for i in c["id"]],
        q["embedding"].astype(np.float32),
        [str(i) for i in q["id"]],
    )


def _unit(a):
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def _verdicts(report) -> dict[str, str]:
    return {f["finding"]: f["verdict"] for f in report.series["audit"]["findings"]}


def _degrade(x: np.ndarray, case: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    n, d = x.shape
    v = _unit(rng.standard_normal((1, d)))[0]
    if case == "collapsed":
        return _unit(x.mean(0) + 0.03 * (x - x.mean(0)))
    if case == "anisotropic":
        return _unit(x + 2.0 * v)
    if case == "duplicated":
        return np.concatenate([x, x[:150] + 1e-4 * rng.standard_normal((150, d)).astype(np.float32)])
    if case == "rogue":
        return _unit(x + np.outer(rng.standard_normal(n) * 0.3, np.eye(d)[7]))
    if case == "unnormalised":
        return (x * rng.lognormal(0, 0.6, (n, 1))).astype(np.float32)
    return x


# case -> findings that must fire (warn or fail); every finding not listed must stay ok
FIRES = {
    "healthy": set(),
    "collapsed": {"anisotropy", "effective_rank", "near_duplicates"},
    "anisotropic": {"anisotropy"},
    "duplicated": {"near_duplicates"},
    "rogue": {"rogue_dimensions"},
    "unnormalised": {"norms", "metric_mismatch"},
}


@pytest.mark.parametrize("case", list(FIRES))
def test_degraded_copies_trip_their_finding_only(real, case):
    x = _degrade(real[0], case)
    v = _verdicts(audit_arrays(x, clusters=0))
    fired = {k for k, verdict in v.items() if verdict != "ok"}
    assert fired == FIRES[case], v


def test_queries_from_another_model_are_out_of_distribution(real):
    x, _, q, _ = real
    rot = np.linalg.qr(np.random.default_rng(0).standard_normal((x.shape[1],) * 2))[0].astype(np.float32)
    own = _verdicts(audit_arrays(x, queries=q, clusters=0))
    other = audit_arrays(x, queries=q @ rot, clusters=0)
    assert own["ood_queries"] == "ok" and _verdicts(other)["ood_queries"] == "fail"
    assert {k for k, v in _verdicts(other).items() if v != "ok"} == {"ood_queries"}
    assert not other.passed  # the finding's gate fails


def test_try_center_recovers_retrieval_of_a_space_with_a_constant_offset(real):
    """Vectors with a constant vector added (not re-normalised) searched by inner product: centering
    recovers nDCG@10, with a paired bootstrap CI above 0."""
    x, ids, q, qids = real
    v = _unit(np.random.default_rng(0).standard_normal((1, x.shape[1])))[0]
    qr = load_qrels(SAMPLE / "qrels" / "test.tsv")
    r = audit_arrays(
        x + 2 * v, queries=q + 2 * v, qrels=qr, ids=ids, query_ids=qids, tries=["center"], metric="ip", clusters=0
    )
    assert _verdicts(r)["anisotropy"] == "fail"
    ret = r.series["audit"]["remedies"][0]["retrieval"]
    assert ret["ci_low"] > 0 and ret["after"] > ret["before"] + 0.05
    assert ret["verdict"].startswith("worth making")
    # the healthy space scored the same way is within noise of the centred one
    healthy = audit_arrays(x, queries=q, qrels=qr, ids=ids, query_ids=qids, tries=["center"], clusters=0)
    h = healthy.series["audit"]["remedies"][0]["retrieval"]
    assert abs(h["before"] - ret["after"]) < 0.03
    assert h["verdict"].startswith(("no measurable", "harmful"))


def test_baselines_and_thresholds_are_reported(real):
    x = real[0]
    r = audit_arrays(x, thresholds={"hubness": {"warn": 0.5, "fail": 0.8}}, clusters=0)
    f = {f["finding"]: f for f in r.series["audit"]["findings"]}
    assert f["hubness"]["verdict"] == "fail" and r.settings["thresholds"]["hubness"] == {"warn": 0.5, "fail": 0.8}
    assert f["anisotropy"]["baseline"] == 0.0
    assert 0 < f["hubness"]["baseline"] < f["hubness"]["value"]
    assert not r.passed
    assert (
        audit_arrays(x, clusters=0, thresholds={"hubness": {"fail": 5}}).settings["thresholds"]["hubness"]["fail"] == 5
    )
    with pytest.raises(UsageError, match="unknown finding"):
        audit_arrays(x, thresholds={"hubnes": {"warn": 1}})
    with pytest.raises(UsageError, match="beyond"):
        audit_arrays(x, thresholds={"hubness": {"warn": 5, "fail": 4}})


def test_over_budget_findings_are_estimated_and_marked(real):
    x = np.concatenate([real[0]] * 3) + np.random.default_rng(1).normal(0, 0.01, (3000, 384)).astype(np.float32)
    r = audit_arrays(x, compute=ComputeContext("cpu", budget=1e-9), clusters=0)
    f = {f["finding"]: f for f in r.series["audit"]["findings"]}
    assert not f["hubness"]["exact"] and not f["outliers"]["exact"] and f["anisotropy"]["exact"]
    isl = next(res for res in r.results if res.metric == "island_share")
    # the baseline of a graph within a subset is the subset's
    want = baselines.simulate(isl.params["sample"], 384, 10)["island_share"]
    assert not f["connectivity"]["exact"] and f["connectivity"]["baseline"] == pytest.approx(want)
    assert any("estimated" in note or "budget" in note for note in r.notes)


def test_sample_ids_name_the_rows(real):
    x, ids, _, _ = real
    dup = np.concatenate([x, x[:3]])
    r = audit_arrays(dup, ids=[*ids, "copy0", "copy1", "copy2"], clusters=2)
    f = {f["finding"]: f for f in r.series["audit"]["findings"]}
    assert set(f["near_duplicates"]["sample_ids"]) >= {ids[0], "copy0"}
    assert all(isinstance(i, str) for c in r.series["audit"]["clusters"] for i in c["sample_ids"])


def test_transforms_against_numpy(real):
    x = real[0][:400]
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    c = fit("center", x).apply(x)
    want = (u - u.mean(0)) / np.linalg.norm(u - u.mean(0), axis=1, keepdims=True)
    np.testing.assert_allclose(c, want, atol=1e-6)
    a = fit("abtt", x, components=2)
    top = np.linalg.svd(u - u.mean(0), full_matrices=False)[2][:2]
    y = (u - u.mean(0)) @ a.W
    assert np.abs(y @ top.T).max() < 1e-8
    w = fit("whiten", x)
    z = (u - u.mean(0)) @ w.W
    np.testing.assert_allclose(np.cov(z.T)[:50, :50], np.eye(50), atol=1e-3)
    back = AffineMap.from_arrays(w.arrays())
    np.testing.assert_array_equal(back.apply(x), w.apply(x))


def test_python_api(real):
    import embeval

    r = embeval.audit(real[0], tries="abtt")
    assert r.command == "audit" and r.series["audit"]["verdict"] == "ok"
    assert r.series["audit"]["remedies"][0]["remedy"] == "abtt"


def test_cli_exit_codes_json_and_transform_roundtrip(cli, tmp_path, real):
    x = real[0]
    res = cli("audit", SAMPLE / "corpus.npz", "-q", "--clusters", "0")
    assert res.exit_code == 0, res.output
    assert "verdict: ok" in res.stdout and max(len(line) for line in res.stdout.splitlines()) <= 80
    bad = tmp_path / "dup.npy"
    np.save(bad, _degrade(x, "duplicated"))
    res = cli("audit", bad, "-q", "--format", "json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["series"]["audit"]["verdict"] == "fail" and "thresholds" in doc["settings"]
    rogue = tmp_path / "rogue.npy"
    np.save(rogue, _degrade(x, "rogue"))
    assert cli("audit", rogue, "-q").exit_code == 0  # a warning passes by default
    assert cli("audit", rogue, "-q", "--fail-on", "warn").exit_code == 1
    assert cli("audit", SAMPLE / "corpus.npz", "-q", "--fail-if", "hubness_skew > 0.5").exit_code == 1
    th = tmp_path / "th.toml"
    th.write_text("[rogue_dimensions]\nwarn = 100\nfail = 200\n")
    res = cli("audit", rogue, "-q", "--fail-on", "warn", "--thresholds", th)
    assert res.exit_code == 0 and "overrides from" in res.stdout
    page = tmp_path / "audit.html"
    assert cli("audit", bad, "-q", "-o", page).exit_code == 1
    assert "<h3>audit: fail</h3>" in page.read_text() and "near_duplicates" in page.read_text()
    t = tmp_path / "T.npz"
    res = cli("audit", SAMPLE / "corpus.npz", "-q", "--try", "center", "--save-transform", t, "--clusters", "0")
    assert res.exit_code == 0 and t.exists() and "remedy center" in res.stdout
    out = tmp_path / "out.npy"
    assert cli("transform", t, SAMPLE / "corpus.npz", "-o", out).exit_code == 0
    np.testing.assert_allclose(np.load(out), fit("center", x).apply(x), atol=1e-6)
    assert cli("audit", SAMPLE / "corpus.npz", "--try", "nope").exit_code == 2
    assert cli("transform", SAMPLE / "corpus.npz", SAMPLE / "corpus.npz", "-o", tmp_path / "o.npy").exit_code == 2


@pytest.mark.slow
def test_clip_random_fails_and_real_clip_does_not():
    path = SHARED / "clip_pairs" / "mind_the_gap"
    if not path.exists():
        pytest.skip("no ../shared/data")
    rnd = np.load(path / "features_clip_random.npy")[0]
    clip = np.load(path / "features_clip.npy")
    assert not audit_arrays(rnd, clusters=0).passed
    for side in clip:
        assert audit_arrays(side, clusters=0).passed


def test_vecscope_agrees_on_the_real_sample(real):
    """Where definitions coincide, the same numbers as vecscope's whole audit on the same array."""
    pytest.importorskip("vecscope")
    from vecscope import audit as vs_audit

    x = np.concatenate([real[0], real[0][:20] + 1e-3])  # some near-duplicates, so the share is not 0
    ev = vs_audit(x, k=10, sample=0).to_dict()
    details = {f["name"]: f["details"] for f in ev["findings"]}
    mine = {r.metric: r.value for r in audit_arrays(x, clusters=0).results}
    assert mine["hubness_skew"] == pytest.approx(details["hubness"]["skewness"], rel=1e-6)
    assert mine["antihub_share"] == pytest.approx(details["hubness"]["antihub_ratio"], abs=1e-12)
    assert mine["near_duplicate_share"] == pytest.approx(details["collapse"]["near_duplicate_ratio"], abs=1e-12)
    assert mine["near_duplicate_share"] > 0


def test_csls_rescoring_against_brute_force():
    from embeval.api.audit_try import csls_hubness, csls_parts
    from embeval.diagnostics.measures import skew

    rng = np.random.default_rng(2)
    c = _unit(rng.standard_normal((150, 12)))
    q = _unit(rng.standard_normal((40, 12)))
    cos = q.astype(np.float64) @ c.T.astype(np.float64)
    r = np.sort(cos, axis=0)[-10:].mean(axis=0)  # mean cosine of each corpus row to its 10 nearest queries
    want = np.argsort(-(2 * cos - r[None, :]), axis=1, kind="stable")[:, :5]
    qa, ca = csls_parts(q, c, 10)
    got = np.argsort(-(qa.astype(np.float64) @ ca.T.astype(np.float64)), axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(got, want)
    # corpus graph: r from the 10 nearest other rows, the row itself excluded
    g = c.astype(np.float64) @ c.T.astype(np.float64)
    np.fill_diagonal(g, -np.inf)
    rc = np.sort(g, axis=1)[:, -10:].mean(axis=1)
    s = 2 * g - rc[None, :]
    idx = np.argsort(-s, axis=1, kind="stable")[:, :10]
    occ = np.bincount(idx.ravel(), minlength=150)
    sk, anti = csls_hubness(c, 10)
    assert sk == pytest.approx(skew(occ), rel=1e-5) and anti == pytest.approx(np.mean(occ == 0))

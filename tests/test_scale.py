"""Budgets and estimated forms (issue 11): the cost estimate, the switch to estimated forms above
the budget (checked against the exact values), --exact, --device validation, and the torch back
end driving the diagnostics on CPU tensors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SAMPLE

CORPUS = SAMPLE / "scifact_small" / "corpus.npy"


@pytest.fixture(scope="module")
def blob(tmp_path_factory):
    """3,000 rows in 20 clusters, labelled by cluster (so kNN label metrics are informative)."""
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((20, 32))
    lab = rng.integers(0, 20, 3000)
    x = (centres[lab] + 0.8 * rng.standard_normal((3000, 32))).astype(np.float32)
    d = tmp_path_factory.mktemp("scale")
    np.save(d / "x.npy", x)
    (d / "labels.txt").write_text("\n".join(f"c{v}" for v in lab) + "\n")
    return d


def run_json(cli, *args):
    res = cli("geometry", *map(str, args), "-q", "-f", "json")
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def by_metric(doc):
    return {r["metric"]: r for r in doc["results"]}


def test_over_budget_switches_to_estimated_forms_that_cover_the_exact_values(cli, blob):
    x, labels = blob / "x.npy", blob / "labels.txt"
    exact = by_metric(run_json(cli, x, "--labels", labels, "--exact", "--budget", "1e-6"))
    est_doc = run_json(cli, x, "--labels", labels, "--budget", "1e-6")
    est = by_metric(est_doc)
    assert est_doc["settings"]["exact"] is False and est_doc["settings"]["exact_estimate_s"] > 0
    assert any("estimated (exact: false)" in n for n in est_doc["notes"])
    for name in ("uniformity", "mam", "intrinsic_dim", "knn_label_agreement", "knn_accuracy", "hubness_skew"):
        assert est[name]["params"]["exact"] is False, name
        assert 0 < est[name]["params"]["sample"] < 3000 or name == "uniformity", name
        assert "exact" not in exact[name]["params"], name
    # Means over seeded query rows / sampled pairs: the 95% CI covers the exact value.
    for name in ("uniformity", "mam", "knn_label_agreement", "knn_accuracy"):
        assert est[name]["ci_low"] <= exact[name]["value"] <= est[name]["ci_high"], name
    assert est["intrinsic_dim"]["value"] == pytest.approx(exact["intrinsic_dim"]["value"], rel=0.15)
    # Diagnostics without O(n²) work are untouched.
    for name in ("anisotropy", "effective_rank", "silhouette", "tolerance"):
        assert est[name]["value"] == exact[name]["value"], name


def test_default_budget_keeps_small_inputs_exact_and_unchanged(cli):
    doc = run_json(cli, CORPUS)
    assert doc["settings"]["exact"] is True and "exact_estimate_s" not in doc["settings"]  # recorded always (P3-12)
    assert all("exact" not in r["params"] for r in doc["results"])


def test_sampled_uniformity_is_flat_in_memory(blob):
    """D34: sampled pairs stream in blocks, so peak memory does not grow with the sample size (the
    old code held 24 B per pair: 24 MB more for the larger sample here)."""
    import tracemalloc

    from embeval.diagnostics.geometry import uniformity_sampled

    x = np.load(blob / "x.npy")
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    peaks = []
    for m in (100_000, 1_100_000):
        tracemalloc.start()
        uniformity_sampled(x, 2.0, m, 0)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < peaks[0] + (1 << 20)


@pytest.mark.parametrize("args, message", [
    (("--device", "gpu"), "--device 'gpu': expected auto, cpu, cuda or cuda:N"),
    (("--device", "cuda:x"), "expected auto, cpu, cuda or cuda:N"),
    (("--budget", "-1"), "--budget -1.0: must be a positive number of seconds"),
    (("--budget", "nan"), "must be a positive number of seconds"),
])
def test_bad_device_or_budget_is_one_line_exit_2(cli, args, message):
    res = cli("geometry", CORPUS, "-q", *args)
    assert res.exit_code == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [("gap", CORPUS, CORPUS), ("pairs", CORPUS), ("encode", CORPUS, "-o", "x.npy")])
def test_every_compute_command_validates_device(cli, command):
    res = cli(*command, "--device", "tpu", "-q")
    assert res.exit_code == 2 and "expected auto, cpu, cuda or cuda:N" in res.stderr


def test_cuda_without_a_gpu_is_a_usage_error(cli):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    res = cli("geometry", CORPUS, "-q", "--device", "cuda")
    assert res.exit_code == 2 and "CUDA is not available" in res.stderr


def test_torch_backend_drives_the_diagnostics_like_numpy(blob):
    """Every O(n²) geometry/gap diagnostic run on the torch back end (CPU tensors) agrees with
    the NumPy back end within the documented bound."""
    pytest.importorskip("torch")
    from embeval.compute import dot_error_bound, get_backend
    from embeval.diagnostics import gap as G
    from embeval.diagnostics import geometry as g
    from embeval.diagnostics.space import Space

    x = np.load(blob / "x.npy")[:1500]
    out = {}
    for eng in ("numpy", "torch"):
        be = get_backend("cpu", engine=eng)
        sp = Space.build(x, backend=be)
        res = (g.uniformity(sp) + g.mam(sp) + g.mam(sp, mode="pairwise") + g.hubness(sp) + g.intrinsic_dim(sp))
        gs = G.GapSpace.build(x[:700], x[700:1400], backend=be)
        res += G.set_uniformity(gs) + G.knn_mixing(gs)
        out[eng] = {(r.metric, r.params.get("mode")): r.value for r in res}
    eps = dot_error_bound(32)
    assert out["numpy"], "nothing to check"
    for key, v in out["numpy"].items():
        assert out["torch"][key] == pytest.approx(v, abs=8 * 2.0 * eps + 1e-9, rel=1e-5), key


def test_knn_metrics_do_not_depend_on_the_largest_k_asked():
    """Issue 13 item 6: ties broken by (similarity, row ascending), so hubness(k=5) is the same
    whether the shared kNN graph was built for k = 5 or for --items-k 50."""
    from embeval.diagnostics import geometry as g
    from embeval.diagnostics.space import Space

    rng = np.random.default_rng(0)
    x = rng.integers(-1, 2, size=(400, 3)).astype(np.float32)  # 26 distinct directions: ties everywhere
    x[np.abs(x).sum(axis=1) == 0] = 1
    alone = Space.build(x)
    shared = Space.build(x)
    shared.knn(50)
    assert [r.value for r in g.hubness(alone, k=5)] == [r.value for r in g.hubness(shared, k=5)]
    np.testing.assert_array_equal(alone.knn(5)[1], shared.knn(5)[1])


def test_batch_config_device_and_budget(cli, tmp_path, blob):
    base = f"""
[[datasets]]
name = "blob"
kind = "embeddings"
path = "{blob / 'x.npy'}"
[[jobs]]
command = "geometry"
metrics = ["uniformity", "mam"]
options = {{ budget = 1e-6 }}
"""
    bad = tmp_path / "bad.toml"
    bad.write_text('[settings]\ndevice = "tpu"\n' + base)
    res = cli("run", bad, "--out-dir", tmp_path / "o1", "-q")
    assert res.exit_code == 2 and "settings.device: choose auto, cpu, cuda" in res.stderr
    good = tmp_path / "good.toml"
    good.write_text('[settings]\ndevice = "cpu"\n' + base)
    res = cli("run", good, "--out-dir", tmp_path / "o2", "-q")
    assert res.exit_code == 0, res.stderr
    doc = json.loads((tmp_path / "o2" / "report.json").read_text())
    results = [r for item in doc["items"] for r in item["report"]["results"]]
    assert {r["metric"] for r in results} == {"uniformity", "mam"}
    assert all(r["params"]["exact"] is False for r in results)

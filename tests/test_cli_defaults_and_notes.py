"""CLI defaults fitted to the input and what a report records: the `--items` k on small and large
inputs, `--sample` vs `--exact`, the device and exactness in settings, the encode .npy ids warning and
the gap definition note (first found by the review of main: P2-9, P3-12, P3-16, P3-17)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from embeval.compute.context import ComputeContext


def _rows(n=10, d=4, seed=1):
    return np.random.default_rng(seed).standard_normal((n, d)).astype("f4")


# P2-9: the default --items-k fits a small input; only a value the user gave is refused ------


def test_default_items_k_is_fitted_to_a_small_input(cli, tmp_path):
    v = _rows(10)
    np.save(tmp_path / "ten.npy", v)
    res = cli("geometry", tmp_path / "ten.npy", "--items", tmp_path / "it.csv", "-q", "-m", "uniformity", "-f", "json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["settings"]["items_k"] == 9
    assert any("k = 9" in n and "default 10" in n for n in doc["notes"]), doc["notes"]
    items = pd.read_csv(tmp_path / "it.csv")
    # k = n − 1: every row is among the neighbours of every other row, so each k-occurrence is n − 1.
    assert len(items) == 10 and (items["k_occurrence"] == 9).all()
    # and the nearest neighbour is the brute-force one
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    s = u @ u.T
    np.fill_diagonal(s, -np.inf)
    assert list(items["nn_id"]) == list(s.argmax(axis=1))


def test_explicit_items_k_out_of_range_is_refused(cli, tmp_path):
    np.save(tmp_path / "ten.npy", _rows(10))
    res = cli("geometry", tmp_path / "ten.npy", "--items", tmp_path / "it.csv", "-q", "--items-k", "10")
    assert res.exit_code == 2 and "--items-k 10" in res.stderr and "between 1 and 9" in res.stderr, res.stderr
    assert not (tmp_path / "it.csv").exists()


def test_default_items_k_on_a_large_input_is_ten(cli, tmp_path):
    np.save(tmp_path / "x.npy", _rows(30))
    res = cli("geometry", tmp_path / "x.npy", "--items", tmp_path / "it.csv", "-q", "-m", "uniformity", "-f", "json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["settings"]["items_k"] == 10 and not any("per-item table with k" in n for n in doc["notes"])


# P3-12: --sample with --exact is a usage error; device and exact always in the settings --------


def test_sample_and_exact_conflict(cli, tmp_path):
    np.save(tmp_path / "x.npy", _rows(30))
    res = cli("geometry", tmp_path / "x.npy", "-q", "-m", "uniformity", "--sample", "100", "--exact",
              "-o", tmp_path / "r.json")
    assert res.exit_code == 2, (res.exit_code, res.stderr)
    assert "--sample 100 and --exact conflict" in res.stderr, res.stderr
    assert not (tmp_path / "r.json").exists()
    from embeval.api import geometry_report
    from embeval.errors import UsageError

    with pytest.raises(UsageError, match="`sample` 100 and `exact` conflict"):
        geometry_report(tmp_path / "x.npy", metrics=["uniformity"], sample=100, compute=ComputeContext(exact=True))


@pytest.mark.parametrize("extra,exact", [((), True), (("--exact",), True), (("--budget", "1e-9"), False)])
def test_device_and_exact_always_recorded(cli, tmp_path, extra, exact):
    np.save(tmp_path / "x.npy", _rows(200, 8))
    res = cli("geometry", tmp_path / "x.npy", "-q", "-m", "uniformity,hubness", "-f", "json", *extra)
    assert res.exit_code == 0, res.stderr
    settings = json.loads(res.stdout)["settings"]
    assert settings["device"] == "cpu" and settings["exact"] is exact, settings


# P3-16: Report.value with one candidate names it, without calling the name ambiguous -----------


def test_report_value_single_candidate_is_not_ambiguous(tmp_path):
    import embeval
    from embeval.python_api import UnknownMetric

    report = embeval.geometry(_rows(40, 8), metrics=["hubness(k=5)"])
    assert [n for n in report.metrics() if n.startswith("hubness")] == ["hubness_skew"], report.metrics()
    with pytest.raises(UnknownMetric) as err:
        report.value("hubness")
    assert "ambiguous" not in str(err.value) and "did you mean 'hubness_skew'" in str(err.value), str(err.value)
    ks = embeval.geometry(_rows(40, 8), metrics=["hubness(k=5)", "hubness(k=10)"])
    with pytest.raises(UnknownMetric, match="ambiguous"):  # two real candidates: still ambiguous
        ks.value("hubness_skew")


# P3-17: encode -o x.npy warns when the ids are not row numbers (.npy keeps no ids) -------------


def test_encode_npy_warns_that_ids_are_dropped(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMBEVAL_CACHE_DIR", str(tmp_path / ".cache"))
    (tmp_path / "zp.jsonl").write_text('{"id": "000", "text": "a"}\n{"id": "001", "text": "b"}\n')
    res = cli("encode", "zp.jsonl", "-o", "x.npy", "--model", "mock", "-q")
    assert res.exit_code == 0, res.stderr
    assert "warning" in res.stderr and "'000'" in res.stderr and ".npz or .parquet" in res.stderr, res.stderr
    assert np.load(tmp_path / "x.npy").shape[0] == 2  # still written
    for quiet_case, out in ((("t.txt", "a\nb\n"), "y.npy"), (("zp.jsonl", None), "z.npz")):
        name, content = quiet_case
        if content is not None:
            (tmp_path / name).write_text(content)
        res = cli("encode", name, "-o", out, "--model", "mock", "-q")
        assert res.exit_code == 0 and "warning" not in res.stderr, res.stderr  # row-number ids, or kept


# P3-17: the gap's definition is noted only when the gap itself ran ------------------------------


@pytest.mark.parametrize("metrics,noted", [("gap", True), ("uniformity_a", False), ("knn_mixing(k=3)", False)])
def test_gap_definition_only_with_the_gap(cli, tmp_path, metrics, noted):
    np.save(tmp_path / "a.npy", _rows(30, 6, seed=1))
    np.save(tmp_path / "b.npy", _rows(30, 6, seed=2) + 0.5)
    res = cli("gap", tmp_path / "a.npy", tmp_path / "b.npy", "-q", "-m", metrics, "-f", "markdown")
    assert res.exit_code == 0, res.stderr
    assert ("gap = ‖mean(Â) − mean(B̂)‖" in res.stdout) is noted, res.stdout
    assert "rows L2-normalised before every diagnostic" in res.stdout

"""``embeval diff`` end to end: gates and exit codes, --items, --save-map (a map that maps), bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_data  # noqa: F401  (the conftest's path setup)


@pytest.fixture
def rotated(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((160, 8)).astype(np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    ids = np.array([f"d{i}" for i in range(160)])
    np.savez(tmp_path / "old.npz", embedding=x, id=ids)
    np.savez(tmp_path / "new.npz", embedding=(x @ q).astype(np.float32)[::-1], id=ids[::-1])
    noisy = x + rng.standard_normal((160, 8)).astype(np.float32) + 1.0  # moved items and a shifted mean
    np.savez(tmp_path / "noisy.npz", embedding=noisy, id=ids)
    return tmp_path, x, q


def test_rotation_passes_the_gate_and_the_saved_map_maps_new_onto_old(cli, rotated):
    tmp, x, q = rotated
    res = cli(
        "diff",
        tmp / "old.npz",
        tmp / "new.npz",
        "-q",
        "-f",
        "json",
        "--no-drift",
        "--fail-if",
        "knn_overlap@10 < 0.99",
        "--items",
        tmp / "items.csv",
        "--save-map",
        tmp / "m.npz",
    )
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    vals = {r["metric"]: r["value"] for r in doc["results"]}
    assert vals["cka"] == pytest.approx(1.0, abs=1e-6) and vals["knn_overlap@10"] == 1.0
    assert doc["passed"] is True
    m = np.load(tmp / "m.npz")
    assert str(m["format"]) == "embeval-affine-1" and str(m["kind"]) == "procrustes"
    assert m["W"].shape == (8, 8) and bool(m["normalize_in"]) and bool(m["normalize_out"])
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    mapped = (unit @ q - m["mean"]) @ m["W"] + m["b"]
    np.testing.assert_allclose(mapped, unit, atol=1e-4)
    lines = (tmp / "items.csv").read_text().splitlines()
    assert lines[0].startswith("id,knn_overlap@10,old_neighbours") and len(lines) == 161


def test_a_changed_neighbourhood_fails_the_gate_with_exit_1(cli, rotated):
    tmp, _, _ = rotated
    res = cli(
        "diff", tmp / "old.npz", tmp / "noisy.npz", "-q", "-m", "knn_overlap", "--fail-if", "knn_overlap@10 < 0.9"
    )
    assert res.exit_code == 1
    assert "knn_overlap@10" in res.stderr


def test_drift_runs_when_dims_agree_and_can_be_gated(cli, rotated):
    tmp, _, _ = rotated
    res = cli("diff", tmp / "old.npz", tmp / "noisy.npz", "-q", "-f", "json", "--fail-if", "drift_p < 0.01")
    assert res.exit_code == 1  # x vs x + noise: the MMD test sees the change
    names = {r["metric"] for r in json.loads(res.stdout)["results"]}
    assert {"drift_p", "mmd2", "cka_debiased", "bridge_top1"} <= names
    res = cli("diff", tmp / "old.npz", tmp / "noisy.npz", "-q", "-f", "json", "-m", "cka")
    assert "drift_p" not in {r["metric"] for r in json.loads(res.stdout)["results"]}  # -m: only what was asked


def test_usage_errors_exit_2_before_work(cli, rotated):
    tmp, _, _ = rotated
    assert cli("diff", tmp / "old.npz", tmp / "new.npz", "--fail-if", "nonsense@10 < 1").exit_code == 2
    assert cli("diff", tmp / "old.npz", tmp / "new.npz", "--save-map", tmp / "m.txt").exit_code == 2
    assert cli("diff", tmp / "old.npz", tmp / "new.npz", "--queries-old", tmp / "old.npz").exit_code == 2
    res = cli("diff", tmp / "old.npz", tmp / "missing.npz")
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    assert not (tmp / "m.txt").exists()


def test_batch_run_routes_a_diff_dataset(cli, rotated):
    tmp, _, _ = rotated
    (tmp / "run.toml").write_text(
        '[[datasets]]\nname = "upgrade"\nkind = "diff"\nold = "old.npz"\nnew = "noisy.npz"\n\n'
        '[[jobs]]\ncommand = "diff"\nmetrics = ["knn_overlap(k=5)"]\nfail_if = ["knn_overlap@5 < 0.99"]\n'
    )
    res = cli("run", tmp / "run.toml", "-q", "--out-dir", tmp / "out")
    assert res.exit_code == 1  # the gate fails on the noisy upgrade
    doc = json.loads((tmp / "out" / "report.json").read_text())
    assert "knn_overlap@5" in json.dumps(doc)

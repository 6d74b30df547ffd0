"""An accelerator that only encoding uses (mps, xpu, …) must not be silent: the O(n²) work runs on
the CPU, and the report says so (review P3-11). The values equal a plain --device cpu run."""

import json
from pathlib import Path

import numpy as np
import pytest

S = Path(__file__).resolve().parents[1] / "sample_data" / "scifact_small"


def _json(cli, *args):
    r = cli(*args, "-f", "json", "-q")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture
def two_sets(tmp_path):
    rng = np.random.default_rng(0)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, rng.standard_normal((40, 8)).astype("f4"))
    np.save(b, (rng.standard_normal((40, 8)) + 0.5).astype("f4"))
    return a, b


@pytest.mark.parametrize("device", ["mps", "xpu:1"])
def test_geometry_gap_retrieval_say_the_cpu_ran_the_work(cli, two_sets, device):
    a, b = two_sets
    runs = {
        "geometry": ("geometry", a, "-m", "uniformity,anisotropy"),
        "gap": ("gap", a, b, "-m", "gap,uniformity_cross"),
        "retrieval": ("retrieval", "--queries", S / "queries.npz", "--corpus", S / "corpus.npz",
                      "--qrels", S / "qrels" / "test.tsv"),
    }
    for name, args in runs.items():
        on_cpu = _json(cli, *args, "--device", "cpu")
        asked = _json(cli, *args, "--device", device)
        kind = device.split(":")[0]
        notes = [n for n in asked["notes"] if n.startswith(f"device {device}:")]
        assert len(notes) == 1 and "ran on the CPU" in notes[0] and f"{kind} is used only to encode" in notes[0], name
        assert asked["settings"]["device_requested"] == device, name
        assert not any(n.startswith("device ") for n in on_cpu["notes"]), name
        assert "device_requested" not in on_cpu["settings"], name
        assert [(r["metric"], r["value"]) for r in asked["results"]] == [
            (r["metric"], r["value"]) for r in on_cpu["results"]
        ], name

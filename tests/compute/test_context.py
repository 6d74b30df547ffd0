"""The compute context (device, budget, exact): checked once, where a run comes in, and the same
refusal of a bad device or budget at every door (CLI, Python API, batch config, pytest plugin)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embeval
from embeval.compute import backend as backend_module
from embeval.compute import context as context_module
from embeval.compute.context import DEFAULT_BUDGET, ComputeContext
from embeval.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "sample_data" / "scifact_small" / "corpus.npy"
BAD_DEVICE = "`device` 'tpu': expected auto, cpu, cuda or cuda:N"


def test_a_context_is_checked_and_normalised_when_made():
    c = ComputeContext(" CUDA:01 ", 30, True)
    assert (c.device, c.budget, c.exact) == ("cuda:1", 30, True)
    assert ComputeContext() == ComputeContext("auto", DEFAULT_BUDGET, False)
    assert ComputeContext(budget=None).budget is None  # no limit
    with pytest.raises(UsageError, match="^" + BAD_DEVICE.replace("(", r"\(") + "$"):
        ComputeContext("tpu")
    for bad in (0, -1.0, float("nan"), float("inf"), "60", True):
        with pytest.raises(UsageError, match=r"`budget` .*: must be a positive number of seconds"):
            ComputeContext(budget=bad)
    with pytest.raises(UsageError, match="`exact` 'yes': must be true or false"):
        ComputeContext(exact="yes")  # type: ignore[arg-type]
    assert ComputeContext(exact=np.True_).exact is True


def test_what_a_context_says_about_its_device():
    assert ComputeContext("cpu").backend(rows=10).name == "numpy"
    assert ComputeContext("auto").resolve(rows=10) == "cpu"  # auto: a GPU only for large work
    assert ComputeContext("mps").resolve(rows=10**6) == "cpu"  # mps encodes; O(n²) work on the CPU
    assert ComputeContext("MPS").fallback_note() == (
        "device mps: the O(n²) work ran on the CPU (mps is used only to encode texts)"
    )
    assert ComputeContext("cpu").fallback_note() is None and ComputeContext("cuda").fallback_note() is None


def test_pop_from_takes_the_doors_keywords_and_keeps_defaults():
    kwargs = {"device": "cpu", "seed": 3}
    got = ComputeContext("cpu", budget=5.0).pop_from(kwargs)
    assert got == ComputeContext("cpu", 5.0, False) and kwargs == {"seed": 3}
    assert ComputeContext().pop_from({"seed": 3}) is None  # none given: the orchestrator's default


@pytest.fixture
def device_checks(monkeypatch):
    """Every call of check_device, wherever it is made from."""
    calls: list[object] = []
    real = backend_module.check_device

    def spy(device):
        calls.append(device)
        return real(device)

    monkeypatch.setattr(backend_module, "check_device", spy)
    monkeypatch.setattr(context_module, "check_device", spy)
    return calls


def test_the_device_is_checked_once_per_cli_run(cli, device_checks, tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((60, 8)).astype(np.float32))
    x, r = tmp_path / "x.npy", tmp_path / "r.json"
    res = cli("geometry", x, "-m", "uniformity,hubness", "--device", "cpu", "-q", "-o", r)
    assert res.exit_code == 0, res.stderr
    assert device_checks == ["cpu"]


def test_the_device_is_checked_once_per_python_api_call(device_checks):
    x = np.random.default_rng(0).standard_normal((60, 8)).astype(np.float32)
    rep = embeval.geometry(x, metrics="uniformity,hubness", device="cpu")
    assert rep.value("uniformity(t=2)") < 0
    assert device_checks == ["cpu"]
    device_checks.clear()
    embeval.gap(x[:30], x[30:], metrics="gap,knn_mixing", device="cpu", budget=60.0)
    assert device_checks == ["cpu"]
    device_checks.clear()
    embeval.geometry(x, metrics="uniformity")  # no device given: the orchestrator's default context
    assert device_checks == []


def test_a_bad_device_is_refused_alike_at_every_door(cli, tmp_path):
    res = cli("geometry", CORPUS, "--device", "tpu", "-q", "-o", tmp_path / "r.json")
    assert res.exit_code == 2 and "--device 'tpu': expected auto, cpu, cuda or cuda:N" in res.stderr
    assert not (tmp_path / "r.json").exists()
    x = np.random.default_rng(0).standard_normal((20, 4))
    for call in (embeval.geometry, embeval.audit, embeval.diff):
        args = (x, x) if call is embeval.diff else (x,)
        with pytest.raises(UsageError) as info:
            call(*args, device="tpu")
        assert str(info.value) == BAD_DEVICE
    with pytest.raises(UsageError, match="`budget` 0: must be a positive number of seconds"):
        embeval.retrieval(x, x, {"0": {"1": 1}}, budget=0)
    cfg = tmp_path / "b.toml"
    cfg.write_text(
        f'[[datasets]]\nname = "c"\nkind = "embeddings"\npath = "{CORPUS.as_posix()}"\n'
        '[[jobs]]\ncommand = "geometry"\noptions = { device = "tpu" }\n'
    )
    res = cli("run", cfg, "--out-dir", tmp_path / "o", "-q")
    assert res.exit_code == 2 and f"geometry/-/c: {BAD_DEVICE}" in res.stderr


def test_a_bad_device_in_the_pytest_plugin_is_refused_before_any_work():
    from embeval.pytest_plugin import _call_library

    with pytest.raises(UsageError) as info:
        _call_library(["geometry", str(CORPUS), "--device", "tpu"])
    assert str(info.value) == BAD_DEVICE

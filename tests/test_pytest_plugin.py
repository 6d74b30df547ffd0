"""The pytest plugin (embeval.pytest_plugin, entry point pytest11): a project's own test file,
run by pytester, that loads, runs and compares embeval reports with the `embeval` fixture."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "sample_data" / "scifact_small" / "corpus.npy"


def test_pyproject_declares_the_entry_point():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert doc["project"]["entry-points"]["pytest11"] == {"embeval": "embeval.pytest_plugin"}


def _plugin_args() -> list[str]:
    """Load the plugin explicitly unless the installed package already registers it."""
    installed = any(ep.value == "embeval.pytest_plugin" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "embeval.pytest_plugin"]


def _report(path: Path, values: dict[str, float], per_query=None) -> str:
    doc = {
        "embeval_version": "0.1.0",
        "command": "retrieval",
        "inputs": {},
        "settings": {},
        "results": [{"metric": m, "value": v, "params": {}, "higher_is_better": True} for m, v in values.items()],
        "gates": [],
        "passed": True,
    }
    if per_query:
        doc["per_query"] = [{"query_id": f"q{i}", "metric": "ndcg@10", "value": v} for i, v in enumerate(per_query)]
    path.write_text(json.dumps(doc))
    return str(path)


def test_fixture_in_a_projects_own_tests(pytester, tmp_path):
    good = _report(tmp_path / "good.json", {"ndcg@10": 0.8}, [0.8] * 40)
    worse = _report(tmp_path / "worse.json", {"ndcg@10": 0.7}, [0.7 + 0.001 * (i % 3) for i in range(40)])
    pytester.makepyfile(f"""
        import pytest

        def test_load_and_index(embeval):
            report = embeval.load({good!r})
            assert report["ndcg@10"] == 0.8 and "ndcg@10" in report and "mrr@10" not in report
            report.fail_if("ndcg@10 < 0.5")
            report.require("ndcg@10 > 0.5", "ndcg@10 == 0.8")
            with pytest.raises(AssertionError, match="ndcg@10 = 0.8, so 'ndcg@10 > 0.9' does not hold"):
                report.require("ndcg@10 > 0.5", "ndcg@10 > 0.9")
            with pytest.raises(TypeError, match="require"):
                report.check("ndcg@10 > 0.5")
            with pytest.raises(KeyError, match="no metric .recall@10. in this retrieval report"):
                report["recall@10"]

        def test_run_in_process(embeval):
            report = embeval.run("geometry", {str(CORPUS)!r}, "-m", "uniformity,anisotropy")
            assert report.command == "geometry" and -4 < report["uniformity"] < 0
            assert report.result("uniformity").params["t"] == 2
            report = embeval.run("geometry {CORPUS} -m uniformity --fail-if 'uniformity > 0'")
            assert report["uniformity(t=2)"] < 0

        def test_gate_fails_with_the_cli_message(embeval):
            embeval.load({good!r}).fail_if("ndcg@10 < 0.9")

        def test_regression_fails(embeval):
            embeval.compare({good!r}, {worse!r}).fail_if_regress("ndcg@10>0.01")

        def test_no_regression_against_itself(embeval):
            cmp = embeval.compare({good!r}, {good!r})
            cmp.fail_if_regress("ndcg@10>0.01")
            with pytest.raises(TypeError, match="fail_if_regress"):
                cmp.check("ndcg@10>0.01")
            assert cmp.delta("ndcg@10") == 0

        def test_bad_input_is_reported(embeval):
            embeval.run("geometry", "no-such-file.npy")
    """)
    result = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=3)
    out = result.stdout.str()
    assert "AssertionError: embeval retrieval: gate failed (1 of 1): ndcg@10 = 0.8 < 0.9" in out
    assert "embeval compare: gate failed (1 of 1): ndcg@10 regressed by 0.1" in out
    assert "embeval geometry no-such-file.npy exited 2" in out and "no such file" in out


def test_exit_4_raises_environment_failure(tmp_path, monkeypatch):
    """A run whose environment failed (exit 4) raises EnvironmentFailure: a test error naming it,
    not an AssertionError that reads like a failed quality claim."""
    import embeval.api
    from embeval.errors import EnvironmentFailure
    from embeval.pytest_plugin import EmbevalFixture

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(embeval.api, "geometry_report", full)
    np.save(tmp_path / "a.npy", np.eye(4, dtype="f4") + 1)
    with pytest.raises(EnvironmentFailure, match="exited 4"):
        EmbevalFixture(tmp_path).run("geometry", str(tmp_path / "a.npy"))


def test_load_of_a_bad_report_is_one_assertion_line(tmp_path):
    """trust-3 H11: ``load`` of a malformed, missing or batch file fails the test with embeval's
    one-line message (AssertionError), as ``run`` does, not with a raw library exception."""
    from embeval.pytest_plugin import EmbevalFixture

    fx = EmbevalFixture(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for path in (bad, tmp_path / "missing.json"):
        with pytest.raises(AssertionError, match=r"^embeval\.load\(") as info:
            fx.load(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
    with pytest.raises(AssertionError, match=r"embeval\.compare\("):
        fx.compare(bad, bad).fail_if_regress("ndcg@10>0.01")
    good = _report(tmp_path / "good.json", {"ndcg@10": 0.8})
    assert fx.load(good)["ndcg@10"] == 0.8

"""One report type, one lookup: every door returns ``embeval.results.Report``, and
``Report.value(name, **params)`` / ``Report.result`` is the one way to ask it for a value (the
Python API, the pytest plugin, compare and the HTML report all use it)."""

from __future__ import annotations

import ast
import math
from collections import Counter

import numpy as np
import pytest
from conftest import ROOT

from embeval.errors import UnknownMetric, UsageError
from embeval.results import Report, Result


def _report() -> Report:
    rows = [
        Result("ndcg@1", 0.5, {"k": 1}),
        Result("ndcg@10", 0.6, {"k": 10}),
        Result("ndcg@100", 0.7, {"k": 100}),
        Result("uniformity", -2.5, {"t": 2.0, "n_pairs": 4950}, identity=("t",)),
        Result("uniformity", -1.5, {"t": 1.0, "n_pairs": 4950}, identity=("t",)),
        Result("anisotropy", 0.25),
    ]
    return Report("geometry", results=rows)


def test_a_name_a_name_with_params_and_keyword_params_find_the_same_result():
    rep = _report()
    assert rep.value("anisotropy") == 0.25
    assert rep.value("ndcg@10") == 0.6
    assert rep.value("uniformity", t=2) == -2.5
    assert rep.value("uniformity(t=2)") == -2.5
    assert rep.value("uniformity(t=1.0)") == -1.5  # numbers compare as numbers
    assert rep.result("uniformity", t=1).params["n_pairs"] == 4950
    assert rep.metrics() == ["ndcg@1", "ndcg@10", "ndcg@100", "uniformity(t=2)", "uniformity(t=1)", "anisotropy"]


def test_an_unknown_name_says_did_you_mean():
    rep = _report()
    with pytest.raises(UnknownMetric, match=r"no metric 'anisotropi' .*did you mean 'anisotropy'\?"):
        rep.value("anisotropi")
    with pytest.raises(UnknownMetric, match=r"no metric 'unifromity' .*did you mean 'uniformity"):
        rep.value("unifromity")
    with pytest.raises(UnknownMetric, match=r"no metric 'zzz' in this geometry report \(it has 6"):
        rep.value("zzz")


def test_an_ambiguous_name_lists_the_candidates_with_their_params():
    rep = _report()
    with pytest.raises(UnknownMetric) as info:
        rep.value("uniformity")
    text = str(info.value)
    assert "'uniformity' is ambiguous" in text and "2 results match" in text
    assert "uniformity(t=2, n_pairs=4950)" in text and "uniformity(t=1, n_pairs=4950)" in text
    with pytest.raises(UnknownMetric, match="could be ndcg@1, ndcg@10, ndcg@100"):
        rep.value("ndcg")


def test_known_name_unknown_params_names_what_there_is():
    with pytest.raises(UnknownMetric, match=r"no result 'uniformity' with t=3 .* uniformity has: uniformity\(t=2"):
        _report().value("uniformity", t=3)
    with pytest.raises(UnknownMetric, match="write metric"):
        _report().value("uniformity(t)")


def test_unknown_metric_is_a_key_error_and_a_usage_error():
    with pytest.raises(KeyError):
        _report().value("nope")
    with pytest.raises(UsageError):
        _report().value("nope")


def test_get_gives_the_default_only_for_a_missing_name():
    rep = _report()
    assert rep.get("nope") is None and rep.get("nope", math.nan) is not None
    assert rep.get("anisotropy") == 0.25
    with pytest.raises(UnknownMetric, match="ambiguous"):
        rep.get("uniformity")


def test_every_door_returns_the_one_report_class():
    import embeval
    from embeval.report.batch import Batch

    assert embeval.Report is Report and embeval.Batch is Batch
    rng = np.random.default_rng(0)
    rep = embeval.geometry(rng.normal(size=(60, 8)), metrics="anisotropy")
    assert type(rep) is Report
    assert rep.value("anisotropy") == rep.results[0].value


def _class_names(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]


def test_each_public_class_name_means_one_thing():
    names = Counter(n for p in (ROOT / "embeval").rglob("*.py") for n in _class_names(p))
    for name in ("Report", "Comparison", "Batch"):
        assert names[name] == 1, f"{name} is defined {names[name]} times in embeval/"


def test_the_plugin_does_not_drive_the_cli_runner():
    """The fixture parses the command line's arguments with the commands' declarations, then calls
    the library: no CLI runner, no command invoked, no report written and read back."""
    src = (ROOT / "embeval" / "pytest_plugin.py").read_text(encoding="utf-8")
    tree = ast.parse(src)
    imported = {
        a.name if isinstance(node, ast.Import) else f"{node.module}.{a.name}"
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for a in node.names
    }
    assert "embeval.api" in imported, "the scan found no imports of the library"
    assert not any(m.startswith(("typer.testing", "click.testing")) for m in imported), imported
    called = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert "make_context" in called and not called & {"invoke", "main"}, called
    assert "CliRunner" not in src


def test_the_fixture_calls_the_library_and_writes_nothing(tmp_path):
    from embeval.api import geometry_report
    from embeval.pytest_plugin import EmbevalFixture

    corpus = ROOT / "sample_data" / "scifact_small" / "corpus.npy"
    fixture = EmbevalFixture(tmp_path)
    report = fixture.run("geometry", str(corpus), "-m", "anisotropy,uniformity", "--fail-if", "anisotropy > 2")
    direct = geometry_report(corpus, metrics=["anisotropy,uniformity"])
    assert type(report.report) is Report
    assert report["anisotropy"] == direct.value("anisotropy") and report["uniformity"] == direct.value("uniformity")
    assert [g.expr for g in report.report.gates] == ["anisotropy > 2"] and report.report.passed
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(AssertionError, match=r"exited 2: .*No such option"):
        fixture.run("geometry", str(corpus), "--no-such-flag")
    with pytest.raises(AssertionError, match=r"exited 2: --roc: the fixture returns the report and writes no file"):
        fixture.run(f"retrieval --queries {corpus} --corpus {corpus} --qrels q.tsv --roc r.png")
    with pytest.raises(AssertionError, match=r"exited 2: --run-in needs --qrels"):
        fixture.run("retrieval --run-in run.txt")

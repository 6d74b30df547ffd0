"""Gate parsing and evaluation: every operator, parameter selectors, NaN, bad expressions,
the one-line summary, and JUnit XML."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from embeval.errors import UsageError
from embeval.report.gates import apply_gates, failure_summary, parse_gate
from embeval.report.junit import Case, Suite, report_suites, to_junit
from embeval.results import Report, Result


def _report(**values) -> Report:
    return Report("geometry", inputs={"embeddings": {"path": "/x/vecs.npy", "sha256": "ab" * 32}},
                  results=[Result(k.replace("_AT_", "@"), v, higher_is_better=True) for k, v in values.items()])


@pytest.mark.parametrize("expr, metric, op, thr", [
    ("uniformity > -2.0", "uniformity", ">", -2.0),
    ("ndcg@10<0.6", "ndcg@10", "<", 0.6),
    ("  fpr@tpr95 >= 1e-2 ", "fpr@tpr95", ">=", 0.01),
    ("a2b_recall@1 <= .5", "a2b_recall@1", "<=", 0.5),
    ("mam == 3", "mam", "==", 3.0),
    ("x > +4.", "x", ">", 4.0),
])
def test_parse_valid(expr, metric, op, thr):
    g = parse_gate(expr)
    assert (g.metric, g.op, g.threshold, g.params) == (metric, op, thr, {})


def test_parse_params_selector():
    g = parse_gate("uniformity(t=2) > -3")
    assert g.params == {"t": 2.0}
    g = parse_gate("mam(mode=pairwise) > 1")
    assert g.params == {"mode": "pairwise"}
    g = parse_gate("hub_occurrence(k=10, hub_size=2) > 0.5")
    assert g.params == {"k": 10.0, "hub_size": 2.0}


@pytest.mark.parametrize("expr", ["anisotropy >> 1", "anisotropy > x", "> 1", "anisotropy", "", "1abc > 2",
                                  "anisotropy > 1 2", "anisotropy => 1", "anisotropy != 1", "anisotropy > nan",
                                  "anisotropy > inf", "mam(mode) > 1", "mam(=3) > 1"])
def test_parse_bad_expressions(expr):
    with pytest.raises(UsageError):
        parse_gate(expr)


@given(metric=st.from_regex(r"[a-z_][a-z0-9_]{0,10}(@[0-9]{1,3})?", fullmatch=True),
       op=st.sampled_from(["<", "<=", ">", ">=", "=="]),
       thr=st.floats(allow_nan=False, allow_infinity=False, width=32),
       space=st.sampled_from(["", " ", "  "]))
def test_parse_round_trip(metric, op, thr, space):
    g = parse_gate(f"{metric}{space}{op}{space}{thr!r}")
    assert (g.metric, g.op, g.threshold) == (metric, op, float(repr(thr)))


@pytest.mark.parametrize("op, thr, value, fails", [
    ("<", 0.6, 0.58, True), ("<", 0.6, 0.6, False), ("<=", 0.6, 0.6, True), (">", 0.6, 0.6, False),
    (">=", 0.6, 0.6, True), (">", -2.0, -1.5, True), ("==", 1.0, 1.0, True), ("==", 1.0, 1.1, False),
])
def test_evaluate_each_operator(op, thr, value, fails):
    rep = _report(m=value)
    apply_gates(rep, [parse_gate(f"m {op} {thr}")])
    assert rep.gates[0].passed is (not fails)
    assert rep.passed is (not fails)


def test_message_says_by_how_much():
    rep = _report(ndcg_AT_10=0.58, uniformity=-1.5, effective_rank=200.0)
    apply_gates(rep, [parse_gate("ndcg@10 < 0.60"), parse_gate("uniformity > -2"),
                      parse_gate("effective_rank < 10")])
    a, b, c = rep.gates
    assert a.message == "ndcg@10 = 0.58 < 0.6 (short by 0.02)"
    assert b.message == "uniformity = -1.5 > -2 (over by 0.5)"
    assert c.passed and c.message == ""
    line = failure_summary(rep)
    assert "\n" not in line
    assert line == ("gates failed (2 of 3): ndcg@10 = 0.58 < 0.6 (short by 0.02); "
                    "uniformity = -1.5 > -2 (over by 0.5)")


def test_nan_value_fails_its_gate():
    rep = _report(m=math.nan)
    apply_gates(rep, [parse_gate("m < 0.5")])
    assert not rep.passed and "undefined" in rep.gates[0].message


def test_unknown_metric_and_ambiguity_are_usage_errors():
    rep = Report("geometry", results=[Result("uniformity", -3.0, {"t": 2.0}), Result("uniformity", -1.7, {"t": 1.0}),
                                      Result("anisotropy", 0.1)])
    with pytest.raises(UsageError, match="did you mean anisotropy"):
        parse_gate("anisotropi > 1").evaluate(rep)
    with pytest.raises(UsageError, match=r"computed 2 times \(uniformity\(t=2\), uniformity\(t=1\)\)"):
        parse_gate("uniformity > -2").evaluate(rep)
    g = parse_gate("uniformity(t=1) > -2").evaluate(rep)
    assert g.passed is False and g.value == -1.7
    with pytest.raises(UsageError, match="no metric 'uniformity\\(t=3.0\\)'"):
        parse_gate("uniformity(t=3) > -2").evaluate(rep)


def test_junit_is_well_formed_and_counts():
    rep = _report(ndcg_AT_10=0.58, uniformity=-1.5, effective_rank=200.0)
    apply_gates(rep, [parse_gate("ndcg@10 < 0.60"), parse_gate("uniformity > -2"),
                      parse_gate("effective_rank < 10")])
    root = ET.fromstring(to_junit(report_suites(rep)))
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "2"
    cases = root.findall("./testsuite/testcase")
    names = ["ndcg@10 < 0.60", "uniformity > -2", "effective_rank < 10"]
    assert [c.get("name") for c in cases] == [f"fail if {n}" for n in names]  # the failing condition, said so
    assert {c.get("classname") for c in cases} == {"geometry/vecs.npy"}
    assert cases[0].find("failure").get("message") == "ndcg@10 = 0.58 < 0.6 (short by 0.02)"
    assert cases[2].find("failure") is None


def test_junit_escapes_markup_and_control_characters():
    xml = to_junit([Suite("s <&> \"q\"", [Case("a/b", "x < 1 & y > 2", failure="bad \x01 <tag> & \"quotes\""),
                                          Case("a/b", "run", error="boom ]]> end")])])
    root = ET.fromstring(xml)
    case = root.find("./testsuite/testcase")
    assert case.get("name") == "x < 1 & y > 2"
    assert case.find("failure").get("message") == "bad ? <tag> & \"quotes\""
    assert root.get("errors") == "1" and root.find("./testsuite").get("name") == "s <&> \"q\""

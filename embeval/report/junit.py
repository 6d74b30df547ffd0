"""JUnit XML for CI systems: one ``<testcase>`` per gate, ``<failure>`` when it fails.

GitHub Actions (via a JUnit reporter action), GitLab (``artifacts:reports:junit``), Jenkins and
Azure show these natively. Layout::

    <testsuites name="embeval" tests=.. failures=.. errors=..>
      <testsuite name="geometry corpus.npy" tests=.. failures=.. errors=..>
        <testcase classname="geometry/corpus.npy" name="uniformity > -2.0">
          <failure type="gate" message="uniformity = -1.5 > -2 (over by 0.5)">...</failure>
        </testcase>

A batch item that could not run becomes one test case with an ``<error>``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from embeval.results import GateResult, Report

_BAD_XML = re.compile(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (escaping is ElementTree's job)."""
    return _BAD_XML.sub("?", str(text))


@dataclass
class Case:
    classname: str
    name: str
    failure: str | None = None
    error: str | None = None
    detail: str = ""


@dataclass
class Suite:
    name: str
    cases: list[Case] = field(default_factory=list)


def gate_cases(gates: list[GateResult], classname: str) -> list[Case]:
    out = []
    for g in gates:
        detail = f"value = {g.value!r}, threshold = {g.threshold!r}"
        out.append(Case(classname, g.condition, failure=None if g.passed else (g.message or g.expr), detail=detail))
    return out


def report_label(report: Report) -> str:
    """``command/first-input-file-name``: the test class of a single report's gates."""
    first = next(iter(report.inputs.values()), {})
    name = Path(str(first.get("path", ""))).name
    return f"{report.command}/{name}" if name else report.command


def report_suites(report: Report) -> list[Suite]:
    label = report_label(report)
    return [Suite(label.replace("/", " "), gate_cases(report.gates, label))]


def to_junit(suites: list[Suite], name: str = "embeval") -> str:
    from embeval._version import __version__

    def counts(cases):
        return (
            str(len(cases)),
            str(sum(c.failure is not None for c in cases)),
            str(sum(c.error is not None for c in cases)),
        )

    every = [c for s in suites for c in s.cases]
    root = ET.Element("testsuites", name=name)
    root.attrib.update(zip(("tests", "failures", "errors"), counts(every)))
    for suite in suites:
        el = ET.SubElement(root, "testsuite", name=_x(suite.name))
        el.attrib.update(zip(("tests", "failures", "errors"), counts(suite.cases)))
        el.set("skipped", "0")
        props = ET.SubElement(el, "properties")
        ET.SubElement(props, "property", name="embeval_version", value=__version__)
        for case in suite.cases:
            tc = ET.SubElement(el, "testcase", classname=_x(case.classname), name=_x(case.name), time="0")
            if case.failure is not None:
                f = ET.SubElement(tc, "failure", type="gate", message=_x(case.failure))
                f.text = _x(f"{case.failure}\n{case.detail}".strip())
            if case.error is not None:
                e = ET.SubElement(tc, "error", type="error", message=_x(case.error))
                e.text = _x(case.error)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def batch_suites(batch) -> list[Suite]:
    """One suite per batch item (``command/model/dataset``): a case per gate, plus an error case
    named ``run`` for an item that could not run."""
    suites = []
    for it in batch.items:
        cases = gate_cases(it.gates, it.key)
        if it.status == "error":
            cases.append(Case(it.key, "run", error=it.error or "error"))
        suites.append(Suite(it.key, cases))
    return suites


def comparison_suites(comp) -> list[Suite]:
    """One suite for ``embeval compare`` (a two-report PairComparison or an N-way Ranking): a case per
    regression or value gate, class = item."""
    cases = [
        Case(
            "compare" if item in ("", "compare") else f"compare/{item}",
            g.condition,
            failure=None if g.passed else (g.message or g.expr),
            detail=g.message if g.passed else f"value = {g.value!r}, limit = {g.threshold!r}",
        )
        for item, g in comp.gate_pairs()
    ]
    return [Suite("compare", cases)]

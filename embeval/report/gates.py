"""``--fail-if "metric op number"`` gates. A gate *fails* when its condition holds."""

from __future__ import annotations

import difflib
import operator
import re
from dataclasses import dataclass

from embeval.errors import UsageError
from embeval.report.results import GateResult, Report

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}
_GATE = re.compile(r"^\s*([A-Za-z_][\w@.]*)\s*(<=|>=|==|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Gate:
    expr: str
    metric: str
    op: str
    threshold: float

    def evaluate(self, report: Report) -> GateResult:
        value = report.value(self.metric)
        if value is None:
            known = sorted({r.metric for r in report.results})
            close = difflib.get_close_matches(self.metric, known, n=3)
            hint = f"did you mean {' or '.join(close)}?" if close else f"computed: {', '.join(known)}"
            raise UsageError(f"--fail-if {self.expr!r}: this run has no metric {self.metric!r}; {hint}")
        failed = OPS[self.op](value, self.threshold)
        msg = f"{self.metric} = {value:.6g} {self.op} {self.threshold:g}" if failed else ""
        return GateResult(self.expr, value, passed=not failed, message=msg)


def parse_gate(expr: str) -> Gate:
    m = _GATE.match(expr)
    if not m:
        raise UsageError(f"--fail-if {expr!r}: expected 'METRIC OP NUMBER' with OP one of "
                         "< <= > >= == (e.g. 'uniformity > -2.0')")
    return Gate(expr.strip(), m.group(1), m.group(2), float(m.group(3)))


def apply_gates(report: Report, gates: list[Gate]) -> None:
    report.gates = [g.evaluate(report) for g in gates]


def failure_summary(report: Report) -> str:
    failed = [g for g in report.gates if not g.passed]
    return "gate failed: " + "; ".join(f"{g.expr} ({g.message})" for g in failed)

"""``--fail-if "metric op number"`` gates. A gate *fails* when its condition holds.

Grammar: ``METRIC[(PARAM=VALUE, ...)] OP NUMBER`` with OP one of ``< <= > >= ==``, e.g.
``uniformity > -2.0``, ``ndcg@10 < 0.6``, ``hubness_skew(k=5) > 1``. The parameter selector is
needed only when a report holds the same metric more than once (``uniformity(t=1)`` and
``uniformity(t=2)``). A metric whose value is undefined (NaN) fails its gate: a CI job must not
pass on a number it could not compute.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any

from embeval.errors import UsageError
from embeval.results import GateResult, Report

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}
NAME = r"[A-Za-z_][\w@.]*"
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_GATE = re.compile(rf"^\s*({NAME})\s*(?:\(([^()]*)\))?\s*(<=|>=|==|<|>)\s*({NUMBER})\s*$")
_PARAM = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*([^=,]+?)\s*$")
USAGE = "expected 'METRIC OP NUMBER' with OP one of < <= > >= == (e.g. 'uniformity > -2.0')"


@dataclass(frozen=True)
class Gate:
    expr: str
    metric: str
    op: str
    threshold: float
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    option: str = "`fail_if`"  # the parameter that gave the gate, for messages (the CLI says its flag)

    def applies_to(self, report: Report) -> bool:
        return bool(report.find(self.metric, self.params))

    def evaluate(self, report: Report) -> GateResult:
        found = report.find(self.metric, self.params)
        if not found:
            known = sorted({r.metric for r in report.results})
            close = difflib.get_close_matches(self.metric, known, n=3)
            hint = f"did you mean {' or '.join(close)}?" if close else f"computed: {', '.join(known) or 'nothing'}"
            what = f"{self.metric}({_params_text(self.params)})" if self.params else self.metric
            raise UsageError(f"{self.option} {self.expr!r}: this run has no metric {what!r}; {hint}")
        if len(found) > 1:
            labels = ", ".join(r.label() for r in found)
            raise UsageError(
                f"{self.option} {self.expr!r}: {self.metric} was computed {len(found)} times "
                f"({labels}); name one, e.g. '{found[0].label()} {self.op} {self.threshold:g}'"
            )
        value = found[0].value
        return check(self.expr, found[0].label(), value, self.op, self.threshold)


def check(expr: str, label: str, value: float | None, op: str, threshold: float) -> GateResult:
    """Evaluate ``value OP threshold``; the gate fails when it holds (or the value is undefined)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return GateResult(
            expr,
            None,
            passed=False,
            threshold=threshold,
            message=f"{label} is undefined (NaN), so '{expr}' cannot pass",
        )
    failed = OPS[op](value, threshold)
    if not failed:
        return GateResult(expr, value, passed=True, threshold=threshold)
    margin = abs(value - threshold)
    how = {"<": "short by", "<=": "short by", ">": "over by", ">=": "over by"}.get(op)
    tail = f" ({how} {margin:.4g})" if how else ""
    return GateResult(
        expr,
        value,
        passed=False,
        threshold=threshold,
        margin=margin,
        message=f"{label} = {value:.6g} {op} {threshold:g}{tail}",
    )


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _parse_value(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text.strip("'\"")


def _subject(option: str | None, expr: str) -> str:
    """How a message names the gate: the parameter then the expression, or the bare expression (``option=None``:
    the caller, e.g. the batch loader, names where it came from)."""
    return f"{option} {expr!r}" if option else repr(expr)


def parse_params(text: str | None, expr: str, option: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if text is None or not text.strip():
        return params
    for part in text.split(","):
        m = _PARAM.match(part)
        if not m:
            raise UsageError(
                f"{_subject(option, expr)}: bad parameter {part.strip()!r}; write NAME=VALUE, "
                "e.g. 'uniformity(t=2) > -2'"
            )
        params[m.group(1)] = _parse_value(m.group(2))
    return params


def parse_gate(expr: str, option: str | None = "`fail_if`") -> Gate:
    """``'ndcg@10 < 0.6'`` -> a Gate. Errors name ``option`` (a parameter, in backticks), or only the
    expression when ``option`` is None."""
    m = _GATE.match(expr)
    if not m:
        raise UsageError(f"{_subject(option, expr)}: {USAGE}")
    threshold = float(m.group(4))
    if not math.isfinite(threshold):
        raise UsageError(f"{_subject(option, expr)}: the threshold must be a finite number")
    return Gate(
        expr.strip(), m.group(1), m.group(3), threshold, parse_params(m.group(2), expr, option), option or "`fail_if`"
    )


def apply_gates(report: Report, gates: list[Gate]) -> None:
    report.gates = [g.evaluate(report) for g in gates]


def summarize(gates: list[GateResult], prefix: str = "", where: list[str] | None = None) -> str:
    """One line: how many gates failed, and for each what the value was and by how much it missed
    (prefixed by ``where[i]``, e.g. the system a gate checked, when given)."""
    names = where if where is not None else [""] * len(gates)
    failed = [(w, g) for w, g in zip(names, gates) if not g.passed]
    if not failed:
        return f"{prefix}all {len(gates)} gates passed"
    head = f"{prefix}{'gate' if len(failed) == 1 else 'gates'} failed ({len(failed)} of {len(gates)}): "
    return head + "; ".join((f"{w}: " if w else "") + (g.message or g.expr) for w, g in failed)


def failure_summary(report: Report) -> str:
    return summarize(report.gates)


def known_metrics(families: str | tuple[str, ...] | None) -> list[str]:
    """Every output name the diagnostics of ``families`` can report (``@K`` = any cutoff)."""
    from embeval.diagnostics.registry import all_diagnostics

    return sorted({n for d in all_diagnostics(families) for n in d.output_names})


# Families a command can report beyond those its --metric draws from (gap --drift adds the drift family).
EXTRA_GATE_FAMILIES = {"gap": ("drift",), "diff": ("drift",)}


def command_families(command: str, families: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Every family whose outputs ``command`` can report (for checking gates before any work)."""
    return (*(families or (command,)), *EXTRA_GATE_FAMILIES.get(command, ()))


def check_known(gates: list[Gate], families: str | tuple[str, ...] | None, where: str = "this command") -> None:
    """Refuse, before any computation, a gate on a metric the command can never report."""
    from embeval.diagnostics.registry import all_diagnostics

    diags = all_diagnostics(families)
    for g in gates:
        if any(d.output(g.metric) is not None for d in diags):
            continue
        names = known_metrics(families)
        close = difflib.get_close_matches(g.metric, [o.replace("@K", "@10") for o in names], n=3)
        hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(names)}"
        raise UsageError(f"{g.option} {g.expr!r}: no metric {g.metric!r} in {where}; {hint}")


# Regression gates of ``embeval compare`` ----------------------------------------------------

_REGRESS = re.compile(rf"^\s*(\*|{NAME})\s*(?:\(([^()]*)\))?\s*(>=|>)\s*({NUMBER})\s*(%?)\s*$")
REGRESS_USAGE = (
    "expected 'METRIC>TOLERANCE' (fail if METRIC got worse by more than TOLERANCE; "
    "e.g. 'ndcg@10>0.01', 'uniformity>2%', '*>0.05')"
)


@dataclass(frozen=True)
class RegressGate:
    """``--fail-if-regress "METRIC[(params)]>TOL[%]"``: fail when METRIC got worse (by its
    direction) by more than TOL, absolute or TOL percent of ``|baseline|``; ``*`` = every metric
    that has a direction; ``>=`` also fails at exactly TOL."""

    expr: str
    metric: str  # or "*"
    params: dict[str, Any]
    tolerance: float
    relative: bool
    inclusive: bool  # ">=" rather than ">"

    def tolerance_for(self, old: float) -> float:
        return self.tolerance / 100.0 * abs(old) if self.relative else self.tolerance


def parse_regress(expr: str, option: str = "--fail-if-regress") -> RegressGate:
    m = _REGRESS.match(expr)
    if not m:
        raise UsageError(f"{option} {expr!r}: {REGRESS_USAGE}")
    tol = float(m.group(4))
    if not math.isfinite(tol) or tol < 0:
        raise UsageError(f"{option} {expr!r}: the tolerance must be a finite number ≥ 0")
    params = parse_params(m.group(2), expr, option)
    if m.group(1) == "*" and params:
        raise UsageError(f"{option} {expr!r}: '*' takes no parameters")
    return RegressGate(expr.strip(), m.group(1), params, tol, bool(m.group(5)), m.group(3) == ">=")

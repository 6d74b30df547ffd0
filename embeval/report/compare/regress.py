"""Evaluating ``--fail-if-regress`` gates on matched rows: three outcomes per row (within the
tolerance: pass; beyond it but the paired tests call it noise: pass with a message; beyond it and
real, or no per-query values to tell: fail)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embeval.errors import UsageError
from embeval.report.gates import RegressGate
from embeval.results import GateResult, params_match

if TYPE_CHECKING:
    from embeval.report.compare.load import Side
    from embeval.report.compare.model import PairComparison, Row
    from embeval.stats.paired import PairedTest


def evaluate(comp: PairComparison, tolerances: list[RegressGate]) -> None:
    """Append one GateResult per (gate, matched row) to ``comp.gates``; a gate naming no compared
    metric, or one without a direction, or one computed twice without a selector, is a UsageError."""
    for tol in tolerances:
        if tol.metric == "*":
            # Every directed metric of the baseline, NaN ones too (a named gate fails on them, so
            # the wildcard must as well); metrics new in the current report cannot regress.
            rows = [r for r in comp.rows if r.higher_is_better is not None and r.verdict != "only in current"]
        else:
            rows = [r for r in comp.rows if r.metric == tol.metric and params_match(r.params, tol.params)]
            if not rows:
                known = sorted({r.metric for r in comp.rows})
                import difflib

                close = difflib.get_close_matches(tol.metric, known, n=3)
                hint = f"did you mean {' or '.join(close)}?" if close else f"compared: {', '.join(known) or 'nothing'}"
                raise UsageError(f"`fail_if_regress` {tol.expr!r}: no metric {tol.metric!r} in the reports; {hint}")
            undirected = [r for r in rows if r.higher_is_better is None]
            if undirected:
                raise UsageError(
                    f"`fail_if_regress` {tol.expr!r}: {tol.metric} has no better direction, "
                    "so it cannot regress; use `fail_if` on the current value instead"
                )
            per_item: dict[str, list[Row]] = {}
            for r in rows:
                per_item.setdefault(r.item, []).append(r)
            many = {i: rs for i, rs in per_item.items() if len(rs) > 1}
            if many:
                labels = ", ".join(r.label for r in next(iter(many.values())))
                raise UsageError(
                    f"`fail_if_regress` {tol.expr!r}: {tol.metric} was computed more than once "
                    f"({labels}); name one, e.g. '{next(iter(many.values()))[0].label}>{tol.tolerance:g}'"
                )
        for r in rows:
            gate = _regress_gate(tol, r)
            if tol.metric == "*":  # one named test case per metric
                gate.expr = f"{r.label}>{tol.expr.split('>', 1)[1].lstrip('=').strip()}"
                gate.expr = gate.expr.replace(">", ">=", 1) if tol.inclusive else gate.expr
            comp.gates.append(gate)
            comp.gate_items.append(r.item or "compare")


def _noise_reason(t: PairedTest) -> str:
    """Why a regression beyond the tolerance is within noise, from its paired test."""
    ci = f"[{t.ci_low:.4g}, {t.ci_high:.4g}]"
    conf = f"{100 * t.confidence:g}%"
    if t.ci_low <= 0 <= t.ci_high:
        return f"the {conf} CI of the delta {ci} includes 0 (p = {t.p_value:.3g}, {t.n} queries)"
    return f"the sign-flip p = {t.p_value:.3g} ≥ {1 - t.confidence:.3g} ({conf} CI {ci}, {t.n} queries)"


def _real_reason(t: PairedTest) -> str:
    ci = f"[{t.ci_low:.4g}, {t.ci_high:.4g}]"
    return f"; {100 * t.confidence:g}% CI of the delta {ci} excludes 0, p = {t.p_value:.3g}, {t.n} queries"


def _regress_gate(tol: RegressGate, r: Row) -> GateResult:
    """Pass when the regression is within the tolerance; pass with a message when it is beyond it
    but the paired tests call it noise; fail when it is beyond it and real (or untestable), or
    when either value is missing or undefined."""
    label = (f"{r.item}: " if r.item else "") + r.label
    old, new, reg = r.old, r.new, r.regression
    if old is None or new is None or reg is None:
        where = (
            "missing in the current report"
            if r.verdict == "missing in current"
            else "undefined (NaN) in the current report"
            if new is None
            else "undefined (NaN) in the baseline"
        )
        return GateResult(
            tol.expr, None, passed=False, message=f"{label} is {where}; cannot check '{tol.expr}'", kind="regress"
        )
    limit = tol.tolerance_for(old)
    beyond = reg >= limit if tol.inclusive else reg > limit
    if not beyond:
        return GateResult(tol.expr, reg, passed=True, threshold=limit, kind="regress")
    move = f"({old:.6g} → {new:.6g})"
    lim_txt = f"{limit:.4g}" + (f" = {tol.tolerance:g}% of {abs(old):.4g}" if tol.relative else "")
    sig = r.significant_worse()
    if sig is False and r.test is not None:
        return GateResult(
            tol.expr,
            reg,
            passed=True,
            threshold=limit,
            message=f"{label} regressed by {reg:.4g} {move} > {lim_txt}, but {_noise_reason(r.test)}: not failed",
            kind="regress",
        )
    tail = _real_reason(r.test) if sig and r.test is not None else ""
    return GateResult(
        tol.expr,
        reg,
        passed=False,
        threshold=limit,
        margin=reg - limit,
        message=f"{label} regressed by {reg:.4g} {move} > {lim_txt} (over by {reg - limit:.4g}){tail}",
        kind="regress",
    )


def current_gates(cur: Side, gates) -> tuple[list[GateResult], list[str]]:
    """``--fail-if`` gates on the current report's values: the single report, or every batch item
    that has the metric (a gate no item has is a usage error)."""
    results: list[GateResult] = []
    items: list[str] = []
    for gate in gates:
        hits = [(k, rep) for k, rep in cur.items.items() if gate.applies_to(rep)]
        if not hits:
            first = next(iter(cur.items.values()), None)
            if first is None:
                raise UsageError(f"`fail_if` {gate.expr!r}: the current report has no results")
            gate.evaluate(first)  # raises the "no metric ... did you mean" error
        for key, rep in hits:
            results.append(gate.evaluate(rep))
            items.append(key)
    return results, items

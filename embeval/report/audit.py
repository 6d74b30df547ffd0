"""The audit's own renderers: a text report a person reads at 80 columns (verdicts coloured on a
terminal, plain words in CI logs) and the gates its findings make. JSON is the common renderer
(``report.series["audit"]`` carries the findings, remedies and cluster map)."""

from __future__ import annotations

import math
import textwrap
from typing import Any

from embeval.results import GateResult, Report

WIDTH = 80
_COLOUR = {"ok": "\x1b[32m", "warn": "\x1b[33m", "fail": "\x1b[31;1m"}
_RESET = "\x1b[0m"


def _num(v: float | None, scale: str = "") -> str:
    if v is None:
        return "–"
    if not math.isfinite(v):
        return str(v)
    if scale == "percent":
        return f"{100 * v:.2f}%"
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"


def _word(verdict: str, colour: bool) -> str:
    word = verdict.upper() if verdict != "ok" else "ok"
    return f"{_COLOUR[verdict]}{word}{_RESET}" if colour else word


def _wrap(label: str, text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=f"  {label}", subsequent_indent=" " * (2 + len(label)))


def _level(f: dict[str, Any]) -> str:
    op = "≥" if f["bad"] == "high" else "≤"
    what = "excess over the baseline" if f["compared"] == "excess" else ""
    return f"warn {op} {_num(f['warn'], f['scale'])}, fail {op} {_num(f['fail'], f['scale'])}" + (
        f" ({what})" if what else ""
    )


def audit_text(report: Report, colour: bool = False) -> str:
    """The audit as text lines of at most 80 columns (ids and paths may run longer)."""
    from embeval.safety import term

    audit = report.series.get("audit") or {}
    findings = audit.get("findings") or []
    emb = report.inputs.get("embeddings", {})
    lines = [
        f"embeval audit: {term(str(emb.get('path', 'vectors')))} (n={emb.get('n')}, d={emb.get('d')})",
        f"verdict: {_word(audit.get('verdict', 'ok'), colour)}",
        "",
        f"{'finding':<24}{'value':>10}{'baseline':>11}  {'verdict':<7} exact",
    ]
    for f in findings:
        lines.append(
            f"{f['finding']:<24}{_num(f['value'], f['scale']):>10}{_num(f['baseline'], f['scale']):>11}  "
            f"{_word(f['verdict'], colour):<7} {'yes' if f['exact'] else 'est.'}"
        )
    lines.append("baseline: the same measure on points uniform on the sphere, same n, d, k")
    bad = [f for f in findings if f["verdict"] != "ok"]
    for f in bad:
        lines += ["", f"{_word(f['verdict'], colour)} {f['finding']}: {f['metric']} = {_num(f['value'], f['scale'])}"]
        lines += _wrap("", f"({_level(f)}; isotropic baseline {_num(f['baseline'], f['scale'])})")
        lines += _wrap("for retrieval: ", f["meaning"])
        lines += _wrap("likely causes: ", f["causes"])
        lines += _wrap("try: ", f["try"])
        if f["sample_ids"]:
            lines += _wrap("sample ids: ", ", ".join(term(str(i)) for i in f["sample_ids"]))
    for r in audit.get("remedies") or []:
        lines += ["", f"remedy {r['remedy']}:"]
        changed = [x for x in r["findings"] if x["verdict_before"] != "ok" or x["verdict_after"] != "ok"]
        for x in changed:
            lines.append(
                f"  {x['finding']:<22} {_num(x['before']):>9} -> {_num(x['after']):<9} "
                f"{x['verdict_before']} -> {x['verdict_after']}"
            )
        if not changed:
            lines.append("  every finding ok before and after")
        ret = r.get("retrieval")
        if ret:
            lines += _wrap(
                "",
                f"{ret['metric']} ({ret['queries']} queries, {ret['scored_by']}): {ret['before']:.4f} -> "
                f"{ret['after']:.4f}, change {ret['delta']:+.4f} [95% CI {ret['ci_low']:+.4f}, "
                f"{ret['ci_high']:+.4f}], p = {ret['p_value']:.3g}: {ret['verdict']}",
            )
    clusters = audit.get("clusters") or []
    if clusters:
        lines += ["", f"{'cluster':<8}{'size':>7}{'tightness':>11}{'hub traffic':>13}  sample ids"]
        for c in clusters:
            ids = ", ".join(term(str(i)) for i in c["sample_ids"][:3])
            lines.append(
                f"{c['cluster']:<8}{c['size']:>7}{c['tightness']:>11.3f}{100 * c['hub_traffic']:>12.1f}%  {ids}"
            )
    th = report.settings.get("thresholds") or {}
    if th:
        src = report.settings.get("thresholds_file")
        lines += ["", "thresholds used" + (f" (overrides from {term(src)})" if src else " (defaults)") + ":"]
        lines += textwrap.wrap(
            "; ".join(f"{k} {_num(v['warn'])}/{_num(v['fail'])}" for k, v in th.items()),
            WIDTH,
            initial_indent="  ",
            subsequent_indent="  ",
        )
    for note in report.notes:
        lines += _wrap("note: ", term(note))
    for g in report.gates:
        if not g.passed and not g.expr.startswith("audit:"):
            lines.append(f"gate failed: {term(g.expr)} ({g.message})")
    return "\n".join(lines) + "\n"


class FindingGate:
    """A finding as a gate (``audit:NAME``), so the common gate machinery sets the exit code and
    writes it to JUnit beside the ``--fail-if`` gates."""

    def __init__(self, result: GateResult):
        self.result = result
        self.metric = result.expr

    def evaluate(self, report: Report) -> GateResult:
        return self.result


def finding_gates(report: Report) -> list[FindingGate]:
    return [FindingGate(g) for g in report.gates if g.expr.startswith("audit:")]

"""``embeval compare BASELINE.json CURRENT.json``: metric-by-metric deltas, paired tests over
per-query values, and regression gates.

Both files are ordinary embeval JSON reports: two single-command reports of the same command, or
two batch reports from ``embeval run`` (items matched by command/model/dataset). Results are
matched by (item, metric, params).

Regression gates (``--fail-if-regress "ndcg@10>0.01"``): for a metric with a direction
(``higher_is_better``), the regression is ``old − new`` when higher is better and ``new − old``
when lower is better, so a positive regression is always "got worse". ``METRIC>TOL`` fails when

1. the regression is larger than TOL (``TOL%`` means TOL percent of ``|old|``), and
2. where both reports carry per-query values of the metric for at least 2 shared queries, the
   paired tests agree the change is real: the ``confidence`` (default 95%) paired-bootstrap
   interval of mean(new − old) lies entirely on the worse side of 0 **and** the two-sided
   sign-flip randomisation p-value is below 1 − confidence. Otherwise the regression is reported
   as within noise and does not fail.

``*>TOL`` applies TOL to every metric that has a direction.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embeval.diagnostics.registry import key_params, stamp_identity
from embeval.errors import InputError, UsageError
from embeval.report.gates import NAME, NUMBER, parse_params
from embeval.results import GateResult, Report, Result, dumps, params_match

_REGRESS = re.compile(rf"^\s*(\*|{NAME})\s*(?:\(([^()]*)\))?\s*(>=|>)\s*({NUMBER})\s*(%?)\s*$")
REGRESS_USAGE = ("expected 'METRIC>TOLERANCE' (fail if METRIC got worse by more than TOLERANCE; "
                 "e.g. 'ndcg@10>0.01', 'uniformity>2%', '*>0.05')")


@dataclass
class Side:
    """One loaded report: its items keyed by ``command/model/dataset`` (a single report has one
    item, keyed by its command)."""

    path: str
    kind: str  # single | batch
    items: dict[str, Report]
    info: dict[str, Any]


@dataclass
class Row:
    item: str
    metric: str
    params: dict[str, Any]
    old: float | None
    new: float | None
    higher_is_better: bool | None
    test: dict[str, Any] | None = None  # PairedTest.to_dict() when per-query values exist
    verdict: str = ""

    @property
    def label(self) -> str:
        return Result(self.metric, 0.0, key_params(self.metric, self.params)).label()

    @property
    def delta(self) -> float | None:
        if self.old is None or self.new is None:
            return None
        return self.new - self.old

    @property
    def relative(self) -> float | None:
        d = self.delta
        if d is None or self.old == 0:
            return None
        return d / abs(self.old)

    @property
    def regression(self) -> float | None:
        """How much worse (> 0) or better (< 0) the current run is; None without a direction."""
        d = self.delta
        if d is None or self.higher_is_better is None:
            return None
        return -d if self.higher_is_better else d

    def _significant(self, worse: bool) -> bool | None:
        """None without a paired test; else whether both tests call the change real: the
        interval of mean(new − old) excludes 0 on that side, and the sign-flip p-value is below
        1 − confidence. (With few non-zero per-query differences the percentile bootstrap is
        too narrow; the randomisation test is not, so requiring both keeps noise from failing.)"""
        if self.test is None or self.higher_is_better is None:
            return None
        lo, hi = self.test["ci_low"], self.test["ci_high"]
        down = hi < 0  # the metric went down, for sure
        up = lo > 0
        moved = (down if self.higher_is_better else up) if worse else (up if self.higher_is_better else down)
        return bool(moved and self.test["p_value"] < 1 - self.test["confidence"])

    def significant_worse(self) -> bool | None:
        return self._significant(worse=True)

    def significant_better(self) -> bool | None:
        return self._significant(worse=False)

    def to_dict(self) -> dict[str, Any]:
        clean = _num
        return {"item": self.item, "metric": self.metric, "params": self.params, "old": clean(self.old),
                "new": clean(self.new), "delta": clean(self.delta), "relative": clean(self.relative),
                "higher_is_better": self.higher_is_better, "paired_test": self.test, "verdict": self.verdict}


def _num(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class RegressGate:
    expr: str
    metric: str  # or "*"
    params: dict[str, Any]
    tolerance: float
    relative: bool
    inclusive: bool  # ">=" rather than ">"

    def tolerance_for(self, old: float) -> float:
        return self.tolerance / 100.0 * abs(old) if self.relative else self.tolerance


@dataclass
class Comparison:
    baseline: dict[str, Any]
    current: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    gates: list[GateResult] = field(default_factory=list)
    gate_items: list[str] = field(default_factory=list)  # item of each gate (JUnit class name)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def to_dict(self) -> dict[str, Any]:
        from embeval import __version__

        return {"embeval_version": __version__, "command": "compare", "baseline": self.baseline,
                "current": self.current, "settings": self.settings, "rows": [r.to_dict() for r in self.rows],
                "gates": [{"item": i, **g.to_dict()} for i, g in zip(self.gate_items, self.gates)],
                "passed": self.passed, "notes": self.notes}


# Loading -----------------------------------------------------------------------------------


def load_side(path: str | Path) -> Side:
    """Read an embeval JSON report (single or batch); InputError naming the file otherwise."""
    from embeval.io.fileinfo import file_info
    from embeval.report.batch import Batch

    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file")
    if p.is_dir():
        raise InputError(p, "is a folder; give an embeval JSON report (e.g. report.json)")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(p, "not an embeval JSON report (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise InputError(p, f"not an embeval JSON report (invalid JSON: {exc.msg})",
                         where=f"line {exc.lineno}") from None
    if not isinstance(doc, dict) or "embeval_version" not in doc:
        raise InputError(p, "not an embeval JSON report (no 'embeval_version'; write one with --output X.json "
                            "or embeval run)")
    info = {**file_info(p), "embeval_version": doc.get("embeval_version")}
    try:
        if doc.get("kind") == "batch":
            batch = Batch.from_dict(doc)
            items = {it.key: stamp_identity(it.report) for it in batch.items if it.report is not None}
            return Side(str(p), "batch", items, {**info, "kind": "batch", "config": batch.config})
        if doc.get("command") == "compare":
            raise InputError(p, "is a comparison, not a report; compare two reports")
        if "command" not in doc or not isinstance(doc.get("results"), list):
            raise InputError(p, "not an embeval JSON report (no 'command' and 'results')")
        report = stamp_identity(Report.from_dict(doc))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(p, f"malformed embeval report ({type(exc).__name__}: {exc})") from None
    return Side(str(p), "single", {report.command: report}, {**info, "kind": "single", "command": report.command})


# Comparing ---------------------------------------------------------------------------------


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


def _per_query(report: Report) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for row in report.per_query:
        out.setdefault(row["metric"], {})[str(row["query_id"])] = float(row["value"])
    return out


def compare(base: Side, cur: Side, *, tolerances: list[RegressGate] | None = None, seed: int = 0,  # noqa: C901 - matching and paired tests; the compare split owns it
            n_boot: int = 10_000, confidence: float = 0.95) -> Comparison:
    """Match results, run paired tests where per-query values exist in both, evaluate gates."""
    import numpy as np

    from embeval.report.paired import paired_test

    if not 0 < confidence < 1:
        raise UsageError(f"--confidence {confidence}: must be between 0 and 1")
    if n_boot < 100:
        raise UsageError(f"--n-boot {n_boot}: use at least 100 resamples")
    if base.kind != cur.kind:
        raise UsageError(f"{base.path} is a {base.kind} report but {cur.path} is a {cur.kind} report; "
                         "compare two reports of the same kind")
    if base.kind == "single":
        (bcmd,), (ccmd,) = base.items.keys(), cur.items.keys()
        if bcmd != ccmd:
            raise UsageError(f"{base.path} is a {bcmd} report but {cur.path} is a {ccmd} report; "
                             "compare reports of the same command")
    comp = Comparison(baseline=base.info, current=cur.info,
                      settings={"seed": seed, "n_boot": n_boot, "n_perm": n_boot, "confidence": confidence})
    shared = [k for k in base.items if k in cur.items]
    for k in base.items:
        if k not in cur.items:
            comp.notes.append(f"{k}: only in the baseline")
    for k in cur.items:
        if k not in base.items:
            comp.notes.append(f"{k}: only in the current report")
    for key in shared:
        b, c = base.items[key], cur.items[key]
        item = "" if base.kind == "single" else key
        _note_differences(comp, item or key, b, c)
        bq, cq = _per_query(b), _per_query(c)
        names_b = [r.metric for r in b.results]
        used: set[int] = set()
        for rb in b.results:
            j = next((j for j, rc in enumerate(c.results) if j not in used and rc.metric == rb.metric
                      and _same_params(rb.metric, rb.params, rc.params)), None)
            rc = None if j is None else c.results[j]
            if j is not None:
                used.add(j)
            hib = rb.higher_is_better if rb.higher_is_better is not None else (rc.higher_is_better if rc else None)
            row = Row(item, rb.metric, rb.params, _finite(rb.value), None if rc is None else _finite(rc.value), hib)
            if rc is None:
                row.verdict = "missing in current"
            if rc is not None and rb.metric in bq and rb.metric in cq and names_b.count(rb.metric) == 1:
                qids = [q for q in bq[rb.metric] if q in cq[rb.metric]]
                pairs = np.array([(bq[rb.metric][q], cq[rb.metric][q]) for q in qids], dtype=np.float64).reshape(-1, 2)
                pairs = pairs[np.isfinite(pairs).all(axis=1)]
                if len(pairs) >= 2:
                    row.test = paired_test(pairs[:, 0], pairs[:, 1], n_boot=n_boot, n_perm=n_boot,
                                           confidence=confidence, seed=seed).to_dict()
            comp.rows.append(row)
        for j, rc in enumerate(c.results):
            if j not in used:
                comp.rows.append(Row(item, rc.metric, rc.params, None, _finite(rc.value), rc.higher_is_better,
                                     verdict="only in current"))
    _evaluate(comp, tolerances or [])
    for row in comp.rows:
        row.verdict = row.verdict or _verdict(row)
    return comp


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _same_params(metric: str, a: dict, b: dict) -> bool:
    """Same identifying parameters (descriptive ones, like counts, may differ)."""
    a, b = key_params(metric, a), key_params(metric, b)
    return set(a) == set(b) and params_match(a, b)


def _note_differences(comp: Comparison, item: str, b: Report, c: Report) -> None:
    for role in sorted(set(b.inputs) | set(c.inputs)):
        hb, hc = b.inputs.get(role, {}).get("sha256"), c.inputs.get(role, {}).get("sha256")
        if hb and hc and hb != hc:
            comp.notes.append(f"{item}: input '{role}' differs (sha256 {hb[:12]}… → {hc[:12]}…)")
    diff = sorted(k for k in set(b.settings) | set(c.settings) if b.settings.get(k) != c.settings.get(k))
    if diff:
        comp.notes.append(f"{item}: settings differ: " + ", ".join(
            f"{k} {b.settings.get(k)!r} → {c.settings.get(k)!r}" for k in diff))


def _verdict(row: Row) -> str:
    if row.old is None or row.new is None:
        return "undefined (NaN)"
    reg = row.regression
    if reg is None:
        return "changed" if row.delta else "same"
    if reg == 0:
        return "same"
    sig = row.significant_worse() if reg > 0 else row.significant_better()
    word = "worse" if reg > 0 else "better"
    if sig is None:
        return word
    return word + (" (significant)" if sig else " (within noise)")


def _evaluate(comp: Comparison, tolerances: list[RegressGate]) -> None:
    for tol in tolerances:
        if tol.metric == "*":
            rows = [r for r in comp.rows if r.higher_is_better is not None and r.old is not None]
        else:
            rows = [r for r in comp.rows if r.metric == tol.metric and params_match(r.params, tol.params)]
            if not rows:
                known = sorted({r.metric for r in comp.rows})
                import difflib

                close = difflib.get_close_matches(tol.metric, known, n=3)
                hint = f"did you mean {' or '.join(close)}?" if close else f"compared: {', '.join(known) or 'nothing'}"
                raise UsageError(f"--fail-if-regress {tol.expr!r}: no metric {tol.metric!r} in the reports; {hint}")
            undirected = [r for r in rows if r.higher_is_better is None]
            if undirected:
                raise UsageError(f"--fail-if-regress {tol.expr!r}: {tol.metric} has no better direction, "
                                 "so it cannot regress; use --fail-if on the current value instead")
            per_item: dict[str, list[Row]] = {}
            for r in rows:
                per_item.setdefault(r.item, []).append(r)
            many = {i: rs for i, rs in per_item.items() if len(rs) > 1}
            if many:
                labels = ", ".join(r.label for r in next(iter(many.values())))
                raise UsageError(f"--fail-if-regress {tol.expr!r}: {tol.metric} was computed more than once "
                                 f"({labels}); name one, e.g. '{next(iter(many.values()))[0].label}>{tol.tolerance:g}'")
        for r in rows:
            gate = _regress_gate(tol, r)
            if tol.metric == "*":  # one named test case per metric
                gate.expr = f"{r.label}>{tol.expr.split('>', 1)[1].lstrip('=').strip()}"
                gate.expr = gate.expr.replace(">", ">=", 1) if tol.inclusive else gate.expr
            comp.gates.append(gate)
            comp.gate_items.append(r.item or "compare")


def _regress_gate(tol: RegressGate, r: Row) -> GateResult:
    label = (f"{r.item}: " if r.item else "") + r.label
    if r.old is None or r.new is None:
        return GateResult(tol.expr, None, passed=False,
                          message=f"{label} is {'missing' if r.new is None else 'undefined'} in the "
                                  f"{'current report' if r.new is None else 'baseline'}; cannot check '{tol.expr}'")
    reg = r.regression
    limit = tol.tolerance_for(r.old)
    beyond = reg >= limit if tol.inclusive else reg > limit
    sig = r.significant_worse()
    move = f"({r.old:.6g} → {r.new:.6g})"
    lim_txt = f"{limit:.4g}" + (f" = {tol.tolerance:g}% of {abs(r.old):.4g}" if tol.relative else "")
    if not beyond:
        return GateResult(tol.expr, reg, passed=True, threshold=limit)
    if sig is False:
        t = r.test
        ci = f"[{t['ci_low']:.4g}, {t['ci_high']:.4g}]"
        conf = f"{100 * t['confidence']:g}%"
        why = (f"the {conf} CI of the delta {ci} includes 0 (p = {t['p_value']:.3g}, {t['n']} queries)"
               if t["ci_low"] <= 0 <= t["ci_high"] else
               f"the sign-flip p = {t['p_value']:.3g} ≥ {1 - t['confidence']:.3g} ({conf} CI {ci}, {t['n']} queries)")
        return GateResult(tol.expr, reg, passed=True, threshold=limit,
                          message=f"{label} regressed by {reg:.4g} {move} > {lim_txt}, but {why}: not failed")
    tail = ""
    if sig:
        ci = f"[{r.test['ci_low']:.4g}, {r.test['ci_high']:.4g}]"
        tail = (f"; {100 * r.test['confidence']:g}% CI of the delta {ci} excludes 0, p = {r.test['p_value']:.3g}, "
                f"{r.test['n']} queries")
    return GateResult(tol.expr, reg, passed=False, threshold=limit, margin=reg - limit,
                      message=f"{label} regressed by {reg:.4g} {move} > {lim_txt} (over by {reg - limit:.4g}){tail}")


# Renderers ---------------------------------------------------------------------------------


def _f(v: float | None, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return f"{v:+.4f}" if signed else (f"{v:.4f}" if abs(v) < 1e5 else f"{v:.4g}")


def _ci(r: Row) -> str:
    return "" if r.test is None else f"[{r.test['ci_low']:+.3f}, {r.test['ci_high']:+.3f}]"


def _p(r: Row) -> str:
    return "" if r.test is None else f"{r.test['p_value']:.3g}"


def _rel(r: Row) -> str:
    return "" if r.relative is None else f"{100 * r.relative:+.1f}%"


COLUMNS = ["item", "metric", "old", "new", "delta", "relative", "delta CI", "p", "queries", "verdict"]


def _cells(r: Row) -> list[str]:
    return [r.item, r.label, _f(r.old), _f(r.new), _f(r.delta, True), _rel(r), _ci(r), _p(r),
            "" if r.test is None else str(r.test["n"]), r.verdict]


def comparison_json(comp: Comparison) -> str:
    return dumps(comp.to_dict(), indent=2, ensure_ascii=False) + "\n"


def comparison_csv(comp: Comparison) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["item", "metric", "params", "old", "new", "delta", "relative", "higher_is_better", "ci_low",
                "ci_high", "p_value", "n_queries", "verdict"])
    for r in comp.rows:
        t = r.test or {}
        w.writerow([r.item, r.metric, dumps(r.params, sort_keys=True) if r.params else "", _num(r.old),
                    _num(r.new), _num(r.delta), _num(r.relative), r.higher_is_better, t.get("ci_low", ""),
                    t.get("ci_high", ""), t.get("p_value", ""), t.get("n", ""), r.verdict])
    return buf.getvalue()


def comparison_markdown(comp: Comparison) -> str:
    mark = "❌" if not comp.passed else "✅"
    lines = [f"### {mark} embeval compare", "",
             f"baseline `{comp.baseline.get('path')}` → current `{comp.current.get('path')}`", ""]
    show_item = any(r.item for r in comp.rows)
    cols = COLUMNS if show_item else COLUMNS[1:]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" if c in ("item", "metric", "verdict") else "---:" for c in cols) + "|")
    for r in comp.rows:
        cells = _cells(r) if show_item else _cells(r)[1:]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if comp.gates:
        lines += ["", "| gate | item | result | why |", "|---|---|:-:|---|"]
        for item, g in zip(comp.gate_items, comp.gates):
            lines.append(f"| `{g.expr}` | {item} | {'pass' if g.passed else '**FAIL**'} | {g.message} |")
    for note in comp.notes:
        lines.append(f"\n> {note}")
    return "\n".join(lines) + "\n"


def print_comparison(comp: Comparison, console) -> None:
    """One Rich table per item (a single report has one), then the gates that failed or that a
    paired test let through; passing gates are counted, not listed."""
    from rich.markup import escape
    from rich.table import Table

    from embeval.report.width import print_fitted

    groups: dict[str, list[Row]] = {}
    for r in comp.rows:
        groups.setdefault(r.item, []).append(r)
    tested = any(r.test is not None for r in comp.rows)
    cols = [c for c in COLUMNS[1:] if tested or c not in ("delta CI", "p", "queries")]
    for item, rows in groups.items():
        t = Table(title=f"embeval compare{': ' + escape(item) if item else ''}")
        for c in cols:
            t.add_column(c, justify="left" if c in ("metric", "verdict") else "right")
        for r in rows:
            full = dict(zip(COLUMNS, _cells(r)))
            cells = [escape(full[c]) for c in cols]
            style = "red" if r.verdict.startswith("worse") and "noise" not in r.verdict else (
                "green" if r.verdict.startswith("better") and "noise" not in r.verdict else None)
            cells[-1] = f"[{style}]{cells[-1]}[/]" if style else cells[-1]
            t.add_row(*cells)
        print_fitted(console, t, keep=("metric", "verdict"))
    console.print(f"[dim]baseline {escape(str(comp.baseline.get('path')))} → current "
                  f"{escape(str(comp.current.get('path')))}[/]")
    shown = [(i, g) for i, g in zip(comp.gate_items, comp.gates) if not g.passed or g.message]
    if comp.gates:
        g = Table(title=f"gates: {sum(x.passed for x in comp.gates)} of {len(comp.gates)} passed"
                        + (", these need a look" if shown else ""))
        if shown:
            with_item = any(item != "compare" for item, _ in shown)
            for c in ("gate", "item", "result", "why") if with_item else ("gate", "result", "why"):
                g.add_column(c)
            for item, gr in shown:
                cells = [escape(gr.expr), escape(item), "[green]pass[/]" if gr.passed else "[red]FAIL[/]",
                         escape(gr.message)]
                g.add_row(*(cells if with_item else cells[:1] + cells[2:]))
        if shown:
            print_fitted(console, g, keep=("gate", "result"))
        else:
            console.print(f"[green]{g.title}[/]")
    for note in comp.notes:
        console.print(f"[dim]{escape(note)}[/]")


COMPARE_RENDERERS = {"json": comparison_json, "csv": comparison_csv, "markdown": comparison_markdown}


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
                raise UsageError(f"--fail-if {gate.expr!r}: the current report has no results")
            gate.evaluate(first)  # raises the "no metric ... did you mean" error
        for key, rep in hits:
            results.append(gate.evaluate(rep))
            items.append(key)
    return results, items

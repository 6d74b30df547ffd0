"""Sweep reports (``embeval sweep index|compress``): one row per setting, as a table (Markdown,
CSV, terminal, HTML) and a picture (recall vs queries/s for index sweeps, quality vs bytes per
vector for compression sweeps). The rows are ``Report.series["sweep"]["rows"]``, made by
:mod:`embeval.sweep`; nothing is computed here.

Gates: ``--fail-if "ann_recall@10 < 0.95"`` (or ``retention_ndcg@10 < 0.95``) checks the setting
named with ``(setting=LABEL)``, or without a selector the *chosen* setting: the recommendation, or
when no setting met the target, the best one, so such a gate fails exactly when no setting of the
sweep reaches the threshold.
"""

from __future__ import annotations

import io
import math
from typing import Any

from embeval.report.figures import COLOURS, _figure, _png
from embeval.report.gates import Gate, parse_gate
from embeval.results import GateResult, Report, dumps

INDEX_COLS = ("setting", "ann_recall@{k}", "qps_1thread", "qps_all_threads", "build_seconds", "bytes_per_vector")
COMPRESS_COLS = ("setting", "bytes_per_vector", "compression", "ann_recall@{k}", "search_seconds")


def is_sweep(report: Report) -> bool:
    return "sweep" in report.series


def columns(report: Report) -> list[str]:
    s = report.series["sweep"]
    k = s["k"]
    base = INDEX_COLS if s["kind"] == "index" else COMPRESS_COLS
    cols = [c.format(k=k) for c in base]
    rows = s["rows"]
    if rows:  # the first IR metric (ndcg at the first cut-off) and its p-value; every metric is in JSON/CSV
        first = next((c for c in rows[0] if c.startswith(("retention_ndcg@", "change_ndcg@"))), None)
        if first is not None:
            cols += [first, "p_value_" + first.split("_", 1)[1]]
    return [*cols, "pareto"]


def _cell(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, float):
        if not math.isfinite(v):
            return "—"
        if v.is_integer():
            return f"{v:,.0f}"
        return f"{v:.4f}" if abs(v) < 10 else f"{v:,.0f}"
    return str(v)


class _NothingRan(Gate):
    """A gate on a sweep in which no setting ran (the budget allowed none): it fails, as a gate on
    an undefined value does."""

    def evaluate(self, report: Report) -> GateResult:
        return GateResult(
            self.expr,
            None,
            passed=False,
            threshold=self.threshold,
            message=f"no setting of the sweep ran, so '{self.expr}' cannot pass",
        )


def sweep_gate_list(report: Report, gates: list[Gate | str], option: str = "`fail_if`") -> list[Gate]:
    """The gates (parsed, or expressions) bound to a sweep report: a gate without a ``setting=``
    selector checks the chosen setting (see the module docstring)."""
    chosen = report.settings.get("chosen")
    out: list[Gate] = []
    for e in gates:
        g = parse_gate(e, option) if isinstance(e, str) else e
        if not report.series["sweep"]["rows"]:
            g = _NothingRan(g.expr, g.metric, g.op, g.threshold, g.params, g.option)
        elif "setting" not in g.params and chosen is not None:
            g = Gate(g.expr, g.metric, g.op, g.threshold, {**g.params, "setting": chosen}, g.option)
        out.append(g)
    return out


def sweep_gates(report: Report, exprs: list[str], option: str = "`fail_if`") -> None:
    """Evaluate ``exprs`` on a sweep report (see the module docstring)."""
    report.gates = [g.evaluate(report) for g in sweep_gate_list(report, list(exprs), option)]


def print_sweep(report: Report, console) -> None:
    """The sweep table on the terminal (inputs literal: Rich markup escaped)."""
    from rich.markup import escape
    from rich.table import Table

    from embeval.report.width import print_fitted
    from embeval.safety import term

    s = report.series["sweep"]
    cols = columns(report)
    t = Table(title=f"embeval {report.command}")
    for c in cols:
        t.add_column(c, justify="left" if c == "setting" else "right")
    for row in s["rows"]:
        style = "bold" if row["setting"] == s.get("recommended") else None
        t.add_row(*[escape(term(_cell(row.get(c, "")))) for c in cols], style=style)
    print_fitted(console, t, keep=("setting",))
    for g in report.gates:
        verdict = "[green]pass[/]" if g.passed else f"[red]FAIL[/] {escape(term(g.message))}"
        console.print(f"gate {escape(term(g.expr))}: {verdict}")
    for note in report.notes:
        console.print(f"[dim]{escape(term(note))}[/]")


def sweep_markdown(report: Report) -> str:
    from embeval.safety import md_cell, md_code

    s = report.series["sweep"]
    cols = columns(report)
    lines = [f"### embeval {report.command}", ""]
    for role, info in report.inputs.items():
        shape = f" (n={info['n']}, d={info['d']})" if "n" in info and "d" in info else ""
        lines.append(f"- {role}: `{md_code(info.get('path', ''))}`{shape}")
    lines += ["", "| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in s["rows"]:
        mark = "**" if row["setting"] == s.get("recommended") else ""
        cells = [_cell(row.get(c, "")) for c in cols]
        cells[0] = f"{mark}{md_cell(cells[0])}{mark}"
        lines.append("| " + " | ".join(cells) + " |")
    if report.gates:
        lines += ["", "| gate | value | result |", "|---|---:|:-:|"]
        for g in report.gates:
            lines.append(f"| `{md_code(g.expr)}` | {_cell(g.value)} | {'pass' if g.passed else '**FAIL**'} |")
    for note in report.notes:
        lines.append(f"\n> {md_cell(note)}")
    lines += ["", "```json", dumps({"settings": report.settings}, indent=2), "```"]
    return "\n".join(lines) + "\n"


def sweep_csv(report: Report) -> str:
    from embeval.safety import csv_writer

    buf = io.StringIO()
    w = csv_writer(buf)
    rows = report.series["sweep"]["rows"]
    cols = list(dict.fromkeys(c for r in rows for c in r))
    w.writerow(cols)
    for r in rows:
        w.writerow([r.get(c, "") for c in cols])
    return buf.getvalue()


def sweep_figure(report: Report) -> bytes:
    """PNG: recall vs queries/s (1 thread, log scale) per index kind, Pareto front joined; or quality
    vs bytes per vector (log scale) for a compression sweep."""
    s = report.series["sweep"]
    rows, q = s["rows"], s["quality"]
    fig = _figure(7, 4.5)
    ax = fig.add_subplot()
    if s["kind"] == "index":
        xkey, xlabel = "qps_1thread", "queries per second, 1 thread (log)"
        groups = sorted({r["kind"] for r in rows})
    else:
        xkey, xlabel = "bytes_per_vector", "bytes per vector (log)"
        groups = sorted({r["quant"] for r in rows})
    for i, gname in enumerate(groups):
        pts = [r for r in rows if r.get("kind" if s["kind"] == "index" else "quant") == gname]
        ax.scatter([r[xkey] for r in pts], [r[q] for r in pts], color=COLOURS[i % len(COLOURS)], label=gname, s=22)
    front = sorted((r for r in rows if r.get("pareto")), key=lambda r: r[xkey])
    if front:
        ax.plot([r[xkey] for r in front], [r[q] for r in front], color="#444", lw=1, ls="--", label="Pareto front")
    rec = next((r for r in rows if r["setting"] == s.get("recommended")), None)
    if rec is not None:
        ax.scatter(
            [rec[xkey]], [rec[q]], s=120, facecolors="none", edgecolors="k", label=f"recommended: {rec['setting']}"
        )
    if s.get("target") is not None:
        ax.axhline(s["target"], color="#999", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(q)
    ax.legend(fontsize=7)
    ax.set_title(f"embeval {report.command}")
    return _png(fig)


def sweep_html(report: Report) -> str:
    from html import escape

    from embeval.report.html import img_tag

    s = report.series["sweep"]
    cols = columns(report)
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in s["rows"]
    )
    gates = "".join(
        f"<li>{escape(g.expr)}: {'pass' if g.passed else 'FAIL ' + escape(g.message)}</li>" for g in report.gates
    )
    notes = "".join(f"<p>{escape(n)}</p>" for n in report.notes)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>embeval "
        f"{escape(report.command)}</title><style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;"
        "text-align:right}}table{{border-collapse:collapse}}tr:nth-child(even){{background:#f4f4f4}}</style></head>"
        f"<body><h2>embeval {escape(report.command)}</h2>{notes}"
        f"{img_tag(sweep_figure(report), 'sweep picture')}<table><thead><tr>{head}</tr></thead><tbody>{body}"
        f"</tbody></table><ul>{gates}</ul><pre>{escape(dumps({'settings': report.settings}, indent=2))}</pre>"
        "</body></html>"
    )

"""Renderers, chosen from a table: table (Rich), json, csv, markdown, html."""

from __future__ import annotations

import io
import math
from pathlib import Path

from embeval.report.items import print_items
from embeval.results import Report, Result, dumps, register_hook
from embeval.safety import csv_writer


def _fmt(v: float | None) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.4f}" if abs(v) < 1e5 else f"{v:.4g}"


def _params(r: Result) -> str:
    """Parameters as the table shows them (floats to 4 significant digits; JSON/CSV keep them exact)."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.params.items())


def _direction(r: Result) -> str:
    return {True: "↑", False: "↓", None: ""}[r.higher_is_better]


def _ci(r: Result) -> str:
    if r.ci_low is None and r.ci_high is None:
        return ""
    return f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]"


def to_json(report: Report) -> str:
    return dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def to_csv(report: Report) -> str:
    """One row per result; with per-query values (``--per-query``) one row per query and metric
    instead (``query_id,metric,value``; the aggregates stay in the table, JSON and HTML). A sweep
    report: one row per setting (:mod:`embeval.report.sweep`)."""
    if "sweep" in report.series:
        from embeval.report.sweep import sweep_csv

        return sweep_csv(report)
    buf = io.StringIO()
    w = csv_writer(buf)
    if report.per_query:
        w.writerow(["query_id", "metric", "value"])
        for row in report.per_query:
            value = row["value"]
            w.writerow([row["query_id"], row["metric"], "" if value != value else value])
        return buf.getvalue()
    w.writerow(["metric", "value", "params", "n", "ci_low", "ci_high", "higher_is_better"])
    for r in report.results:
        d = r.to_dict()
        w.writerow(
            [
                r.metric,
                d["value"],
                dumps(r.params) if r.params else "",
                r.n,
                d["ci_low"],
                d["ci_high"],
                r.higher_is_better,
            ]
        )
    return buf.getvalue()


def to_markdown(report: Report) -> str:
    from embeval.safety import md_cell, md_code

    if "sweep" in report.series:
        from embeval.report.sweep import sweep_markdown

        return sweep_markdown(report)

    lines = [f"### embeval {report.command}", ""]
    for role, info in report.inputs.items():
        shape = f" (n={info['n']}, d={info['d']})" if "n" in info and "d" in info else ""
        lines.append(f"- {role}: `{md_code(info.get('path', ''))}`{shape}")
    lines += ["", "| metric | value | params | 95% CI | better |", "|---|---:|---|---|:-:|"]
    for r in report.results:
        lines.append(f"| {md_cell(r.metric)} | {_fmt(r.value)} | {md_cell(_params(r))} | {_ci(r)} | {_direction(r)} |")
    if report.gates:
        lines += ["", "| gate | value | result |", "|---|---:|:-:|"]
        for g in report.gates:
            lines.append(f"| `{md_code(g.condition)}` | {_fmt(g.value)} | {'pass' if g.passed else '**FAIL**'} |")
    for note in report.notes:
        lines.append(f"\n> {md_cell(note)}")
    lines += ["", "<details><summary>provenance</summary>", ""]
    for role, info in report.inputs.items():
        digest = info.get("sha256") or f"size {info.get('size')}, mtime {info.get('mtime')}"
        model = info.get("model")
        mtxt = (
            f"; model `{md_code(model.get('model'))}` weights sha256 `{md_code(model.get('weights_sha256', ''))}`"
            if isinstance(model, dict)
            else ""
        )
        lines.append(f"- {role}: `{md_code(info.get('path', ''))}` sha256 `{md_code(digest)}`{mtxt}")
    lines += [
        "",
        "```json",
        dumps({"settings": report.settings, **report.provenance}, indent=2, ensure_ascii=False),
        "```",
        "",
        "</details>",
    ]
    return "\n".join(lines) + "\n"


def to_html(report: Report) -> str:
    from embeval.report.html import report_html

    if "sweep" in report.series:
        from embeval.report.sweep import sweep_html

        return sweep_html(report)

    return report_html(report)


def print_table(report: Report, console) -> None:
    """Rich tables on the terminal. Every text that can come from an input (paths, names, notes) is
    shown literally: Rich markup escaped, control characters made visible."""
    from rich.markup import escape
    from rich.table import Table

    from embeval.report.width import print_fitted
    from embeval.safety import term

    def lit(text) -> str:
        return escape(term(text))

    if "sweep" in report.series:
        from embeval.report.sweep import print_sweep

        print_sweep(report, console)
        return

    title = f"embeval {report.command}"
    caption = "; ".join(
        f"{role}: {info.get('path', '')}" + (f" (n={info['n']}, d={info['d']})" if "n" in info and "d" in info else "")
        for role, info in report.inputs.items()
    )
    t = Table(title=title, caption=lit(caption) if caption else None)
    with_base = any(r.baseline is not None for r in report.results)
    t.add_column("metric", style="bold")
    t.add_column("value", justify="right")
    if with_base:
        t.add_column("baseline", justify="right")
    t.add_column("params")
    t.add_column("95% CI")
    t.add_column("better", justify="center")
    for r in report.results:
        base = [_fmt(r.baseline)] if with_base else []
        t.add_row(lit(r.metric), _fmt(r.value), *base, lit(_params(r)), _ci(r), _direction(r))
    print_fitted(console, t)
    if with_base:
        console.print("[dim]baseline: the same measure on points uniform on the sphere, same n, d and k[/]")
    if report.gates:
        g = Table(title="gates")
        g.add_column("gate")
        g.add_column("value", justify="right")
        g.add_column("result")
        for gr in report.gates:
            g.add_row(lit(gr.condition), _fmt(gr.value), "[green]pass[/]" if gr.passed else "[red]FAIL[/]")
        print_fitted(console, g, keep=("gate",))
    for note in report.notes:
        console.print(f"[dim]{lit(note)}[/]")
    if report.items is not None:
        print_items(report.items, console)


RENDERERS = {"json": to_json, "csv": to_csv, "markdown": to_markdown, "html": to_html}
SUFFIX_FORMAT = {
    ".json": "json",
    ".csv": "csv",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
}


def save_report(report: Report, path: Path) -> Path:
    """``Report.save``: the format from the suffix (.json .csv .md .html), written atomically."""
    from embeval.errors import UsageError
    from embeval.io.atomic import write_atomic

    fmt = SUFFIX_FORMAT.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: cannot tell the format from the suffix; use .json, .csv, .md or .html")
    write_atomic(path, RENDERERS[fmt](report))
    return path


def notebook_html(report: Report) -> str:
    """``Report._repr_html_``: the results as a small HTML table (Jupyter)."""
    from html import escape

    head = "".join(f"<th>{h}</th>" for h in ("metric", "value", "params", "95% CI", "better"))
    body = "".join(
        f"<tr><td>{escape(r.metric)}</td><td style='text-align:right'>{_fmt(r.value)}</td>"
        f"<td>{escape(_params(r))}</td><td>{escape(_ci(r))}</td><td>{_direction(r)}</td></tr>"
        for r in report.results
    )
    notes = "".join(f"<div style='color:#666'>{escape(n)}</div>" for n in report.notes)
    return (
        f"<div><b>embeval {escape(report.command)}</b><div style='overflow-x:auto'><table>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{notes}</div>"
    )


register_hook("save", save_report)
register_hook("notebook_html", notebook_html)

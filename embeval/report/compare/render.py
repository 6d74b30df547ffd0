"""Renderers of a two-report comparison: JSON, CSV, Markdown, and a Rich table."""

from __future__ import annotations

import math

from embeval.report.compare.model import PairComparison, Row, _num, side_text
from embeval.results import dumps


def _f(v: float | None, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return f"{v:+.4f}" if signed else (f"{v:.4f}" if abs(v) < 1e5 else f"{v:.4g}")


def _ci(r: Row) -> str:
    return "" if r.test is None else f"[{r.test.ci_low:+.3f}, {r.test.ci_high:+.3f}]"


def _p(r: Row) -> str:
    return "" if r.test is None else f"{r.test.p_value:.3g}"


def _rel(r: Row) -> str:
    return "" if r.relative is None else f"{100 * r.relative:+.1f}%"


COLUMNS = ["item", "metric", "old", "new", "delta", "relative", "delta CI", "p", "queries", "verdict"]


def _cells(r: Row) -> list[str]:
    return [
        r.item,
        r.label,
        _f(r.old),
        _f(r.new),
        _f(r.delta, True),
        _rel(r),
        _ci(r),
        _p(r),
        "" if r.test is None else str(r.test.n),
        r.verdict,
    ]


def comparison_json(comp: PairComparison) -> str:
    return dumps(comp.to_dict(), indent=2, ensure_ascii=False) + "\n"


def comparison_csv(comp: PairComparison) -> str:
    import io

    from embeval.safety import csv_writer

    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow(
        [
            "item",
            "metric",
            "params",
            "old",
            "new",
            "delta",
            "relative",
            "higher_is_better",
            "ci_low",
            "ci_high",
            "p_value",
            "n_queries",
            "verdict",
        ]
    )
    for r in comp.rows:
        t = r.test.to_dict() if r.test else {}
        w.writerow(
            [
                r.item,
                r.metric,
                dumps(r.params, sort_keys=True) if r.params else "",
                _num(r.old),
                _num(r.new),
                _num(r.delta),
                _num(r.relative),
                r.higher_is_better,
                t.get("ci_low", ""),
                t.get("ci_high", ""),
                t.get("p_value", ""),
                t.get("n", ""),
                r.verdict,
            ]
        )
    return buf.getvalue()


def comparison_markdown(comp: PairComparison) -> str:
    from embeval.safety import md_cell, md_code, public_path

    mark = "❌" if not comp.passed else "✅"
    lines = [
        f"### {mark} embeval compare",
        "",
        f"baseline `{md_code(side_text(comp.baseline, public_path))}` → "
        f"current `{md_code(side_text(comp.current, public_path))}`",
        "",
    ]
    show_item = any(r.item for r in comp.rows)
    cols = COLUMNS if show_item else COLUMNS[1:]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" if c in ("item", "metric", "verdict") else "---:" for c in cols) + "|")
    for r in comp.rows:
        cells = _cells(r) if show_item else _cells(r)[1:]
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    if comp.gates:
        lines += ["", "| gate | item | result | why |", "|---|---|:-:|---|"]
        for item, g in zip(comp.gate_items, comp.gates):
            lines.append(
                f"| `{md_code(g.condition)}` | {md_cell(item)} | {'pass' if g.passed else '**FAIL**'} | "
                f"{md_cell(g.message or '')} |"
            )
    for note in comp.notes:
        lines.append(f"\n> {md_cell(note)}")
    return "\n".join(lines) + "\n"


# Optional columns of the terminal table, dropped first to last when the table does not fit.
OPTIONAL = ("queries", "p", "relative", "delta CI")
# Columns whose cells wrap at spaces (the rest stay whole: numbers, intervals, metric names).
_WRAPS = ("verdict",)


def _fit_columns(cols: list[str], cells: list[dict[str, str]], avail: int) -> tuple[list[str], list[int]]:
    """The columns that fit ``avail`` (optional ones dropped in :data:`OPTIONAL` order) and their
    content widths: whole cells for numbers and names, the widest word for wrapping text."""
    from embeval.report.width import table_need, text_width, word_width

    def width(c: str) -> int:
        body = [row[c] for row in cells]
        if c in _WRAPS:
            return max([word_width(c), *(word_width(b) for b in body)])
        return max([word_width(c), *(text_width(b) for b in body)])

    cols = list(cols)
    for drop in OPTIONAL:
        if table_need([width(c) for c in cols]) <= avail:
            break
        if drop in cols:
            cols.remove(drop)
    return cols, [width(c) for c in cols]


def _stacked(rows: list[Row], console) -> None:
    """Last resort when even metric, old, new, delta and verdict do not fit: one line per metric,
    wrapped at spaces by the console, never inside a number or name."""
    from embeval.safety import rich_literal as escape

    for r in rows:
        full = dict(zip(COLUMNS, _cells(r)))
        extra = ", ".join(x for x in (full["relative"], full["delta CI"] and "CI " + full["delta CI"]) if x)
        console.print(
            escape(
                f"{full['metric']}: {full['old'] or '–'} → {full['new'] or '–'} "
                f"{full['delta'] or ''}{f' ({extra})' if extra else ''} {full['verdict']}"
            ).replace("  ", " ")
        )


def print_comparison(comp: PairComparison, console) -> None:
    """One Rich table per item (a single report has one), then the gates that failed or that a
    paired test let through; passing gates are counted, not listed.

    Numbers, intervals and metric names are never split: when the table is wider than the
    console, the optional columns (queries, p, relative, delta CI) are left out in that order
    (a note says which); when even the rest does not fit, each metric is one line."""
    from rich.table import Table

    from embeval.report.width import available, print_fitted, print_whole, table_need
    from embeval.safety import rich_literal as escape  # markup escaped, control characters visible

    groups: dict[str, list[Row]] = {}
    for r in comp.rows:
        groups.setdefault(r.item, []).append(r)
    tested = any(r.test is not None for r in comp.rows)
    all_cols = [c for c in COLUMNS[1:] if tested or c not in ("delta CI", "p", "queries")]
    avail = available(console)
    left_out: set[str] = set()
    for item, rows in groups.items():
        full_rows = [dict(zip(COLUMNS, _cells(r))) for r in rows]
        cols, widths = _fit_columns(all_cols, full_rows, avail)
        left_out |= set(all_cols) - set(cols)
        title = f"embeval compare{': ' + escape(item) if item else ''}"
        if table_need(widths) > avail:
            console.print(f"[bold]{title}[/]")
            _stacked(rows, console)
            continue
        t = Table(title=title)
        for c, w in zip(cols, widths):
            wraps = c in _WRAPS
            t.add_column(c, justify="left" if c in ("metric", "verdict") else "right", min_width=w, no_wrap=not wraps)
        for r, full in zip(rows, full_rows):
            row = [escape(full[c]) for c in cols]
            style = (
                "red"
                if r.verdict.startswith("worse") and "noise" not in r.verdict
                else ("green" if r.verdict.startswith("better") and "noise" not in r.verdict else None)
            )
            row[-1] = f"[{style}]{row[-1]}[/]" if style else row[-1]
            t.add_row(*row)
        print_whole(console, t, table_need(widths))
    if left_out:
        console.print(
            f"[dim]left out at {avail} columns: {', '.join(c for c in all_cols if c in left_out)} "
            "(a wider terminal, COLUMNS=N, or -f json/csv/markdown shows them)[/]"
        )
    console.print(f"[dim]baseline {escape(side_text(comp.baseline))} → current {escape(side_text(comp.current))}[/]")
    shown = [(i, g) for i, g in zip(comp.gate_items, comp.gates) if not g.passed or g.message]
    if comp.gates:
        g = Table(
            title=f"gates: {sum(x.passed for x in comp.gates)} of {len(comp.gates)} passed"
            + (", these need a look" if shown else "")
        )
        if shown:
            with_item = any(item != "compare" for item, _ in shown)
            for c in ("gate", "item", "result", "why") if with_item else ("gate", "result", "why"):
                g.add_column(c)
            for item, gr in shown:
                cells = [
                    escape(gr.condition),
                    escape(item),
                    "[green]pass[/]" if gr.passed else "[red]FAIL[/]",
                    escape(gr.message),
                ]
                g.add_row(*(cells if with_item else cells[:1] + cells[2:]))
        if shown:
            print_fitted(console, g, keep=("gate", "result"))
        else:
            console.print(f"[green]{g.title}[/]")
    for note in comp.notes:
        console.print(f"[dim]{escape(note)}[/]")


COMPARE_RENDERERS = {"json": comparison_json, "csv": comparison_csv, "markdown": comparison_markdown}

"""Renderers of an N-way :class:`~embeval.report.compare.nway.Ranking`: a Rich table, JSON, CSV,
Markdown (a pull-request comment), LaTeX (a booktabs table, as ranx's ``to_latex``) and a
self-contained HTML page with the ranking and the changes from the baseline."""

from __future__ import annotations

import math

from embeval.report.compare.nway import LETTERS, Cell, MetricRank, Ranking
from embeval.results import dumps

_SUP = dict(zip("abcdefghijklmnoprstuvwxyz", "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ"))


def _sup(letters: list[str]) -> str:
    return "".join(_SUP.get(x, "^" + x) for x in letters)


def _v(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v:.4f}" if abs(v) < 1e5 else f"{v:.4g}"


def _ci(c: Cell) -> str:
    return "" if c.ci_low is None else f"[{c.ci_low:.3f}, {c.ci_high:.3f}]"


def _arrow(m: MetricRank) -> str:
    return "↑" if m.higher_is_better else "↓"


def _delta(ranking: Ranking, m: MetricRank, k: int) -> tuple[str, bool | None]:
    """System k's change from the baseline on metric m, and whether the corrected pairwise test
    calls it significant (None: not tested)."""
    base, cur = m.cells[0].value, m.cells[k].value
    if base is None or cur is None:
        return "–", None
    d = cur - base
    rel = f" ({100 * d / abs(base):+.1f}%)" if base else ""
    t = m.pair(LETTERS[0], LETTERS[k])
    return f"{d:+.4f}{rel}", (None if t is None else t.significant)


def ranking_json(r: Ranking) -> str:
    return dumps(r.to_dict(), indent=2, ensure_ascii=False) + "\n"


def ranking_csv(r: Ranking) -> str:
    import io

    from embeval.safety import csv_writer

    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow(
        [
            "group",
            "metric",
            "params",
            "higher_is_better",
            "letter",
            "system",
            "value",
            "ci_low",
            "ci_high",
            "rank",
            "best",
            "better_than",
            "delta_vs_baseline",
            "p_holm_vs_baseline",
        ]
    )
    for m in r.metrics:
        for k, (s, c) in enumerate(zip(r.systems, m.cells)):
            t = m.pair(LETTERS[0], s.letter) if k else None
            delta = None if (k == 0 or c.value is None or m.cells[0].value is None) else c.value - m.cells[0].value
            w.writerow(
                [
                    m.group,
                    m.metric,
                    dumps(m.params, sort_keys=True) if m.params else "",
                    m.higher_is_better,
                    s.letter,
                    s.name,
                    c.value,
                    c.ci_low,
                    c.ci_high,
                    c.rank,
                    c.best,
                    "".join(c.better_than),
                    delta,
                    "" if t is None else t.p_holm,
                ]
            )
    return buf.getvalue()


def _md(text: str) -> str:
    from embeval.safety import md_cell

    return md_cell(str(text).replace("\n", " "))


def _public(path: str) -> str:
    from embeval.safety import public_path

    return public_path(path)


def _md_code(text: str) -> str:
    from embeval.safety import md_code

    return md_code(text)


def ranking_markdown(r: Ranking) -> str:
    lines = [f"### {'✅' if r.passed else '❌'} embeval compare: {len(r.systems)} systems", ""]
    lines += ["| # | system | source |", "|---|---|---|"]
    lines += [f"| {s.letter} | {_md(s.name)} | `{_md_code(_public(s.source))}` |" for s in r.systems]
    for group in r.groups:
        ms = [m for m in r.metrics if m.group == group]
        head = " | ".join(_md(m.label) + " " + _arrow(m) for m in ms)
        lines += ["", f"#### {_md(group)}", "", f"| # | system | {head} |", "|---|---|" + "---:|" * len(ms)]
        for k, s in enumerate(r.systems):
            cells = []
            for m in ms:
                c = m.cells[k]
                v = _v(c.value)
                v = f"**{v}**" if c.best else v
                sup = f"<sup>{''.join(c.better_than)}</sup>" if c.better_than else ""
                cells.append(f"{v}{sup}{' ★' if c.best else ''} {_ci(c)}".strip())
            lines.append(f"| {s.letter} | {_md(s.name)} | " + " | ".join(cells) + " |")
        if len(r.systems) > 1:
            lines += [
                "",
                f"Change from the baseline **{_md(r.systems[0].name)}** (✱ significant after correction):",
                "",
                "| system | " + " | ".join(_md(m.label) for m in ms) + " |",
                "|---|" + "---:|" * len(ms),
            ]
            for k, s in enumerate(r.systems[1:], start=1):
                cells = []
                for m in ms:
                    text, sig = _delta(r, m, k)
                    cells.append(text + (" ✱" if sig else ""))
                lines.append(f"| {s.letter} {_md(s.name)} | " + " | ".join(cells) + " |")
    lines += ["", _legend(r, "in bold and marked ★")]
    if r.gates:
        lines += ["", "| gate | system | result | why |", "|---|---|:-:|---|"]
        for item, g in r.gates:
            lines.append(f"| `{g.expr}` | {_md(item)} | {'pass' if g.passed else '**FAIL**'} | {_md(g.message)} |")
    for note in r.notes:
        lines.append(f"\n> {_md(note)}")
    return "\n".join(lines) + "\n"


def tex(text: str) -> str:
    from embeval.safety import tex_cell

    return tex_cell(text)


def ranking_latex(r: Ranking) -> str:
    """One booktabs table per group, as ranx's ``Report.to_latex``: systems as rows, metrics as
    columns, the best bold, superscript letters for significant wins."""
    out = []
    for group in r.groups:
        ms = [m for m in r.metrics if m.group == group]
        out += [
            r"\begin{table*}[ht]",
            r"\centering",
            r"\caption{" + tex(f"{group}: ") + tex(_legend(r, "in bold")) + "}",
            r"\begin{tabular}{cl" + "c" * len(ms) + "}",
            r"\toprule",
            r"\textbf{\#} & \textbf{System} & "
            + " & ".join(
                r"\textbf{" + tex(m.label) + "}" + (r" $\uparrow$" if m.higher_is_better else r" $\downarrow$")
                for m in ms
            )
            + r" \\",
            r"\midrule",
        ]
        for k, s in enumerate(r.systems):
            cells = []
            for m in ms:
                c = m.cells[k]
                v = _v(c.value) if c.value is not None else "--"
                v = r"\textbf{" + v + "}" if c.best else v
                cells.append(v + (r"$^{" + "".join(c.better_than) + "}$" if c.better_than else r"\hphantom{$^{}$}"))
            out.append(f"{s.letter} & {tex(s.name)} & " + " & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table*}", ""]
    return "\n".join(out)


def ranking_html(r: Ranking) -> str:
    from embeval.report.html import CSS, _e

    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>embeval compare</title><style>{CSS}"
        ".best{font-weight:700} .up{color:#1a7f37} .down{color:#cf222e} sup{color:#555}</style></head><body>",
        "<h1>embeval compare</h1>",
        f"<div class='banner {'ok' if r.passed else 'bad'}'>"
        f"{'every gate passed' if r.passed else 'a gate failed'} · {len(r.systems)} systems</div>",
        "<table><tr><th>#</th><th>system</th><th>source</th></tr>",
    ]
    parts += [
        f"<tr><td>{_e(s.letter)}</td><td>{_e(s.name)}</td><td><code>{_e(_public(s.source))}</code></td></tr>"
        for s in r.systems
    ]
    parts.append("</table>")
    for group in r.groups:
        ms = [m for m in r.metrics if m.group == group]
        parts.append(
            f"<h2>{_e(group)}</h2><h3>Ranking</h3><div class='wide'><table><tr><th>#</th><th>system</th>"
            + "".join(f"<th>{_e(m.label)} {_arrow(m)}</th>" for m in ms)
            + "</tr>"
        )
        for k, s in enumerate(r.systems):
            row = [f"<td>{_e(s.letter)}</td><td>{_e(s.name)}</td>"]
            for m in ms:
                c = m.cells[k]
                sup = f"<sup>{_e(''.join(c.better_than))}</sup>" if c.better_than else ""
                rank = f" <span class='muted'>#{c.rank}</span>" if c.rank else ""
                ci = f"<br><span class='muted'>{_e(_ci(c))}</span>" if c.ci_low is not None else ""
                row.append(f"<td class='num{' best' if c.best else ''}'>{_e(_v(c.value))}{sup}{rank}{ci}</td>")
            parts.append("<tr>" + "".join(row) + "</tr>")
        parts.append("</table></div>")
        if len(r.systems) > 1:
            parts.append(
                f"<h3>Change from the baseline {_e(r.systems[0].name)}</h3><div class='wide'><table>"
                "<tr><th>system</th>" + "".join(f"<th>{_e(m.label)}</th>" for m in ms) + "</tr>"
            )
            for k, s in enumerate(r.systems[1:], start=1):
                row = [f"<td>{_e(s.letter)} {_e(s.name)}</td>"]
                for m in ms:
                    text, sig = _delta(r, m, k)
                    cur, base = m.cells[k].value, m.cells[0].value
                    cls = ""
                    if cur is not None and base is not None and cur != base:
                        cls = "up" if (cur > base) == m.higher_is_better else "down"
                    row.append(f"<td class='num {cls}'>{_e(text)}{' ✱' if sig else ''}</td>")
                parts.append("<tr>" + "".join(row) + "</tr>")
            parts.append(
                "</table></div><p class='muted'>✱ significant after Holm–Bonferroni correction; green = "
                "better, red = worse by the metric's direction.</p>"
            )
    parts.append(f"<p class='muted'>{_e(_legend(r, 'in bold'))}</p>")
    if r.gates:
        parts.append("<h2>Gates</h2><table><tr><th>gate</th><th>system</th><th>result</th><th>why</th></tr>")
        for item, g in r.gates:
            res = "<span class='pass'>pass</span>" if g.passed else "<span class='fail'>FAIL</span>"
            parts.append(
                f"<tr><td><code>{_e(g.expr)}</code></td><td>{_e(item)}</td><td>{res}</td><td>{_e(g.message)}</td></tr>"
            )
        parts.append("</table>")
    for note in r.notes:
        parts.append(f"<p class='muted'>{_e(note)}</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _tested(r: Ranking) -> bool:
    return any(m.pairs for m in r.metrics)


def _legend(r: Ranking, best: str) -> str:
    """What the marks mean: the best value (``best`` names how it is shown), the superscript letters
    only when a pairwise test ran, the intervals only when some cell has one."""
    conf = r.settings["confidence"]
    parts = [f"Best value {best}."]
    if _tested(r):
        parts.append(
            f"Superscripts: significantly better than the systems with those letters (paired two-sided "
            f"sign-flip randomisation test over shared queries, Holm–Bonferroni across pairs, p < {1 - conf:.3g})."
        )
    if any(c.ci_low is not None for m in r.metrics for c in m.cells):
        parts.append(f"Intervals: {100 * conf:g}% bootstrap over queries (or the report's own).")
    return " ".join(parts)


def _cell_lines(r: Ranking, m: MetricRank, k: int, *, ci: bool, delta: bool) -> list[str]:
    """The plain lines of system k's cell for metric m: value (letters, ★ when best), interval,
    change from the baseline."""
    c = m.cells[k]
    lines = [_v(c.value) + _sup(c.better_than) + (" ★" if c.best else "")]
    if ci:
        lines.append(_ci(c))
    if delta and k:
        text, sig = _delta(r, m, k)
        lines.append(text + (" ✱" if sig else ""))
    return lines


def _table(r: Ranking, console, title: str, ms: list[MetricRank], key: int, ks: list[int], cell) -> None:
    """One table: a row per metric (its name whole), a column per system in ``ks``; every cell
    line kept whole (columns as wide as their widest line)."""
    from rich.table import Table
    from rich.text import Text

    from embeval.report.width import print_whole, table_need, text_width
    from embeval.safety import rich_literal as escape

    cells = [[cell(m, k) for k in ks] for m in ms]
    ws = [key]
    for j, k in enumerate(ks):
        ws.append(max([len(r.systems[k].letter), *(text_width(Text.from_markup(row[j]).plain) for row in cells)]))
    t = Table(title=title)
    t.add_column("metric", no_wrap=True, min_width=key)
    for k, w in zip(ks, ws[1:]):
        t.add_column(r.systems[k].letter, justify="right", no_wrap=True, min_width=w)
    for m, row in zip(ms, cells):
        t.add_row(escape(f"{m.label} {_arrow(m)}"), *row)
    print_whole(console, t, table_need(ws))


def _print_group(r: Ranking, group: str, console, avail: int) -> bool:
    """The tables of one group; True when the intervals had to be left out."""
    from embeval.report.width import chunks, table_need, text_width
    from embeval.safety import rich_literal as escape

    ms = [m for m in r.metrics if m.group == group]
    key = max([text_width("metric"), *(text_width(f"{m.label} {_arrow(m)}") for m in ms)])
    n = len(r.systems)

    def widths(ci: bool, delta: bool) -> list[int]:
        def one(m: MetricRank, k: int) -> int:
            return text_width("\n".join(_cell_lines(r, m, k, ci=ci, delta=delta)))

        return [max([len(r.systems[k].letter), *(one(m, k) for m in ms)]) for k in range(n)]

    has_ci = any(c.ci_low is not None for m in ms for c in m.cells)
    layouts = [(has_ci, True), (has_ci, False), (False, False)]
    ci, delta = next((lay for lay in layouts if table_need([key, *widths(*lay)]) <= avail), layouts[-1])

    def ranked(m: MetricRank, k: int) -> str:
        lines = [escape(x) for x in _cell_lines(r, m, k, ci=ci, delta=delta)]
        if m.cells[k].best:
            lines[0] = f"[bold green]{lines[0]}[/]"
        return "\n".join(lines[:1] + [f"[dim]{x}[/]" for x in lines[1:]])

    def change(m: MetricRank, k: int) -> str:
        return escape(_cell_lines(r, m, k, ci=False, delta=True)[-1])

    runs = chunks(key, widths(ci, delta), avail)
    for i, ks in enumerate(runs):
        part = f" ({i + 1}/{len(runs)})" if len(runs) > 1 else ""
        _table(r, console, f"embeval compare: {escape(group)}{part}", ms, key, ks, ranked)
    if not delta and n > 1:
        later = list(range(1, n))
        dw = [max([1, *(text_width(change(m, k)) for m in ms)]) for k in later]
        for run in chunks(key, dw, avail):
            title = f"change from the baseline {escape(r.systems[0].letter)}"
            _table(r, console, title, ms, key, [later[j] for j in run], change)
    return has_ci and not ci


def print_ranking(r: Ranking, console) -> None:
    """The ranking as a terminal table per group: one row per metric (its name whole), one column
    per system (its letter; the systems are listed first). Nothing is split: when the columns do not
    fit the console, the change from the baseline moves to a second table, then the intervals are
    left out (a note says so), then the systems are shown a few at a time."""
    from embeval.report.width import available
    from embeval.safety import rich_literal as escape  # markup escaped, control characters visible

    avail = available(console)
    console.print("systems: " + "; ".join(f"{s.letter} = {escape(s.name)}" for s in r.systems))
    dropped_ci = False
    for group in r.groups:
        dropped_ci |= _print_group(r, group, console, avail)
    sig = " ✱ significant after correction." if len(r.systems) > 1 and _tested(r) else ""
    console.print(f"[dim]{escape(_legend(r, 'marked ★ (and bold)'))}{sig}[/]")
    if dropped_ci:
        console.print(
            f"[dim]intervals left out at {avail} columns (a wider terminal, COLUMNS=N, or -f json/csv/"
            "markdown shows them)[/]"
        )
    if r.gates:
        failed = [(i, g) for i, g in r.gates if not g.passed or g.message]
        console.print(f"gates: {sum(g.passed for _, g in r.gates)} of {len(r.gates)} passed")
        for item, g in failed:
            mark = "[green]pass[/]" if g.passed else "[red]FAIL[/]"
            console.print(f"  {mark} {escape(g.expr)} ({escape(item)}): {escape(g.message)}")
    for note in r.notes:
        console.print(f"[dim]{escape(note)}[/]")


RANKING_RENDERERS = {
    "json": ranking_json,
    "csv": ranking_csv,
    "markdown": ranking_markdown,
    "latex": ranking_latex,
    "html": ranking_html,
}

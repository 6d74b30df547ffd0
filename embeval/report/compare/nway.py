"""N-way comparison: several reports (or the models of one batch report) ranked metric by metric.

For each group (the command of single reports; ``command/model/dataset`` items matched across
batch files; ``command/dataset`` when the systems are the models of one batch) and each metric
with a direction:

- **value and CI**: the report's value; where the report carries per-query values, a percentile
  bootstrap interval of their mean over queries (``n_boot`` resamples, seeded), else the
  report's own interval if it has one.
- **rank**: 1 = best by the metric's direction; equal values share a rank ("1224").
- **pairwise tests**: for every pair of systems with per-query values, the two-sided sign-flip
  randomisation test of the mean paired difference on the queries every such system shares
  (:mod:`embeval.report.paired`), then Holm–Bonferroni over the pairs of that metric (Holm 1979,
  "A simple sequentially rejective multiple test procedure"; ranx's default correction). A pair
  is significant when its adjusted p < 1 − confidence; the better system then carries the other's
  letter as a superscript, as in ranx's tables.

Regression gates compare each later system with the first (the baseline) through the two-report
comparison (:func:`embeval.report.compare.match.compare`).
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embeval.errors import UsageError
from embeval.report.compare.load import Side
from embeval.report.compare.match import Comparison, _finite, _per_query, _same_params
from embeval.results import GateResult, Report, Result, dumps

LETTERS = string.ascii_lowercase


def holm(p_values) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in the input order: with p₍₁₎ ≤ … ≤ p₍ₘ₎,
    p̃₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1)·p₍ⱼ₎)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


@dataclass(frozen=True)
class System:
    letter: str
    name: str
    source: str  # the report file (and model) it came from


@dataclass
class Cell:
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_from: str = ""  # "bootstrap over N queries", "report", or ""
    rank: int | None = None
    better_than: list[str] = field(default_factory=list)  # letters, significant after correction

    @property
    def best(self) -> bool:
        return self.rank == 1


@dataclass
class PairTest:
    a: str  # letters
    b: str
    n: int
    mean_delta: float  # mean over shared queries of (b − a)
    p_value: float
    p_holm: float
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "n": self.n, "mean_delta": self.mean_delta, "p_value": self.p_value,
                "p_holm": self.p_holm, "significant": self.significant}


@dataclass
class MetricRank:
    group: str
    metric: str
    label: str
    params: dict[str, Any]
    higher_is_better: bool
    cells: list[Cell]  # one per system, in system order
    pairs: list[PairTest] = field(default_factory=list)
    n_queries: int | None = None  # queries the pairwise tests share

    def pair(self, a: str, b: str) -> PairTest | None:
        for t in self.pairs:
            if {t.a, t.b} == {a, b}:
                return t
        return None


@dataclass
class Ranking:
    systems: list[System]
    metrics: list[MetricRank]
    settings: dict[str, Any]
    comparisons: list[Comparison] = field(default_factory=list)  # system k vs the first, k ≥ 1
    gates: list[tuple[str, GateResult]] = field(default_factory=list)  # (item, gate)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(g.passed for _, g in self.gates)

    def gate_pairs(self) -> list[tuple[str, GateResult]]:
        """(system and item, gate) for every gate."""
        return list(self.gates)

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(m.group for m in self.metrics))

    def to_dict(self) -> dict[str, Any]:
        from embeval import __version__

        sys_letters = [s.letter for s in self.systems]
        metrics = []
        for m in self.metrics:
            metrics.append({
                "group": m.group, "metric": m.metric, "label": m.label, "params": m.params,
                "higher_is_better": m.higher_is_better, "n_queries": m.n_queries,
                "systems": {letter: {"value": c.value, "ci_low": c.ci_low, "ci_high": c.ci_high, "ci_from": c.ci_from,
                                     "rank": c.rank, "best": c.best, "better_than": c.better_than}
                            for letter, c in zip(sys_letters, m.cells)},
                "pairwise": [t.to_dict() for t in m.pairs]})
        return {"embeval_version": __version__, "command": "compare", "kind": "ranking",
                "systems": [{"letter": s.letter, "name": s.name, "source": s.source} for s in self.systems],
                "settings": self.settings, "metrics": metrics,
                "vs_baseline": [{"system": s.letter, "rows": [r.to_dict() for r in c.rows]}
                                for s, c in zip(self.systems[1:], self.comparisons)],
                "gates": [{"item": i, **g.to_dict()} for i, g in self.gates], "passed": self.passed,
                "notes": self.notes}


# Building -----------------------------------------------------------------------------------


def systems_from_files(sides: list[Side]) -> list[tuple[System, Side]]:
    """Each report file is one system, named by its file name (made unique)."""
    from pathlib import Path

    if len(sides) > len(LETTERS):
        raise UsageError(f"compare ranks at most {len(LETTERS)} reports at once, got {len(sides)}")
    kinds = {s.kind for s in sides}
    if len(kinds) > 1:
        raise UsageError("compare reports of the same kind: " + ", ".join(f"{s.path} is {s.kind}" for s in sides))
    if kinds == {"single"}:
        commands = {next(iter(s.items)) for s in sides}
        if len(commands) > 1:
            raise UsageError("compare reports of the same command: " + ", ".join(
                f"{s.path} is {next(iter(s.items))}" for s in sides))
    names = [Path(s.path).stem for s in sides]
    if len(set(names)) < len(names):
        names = [str(s.path) for s in sides]
    return [(System(LETTERS[i], n, s.path), s) for i, (n, s) in enumerate(zip(names, sides))]


def systems_from_batch(side: Side) -> list[tuple[System, Side]]:
    """The models of one batch report are the systems; groups are ``command/dataset``."""
    by_model: dict[str, dict[str, Report]] = {}
    for key, report in side.items.items():
        command, model, dataset = key.split("/", 2) if key.count("/") >= 2 else (key, "-", "-")
        by_model.setdefault(model, {})[f"{command}/{dataset}"] = report
    if len(by_model) < 2:
        raise UsageError(f"{side.path}: one batch report ranks its models, but it holds "
                         f"{len(by_model)} model(s); give two or more reports instead")
    if len(by_model) > len(LETTERS):
        raise UsageError(f"compare ranks at most {len(LETTERS)} models at once, got {len(by_model)}")
    out = []
    for i, (model, items) in enumerate(by_model.items()):
        out.append((System(LETTERS[i], model, f"{side.path}:{model}"),
                    Side(f"{side.path} [{model}]", "batch", items, {**side.info, "model": model})))
    return out


def _direction(results: list[Result | None]) -> bool | None:
    for r in results:
        if r is not None and r.higher_is_better is not None:
            return r.higher_is_better
    return None


def _find(report: Report, ref: Result) -> Result | None:
    for r in report.results:
        if r.metric == ref.metric and _same_params(ref.metric, ref.params, r.params):
            return r
    return None


def _ranks(values: list[float | None], higher: bool) -> list[int | None]:
    """Competition ranks (1 = best; ties share the better rank); None for missing values."""
    present = [v for v in values if v is not None]
    out: list[int | None] = []
    for v in values:
        if v is None:
            out.append(None)
        else:
            out.append(1 + sum(1 for w in present if (w > v if higher else w < v)))
    return out


def rank_systems(systems: list[tuple[System, Side]], *, seed: int = 0, n_boot: int = 10_000,
                 confidence: float = 0.95) -> Ranking:
    """Rank the systems per (group, metric) with bootstrap CIs and Holm-corrected pairwise tests."""
    from embeval.report.paired import bootstrap_means, sign_flip_p

    if not 0 < confidence < 1:
        raise UsageError(f"--confidence {confidence}: must be between 0 and 1")
    if n_boot < 100:
        raise UsageError(f"--n-boot {n_boot}: use at least 100 resamples")
    alpha = 1.0 - confidence
    ranking = Ranking([s for s, _ in systems], [], {"seed": seed, "n_boot": n_boot, "n_perm": n_boot,
                                                    "confidence": confidence, "correction": "holm",
                                                    "test": "two-sided sign-flip randomisation (paired)"})
    groups = list(dict.fromkeys(g for _, side in systems for g in side.items))
    undirected: set[str] = set()
    for group in groups:
        reports = [side.items.get(group) for _, side in systems]
        present = [r for r in reports if r is not None]
        if len(present) < 2:
            ranking.notes.append(f"{group}: only in {len(present)} report; not ranked")
            continue
        per_query = [None if r is None else _per_query(r) for r in reports]
        seen: list[Result] = []
        for rep in present:
            for res in rep.results:
                if not any(s.metric == res.metric and _same_params(s.metric, s.params, res.params) for s in seen):
                    seen.append(res)
        for ref in seen:
            found = [None if r is None else _find(r, ref) for r in reports]
            hib = _direction(found)
            if hib is None:
                undirected.add(ref.label())
                continue
            cells = [Cell(None if f is None else _finite(f.value)) for f in found]
            for c, r in zip(_ranks([c.value for c in cells], hib), cells):
                r.rank = c
            # Per-query values where the metric appears once in that report.
            pq: list[dict[str, float] | None] = []
            for r, q in zip(reports, per_query):
                ok = r is not None and q is not None and ref.metric in q and \
                    sum(1 for x in r.results if x.metric == ref.metric) == 1
                pq.append({k: v for k, v in q[ref.metric].items() if math.isfinite(v)} if ok else None)
            rng = np.random.default_rng(seed)
            for c, f, q in zip(cells, found, pq):
                if q is not None and len(q) >= 2:
                    means = bootstrap_means(np.fromiter(q.values(), dtype=np.float64), n_boot, rng)
                    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
                    c.ci_low, c.ci_high, c.ci_from = float(lo), float(hi), f"bootstrap over {len(q)} queries"
                elif f is not None and f.ci_low is not None and f.ci_high is not None:
                    c.ci_low, c.ci_high, c.ci_from = f.ci_low, f.ci_high, "report"
            mr = MetricRank(group, ref.metric, ref.label(), dict(ref.key_params), hib, cells)
            tested = [i for i, q in enumerate(pq) if q is not None]
            if len(tested) >= 2:
                shared = set.intersection(*(set(pq[i]) for i in tested))
                qids = sorted(shared)
                if len(qids) >= 2:
                    mr.n_queries = len(qids)
                    vals = {i: np.array([pq[i][k] for k in qids]) for i in tested}
                    raw = []
                    for x in range(len(tested)):
                        for y in range(x + 1, len(tested)):
                            i, j = tested[x], tested[y]
                            d = vals[j] - vals[i]
                            p, _ = sign_flip_p(d, n_boot, np.random.default_rng(seed))
                            raw.append((i, j, float(d.mean()), p))
                    adj = holm([r[3] for r in raw])
                    for (i, j, md, p), pa in zip(raw, adj):
                        sig = bool(pa < alpha) and md != 0
                        t = PairTest(LETTERS[i], LETTERS[j], len(qids), md, p, float(pa), sig)
                        mr.pairs.append(t)
                        if sig:
                            winner, loser = (j, i) if (md > 0) == hib else (i, j)
                            cells[winner].better_than.append(LETTERS[loser])
                    for c in cells:
                        c.better_than.sort()
            ranking.metrics.append(mr)
    if undirected:
        ranking.notes.append("not ranked (no better direction): " + ", ".join(sorted(undirected)))
    return ranking


def add_baseline_comparisons(ranking: Ranking, systems: list[tuple[System, Side]], tolerances, *, seed: int,
                             n_boot: int, confidence: float) -> None:
    """Compare every system with the first (deltas, regression gates); each gate's item is
    ``letter name`` (and the batch item when there is one)."""
    from embeval.report.compare.match import compare

    base = systems[0][1]
    for system, side in systems[1:]:
        comp = compare(base, side, tolerances=tolerances, seed=seed, n_boot=n_boot, confidence=confidence)
        ranking.comparisons.append(comp)
        for item, g in zip(comp.gate_items, comp.gates):
            where = f"{system.letter} {system.name}" + ("" if item == "compare" else f": {item}")
            ranking.gates.append((where, g))


# Renderers ----------------------------------------------------------------------------------

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


def _caption(r: Ranking) -> str:
    conf = r.settings["confidence"]
    return (f"Superscripts: significantly better than the systems with those letters (paired two-sided "
            f"sign-flip randomisation test over shared queries, Holm–Bonferroni across pairs, p < {1 - conf:.3g}). "
            f"Best value in bold. Intervals: {100 * conf:g}% bootstrap over queries (or the report's own).")


def ranking_json(r: Ranking) -> str:
    return dumps(r.to_dict(), indent=2, ensure_ascii=False) + "\n"


def ranking_csv(r: Ranking) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["group", "metric", "params", "higher_is_better", "letter", "system", "value", "ci_low", "ci_high",
                "rank", "best", "better_than", "delta_vs_baseline", "p_holm_vs_baseline"])
    for m in r.metrics:
        for k, (s, c) in enumerate(zip(r.systems, m.cells)):
            t = m.pair(LETTERS[0], s.letter) if k else None
            delta = None if (k == 0 or c.value is None or m.cells[0].value is None) else c.value - m.cells[0].value
            w.writerow([m.group, m.metric, dumps(m.params, sort_keys=True) if m.params else "", m.higher_is_better,
                        s.letter, s.name, c.value, c.ci_low, c.ci_high, c.rank, c.best, "".join(c.better_than),
                        delta, "" if t is None else t.p_holm])
    return buf.getvalue()


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def ranking_markdown(r: Ranking) -> str:
    lines = [f"### {'✅' if r.passed else '❌'} embeval compare: {len(r.systems)} systems", ""]
    lines += ["| # | system | source |", "|---|---|---|"]
    lines += [f"| {s.letter} | {_md(s.name)} | `{_md(s.source)}` |" for s in r.systems]
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
                cells.append(f"{v}{sup} {_ci(c)}".strip())
            lines.append(f"| {s.letter} | {_md(s.name)} | " + " | ".join(cells) + " |")
        if len(r.systems) > 1:
            lines += ["", f"Change from the baseline **{_md(r.systems[0].name)}** (✱ significant after correction):",
                      "", "| system | " + " | ".join(_md(m.label) for m in ms) + " |", "|---|" + "---:|" * len(ms)]
            for k, s in enumerate(r.systems[1:], start=1):
                cells = []
                for m in ms:
                    text, sig = _delta(r, m, k)
                    cells.append(text + (" ✱" if sig else ""))
                lines.append(f"| {s.letter} {_md(s.name)} | " + " | ".join(cells) + " |")
    lines += ["", _caption(r)]
    if r.gates:
        lines += ["", "| gate | system | result | why |", "|---|---|:-:|---|"]
        for item, g in r.gates:
            lines.append(f"| `{g.expr}` | {_md(item)} | {'pass' if g.passed else '**FAIL**'} | {_md(g.message)} |")
    for note in r.notes:
        lines.append(f"\n> {_md(note)}")
    return "\n".join(lines) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def ranking_latex(r: Ranking) -> str:
    """One booktabs table per group, as ranx's ``Report.to_latex``: systems as rows, metrics as
    columns, the best bold, superscript letters for significant wins."""
    out = []
    for group in r.groups:
        ms = [m for m in r.metrics if m.group == group]
        out += [r"\begin{table*}[ht]", r"\centering",
                r"\caption{" + tex(f"{group}: ") + tex(_caption(r)) + "}",
                r"\begin{tabular}{cl" + "c" * len(ms) + "}", r"\toprule",
                r"\textbf{\#} & \textbf{System} & " + " & ".join(
                    r"\textbf{" + tex(m.label) + "}" + (r" $\uparrow$" if m.higher_is_better else r" $\downarrow$")
                    for m in ms) + r" \\", r"\midrule"]
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

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>embeval compare</title><style>{CSS}"
             ".best{font-weight:700} .up{color:#1a7f37} .down{color:#cf222e} sup{color:#555}</style></head><body>",
             "<h1>embeval compare</h1>",
             f"<div class='banner {'ok' if r.passed else 'bad'}'>"
             f"{'every gate passed' if r.passed else 'a gate failed'} · {len(r.systems)} systems</div>",
             "<table><tr><th>#</th><th>system</th><th>source</th></tr>"]
    parts += [f"<tr><td>{_e(s.letter)}</td><td>{_e(s.name)}</td><td><code>{_e(s.source)}</code></td></tr>"
              for s in r.systems]
    parts.append("</table>")
    for group in r.groups:
        ms = [m for m in r.metrics if m.group == group]
        parts.append(f"<h2>{_e(group)}</h2><h3>Ranking</h3><div class='wide'><table><tr><th>#</th><th>system</th>"
                     + "".join(f"<th>{_e(m.label)} {_arrow(m)}</th>" for m in ms) + "</tr>")
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
            parts.append(f"<h3>Change from the baseline {_e(r.systems[0].name)}</h3><div class='wide'><table>"
                         "<tr><th>system</th>" + "".join(f"<th>{_e(m.label)}</th>" for m in ms) + "</tr>")
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
            parts.append("</table></div><p class='muted'>✱ significant after Holm–Bonferroni correction; green = "
                         "better, red = worse by the metric's direction.</p>")
    parts.append(f"<p class='muted'>{_e(_caption(r))}</p>")
    if r.gates:
        parts.append("<h2>Gates</h2><table><tr><th>gate</th><th>system</th><th>result</th><th>why</th></tr>")
        for item, g in r.gates:
            res = "<span class='pass'>pass</span>" if g.passed else "<span class='fail'>FAIL</span>"
            parts.append(f"<tr><td><code>{_e(g.expr)}</code></td><td>{_e(item)}</td><td>{res}</td>"
                         f"<td>{_e(g.message)}</td></tr>")
        parts.append("</table>")
    for note in r.notes:
        parts.append(f"<p class='muted'>{_e(note)}</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def print_ranking(r: Ranking, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    for group in r.groups:
        ms = [m for m in r.metrics if m.group == group]
        t = Table(title=f"embeval compare: {escape(group)}", caption=escape(_caption(r)), caption_justify="left")
        t.add_column("#")
        t.add_column("system")
        for m in ms:
            t.add_column(escape(f"{m.label} {_arrow(m)}"), justify="right")
        for k, s in enumerate(r.systems):
            cells = []
            for m in ms:
                c = m.cells[k]
                text = escape(_v(c.value)) + _sup(c.better_than)
                if c.best:
                    text = f"[bold green]{text}[/]"
                if c.ci_low is not None:
                    text += f"\n[dim]{escape(_ci(c))}[/]"
                if k:
                    delta, sig = _delta(r, m, k)
                    text += f"\n[dim]{escape(delta)}{' ✱' if sig else ''}[/]"
                cells.append(text)
            t.add_row(s.letter, escape(s.name), *cells)
        console.print(t)
    if r.gates:
        failed = [(i, g) for i, g in r.gates if not g.passed or g.message]
        console.print(f"gates: {sum(g.passed for _, g in r.gates)} of {len(r.gates)} passed")
        for item, g in failed:
            mark = "[green]pass[/]" if g.passed else "[red]FAIL[/]"
            console.print(f"  {mark} {escape(g.expr)} ({escape(item)}): {escape(g.message)}")
    for note in r.notes:
        console.print(f"[dim]{escape(note)}[/]")


RANKING_RENDERERS = {"json": ranking_json, "csv": ranking_csv, "markdown": ranking_markdown, "latex": ranking_latex,
                     "html": ranking_html}

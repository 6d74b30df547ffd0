"""A self-contained HTML page (tables, plots as embedded PNG data URIs, provenance) for one report
or a whole batch. No external CSS, scripts or images: the file can be mailed or archived alone."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable

from embeval.report.batch import Batch, Item, by_command, fmt_value, pivot
from embeval.results import Report, dumps

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#222}
h1{margin-bottom:.2rem} h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.88rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums} th{background:#f5f5f5}
.pass{color:#1a7f37;font-weight:600} .fail{color:#cf222e;font-weight:600} .err{color:#9a6700;font-weight:600}
.banner{padding:.6rem 1rem;border-radius:6px;margin:1rem 0;font-weight:600}
.banner.ok{background:#dafbe1} .banner.bad{background:#ffebe9}
figure{margin:1rem 0} figcaption{font-size:.85rem;color:#555} img{max-width:100%;height:auto}
code{background:#f5f5f5;padding:0 .2rem} details{margin:.4rem 0} .muted{color:#666;font-size:.85rem}
.wide{overflow-x:auto;max-width:100%}
td.top{min-width:16rem} table.docs td{white-space:nowrap;border:0;padding:0 .4rem 0 0}
pre{overflow-x:auto;white-space:pre-wrap;word-break:break-word}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def img_tag(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _figure(png: bytes, caption: str) -> str:
    return f"<figure>{img_tag(png, caption)}<figcaption>{_e(caption)}</figcaption></figure>"


def _item_name(it: Item, items: list[Item]) -> str:
    """The shortest label that tells the command's items apart."""
    models = {i.model for i in items}
    datasets = {i.dataset for i in items}
    if len(models) <= 1:
        return it.dataset
    if len(datasets) <= 1:
        return it.model
    return f"{it.model} / {it.dataset}"


# Figures a group of items (of one command) makes possible ----------------------------------


def _fig_bars(items: list[Item]) -> list[tuple[str, bytes]]:
    from embeval.report import figures

    done = [it for it in items if it.report is not None and it.report.results]
    if len(done) < 2:
        return []
    columns, rows = pivot(done)
    metrics = []
    for col in columns:
        cells = [
            (_item_name(it, done), c[col], it.dataset) for it, c in rows if col in c and c[col].value == c[col].value
        ]
        if cells:
            metrics.append(
                (
                    col,
                    cells[0][1].higher_is_better,
                    [(name, r.value, r.ci_low, r.ci_high, ds) for name, r, ds in cells],
                )
            )
    if not metrics:
        return []
    return [
        (
            "every metric, item by item (bars: value; whiskers: 95% CI where reported; ★ best among the models "
            "of one dataset)",
            figures.metric_bars(metrics),
        )
    ]


def _fig_per_query(items: list[Item]) -> list[tuple[str, bytes]]:
    from embeval.report import figures

    metrics: dict[str, list[tuple[str, list[float]]]] = {}
    for it in items:
        if it.report is None:
            continue
        by_metric: dict[str, list[float]] = {}
        for row in it.report.per_query:
            by_metric.setdefault(row["metric"], []).append(float(row["value"]))
        for m, vals in by_metric.items():
            metrics.setdefault(m, []).append((_item_name(it, items), vals))
    if not metrics:
        return []
    return [
        (
            "per-query distributions of " + ", ".join(metrics) + " (box: quartiles, dot: mean)",
            figures.distributions(list(metrics.items())),
        )
    ]


def _series(items: list[Item], name: str) -> list[tuple[Item, dict]]:
    return [(it, it.report.series[name]) for it in items if it.report is not None and name in it.report.series]


def _fig_roc(items: list[Item]) -> list[tuple[str, bytes]]:
    from embeval.report import figures

    curves = [(_item_name(it, items), s["fpr"], s["tpr"], s.get("auc")) for it, s in _series(items, "roc")]
    return [("pooled ROC curves", figures.roc_curves(curves))] if curves else []


def _fig_scores(items: list[Item]) -> list[tuple[str, bytes]]:
    from embeval.report import figures

    hists = [(_item_name(it, items), s["edges"], s["pos"], s["neg"]) for it, s in _series(items, "scores")]
    return (
        [("score distributions: relevant vs irrelevant query-document pairs", figures.score_histograms(hists))]
        if hists
        else []
    )


def _fig_gap(items: list[Item]) -> list[tuple[str, bytes]]:
    from embeval.report import figures

    out = []
    for it, s in _series(items, "gap_pca"):
        rep = it.report
        assert rep is not None  # _series only yields items with a report
        title = _item_name(it, items)
        numbers = [
            f"{name} = {rep.get(metric):.3f}"
            for metric, name in (
                ("gap", "gap"),
                ("centroid_cosine", "centroid cosine"),
                ("linear_separability", "separability"),
            )
            if rep.get(metric) is not None
        ]
        if numbers:
            title = f"{title}\n" + ", ".join(numbers)
        names = rep.settings.get("names") or {}
        out.append(
            (
                f"gap picture: {_item_name(it, items)} (top two principal components of A∪B)",
                figures.gap_picture(
                    title,
                    s["a"],
                    s["b"],
                    paired=bool(s.get("paired")),
                    explained=s.get("explained"),
                    label_a=f"A: {names.get('a', 'A')}",
                    label_b=f"B: {names.get('b', 'B')}",
                ),
            )
        )
    return out


def _fig_geometry(items: list[Item]) -> list[tuple[str, bytes]]:
    from embeval.report import figures

    out = []
    nn = [(_item_name(it, items), s["edges"], s["counts"]) for it, s in _series(items, "nn_cosine")]
    if nn:
        out.append(
            (
                "cosine to the nearest other row (the angle behind mam; a peak near 1 means near-duplicates)",
                figures.histogram_overlay("nearest-neighbour cosine", "cosine to the nearest other row", nn),
            )
        )
    occ = [(it, s) for it, s in _series(items, "k_occurrence")]
    if occ:
        hists = [(_item_name(it, items), list(range(len(s["counts"]) + 1)), s["counts"]) for it, s in occ]
        k = occ[0][1].get("k")
        out.append(
            (
                f"k-occurrence N_k (k={k}): a long right tail means hubs, mass at 0 means antihubs",
                figures.histogram_overlay(
                    f"k-occurrence (k={k})", "N_k: times a row is among others' k nearest", hists
                ),
            )
        )
    return out


def _fig_diff(items: list[Item]) -> list[tuple[str, bytes]]:
    from embeval.report import figures

    out = []
    hists = [(_item_name(it, items), s["edges"], s["counts"]) for it, s in _series(items, "diff_overlap_hist")]
    if hists:
        metric = _series(items, "diff_overlap_hist")[0][1]["metric"]
        out.append(
            (
                f"per-item {metric}: Jaccard of each item's nearest neighbours in OLD and NEW (1 = unchanged)",
                figures.histogram_overlay(metric, "Jaccard overlap of the k nearest items", hists),
            )
        )
    for it, s in _series(items, "diff_calibration"):
        keys = [k for k in s["points"][0] if k not in ("map", "calibration")] if s["points"] else []
        if keys:
            out.append(
                (
                    "bridge NEW → OLD on held-out items, by calibration size" + _label(it, items),
                    figures.calibration_curve(s["points"], keys),
                )
            )
    for it, s in _series(items, "diff_scores"):
        panels = [(side.upper(), h["edges"], h["pos"], h["neg"]) for side, h in s.items()]
        out.append(
            (
                "score scale: relevant vs irrelevant pairs, OLD and NEW" + _label(it, items),
                figures.score_histograms(panels),
            )
        )
    return out


def _label(it: Item, items: list[Item]) -> str:
    return "" if len(items) == 1 else f" — {_item_name(it, items)}"


def _moved_items(items: list[Item]) -> str:
    """``embeval diff``: the items whose neighbourhood changed most."""
    parts = []
    for it in items:
        moved = None if it.report is None else it.report.series.get("diff_moved")
        if not moved or not moved.get("rows"):
            continue
        body = "".join(
            f"<tr><td><code>{_e(r['id'])}</code></td><td>{_e(r['text'])}</td><td class=num>{fmt_value(r['value'])}"
            f"</td><td>{_e(' '.join(r['old']))}</td><td>{_e(' '.join(r['new']))}</td></tr>"
            for r in moved["rows"]
        )
        parts.append(
            f"<h3>Most moved items ({_e(moved['metric'])}){_label(it, items)}</h3><div class=wide><table><tr>"
            "<th>id</th><th>text</th><th>overlap</th><th>OLD neighbours</th><th>NEW neighbours</th></tr>"
            f"{body}</table></div>"
        )
    return "".join(parts)


FIGURES: list[Callable[[list[Item]], list[tuple[str, bytes]]]] = [
    _fig_bars,
    _fig_per_query,
    _fig_roc,
    _fig_scores,
    _fig_gap,
    _fig_geometry,
    _fig_diff,
]


# Tables --------------------------------------------------------------------------------------


def _audit_table(report: Report) -> str:
    """The audit's findings (``series["audit"]``): verdict, value, baseline, meaning, what to try."""
    audit = report.series.get("audit") or {}
    colour = {"ok": "#2e7d32", "warn": "#ef6c00", "fail": "#c62828"}
    rows = []
    for f in audit.get("findings") or []:
        base = "" if f["baseline"] is None else fmt_value(f["baseline"])
        ids = ", ".join(str(i) for i in f["sample_ids"][:10])
        rows.append(
            f"<tr><td>{_e(f['finding'])}</td><td style='color:{colour.get(f['verdict'], '')}'><b>{_e(f['verdict'])}"
            f"</b></td><td class=num>{fmt_value(f['value'])}</td><td class=num>{base}</td><td>{_e(f['meaning'])}</td>"
            f"<td>{_e(f['try'] if f['verdict'] != 'ok' else '')}</td><td>{_e(ids)}</td></tr>"
        )
    if not rows:
        return ""
    return (
        f"<h3>audit: {_e(audit.get('verdict', ''))}</h3><div class=wide><table><tr><th>finding</th><th>verdict</th>"
        "<th>value</th><th>baseline</th><th>for retrieval</th><th>try</th><th>sample ids</th></tr>"
        + "".join(rows)
        + "</table></div>"
    )


def _results_table(report: Report) -> str:
    rows = []
    with_base = any(r.baseline is not None for r in report.results)
    for r in report.results:
        ci = "" if r.ci_low is None or r.ci_high is None else f"[{fmt_value(r.ci_low)}, {fmt_value(r.ci_high)}]"
        params = ", ".join(f"{k}={v}" for k, v in r.params.items())
        better = {True: "↑ higher", False: "↓ lower", None: ""}[r.higher_is_better]
        rows.append(
            f"<tr><td>{_e(r.metric)}</td><td class=num>{fmt_value(r.value)}</td>"
            + (f"<td class=num>{'' if r.baseline is None else fmt_value(r.baseline)}</td>" if with_base else "")
            + f"<td>{_e(params)}</td><td>{_e(ci)}</td><td>{'' if r.n is None else r.n}</td><td>{better}</td></tr>"
        )
    return _audit_table(report) + (
        "<div class=wide><table><tr><th>metric</th><th>value</th>"
        + (
            "<th title='the same measure on points uniform on the sphere, same n, d, k'>baseline</th>"
            if with_base
            else ""
        )
        + "<th>params</th><th>95% CI</th><th>n</th><th>better</th></tr>"
        + "".join(rows)
        + "</table></div>"
    )


def _worst_queries(items: list[Item], show: int = 10) -> str:
    """The worst queries of each item (when it recorded them: retrieval with --per-query): query id,
    its text when known, its metrics, and the documents it ranked first."""
    parts = []
    for it in items:
        rep = it.report
        worst = None if rep is None else rep.series.get("worst_queries")
        if not worst or not worst.get("rows"):
            continue
        metrics = worst["metrics"]
        rows = worst["rows"][:show]
        has_text = any(row.get("text") for row in rows)  # an always-empty text column takes no room
        head = "".join(f"<th>{_e(m)}</th>" for m in metrics)
        body = []
        for row in rows:
            vals = "".join(f"<td class=num>{fmt_value(row['metrics'].get(m))}</td>" for m in metrics)
            # One line per document: mark, id and cosine in cells of their own (never stacked).
            top = "".join(
                f"<tr><td>{'✓' if d.get('relevant') else ''}</td><td><code>{_e(d['id'])}</code></td>"
                f"<td class=num>{fmt_value(d['score'])}</td>"
                + (f"<td class=muted>{_e(d['text'])}</td>" if d.get("text") else "")
                + "</tr>"
                for d in row["top"]
            )
            text = f"<td>{_e(row.get('text') or '')}</td>" if has_text else ""
            body.append(
                f"<tr><td><code>{_e(row['query_id'])}</code></td>{text}"
                f"{vals}<td class=top><table class=docs>{top}</table></td></tr>"
            )
        label = "" if len(items) == 1 else f" — {_e(_item_name(it, items))}"
        parts.append(
            f"<h3>Worst queries by {_e(worst['by'])}{label}</h3><div class=wide><table><tr><th>query</th>"
            f"{'<th>text</th>' if has_text else ''}{head}<th>top retrieved (✓ relevant, id, cosine)</th></tr>"
            f"{''.join(body)}</table></div>"
        )
    return "".join(parts)


def _pivot_table(items: list[Item]) -> str:
    columns, rows = pivot(items)
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = []
    for it, cells in rows:
        status = {"ok": "", "error": " <span class=err>error</span>", "skipped": " <span class=muted>skipped</span>"}
        vals = "".join(f"<td class=num>{fmt_value(cells[c].value) if c in cells else ''}</td>" for c in columns)
        body.append(f"<tr><td>{_e(it.model)}</td><td>{_e(it.dataset)}{status.get(it.status, '')}</td>{vals}</tr>")
    return f"<div class=wide><table><tr><th>model</th><th>dataset</th>{head}</tr>{''.join(body)}</table></div>"


def _gates_table(batch: Batch) -> str:
    if not batch.gates:
        return "<p class=muted>No gates were set.</p>"
    rows = []
    for it, g in batch.gates:
        res = "<span class=pass>pass</span>" if g.passed else "<span class=fail>FAIL</span>"
        rows.append(
            f"<tr><td>{_e(it.key)}</td><td><code>{_e(g.condition)}</code></td>"
            f"<td class=num>{fmt_value(g.value)}</td><td>{res}</td><td>{_e(g.message)}</td></tr>"
        )
    return (
        "<div class=wide><table><tr><th>item</th><th>gate</th><th>value</th><th>result</th><th>why</th></tr>"
        + "".join(rows)
        + "</table></div>"
    )


def _inputs_table(report: Report) -> str:
    rows = []
    for role, info in report.inputs.items():
        digest = info.get("sha256") or (f"size {info.get('size')}, mtime {info.get('mtime')}" if "size" in info else "")
        model = info.get("model")
        model_txt = ""
        if isinstance(model, dict):
            model_txt = f"{model.get('model', '')} (weights sha256 {str(model.get('weights_sha256', ''))[:16]}…)"
        extra = {k: v for k, v in info.items() if k not in ("path", "sha256", "size", "mtime", "n", "d", "model")}
        rows.append(
            f"<tr><td>{_e(role)}</td><td><code>{_e(info.get('path', ''))}</code></td>"
            f"<td><code>{_e(digest)}</code>"
            f"</td><td class=num>{_e(info.get('n', ''))}</td><td class=num>{_e(info.get('d', ''))}</td>"
            f"<td>{_e(model_txt)}</td><td>{_e(dumps(extra, ensure_ascii=False) if extra else '')}</td></tr>"
        )
    return (
        "<div class=wide><table><tr><th>input</th><th>path</th><th>sha256</th><th>n</th><th>d</th><th>model</th>"
        "<th>other</th></tr>" + "".join(rows) + "</table></div>"
    )


def _item_details(it: Item, open_: bool = False, results: bool = True) -> str:
    parts = [
        f"<details{' open' if open_ else ''}><summary><b>{_e(it.key)}</b> — {_e(it.status)}"
        f"{f', {it.seconds:.1f} s' if it.seconds else ''}</summary>"
    ]
    if it.error:
        parts.append(f"<p class=err>{_e(it.error)}</p>")
    rep = it.report
    if rep is not None:
        if results:  # a single report's table is already at the top of the page
            parts.append(_results_table(rep))
        parts.append("<h4>inputs</h4>" + _inputs_table(rep))
        parts.append(f"<h4>settings</h4><pre>{_e(dumps(rep.settings, indent=2, ensure_ascii=False))}</pre>")
        if rep.notes:
            parts.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in rep.notes) + "</ul>")
    parts.append("</details>")
    return "".join(parts)


def batch_html(batch: Batch) -> str:
    """The whole page for a batch (a single report is a batch of one item)."""
    single = len(batch.items) == 1
    failed = [g for _, g in batch.gates if not g.passed]
    bad = bool(failed or batch.errors)
    out = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<meta name=viewport content='width=device-width, initial-scale=1'><title>{_e(batch.title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{_e(batch.title)}</h1>",
        f"<div class='banner {'bad' if bad else 'ok'}'>{'✗' if bad else '✓'} {_e(batch.summary())}</div>",
    ]
    if batch.gates:
        out.append("<h2>Gates</h2>" + _gates_table(batch))
    if batch.errors:
        out.append(
            "<h2>Items that did not run</h2><ul>"
            + "".join(f"<li><b>{_e(it.key)}</b>: <span class=err>{_e(it.error)}</span></li>" for it in batch.errors)
            + "</ul>"
        )
    for command, items in by_command(batch).items():
        out.append(f"<h2>{_e(command)}</h2>")
        if single and items[0].report is not None:
            out.append(_results_table(items[0].report))
        else:
            out.append(_pivot_table(items))
        out.append(_worst_queries(items))
        out.append(_moved_items(items))
        for make in FIGURES:
            for caption, png in make(items):
                out.append(_figure(png, caption))
    out.append("<h2>Provenance</h2>")
    config = {k: v for k, v in batch.config.items() if k != "toml"}
    prov = {**batch.provenance, **({"config": config} if config else {}), "settings": batch.settings}
    out.append(f"<pre>{_e(dumps(prov, indent=2, ensure_ascii=False))}</pre>")
    if batch.config.get("toml"):
        out.append(
            f"<details><summary>config <code>{_e(batch.config.get('path', ''))}</code></summary>"
            f"<pre>{_e(batch.config['toml'])}</pre></details>"
        )
    for it in batch.items:
        out.append(_item_details(it, open_=single, results=not single))
    for note in batch.notes:
        out.append(f"<p class=muted>{_e(note)}</p>")
    out.append("</body></html>\n")
    return "\n".join(out)


def report_html(report: Report) -> str:
    """One command's report as a page."""
    first = next(iter(report.inputs.values()), {})
    from pathlib import Path

    item = Item(
        report.command,
        _model_name(report),
        Path(str(first.get("path", "input"))).name or "input",
        status="ok",
        report=report,
    )
    return batch_html(
        Batch(title=f"embeval {report.command}", settings=report.settings, items=[item], provenance=report.provenance)
    )


def _model_name(report: Report) -> str:
    for info in report.inputs.values():
        if isinstance(info.get("model"), dict):
            return str(info["model"].get("model", "-"))
    return "-"

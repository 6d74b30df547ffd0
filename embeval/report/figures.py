"""Pictures for the HTML report, returned as PNG bytes.

matplotlib is imported inside each function and drawn through its Agg canvas directly (no pyplot,
no global backend switch), so importing this module costs nothing.

Reports carry the data for pictures in ``Report.series`` under these names:

- ``roc``: ``{"fpr": [...], "tpr": [...], "auc": float}`` — pooled ROC curve (retrieval);
- ``scores``: ``{"edges": [...], "pos": [...], "neg": [...]}`` — histogram counts of relevant
  vs irrelevant query-document scores (retrieval);
- ``gap_pca``: ``{"a": [[x, y], ...], "b": [[x, y], ...], "paired": bool, "explained": [r1, r2]}``
  — both sets on the top two principal components of A∪B (gap);
- ``nn_cosine``: ``{"edges": [...], "counts": [...]}`` — cosine to the nearest other row (geometry);
- ``k_occurrence``: ``{"k": int, "counts": [...]}`` — how many rows occur j times among the k
  nearest neighbours of the others, j = 0, 1, ... (geometry; hubness).

Per-query metric values (``Report.per_query``) are drawn as distributions.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from embeval.safety import plain_text_figures

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _grid(fig, n: int, ncols: int = 3):
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


@plain_text_figures
def metric_bars(
    metrics: Sequence[tuple[str, bool | None, Sequence[tuple[str, float, float | None, float | None]]]], title: str = ""
) -> bytes:
    """Small multiples, one panel per metric: a horizontal bar per item (value, with its CI when
    known). ``metrics``: (metric label, higher_is_better, [(item label, value, ci_low, ci_high[,
    group])]). ★ best is marked only among items of one group (the same dataset) that has at least
    two of them: values on different data are not ranked."""
    n = len(metrics)
    ncols = min(3, n)
    n_items = max(len(m[2]) for m in metrics)
    fig = _figure(4.2 * ncols, (0.9 + 0.28 * n_items) * math.ceil(n / ncols) + 0.4)
    for ax, (label, hib, rows) in zip(_grid(fig, n, ncols), metrics):
        names = [r[0] for r in rows][::-1]
        vals = [r[1] for r in rows][::-1]
        err = None
        if any(r[2] is not None and r[3] is not None for r in rows):
            lo = [0 if r[2] is None else max(r[1] - r[2], 0) for r in rows][::-1]
            hi = [0 if r[3] is None else max(r[3] - r[1], 0) for r in rows][::-1]
            err = [lo, hi]
        lo_x, hi_x = bar_range(vals, err)
        colours = [COLOURS[i % len(COLOURS)] for i in range(len(vals))][::-1]
        # Bars start at the panel's left edge (not at 0) so that close values look different.
        ax.barh(range(len(vals)), [v - lo_x for v in vals], left=lo_x, xerr=err, color=colours, height=0.7)
        ax.set_xlim(lo_x, hi_x)
        groups = [r[4] if len(r) > 4 else None for r in rows][::-1]
        best_set: set[int] = set()
        for g in dict.fromkeys(groups):
            members = [i for i, gg in enumerate(groups) if gg == g]
            if len(members) >= 2:
                b = best_index([vals[i] for i in members], hib)
                if b is not None:
                    best_set.add(members[b])
        for i, v in enumerate(vals):
            best = i if i in best_set else -1
            mark = "  ★ best" if i == best else ""
            ax.text(
                v + (err[1][i] if err is not None else 0),
                i,
                f" {v:.4g}{mark}",
                va="center",
                ha="left",
                fontsize=7,
                fontweight="bold" if i == best else "normal",
                clip_on=False,
            )
        ax.set_yticks(range(len(vals)), [f"★ {nm}" if i in best_set else nm for i, nm in enumerate(names)], fontsize=7)
        arrow = {True: " (↑ better)", False: " (↓ better)", None: ""}[hib]
        ax.set_title(label + arrow + ("" if lo_x == 0 else f"  [axis from {lo_x:.4g}]"), fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        if lo_x <= 0 <= hi_x:
            ax.axvline(0, color="0.3", lw=0.6)
        ax.grid(True, axis="x", color="0.9", lw=0.6)
        ax.set_axisbelow(True)
    if title:
        fig.suptitle(title, fontsize=11)
    return _png(fig)


def bar_range(vals: Sequence[float], err=None) -> tuple[float, float]:
    """The x range of a bar panel: from 0 when the values are far apart relative to their size
    (or straddle 0), else zoomed to the values (with room for labels) so that 0.5879 and 0.5861 do
    not look the same."""
    finite = [v for v in vals if v == v and abs(v) != math.inf]
    if not finite:
        return 0.0, 1.0
    ends = list(finite)
    if err is not None:
        ends += [v - e for v, e in zip(vals, err[0])] + [v + e for v, e in zip(vals, err[1])]
    lo, hi = min(ends), max(ends)
    span = hi - lo
    if lo <= 0 <= hi or span > 0.5 * max(abs(lo), abs(hi)):
        lo_x, hi_x = min(0.0, lo), max(0.0, hi)
    else:
        pad = span * 0.6 if span > 0 else max(abs(hi), 1e-12) * 0.01
        lo_x, hi_x = lo - pad, hi + pad
        if lo > 0:
            lo_x = max(lo_x, 0.0)
        if hi < 0:
            hi_x = min(hi_x, 0.0)
    return lo_x, hi_x + (hi_x - lo_x) * 0.35  # room for the value labels


def best_index(vals: Sequence[float], higher_is_better: bool | None) -> int | None:
    """Index of the best value (None without a direction or with a tie for first)."""
    finite = [(v, i) for i, v in enumerate(vals) if v == v]
    if higher_is_better is None or len(finite) < 2:
        return None
    ordered = sorted(finite, reverse=bool(higher_is_better))
    return None if ordered[0][0] == ordered[1][0] else ordered[0][1]


@plain_text_figures
def distributions(metrics: Sequence[tuple[str, Sequence[tuple[str, Sequence[float]]]]]) -> bytes:
    """Per-query values, one panel per metric and one box per item (quartiles, whiskers to
    1.5 IQR, the mean as a dot). ``metrics``: (metric, [(item label, values)])."""
    n = len(metrics)
    ncols = min(3, n)
    n_items = max(len(groups) for _, groups in metrics)
    fig = _figure(4.2 * ncols, (1.0 + 0.4 * n_items) * math.ceil(n / ncols) + 0.3)
    for ax, (metric, groups) in zip(_grid(fig, n, ncols), metrics):
        groups = [(name, [v for v in vals if v == v]) for name, vals in groups]
        data = [vals for _, vals in groups][::-1]
        names = [f"{name} (n={len(vals)})" for name, vals in groups][::-1]
        ax.boxplot(
            data,
            orientation="horizontal",
            widths=0.6,
            showmeans=True,
            meanprops={"marker": "o", "markerfacecolor": "black", "markeredgecolor": "black", "markersize": 4},
            flierprops={"markersize": 2, "alpha": 0.5},
        )
        ax.set_yticks(range(1, len(data) + 1), names, fontsize=7)
        ax.set_title(f"{metric} per query", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(True, axis="x", color="0.9", lw=0.6)
    return _png(fig)


@plain_text_figures
def roc_curves(curves: Sequence[tuple[str, Sequence[float], Sequence[float], float | None]]) -> bytes:
    """Pooled ROC curves (fpr, tpr) of several items on one pair of axes, with the chance line."""
    fig = _figure(5.4, 5.0)
    ax = fig.add_subplot()
    for i, (name, fpr, tpr, auc) in enumerate(curves):
        lab = name if auc is None else f"{name} (AUC {auc:.4f})"
        ax.plot(fpr, tpr, lw=1.4, color=COLOURS[i % len(COLOURS)], label=lab)
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("pooled ROC (every query-document pair)", fontsize=10)
    ax.legend(loc="lower right", fontsize=7)
    return _png(fig)


@plain_text_figures
def score_histograms(items: Sequence[tuple[str, Sequence[float], Sequence[float], Sequence[float]]]) -> bytes:
    """Relevant vs irrelevant score distributions, one panel per item: (label, edges, pos, neg),
    each drawn as a density so the (far fewer) relevant pairs stay visible."""
    fig = _figure(4.2 * min(3, len(items)), 3.0 * math.ceil(len(items) / 3))
    for ax, (name, edges, pos, neg) in zip(_grid(fig, len(items)), items):
        for counts, colour, lab in ((neg, "#7f7f7f", "irrelevant"), (pos, "#2ca02c", "relevant")):
            total = sum(counts)
            if total:
                widths = [edges[j + 1] - edges[j] for j in range(len(counts))]
                dens = [c / total / w if w > 0 else 0 for c, w in zip(counts, widths)]
                ax.stairs(dens, edges, fill=True, alpha=0.45, color=colour, label=lab)
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("score (cosine)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    return _png(fig)


@plain_text_figures
def histogram_overlay(title: str, xlabel: str, items: Sequence[tuple[str, Sequence[float], Sequence[float]]]) -> bytes:
    """Several histograms (label, edges, counts) as step lines of their shares on one pair of axes."""
    fig = _figure(6.0, 3.8)
    ax = fig.add_subplot()
    for i, (name, edges, counts) in enumerate(items):
        total = sum(counts) or 1
        ax.stairs([c / total for c in counts], edges, lw=1.4, color=COLOURS[i % len(COLOURS)], label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of rows")
    ax.set_title(title, fontsize=10)
    ax.grid(True, color="0.9", lw=0.6)
    ax.legend(fontsize=7)
    return _png(fig)


@plain_text_figures
def gap_picture(
    name: str,
    a: Sequence[Sequence[float]],
    b: Sequence[Sequence[float]],
    *,
    paired: bool = False,
    explained: Sequence[float] | None = None,
    label_a: str = "A",
    label_b: str = "B",
) -> bytes:
    """Both sets on two principal components, their centroids and the gap between them
    (Liang et al. 2022, Figure 1); paired rows joined by faint lines."""
    import numpy as np

    pa, pb = np.asarray(a, dtype=float).reshape(-1, 2), np.asarray(b, dtype=float).reshape(-1, 2)
    fig = _figure(5.6, 5.0)
    ax = fig.add_subplot()
    if paired and len(pa) == len(pb):
        from matplotlib.collections import LineCollection

        ax.add_collection(LineCollection(list(np.stack([pa, pb], axis=1)), colors="0.55", linewidths=0.4, alpha=0.25))
    ax.scatter(pa[:, 0], pa[:, 1], s=8, color=COLOURS[0], alpha=0.7, linewidths=0, label=label_a)
    ax.scatter(pb[:, 0], pb[:, 1], s=8, color=COLOURS[1], alpha=0.7, linewidths=0, label=label_b)
    ca, cb = pa.mean(axis=0), pb.mean(axis=0)
    for c, colour in ((ca, "#0b3d66"), (cb, "#8a3d00")):
        ax.scatter([c[0]], [c[1]], s=100, marker="X", color=colour, edgecolors="white", linewidths=1.0, zorder=4)
    ax.annotate("", xy=cb, xytext=ca, arrowprops={"arrowstyle": "<->", "color": "black", "lw": 1.2}, zorder=3)
    mid = (ca + cb) / 2
    ax.annotate("gap", xy=mid, xytext=(6, 6), textcoords="offset points", fontsize=9, fontweight="bold", zorder=5)
    if explained is not None and len(explained) == 2:
        ax.set_xlabel(f"PC 1 ({100 * explained[0]:.1f}% of variance)")
        ax.set_ylabel(f"PC 2 ({100 * explained[1]:.1f}% of variance)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, color="0.9", lw=0.6)
    ax.legend(fontsize=8)
    ax.set_title(name, fontsize=10)
    return _png(fig)

"""Pictures (PNG/SVG/PDF). matplotlib is imported inside each function and drawn through its Agg
canvas directly (no pyplot, no global backend switch), then written atomically."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from embeval.errors import UsageError
from embeval.io.atomic import write_atomic
from embeval.safety import plain_text_figures

PLOT_SUFFIXES = (".png", ".svg", ".pdf")
MAX_POINTS = 5000  # per set; more points only blacken the picture
MAX_LINES = 1000


def check_plot_path(path: str | os.PathLike) -> None:
    """Refuse an unsupported picture format before any work is done."""
    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise UsageError(
            f"`plot` {path}: unsupported picture format {suffix or '(none)'!r}; use " + ", ".join(PLOT_SUFFIXES)
        )
    from embeval.io.atomic import check_writable

    check_writable(path, "`plot`")


@plain_text_figures
def gap_figure(
    pa: np.ndarray,
    pb: np.ndarray,
    path: str | os.PathLike,
    *,
    paired: bool,
    label_a: str = "A",
    label_b: str = "B",
    title: str = "",
    axis_labels: tuple[str, str] = ("PC 1", "PC 2"),
    seed: int = 0,
) -> None:
    """Scatter of two projected sets (n_a×2, n_b×2) in two colours, their centroids, and — for
    paired sets — each pair joined by a faint line, as in Liang et al. 2022, Figure 1.

    Large sets are drawn from a seeded subsample (at most ``MAX_POINTS`` per set and
    ``MAX_LINES`` pair lines); the centroids use every row.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    rng = np.random.default_rng(seed)

    def pick(n: int, m: int) -> np.ndarray:
        return np.sort(rng.choice(n, m, replace=False)) if n > m else np.arange(n)

    fig = Figure(figsize=(6.4, 5.6), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if paired:
        rows = pick(pa.shape[0], MAX_LINES)
        segs = np.stack([pa[rows], pb[rows]], axis=1)
        ax.add_collection(LineCollection(list(segs), colors="0.55", linewidths=0.4, alpha=0.25, zorder=1))
    ia, ib = pick(pa.shape[0], MAX_POINTS), pick(pb.shape[0], MAX_POINTS)
    ax.scatter(pa[ia, 0], pa[ia, 1], s=9, color="#1f77b4", alpha=0.75, linewidths=0, label=label_a, zorder=2)
    ax.scatter(pb[ib, 0], pb[ib, 1], s=9, color="#ff7f0e", alpha=0.75, linewidths=0, label=label_b, zorder=2)
    ca, cb = pa.mean(axis=0), pb.mean(axis=0)
    for c, colour in ((ca, "#0b3d66"), (cb, "#8a3d00")):
        ax.scatter([c[0]], [c[1]], s=110, marker="X", color=colour, edgecolors="white", linewidths=1.0, zorder=4)
    ax.annotate("", xy=cb, xytext=ca, zorder=3, arrowprops={"arrowstyle": "<->", "color": "black", "lw": 1.2})
    mid = (ca + cb) / 2
    ax.annotate(
        "gap",
        xy=mid,
        xytext=(0, 4),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=9,
        zorder=5,
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
    )
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="best", frameon=True, markerscale=2.0, fontsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lower().lstrip("."))
    write_atomic(path, buf.getvalue())

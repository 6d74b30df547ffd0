"""Export a pooled ROC curve: CSV (``threshold,fpr,tpr``) or PNG (matplotlib), written atomically."""

from __future__ import annotations

import io
import math
from pathlib import Path

from embeval.errors import UsageError
from embeval.safety import csv_writer, plain_text_figures

ROC_SUFFIXES = (".csv", ".png")


def check_roc_path(path: str | Path | None) -> None:
    """Fail before any work if ``--roc`` names a format we cannot write."""
    if path is None:
        return
    p = Path(path)
    if p.suffix.lower() not in ROC_SUFFIXES:
        raise UsageError(f"`roc` {p}: use a .csv or .png file name")
    from embeval.io.atomic import check_writable

    check_writable(p, "`roc`")


def roc_csv(curve) -> str:
    """One row per corner of the curve; 'score ≥ threshold' is called relevant (±inf at the ends)."""
    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow(["threshold", "fpr", "tpr"])
    for t, f, r in zip(curve.threshold, curve.fpr, curve.tpr):
        w.writerow([_num(t), repr(float(f)), repr(float(r))])
    return buf.getvalue()


def _num(x: float) -> str:
    x = float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


@plain_text_figures
def roc_png(curve, title: str = "pooled ROC (all query-document pairs)") -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.add_subplot()
    ax.plot(curve.fpr, curve.tpr, lw=1.5, label=f"auc_global = {curve.auc:.4f}")
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey", label="chance")
    ax.set_xlabel("false positive rate (irrelevant pairs above threshold)")
    ax.set_ylabel("true positive rate (relevant pairs above threshold)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title(title)
    ax.legend(loc="lower right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def write_roc(path: str | Path, curve) -> None:
    from embeval.io.atomic import write_atomic

    check_roc_path(path)
    p = Path(path)
    write_atomic(p, roc_png(curve) if p.suffix.lower() == ".png" else roc_csv(curve))

"""Write the per-item triage table (``--items``) and show its worst rows on the terminal."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from embeval.errors import UsageError

ITEM_SUFFIXES = (".csv", ".parquet")


def check_items_path(path: str | os.PathLike) -> None:
    """Refuse an unsupported suffix before any work is done."""
    if Path(path).suffix.lower() not in ITEM_SUFFIXES:
        raise UsageError(f"--items {path}: use a .csv or .parquet file name")


def write_items(path: str | os.PathLike, table) -> None:
    """Write ``table`` (an ItemTable) atomically: a temporary file beside ``path``, then rename."""
    from embeval.report.render import write_atomic

    check_items_path(path)
    path = Path(path)
    frame = table.to_frame()
    if path.suffix.lower() == ".csv":
        write_atomic(path, frame.to_csv(index=False, lineterminator="\n"))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _short(text: str, width: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def print_items(table, console, show: int = 5) -> None:
    """After the main table: per flag, how many rows carry it and the ``show`` worst of them."""
    from rich.markup import escape
    from rich.table import Table

    c = table.columns
    counts = table.counts()
    k = table.settings["k"]
    for kind, count in counts.items():
        if count == 0:
            console.print(f"[dim]{kind}: none of {table.n} rows[/]")
            continue
        rows = table.worst(kind, show)
        console.print(f"[bold]{kind}[/]: {count} of {table.n} rows (k={k}); worst {len(rows)}:")
        t = Table()
        t.add_column("id")
        if "text" in c:
            t.add_column("text")
        if "label" in c:
            t.add_column("label")
        if kind == "label_suspect":
            t.add_column("neighbours say")
            t.add_column("agreement", justify="right")
            t.add_column("silhouette", justify="right")
        elif kind == "hub":
            t.add_column("k-occurrence", justify="right")
        else:
            t.add_column("nearest id")
            t.add_column("cosine", justify="right")
            t.add_column("angle°", justify="right")
        for r in rows:
            cells = [escape(str(c["id"][r]))]
            if "text" in c:
                cells.append(escape(_short(c["text"][r])))
            if "label" in c:
                cells.append(escape(str(c["label"][r])))
            if kind == "label_suspect":
                cells += [escape(str(c["knn_label"][r])), f"{c['label_agreement'][r]:.2f}",
                          f"{c['silhouette'][r]:.3f}"]
            elif kind == "hub":
                cells.append(str(int(c["k_occurrence"][r])))
            else:
                cells += [escape(str(c["nn_id"][r])), f"{c['nn_cosine'][r]:.4f}", f"{c['nn_angle'][r]:.1f}"]
            t.add_row(*cells)
        console.print(t)

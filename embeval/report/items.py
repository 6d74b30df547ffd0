"""Write the per-item triage table (``--items``) and show its worst rows on the terminal."""

from __future__ import annotations

import os
from pathlib import Path

from embeval.errors import UsageError
from embeval.io.atomic import write_atomic

ITEM_SUFFIXES = (".csv", ".parquet")


def check_items_path(path: str | os.PathLike) -> None:
    """Refuse an unsupported suffix before any work is done."""
    if Path(path).suffix.lower() not in ITEM_SUFFIXES:
        raise UsageError(f"`items` {path}: use a .csv or .parquet file name")
    from embeval.io.atomic import check_writable

    check_writable(path, "`items`")


def write_items(path: str | os.PathLike, table) -> None:
    """Write ``table`` (an ItemTable) atomically: a temporary file beside ``path``, then rename."""
    check_items_path(path)
    path = Path(path)
    frame = table.to_frame()
    if path.suffix.lower() == ".csv":
        from embeval.safety import csv_frame

        write_atomic(path, csv_frame(frame).to_csv(index=False, lineterminator="\n"))
        return
    from embeval.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def _rows(table, kind: str, rows) -> tuple[list[str], list[list[str]]]:
    """Header and plain-text cells for the worst rows of one kind (text left uncut)."""
    c = table.columns
    head = ["id"] + (["text"] if "text" in c else []) + (["label"] if "label" in c else [])
    if kind == "label_suspect":
        head += ["neighbours say", "agreement", "silhouette"]
    elif kind == "hub":
        head += ["k-occurrence"]
    else:
        head += ["nearest id", "cosine", "angle°"]
    out = []
    for r in rows:
        cells = [str(c["id"][r])]
        if "text" in c:
            cells.append(str(c["text"][r]))
        if "label" in c:
            cells.append(" ".join(str(c["label"][r]).split()))
        if kind == "label_suspect":
            cells += [
                " ".join(str(c["knn_label"][r]).split()),
                f"{c['label_agreement'][r]:.2f}",
                f"{c['silhouette'][r]:.3f}",
            ]
        elif kind == "hub":
            cells.append(str(int(c["k_occurrence"][r])))
        else:
            cells += [str(c["nn_id"][r]), f"{c['nn_cosine'][r]:.4f}", f"{c['nn_angle'][r]:.1f}"]
        out.append(cells)
    return head, out


def _fit(head: list[str], cells: list[list[str]], width: int) -> tuple[list[str], list[list[str]]]:
    """Keep labels whole (a cut label can make a suspect and its neighbours' vote look identical:
    ``lost_or_sto…`` vs ``lost_or_sto…``): the text takes what the other columns leave (up to 80
    characters) and is dropped below 12; labels that still do not fit wrap onto more lines
    (:func:`print_items`) or widen the table, they are never shortened."""
    ti = head.index("text") if "text" in head else None
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(head)]
    budget = width - 3 * len(head) - 1
    if ti is not None:
        used = sum(w for i, w in enumerate(widths) if i != ti)
        text_w = min(80, budget - used)
        if text_w < 12:
            head = head[:ti] + head[ti + 1 :]
            cells = [r[:ti] + r[ti + 1 :] for r in cells]
        else:
            for r in cells:
                r[ti] = _short(r[ti], text_w)
    return head, cells


def print_items(table, console, show: int = 5) -> None:
    """After the main table: per flag, how many rows carry it and the ``show`` worst of them.
    One line per row: the text column gets what the other columns leave of the console width."""
    from rich.markup import escape
    from rich.table import Table

    from embeval.report.width import print_fitted
    from embeval.safety import term

    counts = table.counts()
    k = table.settings["k"]
    numeric = {"agreement", "silhouette", "k-occurrence", "cosine", "angle°"}
    for kind, count in counts.items():
        if count == 0:
            console.print(f"[dim]{kind}: none of {table.n} rows[/]")
            continue
        rows = table.worst(kind, show)
        console.print(f"[bold]{kind}[/]: {count} of {table.n} rows (k={k}); worst {len(rows)}:")
        head, cells = _rows(table, kind, rows)
        head, cells = _fit(head, cells, console.width)
        t = Table()
        for name in head:
            whole = name in ("label", "neighbours say")  # wrap, never cut (see _fit)
            t.add_column(
                name,
                justify="right" if name in numeric else "left",
                no_wrap=not whole,
                overflow="fold" if whole else "ellipsis",
            )
        for r in cells:
            t.add_row(*(escape(term(v)) for v in r))
        print_fitted(console, t, keep=tuple(h for h in head if h not in ("text", "label", "neighbours say")))

"""``embeval diff OLD NEW``: what changes between two embeddings of the same items (a model upgrade),
and whether a linear map NEW → OLD can bridge them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from embeval.cli.app import app
from embeval.cli.console import _progress
from embeval.cli.exits import boundary
from embeval.cli.options import (
    COLUMNS,
    COMPUTE,
    IN,
    OUT,
    QuietOpt,
    SeedOpt,
    flag_names,
    options,
)
from embeval.cli.output import OUTPUT


@app.command("diff", short_help="Re-embed or not: what changes between two embeddings.")
@boundary
@flag_names
@options(COLUMNS, COMPUTE, OUTPUT)
def diff_cmd(
    old: Annotated[
        str, typer.Argument(help="OLD embeddings of the items (any file, folder or source embeval reads)."), IN
    ],
    new: Annotated[
        str, typer.Argument(help="NEW embeddings of the same items, matched by id (the dimension may differ)."), IN
    ],
    queries_old: Annotated[
        Path | None, typer.Option("--queries-old", help="The queries embedded by OLD's model (matched by id)."), IN
    ] = None,
    queries_new: Annotated[
        Path | None, typer.Option("--queries-new", help="The same queries embedded by NEW's model."), IN
    ] = None,
    qrels: Annotated[
        Path | None,
        typer.Option(
            "--qrels", help="Judgements (TREC/BEIR tsv): IR metrics of each side, their change, the score scale."
        ),
        IN,
    ] = None,
    texts: Annotated[
        Path | None,
        typer.Option("--texts", help="The items' texts (jsonl/csv/parquet/BEIR folder), shown by id for moved items."),
        IN,
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help="Diagnostics to run, e.g. 'cka,knn_overlap(k=20),bridge(map=ridge)'. Default: all that apply.",
        ),
    ] = None,
    k: Annotated[int | None, typer.Option("--k", help="Neighbours / rank cut-off everywhere (default 10).")] = None,
    calibration: Annotated[
        int | None, typer.Option("--calibration", help="Calibration items of the bridge maps (default 2,000).")
    ] = None,
    no_drift: Annotated[
        bool, typer.Option("--no-drift", help="Skip the MMD drift test of OLD vs NEW (run only when dims agree).")
    ] = False,
    items: Annotated[
        Path | None,
        typer.Option(
            "--items", help="Write every compared item, most moved first (.csv or .parquet): overlap, neighbours."
        ),
        OUT,
    ] = None,
    save_map: Annotated[
        Path | None,
        typer.Option(
            "--save-map",
            help="Write the best NEW → OLD map (.npz, embeval-affine-1: W d_new×d_old, b) for 'embeval transform'.",
        ),
        OUT,
    ] = None,
    columns: Any = None,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    compute: Any = None,
    out: Any = None,
) -> None:
    """What changes between two embeddings of the same items: linear CKA (and debiased), kNN
    overlap per item, with queries the overlap and RBO of each query's results, with qrels each
    side's IR metrics with the paired CI and p-value of the change and the score scale; and whether
    a map fitted on --calibration items (Procrustes, ridge) lets NEW vectors search the OLD corpus.

    Gate an upgrade: --fail-if 'knn_overlap@10 < 0.6' --fail-if 'bridge_retention_ndcg@10 < 0.95'."""
    from embeval.api import diff_report
    from embeval.errors import UsageError
    from embeval.report.gates import command_families

    out.check(command_families("diff"))
    if items is not None:
        from embeval.report.items import check_items_path

        check_items_path(items)
    if save_map is not None:
        if save_map.suffix.lower() != ".npz":
            raise UsageError(f"--save-map {save_map}: use a .npz file name")
        if metric and not any("bridge" in m for m in metric):
            raise UsageError("--save-map needs the bridge diagnostic (add -m bridge)")
    report = diff_report(
        old,
        new,
        queries_old=queries_old,
        queries_new=queries_new,
        qrels=qrels,
        texts=texts,
        metrics=metric,
        k=k,
        calibration=calibration,
        drift=not no_drift,
        **columns,
        seed=seed,
        progress=_progress(quiet),
        compute=compute,
    )
    if items is not None:
        from embeval.report.items import write_items

        table = report.artifacts.get("diff_items")
        if table is None:
            raise UsageError("--items needs the knn_overlap diagnostic (add -m knn_overlap)")
        write_items(items, table)
        report.notes.append(f"{table.n:,} items, most moved first, written to {items}")
    if save_map is not None:
        _save_map(save_map, report)
    out.emit(report)


def _save_map(path: Path, report) -> None:
    from embeval.api.diff import best_map
    from embeval.errors import UsageError
    from embeval.report.export import write_map

    maps = report.artifacts.get("maps") or {}
    if not maps:
        raise UsageError("--save-map: no map was fitted (the bridge needs more items)")
    kind = best_map(report, maps)
    write_map(path, maps[kind])
    report.notes.append(f"{kind} map NEW → OLD ({maps[kind]['calibration']:,} calibration items) written to {path}")

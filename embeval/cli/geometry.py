"""``embeval geometry``: the geometry of one embedding set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from embeval.cli.app import app
from embeval.cli.console import _progress, _warn
from embeval.cli.exits import boundary
from embeval.cli.options import (
    CLUSTER,
    COLUMNS,
    COMPUTE,
    IN,
    OUT,
    QuietOpt,
    SeedOpt,
    encoding_options,
    flag_names,
    options,
)
from embeval.cli.output import OUTPUT


@app.command("geometry")
@boundary
@flag_names
@options(COLUMNS, encoding_options(query_prompt=False), COMPUTE, CLUSTER, OUTPUT)
def geometry_cmd(
    file: Annotated[
        str,
        typer.Argument(
            help=(
                "Embedding file: .npy .npz .parquet .csv .tsv .jsonl, a .faiss index, or a source URI (lancedb://, "
                "postgresql://, hf-disk://, faiss://)."
            )
        ),
        IN,
    ],
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help=(
                "Diagnostics to run, e.g. 'uniformity,hubness(k=5),mam(mode=pairwise)'. Default: all that apply. See "
                "'embeval metrics'."
            ),
        ),
    ] = None,
    pairs: Annotated[
        str | None, typer.Option("--pairs", help=("Row-aligned partner embeddings (for alignment).")), IN
    ] = None,
    sample: Annotated[
        int,
        typer.Option("--sample", help=("Estimate uniformity from N random pairs (with a 95% CI) instead of exactly.")),
    ] = 0,
    normalize: Annotated[
        bool,
        typer.Option("--normalize/--no-normalize", help=("L2-normalise rows first (the default; cosine geometry).")),
    ] = True,
    columns: Any = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help=(
                "Row-aligned label file (.txt a label per line; .csv/.tsv/.parquet a 'label' or only column; .jsonl; "
                ".npy). Adds tolerance, knn_label_agreement, knn_accuracy, silhouette, opis."
            ),
        ),
        IN,
    ] = None,
    label_col: Annotated[
        str | None,
        typer.Option(
            "--label-col", help=("Label column of the embeddings file (or, with --labels, of the label file).")
        ),
    ] = None,
    items: Annotated[
        Path | None,
        typer.Option(
            "--items",
            help=(
                "Write per-item triage rows (.csv or .parquet): k-occurrence, nearest neighbour, label agreement, "
                "flags "
                "hub/antihub/near_duplicate/label_suspect."
            ),
        ),
        OUT,
    ] = None,
    items_k: Annotated[
        int | None,
        typer.Option(
            "--items-k",
            help=("Neighbours for the per-item table (default 10, or rows − 1 on a smaller input)."),
            show_default=False,
        ),
    ] = None,
    near_dup_threshold: Annotated[
        float,
        typer.Option(
            "--near-dup-threshold",
            help=("Flag near_duplicate when the cosine to the nearest other row is at least this."),
        ),
    ] = 0.99,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    encoder: Any = None,
    compute: Any = None,
    cluster: Any = None,
    out: Any = None,
) -> None:
    """Geometry of one embedding set: uniformity, alignment, MAM, anisotropy, effective rank,
    hubness, intrinsic dimension; with labels also tolerance, kNN label agreement and accuracy,
    silhouette and OPIS; --items writes a per-item triage file.

    FILE is an embedding file, or texts (.txt, .jsonl/.csv/.tsv/.parquet with --text-col, a BEIR
    folder's corpus) when --model is given (the per-item file then shows each text)."""
    if items is not None:
        from embeval.report.items import check_items_path

        check_items_path(items)
    else:
        unused = [
            n
            for n, v, d in (("--items-k", items_k, None), ("--near-dup-threshold", near_dup_threshold, 0.99))
            if v != d
        ]
        if unused:
            _warn(f"{', '.join(unused)} {'has' if len(unused) == 1 else 'have'} no effect without --items")
    out.check(("geometry", "labels"))
    from embeval.api import geometry_report

    report = geometry_report(
        file,
        metrics=metric,
        pairs=pairs,
        sample=sample,
        normalize=normalize,
        **columns,
        encoder=compute.encoder(encoder),
        labels=labels,
        label_col=label_col,
        items=items is not None,
        items_k=items_k,
        near_dup_threshold=near_dup_threshold,
        seed=seed,
        progress=_progress(quiet),
        compute=compute,
        **cluster.kwargs(),
    )
    if items is not None:
        from embeval.report.items import write_items

        write_items(items, report.items)
    out.emit(report)

"""``embeval gap``: the gap between two embedding sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from embeval.cli.app import app
from embeval.cli.console import _progress
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


@app.command("gap")
@boundary
@flag_names
@options(COLUMNS, encoding_options(), COMPUTE, CLUSTER, OUTPUT)
def gap_cmd(
    a: Annotated[
        str,
        typer.Argument(
            help=(
                "Set A: an embedding file (texts with --model), or one .npy of shape (2, n, d) holding A = [0] and B = "
                "[1] (the 'Mind the Gap' layout)."
            )
        ),
        IN,
    ],
    b: Annotated[
        str | None,
        typer.Argument(help=("Set B: an embedding file (texts with --model); omit when A holds both sets.")),
        IN,
    ] = None,
    paired: Annotated[
        bool,
        typer.Option(
            "--paired",
            help=(
                "Row i of A is the partner of row i of B: adds alignment, matched/unmatched cosine, A→B and B→A "
                "retrieval, and gap_shift."
            ),
        ),
    ] = False,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help=(
                "Diagnostics to run, e.g. 'gap,knn_mixing(k=20)'. Default: all that apply. See 'embeval metrics gap'."
            ),
        ),
    ] = None,
    folds: Annotated[
        int | None, typer.Option("--folds", help=("Cross-validation folds for linear_separability (default 5)."))
    ] = None,
    k: Annotated[int | None, typer.Option("--k", help="Neighbours for knn_mixing (default 10).")] = None,
    shift_lambda: Annotated[
        float | None,
        typer.Option(
            "--shift-lambda",
            help=("gap_shift distance λ: A and B each move ½λ along the gap direction (default ‖gap‖)."),
        ),
    ] = None,
    export_gap: Annotated[
        Path | None,
        typer.Option("--export-gap", help=("Write the gap vector mean(Â) − mean(B̂) here (.npy, .csv or .json).")),
        OUT,
    ] = None,
    name_a: Annotated[
        str | None,
        typer.Option(
            "--name-a", help=("Name of set A in notes, pictures and reports (e.g. images; default: its file name).")
        ),
    ] = None,
    name_b: Annotated[str | None, typer.Option("--name-b", help="Name of set B (e.g. captions).")] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help=("Write a 2-D picture (top two principal components of A∪B) here (.png, .svg or .pdf).")
        ),
        OUT,
    ] = None,
    drift: Annotated[
        bool,
        typer.Option(
            "--drift",
            help=(
                "Add the drift tests: unbiased MMD² with permutation p-value drift_p, a classifier two-sample test "
                "(c2st_auc with CI, c2st_p), and one decision from both, Holm-corrected (drift_any_p). Seeded; "
                "gate with --fail-if 'drift_any_p < 0.01'."
            ),
        ),
    ] = False,
    columns: Any = None,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    encoder: Any = None,
    compute: Any = None,
    cluster: Any = None,
    out: Any = None,
) -> None:
    """Gap between two sets (images vs texts, queries vs documents): centroid gap, linear
    separability, uniformity of each set and across, kNN mixing; with --paired also alignment,
    partner retrieval both ways, and retrieval after closing the gap.

    With --model, A and B are texts (.txt, or .jsonl/.csv/.tsv/.parquet with --text-col): A is encoded as
    queries (--query-prompt), B as documents (--document-prompt)."""
    from embeval.api import gap_report
    from embeval.report.export import check_vector_path, write_vector
    from embeval.report.gates import command_families
    from embeval.report.plots import check_plot_path, gap_figure

    out.check(command_families("gap"))
    if cluster.spec is not None and export_gap is not None:
        from embeval.errors import UsageError

        raise UsageError("--export-gap is not available with --cluster (the gap itself is reported)")
    # Usage first: nothing is loaded or computed for a command that cannot finish.
    if export_gap is not None:
        check_vector_path(export_gap)
    if plot is not None:
        check_plot_path(plot)
    report = gap_report(
        a,
        b,
        paired=paired,
        metrics=metric,
        folds=folds,
        k=k,
        shift_lambda=shift_lambda,
        projection=plot is not None,
        **columns,
        encoder=compute.encoder(encoder),
        name_a=name_a,
        name_b=name_b,
        seed=seed,
        progress=_progress(quiet),
        drift=drift,
        compute=compute,
        **cluster.kwargs(),
    )
    # Files only after every metric has been computed, each written atomically.
    if export_gap is not None:
        g = report.artifacts["gap_vector"]
        write_vector(export_gap, g, name="gap_vector", meta=report.artifacts["gap_vector_meta"])
        report.notes.append(f"gap vector (d={g.shape[0]}) written to {export_gap}")
    if plot is not None:
        proj = report.artifacts["gap_projection"]
        gap_figure(proj.pop("pa"), proj.pop("pb"), plot, **proj)
        report.notes.append(f"picture written to {plot}")
    else:
        report.notes.append("add --plot gap.png for a 2-D picture of both sets")
    out.emit(report)

"""``embeval pairs``: graded pairs (STS)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from embeval.cli.app import app
from embeval.cli.console import _progress
from embeval.cli.exits import boundary
from embeval.cli.options import (
    DEVICE,
    IN,
    MtebLangOpt,
    MtebOutOpt,
    MtebTaskOpt,
    QuietOpt,
    SeedOpt,
    encoding_options,
    flag_names,
    options,
)
from embeval.cli.output import OUTPUT, _write_mteb


class Layout(str, Enum):
    """Layouts of a graded-pairs file (see :mod:`embeval.io.pairs`)."""

    auto = "auto"
    columns = "columns"
    stsb = "stsb"


@app.command("pairs")
@boundary
@flag_names
@options(encoding_options(model_default="default", query_prompt=False), DEVICE, OUTPUT)
def pairs_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help=(
                "Graded pairs: .csv/.tsv/.jsonl/.parquet with text_a, text_b, score; or an STS Benchmark release file "
                "(sts-test.csv)."
            )
        ),
        IN,
    ],
    layout: Annotated[
        Layout,
        typer.Option(
            "--layout",
            help=(
                "columns (named columns), stsb (STS Benchmark release: tab-separated, no header, score in field 5, "
                "sentences in 6 and 7) or auto (tell from the file)."
            ),
        ),
    ] = Layout.auto,
    text_a_col: Annotated[str, typer.Option("--text-a-col", help="First text column.")] = "text_a",
    text_b_col: Annotated[str, typer.Option("--text-b-col", help="Second text column.")] = "text_b",
    score_col: Annotated[str, typer.Option("--score-col", help="Gold score column.")] = "score",
    metric: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help=("Subset of spearman, pearson, pair_alignment."))
    ] = None,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    mteb_out: MtebOutOpt = None,
    mteb_task: MtebTaskOpt = None,
    mteb_lang: MtebLangOpt = "eng-Latn",
    encoder: Any = None,
    compute: Any = None,
    out: Any = None,
) -> None:
    """Graded pairs (STS): Spearman and Pearson of cos(a, b) against the gold score, and alignment."""
    from embeval.io.mteb import check_languages, check_mteb_path

    check_mteb_path(mteb_out)
    check_languages(mteb_lang.split(","))
    from embeval.api import pairs_report

    out.check("pairs")
    report = pairs_report(
        file,
        encoder=compute.encoder(encoder),
        layout=layout.value,
        text_a_col=text_a_col,
        text_b_col=text_b_col,
        score_col=score_col,
        metrics=metric,
        seed=seed,
        progress=_progress(quiet),
    )
    _write_mteb(mteb_out, report, mteb_task or Path(file).stem, "test", mteb_lang)
    out.emit(report)

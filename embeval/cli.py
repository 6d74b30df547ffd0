"""Command-line interface: parse → library call → render. No maths here.

Heavy libraries (numpy, pandas, faiss, torch) are imported inside the commands, so that
``embeval --help`` stays fast.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="embeval",
    help="Measure whether an embedding space is any good: geometry, retrieval and gap diagnostics.\n\n"
    "Exit codes: 0 = ran and every gate passed, 1 = a --fail-if gate failed, 2 = bad input or usage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

FORMATS = ("table", "json", "csv", "markdown")

# Options shared by the commands ------------------------------------------------------------
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="stdout format: table, json, csv or markdown.")]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report here (format from the suffix: .json .csv .md), atomically.")]
FailIfOpt = Annotated[Optional[list[str]], typer.Option("--fail-if", help="Gate 'METRIC OP NUMBER' (OP: < <= > >= ==); exit 1 if it holds. Repeatable.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for every random choice (sampling, folds).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
IdColOpt = Annotated[str, typer.Option("--id-col", help="Id column/field/array name.")]
VecColOpt = Annotated[str, typer.Option("--vector-col", help="Vector column/field/array name.")]


def _die(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]embeval: error:[/] {escape(message)}")
    raise typer.Exit(2)


def boundary(fn):
    """Turn every EmbevalError into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from embeval.errors import EmbevalError

        try:
            return fn(*args, **kwargs)
        except EmbevalError as exc:
            _die(str(exc))
        except MemoryError:
            _die("out of memory; try --sample for uniformity or a smaller input")

    return wrapper


def _progress(quiet: bool):
    from embeval.progress import NULL, RichProgress

    if quiet:
        return NULL
    from rich.console import Console

    return RichProgress(Console(stderr=True))


def _check_format(fmt: str) -> None:
    from embeval.errors import UsageError

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")


def _output_format(output: Path | None, fmt: str) -> str | None:
    from embeval.errors import UsageError
    from embeval.report.render import SUFFIX_FORMAT

    if output is None:
        return None
    out_fmt = SUFFIX_FORMAT.get(output.suffix.lower())
    if out_fmt is None:
        if fmt == "table":
            raise UsageError(f"--output {output}: cannot tell the format from the suffix; "
                             "use .json, .csv or .md, or pass --format")
        out_fmt = fmt
    return out_fmt


def _parse_gates(fail_if: list[str] | None):
    from embeval.report.gates import parse_gate

    return [parse_gate(e) for e in (fail_if or [])]


def emit(report, *, fmt: str, output: Path | None, gates) -> None:
    """Evaluate gates, print, write the file, and exit with the right code."""
    from embeval.report.gates import apply_gates, failure_summary
    from embeval.report.render import RENDERERS, print_table, write_atomic

    apply_gates(report, gates)
    out_fmt = _output_format(output, fmt)
    if fmt == "table":
        from rich.console import Console

        print_table(report, Console())
    else:
        sys.stdout.write(RENDERERS[fmt](report))
    if output is not None:
        write_atomic(output, RENDERERS[out_fmt](report))
    if not report.passed:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]embeval:[/] {escape(failure_summary(report))}")
        raise typer.Exit(1)


# Commands ----------------------------------------------------------------------------------


@app.command("metrics")
@boundary
def metrics_cmd(
    family: Annotated[Optional[str], typer.Argument(help="Only this family (geometry, ...).")] = None,
) -> None:
    """List every diagnostic: outputs, parameters, what it needs, direction."""
    from rich.console import Console
    from rich.table import Table

    from embeval.diagnostics.registry import all_diagnostics

    diags = all_diagnostics(family)
    if not diags:
        from embeval.errors import UsageError

        families = sorted({d.family for d in all_diagnostics()})
        raise UsageError(f"unknown family {family!r}; choose one of {', '.join(families)}")
    t = Table(title="embeval diagnostics")
    for col in ("family", "name", "outputs", "parameters", "needs", "better", "description"):
        t.add_column(col)
    for d in diags:
        params = ", ".join(f"{k}={p.default}" for k, p in d.params.items())
        better = {True: "higher", False: "lower", None: "-"}[d.higher_is_better]
        t.add_row(d.family, d.name, ", ".join(d.outputs), params, ", ".join(sorted(d.needs)), better, d.description)
    Console().print(t)


@app.command("geometry")
@boundary
def geometry_cmd(
    file: Annotated[Path, typer.Argument(help="Embedding file: .npy .npz .parquet .csv .tsv .jsonl.")],
    metric: Annotated[Optional[list[str]], typer.Option("--metric", "-m", help="Diagnostics to run, e.g. 'uniformity,hubness(k=5),mam(mode=pairwise)'. Default: all that apply. See 'embeval metrics'.")] = None,
    pairs: Annotated[Optional[Path], typer.Option("--pairs", help="Row-aligned partner embeddings (for alignment).")] = None,
    sample: Annotated[int, typer.Option("--sample", help="Estimate uniformity from N random pairs (with a 95% CI) instead of exactly.")] = 0,
    normalize: Annotated[bool, typer.Option("--normalize/--no-normalize", help="L2-normalise rows first (default, as SPEC §3).")] = True,
    id_col: IdColOpt = "id",
    vector_col: VecColOpt = "embedding",
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    fail_if: FailIfOpt = None,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Geometry of one embedding set: uniformity, alignment, MAM, anisotropy, effective rank,
    hubness, intrinsic dimension."""
    _check_format(fmt)
    gates = _parse_gates(fail_if)
    _output_format(output, fmt)
    from embeval.api import geometry_report

    report = geometry_report(
        file, metrics=metric, pairs=pairs, sample=sample, normalize=normalize, id_col=id_col,
        vector_col=vector_col, seed=seed, progress=_progress(quiet),
    )
    emit(report, fmt=fmt, output=output, gates=gates)


@app.command("gap")
@boundary
def gap_cmd(
    a: Annotated[Path, typer.Argument(help="Set A: an embedding file, or one .npy of shape (2, n, d) holding A = [0] and B = [1] (the 'Mind the Gap' layout).")],
    b: Annotated[Optional[Path], typer.Argument(help="Set B: an embedding file (omit when A holds both sets).")] = None,
    paired: Annotated[bool, typer.Option("--paired", help="Row i of A is the partner of row i of B: adds alignment, matched/unmatched cosine, A→B and B→A retrieval, and gap_shift.")] = False,
    metric: Annotated[Optional[list[str]], typer.Option("--metric", "-m", help="Diagnostics to run, e.g. 'gap,knn_mixing(k=20)'. Default: all that apply. See 'embeval metrics gap'.")] = None,
    folds: Annotated[Optional[int], typer.Option("--folds", help="Cross-validation folds for linear_separability (default 5).")] = None,
    k: Annotated[Optional[int], typer.Option("--k", help="Neighbours for knn_mixing (default 10).")] = None,
    shift_lambda: Annotated[Optional[float], typer.Option("--shift-lambda", help="gap_shift distance λ: A and B each move ½λ along the gap direction (default ‖gap‖).")] = None,
    export_gap: Annotated[Optional[Path], typer.Option("--export-gap", help="Write the gap vector mean(Â) − mean(B̂) here (.npy, .csv or .json).")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a 2-D picture (top two principal components of A∪B) here (.png, .svg or .pdf).")] = None,
    id_col: IdColOpt = "id",
    vector_col: VecColOpt = "embedding",
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    fail_if: FailIfOpt = None,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Gap between two sets (images vs texts, queries vs documents): centroid gap, linear
    separability, uniformity of each set and across, kNN mixing; with --paired also alignment,
    partner retrieval both ways, and retrieval after closing the gap."""
    _check_format(fmt)
    gates = _parse_gates(fail_if)
    _output_format(output, fmt)
    from embeval.api import gap_report

    report = gap_report(
        a, b, paired=paired, metrics=metric, folds=folds, k=k, shift_lambda=shift_lambda,
        export_gap=export_gap, plot=plot, id_col=id_col, vector_col=vector_col, seed=seed,
        progress=_progress(quiet),
    )
    emit(report, fmt=fmt, output=output, gates=gates)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

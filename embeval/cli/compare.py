"""``embeval compare``: compare reports; rank systems."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embeval.cli.app import app
from embeval.cli.console import _table_console
from embeval.cli.exits import boundary
from embeval.cli.options import IN, OUT, FailIfOpt, JunitOpt, QuietOpt, SeedOpt, flag_names
from embeval.cli.output import _check_junit, _fail, _parse_gates


class CompareFormat(str, Enum):
    """``embeval compare`` formats: the report formats and LaTeX (a ranking table, as ranx)."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    latex = "latex"
    html = "html"


@app.command("compare")
@boundary
@flag_names
def compare_cmd(
    reports: Annotated[
        list[Path],
        typer.Argument(
            help=(
                "embeval JSON reports (--output X.json, or report.json of embeval run) or MTEB task results: BASELINE "
                "CURRENT compares two; "
                "three or more (or one batch report with several models) are ranked. The first is the baseline."
            ),
            show_default=False,
        ),
        IN,
    ],
    fail_if_regress: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-if-regress",
            help=(
                "'METRIC>TOL': fail if METRIC got worse by more than TOL "
                "(direction from the report; 'TOL%' relative to "
                "the baseline; '*>TOL' every metric). With per-query values in both reports, fails only if the paired "
                "bootstrap CI of the delta excludes 0 and the sign-flip p < 1 - confidence. With several reports, each "
                "is checked against the first. Repeatable."
            ),
            rich_help_panel="CI",
        ),
    ] = None,
    fail_if: FailIfOpt = None,
    junit: JunitOpt = None,
    confidence: Annotated[
        float,
        typer.Option(
            "--confidence",
            help=(
                "Confidence of the intervals; pairwise tests are significant at p < 1 - confidence (Holm-corrected "
                "across pairs when ranking; see --test)."
            ),
        ),
    ] = 0.95,
    n_boot: Annotated[
        int, typer.Option("--n-boot", help=("Bootstrap resamples (and sign flips) of the paired tests."))
    ] = 10_000,
    rank: Annotated[
        bool, typer.Option("--rank", help=("Rank even two reports (the default for three or more)."))
    ] = False,
    test: Annotated[
        str,
        typer.Option(
            "--test",
            help=(
                "Pairwise test of a ranking: signflip (embeval: sign-flip randomisation, Holm-corrected across pairs, "
                "p < 1 - confidence), or ranx's uncorrected student (paired t-test) or fisher (randomisation), "
                "significant at p <= 1 - confidence (--confidence 0.99 = ranx's default max_p)."
            ),
        ),
    ] = "signflip",
    allow_different_data: Annotated[
        bool,
        typer.Option(
            "--allow-different-data",
            help=(
                "Compare reports computed on different data (other query or corpus sizes, qrels, split, or an MTEB "
                "result that cannot be matched): refused by default, since the difference is not a change."
            ),
        ),
    ] = False,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric", "-m", help=("Show only these metrics (comma-separated, repeatable); gates still see all.")
        ),
    ] = None,
    seed: SeedOpt = 0,
    fmt: Annotated[
        CompareFormat, typer.Option("--format", "-f", help=("stdout format (latex and html: the ranking)."))
    ] = CompareFormat.table,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help=("Write the comparison here (.json .csv .md .tex .html), atomically.")),
        OUT,
    ] = None,
    quiet: QuietOpt = False,  # accepted like every command; compare shows no progress bar
) -> None:
    """Compare reports metric by metric. Two: old, new, delta, relative change, and for per-query
    metrics a paired bootstrap CI and sign-flip p-value of the delta. Three or more (or the models
    of one batch report): a ranking per metric with bootstrap CIs over queries and pairwise
    sign-flip tests, Holm-Bonferroni corrected, significance as superscript letters (as ranx).

    Exit 1 when a --fail-if-regress gate (or a --fail-if gate on the current values) fails."""
    from embeval.errors import UsageError
    from embeval.io.atomic import write_atomic
    from embeval.report.compare import COMPARE_RENDERERS, parse_regress, print_comparison, run_compare
    from embeval.report.compare.nway import Ranking
    from embeval.report.compare.rank_render import RANKING_RENDERERS, print_ranking
    from embeval.report.gates import summarize

    fmt_name = CompareFormat(fmt).value
    out_fmt = fmt_name
    if output is not None:
        from embeval.io.atomic import check_writable

        check_writable(output, "--output")
        out_fmt = {
            ".json": "json",
            ".csv": "csv",
            ".md": "markdown",
            ".markdown": "markdown",
            ".tex": "latex",
            ".html": "html",
            ".htm": "html",
        }.get(output.suffix.lower(), "" if fmt_name == "table" else fmt_name)
        if not out_fmt:
            raise UsageError(f"--output {output}: use .json, .csv, .md, .tex or .html, or pass --format")
    _check_junit(junit)
    from embeval.options import check_options

    check_options(seed=seed, confidence=confidence, n_boot=n_boot)
    from embeval.report.compare.nway import TESTS

    if test not in TESTS:
        raise UsageError(f"`test` {test!r}: choose one of {', '.join(TESTS)}")
    tolerances = [parse_regress(e) for e in (fail_if_regress or [])]
    gates = _parse_gates(fail_if)
    result = run_compare(
        reports,
        tolerances=tolerances,
        gates=gates,
        seed=seed,
        n_boot=n_boot,
        confidence=confidence,
        rank=rank or bool({fmt_name, out_fmt} & {"latex", "html"}),
        metrics=[m.strip() for text in metric or [] for m in text.split(",") if m.strip()],
        test=test,
        allow_different_data=allow_different_data,
    )
    renderers = RANKING_RENDERERS if isinstance(result, Ranking) else COMPARE_RENDERERS
    if fmt_name == "table":
        (print_ranking if isinstance(result, Ranking) else print_comparison)(result, _table_console())
    else:
        sys.stdout.write(renderers[fmt_name](result))
    if output is not None:
        write_atomic(output, renderers[out_fmt](result))
    if junit is not None:
        from embeval.report.junit import comparison_suites, to_junit

        write_atomic(junit, to_junit(comparison_suites(result)))
    if not result.passed:
        pairs = result.gate_pairs()
        # N-way: name the system (letter and report) each failed gate checked
        _fail(summarize([g for _, g in pairs], where=[w for w, _ in pairs] if isinstance(result, Ranking) else None))

"""``embeval run``: a batch of models × datasets × commands from one config."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from embeval.cli.app import _lit, app
from embeval.cli.console import _console, _say, _table_console
from embeval.cli.exits import _die, boundary
from embeval.cli.options import IN, FailIfOpt, Format, FormatOpt, JunitOpt, Place, QuietOpt, _check_paths, flag_names
from embeval.cli.output import _check_junit, _fail, _parse_gates, _shown


@app.command("run")
@boundary
@flag_names
def run_cmd(
    config: Annotated[
        Path,
        typer.Argument(
            help=_lit("Batch config (TOML): [settings], [[models]], [[datasets]], [[jobs]]. See the README.")
        ),
        IN,
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            help=(
                "Where to write report.json, report.csv, report.md, report.html (default: settings.out_dir, else "
                "./embeval-report)."
            ),
        ),
        Place("a folder: its report files are checked against the config's inputs by the command"),
    ] = None,
    fail_fast: Annotated[
        bool,
        typer.Option(
            "--fail-fast", help=("Stop at the first item that errors or fails a gate (the rest are marked skipped).")
        ),
    ] = False,
    fail_if: FailIfOpt = None,
    junit: JunitOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
) -> None:
    """Run a batch of models × datasets × commands from one config and write one combined report
    (long-form CSV, JSON, Markdown for a pull-request comment, self-contained HTML with plots).

    A failing item is reported and the rest still run. --fail-if here applies to every item that
    has the metric. Exit 0 = every item ran and every gate passed, 1 = a gate failed,
    2 = bad config, or an item could not run."""
    from embeval.batch import load_config, run_batch, write_outputs
    from embeval.errors import UsageError
    from embeval.report.batch import BATCH_RENDERERS

    fmt_name = fmt.value
    if fmt_name == "html":
        raise UsageError("--format html: the HTML page is written to the output folder (report.html)")
    gates = _parse_gates(fail_if)
    from embeval.report.gates import check_known

    _check_junit(junit)
    cfg = load_config(config, out_dir=out_dir)
    from embeval.batch.commands import COMMANDS

    # A metric none of the config's commands can compute is refused before any item runs.
    from embeval.report.gates import command_families

    check_known(
        gates,
        tuple({f for j in cfg.jobs for f in command_families(j.command, COMMANDS[j.command].families)}),
        "the commands of this config",
    )
    folder = cfg.settings.out_dir or Path("embeval-report")  # load_config always sets it
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out-dir {folder}: exists and is not a folder")
    from embeval.io.atomic import check_writable

    check_writable(folder / "report.json", "--out-dir")  # before any item runs
    from embeval.batch.runner import check_report_files, input_paths, output_names

    check_report_files(folder)  # a file of the user's under a report name is never replaced

    _check_paths(
        [config, *input_paths(cfg)],
        {**{f"--out-dir ({name})": folder / name for name in output_names()}, "--junit": junit},
    )

    err = _console(stderr=True, highlight=False, soft_wrap=True)
    if quiet:
        batch, unmatched = run_batch(cfg, fail_fast=fail_fast, extra_gates=gates)
    else:
        from embeval.batch.runner import plan
        from embeval.progress import LiveProgress

        with LiveProgress(err, total=len(plan(cfg))) as progress:
            batch, unmatched = run_batch(cfg, progress=progress, fail_fast=fail_fast, extra_gates=gates)
    written = write_outputs(batch, folder)
    if junit is not None:
        from embeval.io.atomic import write_atomic
        from embeval.report.junit import batch_suites, to_junit

        write_atomic(junit, to_junit(batch_suites(batch)))
        written.append(junit)
    if fmt_name == "table":
        from embeval.report.batch import print_batch

        print_batch(batch, _table_console())
    else:
        sys.stdout.write(BATCH_RENDERERS[fmt_name](batch))
    if not quiet:
        err.print("wrote " + ", ".join(_shown(p) for p in written))
    if unmatched:
        _die(
            f"--fail-if {unmatched[0].expr!r}: no item computed {unmatched[0].metric!r} "
            f"(outputs were written to {folder})"
        )
    if batch.errors:
        _say("", batch.summary())
        # An item that hit a bug (not a bad input) makes the run an internal error, as in every command;
        # else one whose machine or cluster failed makes it 4; else the errors are bad input (2).
        internal = any(getattr(it, "internal", False) for it in batch.errors)
        environment = any(getattr(it, "environment", False) for it in batch.errors)
        raise typer.Exit(3 if internal else 4 if environment else 2)
    if not batch.passed:
        _fail(batch.summary())

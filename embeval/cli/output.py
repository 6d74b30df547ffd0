"""Where a report goes: the output/gates option group (--format, --output, --fail-if, --junit),
rendering on stdout, the report file, the JUnit file, the MTEB result, and exit code 1 when a gate
failed."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from embeval.cli.console import _say, _table_console
from embeval.cli.options import FailIfOpt, Format, FormatOpt, JunitOpt, OptionGroup, OutputOpt, _param


@dataclass
class Output:
    """The output/gates block: where and how the report goes, and the gates it must pass.
    Checked once, when the command starts (before anything loads)."""

    fmt: str
    output: Path | None
    gates: list[Any]
    junit: Path | None
    out_fmt: str | None

    def emit(self, report: Any) -> None:
        emit(report, fmt=self.fmt, output=self.output, gates=self.gates, junit=self.junit, out_fmt=self.out_fmt)

    def check(self, families: str | tuple[str, ...]) -> None:
        """Before any work: the gates name metrics this command can compute. (The paths were
        checked by ``boundary`` from the command's IN/OUT declarations.)"""
        from embeval.report.gates import check_known

        check_known(self.gates, families)


def _output(fmt: Format, output: Path | None, fail_if: list[str] | None, junit: Path | None) -> Output:
    gates = _parse_gates(fail_if)
    out_fmt = _output_format(output, fmt.value)
    _check_junit(junit)
    return Output(fmt.value, output, gates, junit, out_fmt)


OUTPUT = OptionGroup(
    "out",
    (
        _param("fmt", FormatOpt, Format.table),
        _param("output", OutputOpt, None),
        _param("fail_if", FailIfOpt, None),
        _param("junit", JunitOpt, None),
    ),
    _output,
)


def _output_format(output: Path | None, fmt: str) -> str | None:
    from embeval.errors import UsageError
    from embeval.report.render import SUFFIX_FORMAT

    if output is None:
        return None
    from embeval.io.atomic import check_writable

    check_writable(output, "--output")
    out_fmt = SUFFIX_FORMAT.get(output.suffix.lower())
    if out_fmt is None:
        if fmt == "table":
            raise UsageError(
                f"--output {output}: cannot tell the format from the suffix; "
                "use .json, .csv, .md or .html, or pass --format"
            )
        out_fmt = fmt
    return out_fmt


def _parse_gates(fail_if: list[str] | None, families: str | tuple[str, ...] | None = None):
    """Parse the gates and, for a command with a known set of metrics, check their names now."""
    from embeval.report.gates import check_known, parse_gate

    gates = [parse_gate(e) for e in (fail_if or [])]
    if families:
        check_known(gates, families)
    return gates


def _check_junit(junit: Path | None) -> None:
    if junit is not None:
        from embeval.io.atomic import check_writable

        check_writable(junit, "--junit")


def _fail(summary: str) -> None:
    """The one-line gate summary on stderr, then exit code 1."""
    _say("", summary)
    raise typer.Exit(1)


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    import os

    rel = os.path.relpath(Path(path).absolute())
    return str(path) if rel.startswith("..") else rel


def _write_mteb(path: Path | None, report, task: str, split: str, languages: str = "eng-Latn") -> None:
    """--mteb-out: the report's scores as an MTEB task result (written before the report is shown)."""
    if path is not None:
        from embeval.io.mteb import write_mteb

        write_mteb(path, report, task_name=task, split=split, languages=languages.split(","))
        report.notes.append(f"MTEB result ({task}, {split}) written to {path}")


def emit(
    report, *, fmt: str, output: Path | None, gates, junit: Path | None = None, out_fmt: str | None = None
) -> None:
    """Evaluate gates, print, write the report and the JUnit file, and exit with the right code
    (1 with a one-line summary when a gate failed). ``out_fmt``: the output file's format when the
    caller already checked ``output`` (see :class:`Output`)."""
    from embeval.io.atomic import write_atomic
    from embeval.report.gates import apply_gates, failure_summary
    from embeval.report.render import RENDERERS, print_table

    if out_fmt is None:
        _check_junit(junit)
        out_fmt = _output_format(output, fmt)
    apply_gates(report, gates)
    if fmt == "table":
        print_table(report, _table_console())
    else:
        sys.stdout.write(RENDERERS[fmt](report))
    if output is not None and out_fmt is not None:
        write_atomic(output, RENDERERS[out_fmt](report))
    if junit is not None:
        from embeval.report.junit import report_suites, to_junit

        write_atomic(junit, to_junit(report_suites(report)))
    if not report.passed:
        _fail(failure_summary(report))

"""``embeval metrics``: every diagnostic and the outputs it reports."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from embeval.cli.app import app
from embeval.cli.console import _table_console
from embeval.cli.exits import boundary
from embeval.cli.options import flag_names


class ListFormat(str, Enum):
    """Formats of ``embeval metrics``."""

    table = "table"
    json = "json"
    markdown = "markdown"


@app.command("metrics")
@boundary
@flag_names
def metrics_cmd(
    family: Annotated[str | None, typer.Argument(help="Only this family (geometry, ...).")] = None,
    fmt: Annotated[
        ListFormat,
        typer.Option(
            "--format",
            "-f",
            help=("table (grouped by diagnostic), json (one object per output) or markdown (the README's tables)."),
        ),
    ] = ListFormat.table,
) -> None:
    """List every diagnostic and the outputs it reports: direction, identifying parameters,
    parameters, what it needs."""
    from rich.padding import Padding

    from embeval.diagnostics import all_diagnostics, families
    from embeval.errors import UsageError

    diags = all_diagnostics(family)
    if not diags:
        raise UsageError(f"unknown family {family!r}; choose one of {', '.join(families())}")
    if fmt is ListFormat.json:
        from embeval.report.catalog import metric_rows
        from embeval.results import dumps

        rows = metric_rows(family)
        sys.stdout.write(dumps(rows, indent=2) + "\n")
        return
    if fmt is ListFormat.markdown:
        from embeval.report.catalog import catalogue, outputs_table

        sys.stdout.write(outputs_table(family) if family else catalogue())
        return
    con = _table_console(highlight=False)
    family_now = None
    arrow = {True: "↑ higher is better", False: "↓ lower is better", None: "· no direction"}
    for d in diags:
        if d.family != family_now:
            if family_now is not None:
                con.print()
            family_now = d.family
            con.print(f"[bold underline]{d.family}[/]")
        con.print(f"  [bold cyan]{d.name}[/]")
        con.print(Padding(d.description, (0, 0, 0, 6), expand=False))
        for o in d.outputs:
            ident = f" (identified by {', '.join(o.identity)})" if o.identity else ""
            con.print(
                Padding(f"→ [bold]{o.name}[/]  [dim]{arrow[o.higher_is_better]}{ident}[/]", (0, 0, 0, 6), expand=False)
            )
        if d.params:
            con.print(
                Padding(
                    "params: " + ", ".join(f"{k}={p.default} ({p.help})" for k, p in d.params.items()),
                    (0, 0, 0, 6),
                    expand=False,
                )
            )
        if d.needs:
            con.print(Padding(f"needs: {', '.join(sorted(d.needs))}", (0, 0, 0, 6), expand=False))

"""``embeval mcp``: serve embeval's read-only tools to an agent over stdio (MCP)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from embeval.cli.app import app
from embeval.cli.exits import boundary
from embeval.cli.options import Place, flag_names


@app.command("mcp")
@boundary
@flag_names
def mcp_cmd(
    root: Annotated[
        list[Path] | None,
        typer.Option(
            "--root",
            help="A folder whose files the tools may read (repeatable; default: the current folder). "
            "Paths outside every root are refused, symbolic links resolved.",
        ),
        Place("folders the tools may read: each path a tool gets is checked against them"),
    ] = None,
) -> None:
    """Run an MCP server over stdio (for agents): read-only tools geometry, retrieval, gap (with
    drift), compare, metrics, audit, diff, sweep_index and sweep_compress on files under the --root
    folders, each returning a one-line summary and the JSON report.
    Needs the mcp extra: pip install 'embeval-cli[mcp]'."""
    from embeval.mcp.server import build_server
    from embeval.mcp.tools import TOOLS, resolve_roots

    roots = resolve_roots(root or [Path.cwd()])
    server = build_server(roots)
    names = ", ".join(t.name for t in TOOLS)
    where = ", ".join(map(str, roots))
    print(f"embeval mcp: {len(TOOLS)} tools ({names}) over stdio; files under {where}", file=sys.stderr)
    server.run("stdio")

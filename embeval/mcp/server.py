"""The MCP server over stdio (the official ``mcp`` SDK, ``pip install 'embeval-cli[mcp]'``), one tool
per entry of :data:`embeval.mcp.tools.TOOLS`. Started by ``embeval mcp --root DIR``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embeval.errors import EmbevalError, require_extra
from embeval.mcp.tools import TOOLS, Tool, call, resolve_roots

INSTRUCTIONS = (
    "embeval measures embedding spaces. Tools read only files under the folders the server was "
    "started with (--root). Each returns one summary line, then the JSON report. Start with "
    "geometry on a vector file; retrieval needs queries, corpus and qrels; gap with drift=true "
    "tells whether two sets differ; compare takes JSON reports written by embeval (baseline first); "
    "metrics lists every output and whether higher or lower is better."
)


def _bind(tool: Tool, roots: list[Path]):
    """A function with ``tool.function``'s signature (so the SDK builds the same input schema) that
    checks the paths and returns the text of :func:`call`."""

    from mcp.server.mcpserver.exceptions import ToolError

    @functools.wraps(tool.function)
    def run(**arguments: Any) -> str:
        try:
            return call(tool, roots, arguments)
        except EmbevalError as exc:  # bad input or usage: the message, as one line, for the model to read
            raise ToolError(" ".join(str(exc).split())) from None

    sig = inspect.signature(tool.function)
    run.__signature__ = sig.replace(return_annotation=str)  # type: ignore[attr-defined]
    run.__annotations__ = {**tool.function.__annotations__, "return": "str"}
    del run.__wrapped__  # the schema comes from __signature__, not the original
    return run


def build_server(roots: Sequence[str | Path]):
    """An ``MCPServer`` with every tool of :data:`TOOLS`, confined to ``roots``."""
    require_extra("embeval mcp", "mcp", "mcp")
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    from embeval._version import __version__

    allowed = resolve_roots(roots)
    server = MCPServer(name="embeval", version=__version__, instructions=INSTRUCTIONS)
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
    for tool in TOOLS:
        server.add_tool(
            _bind(tool, allowed),
            name=tool.name,
            description=inspect.cleandoc(tool.description),
            annotations=read_only,
            structured_output=False,
        )
    return server


def serve(roots: Sequence[str | Path]) -> None:
    """Run the server on stdin/stdout until the client closes it."""
    build_server(roots).run("stdio")

"""``embeval mcp``: embeval's read-only diagnostics as tools of an MCP server over stdio.

- :mod:`embeval.mcp.tools`: the table of tools (one :class:`~embeval.mcp.tools.Tool` entry each:
  name, description, the function, which parameters are paths), the path guard (only files under
  the ``--root`` folders, symbolic links resolved) and the one-line summary put before each JSON
  report. It does not import the MCP SDK.
- :mod:`embeval.mcp.server`: the server (the official ``mcp`` SDK, the ``mcp`` extra), built from
  that table.
"""

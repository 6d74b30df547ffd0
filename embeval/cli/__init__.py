"""Command-line interface: parse → library call → render. No maths here.

One module per command (``embeval/cli/<command>.py``), each registering itself on the app with
``@app.command(...)`` when imported; beside them the shared parts: :mod:`~embeval.cli.app` (the
Typer app), :mod:`~embeval.cli.options` (option declarations, path roles, option groups,
``flag_names``), :mod:`~embeval.cli.exits` (the exit-code boundary), :mod:`~embeval.cli.output`
(reports, gates, JUnit) and :mod:`~embeval.cli.console` (stderr lines, consoles, progress).
A command module imports those, never this package.

Heavy libraries (numpy, pandas, faiss, torch) are imported inside the commands, so that
``embeval --help`` stays fast.
"""

from __future__ import annotations

# isort: off
# The order of these imports is the order of the commands in --help.
import embeval.cli.metrics
import embeval.cli.geometry
import embeval.cli.encode
import embeval.cli.pairs
import embeval.cli.retrieval
import embeval.cli.gap
import embeval.cli.compare
import embeval.cli.run
import embeval.cli.sweep
import embeval.cli.cache
import embeval.cli.mcp  # noqa: F401

# isort: on
from embeval.cli.app import _reflow_help, app
from embeval.cli.exits import run_app

_reflow_help(app)

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point (``embeval``, ``python -m embeval``): the app inside the exit-code
    boundary (:func:`embeval.cli.exits.run_app`)."""
    run_app(app)


if __name__ == "__main__":
    main()

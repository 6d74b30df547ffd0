"""The Typer app, its root callback (--version), and the help reflow applied once every command
module has registered itself (see :mod:`embeval.cli`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from embeval.cli.console import _say
from embeval.cli.exits import EXIT_CODES


def _help_markup():
    """Rich help panels where the terminal is wide enough for them (140+ columns); plain help,
    wrapped to the width, in narrower terminals and when the help is piped or captured, so that no
    description is squeezed into a narrow column and cut."""
    import os
    import shutil

    if os.environ.get("EMBEVAL_HELP") in ("rich", "plain"):
        return "rich" if os.environ["EMBEVAL_HELP"] == "rich" else None
    if not sys.stdout.isatty():
        return None
    return "rich" if shutil.get_terminal_size((80, 24)).columns >= 140 else None


_MARKUP = _help_markup()


def _lit(text: str) -> str:
    """Help text shown literally: square brackets escaped only where Rich markup would eat them."""
    return text.replace("[", "\\[") if _MARKUP == "rich" else text


app = typer.Typer(
    name="embeval",
    help="Measure whether an embedding space is any good: geometry, retrieval and gap diagnostics.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=_MARKUP,
)


def _version(value: bool) -> None:
    if value:
        from embeval import __version__

        typer.echo(f"embeval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help=("Print the version and exit."))
    ] = False,
) -> None:
    """Measure whether an embedding space is any good: geometry, retrieval and gap diagnostics."""
    _warnings_as_lines()


def _warnings_as_lines() -> None:
    """Library warnings (embeval's own, e.g. a broken cache file moved aside) as one line on stderr."""
    import re
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        if category.__module__.startswith("embeval"):  # the library's `param` names said as flags
            text = re.sub(r"`(\w+)`", lambda m: "--" + m.group(1).replace("_", "-"), str(message))
            _say("warning: ", text)  # control characters made visible, as every stderr line
        else:
            _default_show(message, category, filename, lineno, file, line)

    if getattr(warnings.showwarning, "__name__", "") != "show":
        _default_show = warnings.showwarning
        warnings.showwarning = show


def _reflow_help(typer_app) -> None:
    """Command help from docstrings, with single line breaks joined, so that Rich wraps it to the
    terminal instead of breaking lines where the source did."""
    import inspect
    import re

    for cmd in typer_app.registered_commands:
        if cmd.help is None and cmd.callback is not None and cmd.callback.__doc__:
            paras = re.split(r"\n\s*\n", inspect.getdoc(cmd.callback) or "")
            cmd.help = "\n\n".join(" ".join(p.split()) for p in paras)
        if cmd.short_help is None and cmd.name in _SHORT_HELP:
            cmd.short_help = _SHORT_HELP[cmd.name]
    for group in typer_app.registered_groups:
        if group.short_help is None and group.name in _SHORT_HELP:
            group.short_help = _SHORT_HELP[group.name]
        _reflow_help(group.typer_instance)


# One line each for the command lists of --help (at most ~55 characters: whole at 80 columns).
_SHORT_HELP = {
    "metrics": "Every diagnostic: outputs, parameters, direction.",
    "geometry": "Geometry of one embedding set: uniformity, hubness, labels.",
    "encode": "Encode texts with a model; write vectors with ids.",
    "pairs": "Graded pairs (STS): Spearman of cosine vs gold.",
    "retrieval": "Retrieval quality (nDCG, MAP, recall, MRR, AUC).",
    "gap": "Gap between two sets (modality gap, drift).",
    "compare": "Compare reports metric by metric; rank systems.",
    "run": "A batch of models × datasets × commands.",
    "cache": "The embedding cache: info, list, clear.",
    "info": "Cache folder, size, vectors per model.",
    "list": "One row per cache file.",
    "clear": "Delete cache files (all, or one model's).",
    "mcp": "Serve the read-only tools to agents over stdio (MCP).",
}

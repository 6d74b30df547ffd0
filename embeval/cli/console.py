"""Lines and consoles of the CLI: one-line messages and warnings on stderr, Rich consoles whose
closed-pipe handling is ours, progress bars."""

from __future__ import annotations

import sys


def _say(prefix: str, message: str) -> None:
    from embeval.safety import term

    line = f"embeval: {prefix}{term(message)}"
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed too: nothing left to tell
        pass


def _warn(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    from embeval.safety import term

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[yellow]embeval: warning:[/] {escape(term(message))}")


def _console(**kwargs):
    """A Rich console whose closed-pipe handling is ours (BrokenPipeError reaches ``boundary``)
    instead of Rich's default (exit code 1, the gate code)."""
    from rich.console import Console

    class _PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return _PipeConsole(**kwargs)


def _table_console(**kwargs):
    """The console for tables on stdout: :func:`_console`'s closed-pipe handling, with the width
    rules of :mod:`embeval.report.width` (``COLUMNS`` or wide enough off a terminal, never cut)."""
    from embeval.report.width import table_width

    kwargs.setdefault("width", table_width())
    return _console(**kwargs)


def _progress(quiet: bool):
    from embeval.progress import NULL, RichProgress

    if quiet:
        return NULL

    return RichProgress(_console(stderr=True))

"""Lines and consoles of the CLI: one-line messages and warnings on stderr, Rich consoles whose
closed-pipe handling is ours, progress bars."""

from __future__ import annotations

import sys

# Secrets of the source URIs on this command line (passwords, secret parameters, PGPASSWORD): no
# line on stderr may hold one, whatever produced the message (a driver, an unexpected error).
_SECRETS: list[str] = []


def remember_secrets(values) -> None:
    """Note the secrets of every source URI among this command's arguments (strings or lists),
    forgetting those of any earlier command run in the same process."""
    from embeval.io.sources import secrets_of

    _SECRETS.clear()
    for v in values:
        for text in v if isinstance(v, (list, tuple)) else [v]:
            if isinstance(text, str) and "://" in text:
                _SECRETS.extend(x for x in secrets_of(text) if x not in _SECRETS)


def _say(prefix: str, message: str) -> None:
    from embeval.io.sources import scrub
    from embeval.safety import term

    line = f"embeval: {prefix}{term(scrub(message, _SECRETS) if _SECRETS else message)}"
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed too: nothing left to tell
        pass


def _warn(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    from embeval.io.sources import scrub
    from embeval.safety import term

    message = scrub(message, _SECRETS) if _SECRETS else message
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

"""Build the Click command of a Typer app once per test run instead of once per ``CliRunner.invoke``.

``typer.testing.CliRunner.invoke`` rebuilds the whole Click command tree from the app (every
command's signature parsed, every option converted) on each call: about 15 ms for embeval's app,
paid some 1,200 times by the suite. The console script builds it once per process, so the suite
pays a cost no user does. The tree is cached per app and rebuilt whenever the app's registration
changes (a command, group or callback added, removed or replaced), so a test that registers its own
command still sees it. The real entry point (``python -m embeval``) is still run in subprocesses by
the smoke tests, which build the tree as a user's process does.
"""

from __future__ import annotations

from typing import Any

import typer.main
import typer.testing

_BUILD = typer.main.get_command
_CACHE: dict[int, tuple[Any, tuple[Any, ...], Any]] = {}


def registration(app: typer.Typer) -> tuple[Any, ...]:
    """What the Click tree is built from: the app's info, callback, commands and groups (nested)."""
    groups = tuple((g, g.typer_instance and registration(g.typer_instance)) for g in app.registered_groups)
    return (app.info, app.registered_callback, tuple(app.registered_commands), groups)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a is b


def cached_command(app: typer.Typer) -> Any:
    """``typer.main.get_command(app)``, built once while ``app``'s registration is unchanged."""
    now = registration(app)
    hit = _CACHE.get(id(app))
    if hit is not None and hit[0] is app and _same(hit[1], now):
        return hit[2]
    command = _BUILD(app)
    _CACHE[id(app)] = (app, now, command)  # the app is held, so its id is not reused
    return command


def install() -> None:
    typer.testing._get_command = cached_command  # type: ignore[attr-defined]

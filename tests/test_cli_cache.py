"""The test harness's cached Click tree (tests/cli_cache.py) answers as a fresh build does, and is
rebuilt when an app's registration changes."""

from __future__ import annotations

import typer
import typer.main
import typer.testing
from cli_cache import _BUILD, cached_command


def test_runner_uses_the_cache_and_a_change_rebuilds():
    assert typer.testing._get_command is cached_command  # installed by conftest
    app = typer.Typer()

    @app.command()
    def one() -> None:
        typer.echo("one")

    first = cached_command(app)
    assert cached_command(app) is first

    @app.command()
    def two() -> None:
        typer.echo("two")

    second = cached_command(app)
    assert second is not first and set(second.commands) == {"one", "two"}
    sub = typer.Typer()
    app.add_typer(sub, name="sub")
    assert "sub" in cached_command(app).commands

    @sub.command()
    def three() -> None:
        typer.echo("three")

    res = typer.testing.CliRunner().invoke(app, ["sub", "three"])
    assert res.exit_code == 0 and res.stdout == "three\n", res.output


def test_cached_tree_equals_a_fresh_build_of_embeval():
    from embeval.cli import app

    cached, fresh = cached_command(app), _BUILD(app)
    assert cached is cached_command(app)
    assert sorted(cached.commands) == sorted(fresh.commands) and len(cached.commands) > 5
    for name, cmd in fresh.commands.items():
        assert [p.name for p in cached.commands[name].params] == [p.name for p in cmd.params], name

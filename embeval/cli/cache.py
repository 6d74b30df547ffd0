"""``embeval cache``: inspect or clear the embedding cache."""

from __future__ import annotations

from typing import Annotated

import typer

from embeval.cli.app import _MARKUP, app
from embeval.cli.console import _say, _table_console
from embeval.cli.exits import boundary
from embeval.cli.options import IN, CacheDirOpt

cache_app = typer.Typer(
    help="Inspect or clear the embedding cache (info, list, clear).", no_args_is_help=True, rich_markup_mode=_MARKUP
)
app.add_typer(cache_app, name="cache")
CacheModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help=(
            "Only the cache files of this model (its name as given to --model, its folder, or a folder with the same "
            "weights)."
        ),
    ),
    IN,
]


def _cache_entries(model, cache_dir):
    from embeval.encode import EncoderConfig
    from embeval.encode.cache import cache_dir as default_dir
    from embeval.encode.cache import list_caches, matches
    from embeval.errors import UsageError

    folder = default_dir(EncoderConfig(cache_dir=None if cache_dir is None else str(cache_dir)))
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--cache-dir {folder}: is a file, not a folder")
    identity = None
    if model is not None:
        from pathlib import Path as _P

        from embeval.encode.base import model_identity

        if model == "default" or _P(model).expanduser().is_dir():
            try:
                identity = model_identity(EncoderConfig(model=model, cache=False))
            except Exception:
                identity = None
    entries = list_caches(folder) if folder.is_dir() else []
    chosen = [e for e in entries if matches(e, model, identity)]
    if model is not None and not chosen:
        known = sorted({e.model for e in entries})
        _say(
            "",
            f"no cache files for model {model!r} in {folder}"
            + (f"; models in the cache: {', '.join(known)}" if known else "; the cache is empty"),
        )
    return folder, chosen


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@cache_app.command("info")
@boundary
def cache_info_cmd(model: CacheModelOpt = None, cache_dir: CacheDirOpt = None) -> None:
    """Where the cache is, its size (each file with its -wal/-shm journal, as in `cache list`), and how
    many vectors it holds per model."""
    from embeval.safety import rich_literal as escape  # markup escaped, control characters visible

    folder, entries = _cache_entries(model, cache_dir)
    con = _table_console(highlight=False)
    con.print(f"cache folder: {escape(str(folder))}" + ("" if folder.is_dir() else " (does not exist yet)"))
    con.print(
        f"files: {len(entries)}, size: {_size(sum(e.size for e in entries))} (with -wal/-shm), "
        f"vectors: {sum(e.entries or 0 for e in entries):,}"
    )
    per_model: dict[str, list[int]] = {}
    for e in entries:
        per_model.setdefault(e.model, [0, 0])
        per_model[e.model][0] += e.entries or 0
        per_model[e.model][1] += e.size
    for name, (n, size) in sorted(per_model.items()):
        con.print(f"  {escape(name)}: {n:,} vectors, {_size(size)}")
    broken = [e for e in entries if e.problem]
    if broken:
        con.print(f"[yellow]{len(broken)} unreadable file(s); 'embeval cache list' names them[/]")


@cache_app.command("list")
@boundary
def cache_list_cmd(model: CacheModelOpt = None, cache_dir: CacheDirOpt = None) -> None:
    """One row per cache file: model, dimension, vectors, size, last change."""
    import datetime

    from rich.table import Table

    from embeval.report.width import print_fitted
    from embeval.safety import rich_literal as escape  # markup escaped, control characters visible

    folder, entries = _cache_entries(model, cache_dir)
    t = Table(title=f"embedding cache: {escape(str(folder))}", caption="size: each file with its -wal/-shm journal")
    for c in ("file", "model", "dim", "vectors", "size", "modified", "problem"):
        t.add_column(c, justify="right" if c in ("dim", "vectors", "size") else "left")
    for e in entries:
        t.add_row(
            escape(e.path.name),
            escape(e.model),
            "" if e.dim is None else str(e.dim),
            "" if e.entries is None else f"{e.entries:,}",
            _size(e.size),
            datetime.datetime.fromtimestamp(e.modified).strftime("%Y-%m-%d %H:%M"),
            escape(e.problem),
        )
    print_fitted(_table_console(), t, keep=("file", "model"))


@cache_app.command("clear")
@boundary
def cache_clear_cmd(model: CacheModelOpt = None, cache_dir: CacheDirOpt = None) -> None:
    """Delete the cache files (of one model with --model, else all of them). A --model with no files
    removes nothing, says so and lists the models the cache holds (exit 0: the cache is as asked)."""
    from embeval.encode.cache import remove

    folder, entries = _cache_entries(model, cache_dir)
    for e in entries:
        remove(e)
    if model is not None and not entries:
        return  # _cache_entries said there are none for that model, and which models there are
    typer.echo(f"removed {len(entries)} cache file(s), {_size(sum(e.size for e in entries))}, from {folder}", err=True)

"""Every output path checked together, before any work: writable, not a folder, not the same file as
any input (also through a hard link or a symbolic link), and no two outputs the same file."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from embeval.errors import UsageError
from embeval.io.atomic import check_writable


def _identity(p: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(p)  # follows symbolic links: a link to an input is that input
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _norm(p: Path) -> str:
    return os.path.normcase(os.path.realpath(p))


def check_outputs(
    outputs: Mapping[str, str | os.PathLike | None], inputs: Iterable[str | os.PathLike | None] = ()
) -> None:
    """``outputs``: option name → path (None = not asked for). Raises UsageError naming the
    option on the first problem."""
    given = {name: Path(p) for name, p in outputs.items() if p is not None}
    for name, p in given.items():
        check_writable(p, name)
    ins = []
    for q in (Path(p) for p in inputs if p is not None):
        if q.is_dir():  # a BEIR folder: the files it is read from
            ins += [q / "corpus.jsonl", q / "queries.jsonl", *sorted(q.glob("qrels/*"))]
        else:
            ins.append(q)
    in_ids = {}
    in_files = {}
    for p in ins:
        ident = _identity(p)
        if ident is not None:
            in_ids[ident] = p
        in_files[_norm(p)] = p
    for name, p in given.items():
        ident = _identity(p)
        same = in_ids.get(ident) if ident is not None else in_files.get(_norm(p))
        if same is not None:
            how = "is" if _norm(same) == _norm(p) else "is the same file as (a link to)"
            raise UsageError(
                f"{name} {p}: {how} the input {same}; writing it would destroy the input. Choose another output file"
            )
    seen: dict[str, str] = {}
    for name, p in given.items():
        key = f"id:{_identity(p)}" if _identity(p) is not None else _norm(p)
        if key in seen:
            raise UsageError(f"{name} {p}: same file as {seen[key]}; give each output its own file")
        seen[key] = f"{name} {p}"

"""Option groups (cli/options.py ``@options``): a group's options stand where the command names the
group, the command receives the built object, and a group it does not name goes last."""

from __future__ import annotations

from typing import Annotated, Any

import typer
import typer.main

from embeval.cli import app
from embeval.cli.options import COLUMNS, COMPUTE, options
from embeval.compute.context import ComputeContext


def _names(command: str) -> list[str]:
    return [str(p.name) for p in typer.main.get_command(app).commands[command].params]  # type: ignore[attr-defined]


def test_the_columns_group_stands_where_each_command_names_it():
    columns = ["id_col", "vector_col", "text_col"]
    for command, before, after in (
        ("geometry", "normalize", "labels"),
        ("gap", "drift", "seed"),
        ("retrieval", "run_in", "seed"),
        ("diff", "save_map", "seed"),
    ):
        names = _names(command)
        i = names.index("id_col")
        assert names[i : i + 3] == columns, (command, names)
        assert names[i - 1] == before and names[i + 3] == after, (command, names)
    assert _names("geometry")[-9:] == [
        "device",
        "budget",
        "exact",
        "cluster",
        "checkpoint",
        "fmt",
        "output",
        "fail_if",
        "junit",
    ]


def test_a_group_hands_the_command_its_built_object_and_unnamed_groups_go_last():
    seen: dict[str, Any] = {}

    @options(COMPUTE, COLUMNS)
    def command(
        first: Annotated[int, typer.Option("--first")] = 1,
        columns: Any = None,
        last: Annotated[int, typer.Option("--last")] = 2,
        compute: Any = None,
    ) -> None:
        seen.update(first=first, columns=columns, last=last, compute=compute)

    import inspect

    order = list(inspect.signature(command).parameters)
    assert order == ["first", "id_col", "vector_col", "text_col", "last", "device", "budget", "exact"]

    @options(COMPUTE)
    def unnamed(x: Annotated[int, typer.Option("--x")] = 0) -> None:
        pass

    assert list(inspect.signature(unnamed).parameters) == ["x", "device", "budget", "exact"]

    command(first=3, id_col="doc", vector_col="emb", text_col="body", last=4, device="CPU", budget=9.0, exact=True)
    assert seen == {
        "first": 3,
        "columns": {"id_col": "doc", "vector_col": "emb", "text_col": "body"},
        "last": 4,
        "compute": ComputeContext("cpu", 9.0, True),
    }

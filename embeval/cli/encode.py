"""``embeval encode``: encode texts with a model and write the vectors."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from embeval.cli.app import app
from embeval.cli.console import _console, _progress
from embeval.cli.exits import boundary
from embeval.cli.options import DEVICE, IN, OUT, IdColOpt, QuietOpt, TextColOpt, encoding_options, flag_names, options


class Role(str, Enum):
    """Which prompt an encoded text gets."""

    document = "document"
    query = "query"


@app.command("encode")
@boundary
@flag_names
@options(encoding_options(model_default="default"), DEVICE)
def encode_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help=("Texts: .txt (a line each), .jsonl/.csv/.tsv/.parquet (--text-col), or a BEIR folder (its corpus).")
        ),
        IN,
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help=("Where to write: .npy .npz .parquet .csv .tsv .jsonl (ids kept except in .npy).")
        ),
        OUT,
    ],
    role: Annotated[Role, typer.Option("--role", help="Which prompt to prepend.")] = Role.document,
    text_col: TextColOpt = "text",
    id_col: IdColOpt = "id",
    normalize: Annotated[bool, typer.Option("--normalize/--no-normalize", help="L2-normalise the vectors.")] = True,
    quiet: QuietOpt = False,
    encoder: Any = None,
    compute: Any = None,
) -> None:
    """Encode texts with a model and write the vectors (with ids) in any format embeval reads."""
    from dataclasses import replace

    from embeval.api import encode_file

    encoder = replace(compute.encoder(encoder), normalize=normalize)
    n, d = encode_file(
        file, output, encoder=encoder, role=role.value, text_col=text_col, id_col=id_col, progress=_progress(quiet)
    )
    if not quiet:
        _console(stderr=True).print(f"wrote {n} × {d} vectors to {output}")

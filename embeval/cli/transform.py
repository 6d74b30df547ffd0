"""``embeval transform T.npz IN -o OUT``: apply a saved affine map (``embeval audit --try ...
--save-transform T.npz``; format in :mod:`embeval.compute.transform`) to vectors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embeval.cli.app import app
from embeval.cli.console import _say
from embeval.cli.exits import boundary
from embeval.cli.options import IN, OUT, IdColOpt, VecColOpt, flag_names


@app.command("transform", short_help="Apply a saved map (center, whiten, abtt, diff map).")
@boundary
@flag_names
def transform_cmd(
    transform: Annotated[Path, typer.Argument(help="The map: T.npz from embeval audit --save-transform."), IN],
    file: Annotated[str, typer.Argument(help="Vectors to map (.npy .npz .parquet .csv .tsv .jsonl)."), IN],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Write the mapped vectors here (format from the suffix)."), OUT
    ],
    id_col: IdColOpt = "id",
    vector_col: VecColOpt = "embedding",
) -> None:
    """Apply a saved transform (centering, whitening, all-but-the-top) to vectors, ids kept."""
    import numpy as np

    from embeval.compute.transform import AffineMap
    from embeval.errors import InputError
    from embeval.io.embeddings import load_embeddings
    from embeval.io.paths import require_file
    from embeval.io.writers import save_embeddings

    require_file(transform, what="transform file")
    try:
        with np.load(transform, allow_pickle=False) as z:
            m = AffineMap.from_arrays(z, source=str(transform))
    except (OSError, ValueError) as exc:
        raise InputError(str(transform), f"not a .npz transform ({exc})") from None
    emb = load_embeddings(file, id_col=id_col, vector_col=vector_col)
    if emb.d != m.d_in:
        raise InputError(emb.path, f"{emb.d}-d vectors, but the transform maps {m.d_in}-d vectors")
    save_embeddings(output, m.apply(emb.vectors), emb.ids)
    _say("", f"{m.kind}: {emb.n} vectors written to {output}")

"""Export a vector (e.g. the gap vector) as .npy, .csv or .json, atomically."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from embeval.errors import UsageError
from embeval.io.atomic import write_atomic
from embeval.results import dumps

VECTOR_SUFFIXES = (".npy", ".csv", ".json")


def check_vector_path(path: str | os.PathLike, option: str = "`export_gap`") -> None:
    """Refuse an unsupported format before any work is done."""
    suffix = Path(path).suffix.lower()
    if suffix not in VECTOR_SUFFIXES:
        raise UsageError(
            f"{option} {path}: unsupported format {suffix or '(none)'!r}; use " + ", ".join(VECTOR_SUFFIXES)
        )
    from embeval.io.atomic import check_writable

    check_writable(path, option)


def write_vector(
    path: str | os.PathLike, vector: np.ndarray, *, name: str = "gap", meta: dict[str, Any] | None = None
) -> None:
    """Write a 1-D float64 vector.

    .npy:  the (d,) array;  .csv: a header ``name`` then one value per line (dimension order);
    .json: ``{name: [...], "d": d, **meta}``.
    """
    vector = np.asarray(vector, dtype=np.float64).ravel()
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, vector, allow_pickle=False)
        write_atomic(path, buf.getvalue())
    elif suffix == ".csv":
        write_atomic(path, name + "\n" + "".join(f"{v!r}\n" for v in vector.tolist()))
    elif suffix == ".json":
        doc = {**(meta or {}), "d": int(vector.shape[0]), name: vector.tolist()}
        write_atomic(path, dumps(doc, indent=1) + "\n")
    else:
        check_vector_path(path)


def write_map(path: str | os.PathLike, fitted: dict[str, Any]) -> None:
    """Write an affine map NEW → OLD as .npz, atomically, in the format ``embeval transform`` reads:
    ``W`` (d_new×d_old float32), ``b`` (d_old), ``kind`` ("procrustes" or "ridge"), and the flags
    ``normalize_input`` / ``normalize_output`` (rows are L2-normalised before and after: y = norm(norm(x)·W + b)),
    plus ``calibration`` (the number of items it was fitted on)."""
    if Path(path).suffix.lower() != ".npz":
        raise UsageError(f"{path}: a map is written as .npz")
    buf = io.BytesIO()
    np.savez(
        buf,
        W=np.asarray(fitted["W"], dtype=np.float32),
        b=np.asarray(fitted["b"], dtype=np.float32),
        kind=np.asarray(str(fitted["kind"])),
        normalize_input=np.asarray(True),
        normalize_output=np.asarray(True),
        calibration=np.asarray(int(fitted["calibration"])),
    )
    write_atomic(path, buf.getvalue())

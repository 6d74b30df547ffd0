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


MAP_FORMAT = "embeval-affine-1"  # the affine-map format of `embeval transform` / `audit --save-transform`


def write_map(path: str | os.PathLike, fitted: dict[str, Any]) -> None:
    """Write an affine map NEW → OLD as .npz, atomically, in the format ``embeval transform`` reads
    (``embeval-affine-1``: y = (x̃ − mean)·W + b, x̃ = x/‖x‖ when ``normalize_in``, ŷ = y/‖y‖ when
    ``normalize_out``): ``format``, ``kind`` ("procrustes" or "ridge"), ``mean`` (zeros: the ridge
    map's centring is folded into ``b``), ``W`` (d_new×d_old), ``b`` (d_old), ``normalize_in`` and
    ``normalize_out`` (both true) and ``fitted_on`` (the calibration items)."""
    if Path(path).suffix.lower() != ".npz":
        raise UsageError(f"{path}: a map is written as .npz")
    w = np.asarray(fitted["W"], dtype=np.float64)
    buf = io.BytesIO()
    np.savez(
        buf,
        format=np.array(MAP_FORMAT),
        kind=np.array(str(fitted["kind"])),
        mean=np.zeros(w.shape[0]),
        W=w,
        b=np.asarray(fitted["b"], dtype=np.float64),
        normalize_in=np.array(True),
        normalize_out=np.array(True),
        fitted_on=np.array(int(fitted["calibration"])),
    )
    write_atomic(path, buf.getvalue())

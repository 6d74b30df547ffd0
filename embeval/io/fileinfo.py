"""Provenance of an input file: path, sha256 (or size+mtime for very large files)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

HASH_LIMIT = 512 * 1024 * 1024


def shown_path(path: str | os.PathLike) -> str:
    """A path as reports show it: relative to the working folder when inside it, else absolute;
    normalised either way (no ``a/../b``)."""
    absolute = os.path.normpath(os.path.abspath(path))
    rel = os.path.relpath(absolute)
    return absolute if rel == ".." or rel.startswith(".." + os.sep) else rel


def file_info(path: str | os.PathLike) -> dict:
    from embeval.io.remote import is_url, size

    if is_url(path):  # object storage: not downloaded again to be hashed
        return {"path": str(path), "size": size(str(path))}
    p = Path(path)
    if p.is_dir():
        return {"path": shown_path(p)}
    st = p.stat()
    if st.st_size <= HASH_LIMIT:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return {"path": shown_path(p), "sha256": h.hexdigest()}
    return {"path": shown_path(p), "size": st.st_size, "mtime": int(st.st_mtime)}

"""Object storage and URLs for embedding files and shards, through fsspec: ``s3://``, ``gs://``
(``gcs://``), ``az://`` (``abfs://``, ``abfss://``) and ``file://``.

A URL names one file, a "folder" (a prefix) or a glob (``s3://bucket/corpus/*.npy``). Files are
read as a local file would be: ``.npy`` shapes from the header alone, Parquet footers and id
columns through a file object, and everything else (the vectors of one shard, a single file) from
a temporary local copy that is deleted after the read, so the validation of a local file applies
unchanged. Credentials and endpoints come from each filesystem's own configuration (for S3:
``AWS_*`` environment variables, ``AWS_ENDPOINT_URL`` for an S3-compatible server, ``~/.aws``);
``EMBEVAL_STORAGE_OPTIONS`` may hold a JSON object of extra keyword arguments for the filesystem
(``{"anon": true}``). fsspec (and s3fs, gcsfs or adlfs for their schemes) is imported only when
a URL is read.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from embeval.errors import InputError, require_extra

SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "file")
ENV_OPTIONS = "EMBEVAL_STORAGE_OPTIONS"
_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
}


def is_url(spec: object) -> bool:
    """True for ``SCHEME://…`` with a scheme read through fsspec (:data:`SCHEMES`)."""
    text = os.fspath(spec) if isinstance(spec, os.PathLike) else spec
    if not isinstance(text, str):
        return False
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def filesystem(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) for ``url``; MissingExtra names the package to install."""
    scheme = url.partition("://")[0].lower()
    require_extra(
        f"reading {scheme}:// URLs", "sources", "fsspec", *([_PACKAGES[scheme]] if scheme in _PACKAGES else [])
    )
    import fsspec

    raw = os.environ.get(ENV_OPTIONS)
    try:
        options = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise InputError(ENV_OPTIONS, f"not a JSON object: {exc}") from None
    if not isinstance(options, dict):
        raise InputError(ENV_OPTIONS, "not a JSON object")
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except (ValueError, ImportError, OSError) as exc:
        raise InputError(url, f"cannot open this storage: {exc}") from None
    return fs, path


def _full(fs: Any, url: str, path: str) -> str:
    """The URL of ``path`` in the filesystem of ``url`` (same scheme as given)."""
    scheme = url.partition("://")[0]
    return f"{scheme}://{path.lstrip('/')}" if scheme.lower() != "file" else f"file://{path}"


def list_urls(spec: str, suffixes: tuple[str, ...], glob_chars: str) -> list[str]:
    """The files of a URL glob, of a URL prefix (its files with one of ``suffixes``) or the one file
    a URL names, as URLs; an empty list when nothing matches."""
    fs, path = filesystem(spec)
    try:
        if any(c in path for c in glob_chars):
            found = [p for p in fs.glob(path) if fs.isfile(p)]
        elif fs.isdir(path):
            found = [p for p in fs.ls(path, detail=False) if Path(p).suffix.lower() in suffixes and fs.isfile(p)]
        elif fs.isfile(path):
            found = [path]
        else:
            raise InputError(spec, "no such file or folder")
    except (OSError, PermissionError) as exc:
        raise InputError(spec, f"cannot list: {exc}") from None
    return [_full(fs, spec, p) for p in found]


def is_dir(spec: str) -> bool:
    fs, path = filesystem(spec)
    try:
        return bool(fs.isdir(path))
    except OSError:
        return False


def stat_error(url: str) -> str | None:
    """None when ``url`` is a file this process can see, else why not (one line)."""
    try:
        fs, path = filesystem(url)
        return None if fs.isfile(path) else "no such file"
    except (InputError, OSError, PermissionError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def size(url: str) -> int | None:
    try:
        fs, path = filesystem(url)
        return int(fs.size(path))
    except (InputError, OSError, PermissionError, TypeError):
        return None


def npy_shape(url: str) -> tuple[int, ...]:
    """The shape of a ``.npy`` file from its header, and a size check (a truncated upload)."""
    import numpy as np

    fs, path = filesystem(url)
    try:
        with fs.open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _fortran, dtype = read(fh)
            start = fh.tell()
        total = int(fs.size(path))
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(url, f"not a readable .npy shard (truncated or corrupt?): {exc}") from None
    count = 1
    for s in shape:
        count *= int(s)
    if total < start + count * dtype.itemsize:
        raise InputError(url, f"not a readable .npy shard (truncated: {total} bytes for shape {shape})")
    return tuple(int(s) for s in shape)


@contextmanager
def open_binary(url: str) -> Iterator[Any]:
    """A binary file object for ``url`` (Parquet footers and columns are read through it)."""
    fs, path = filesystem(url)
    try:
        fh = fs.open(path, "rb")
    except (OSError, PermissionError) as exc:
        raise InputError(url, f"cannot read: {exc}") from None
    with fh:
        yield fh


@contextmanager
def local_copy(url: str) -> Iterator[Path]:
    """A temporary local copy of ``url`` (same suffix), deleted on exit."""
    fs, path = filesystem(url)
    suffix = Path(path).suffix
    fd, tmp = tempfile.mkstemp(prefix="embeval-", suffix=suffix)
    os.close(fd)
    try:
        try:
            fs.get_file(path, tmp)
        except (OSError, PermissionError) as exc:
            raise InputError(url, f"cannot read: {exc}") from None
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)

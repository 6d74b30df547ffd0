"""Sharded embedding inputs: a folder of shards or a glob (``corpus/*.parquet``, ``shards/*.npy``).

A sharded input is read lazily. :func:`scan_shards` reads only each shard's metadata (``.npy``
header, Parquet footer; other formats are read one shard at a time) and its ids, and checks that
ids are unique across shards without holding more than the ids in one process. With
``read_ids=False`` (a cluster run) it reads no id at all: the ids stay with their shards, the
workers check them (:mod:`embeval.distributed.ids`) and read them (:func:`shard_ids`). :func:`read_shard`
reads one shard's vectors (validated like any embedding file; ShardError names it); the distributed diagnostics call it
on the workers, one shard per task. :func:`load_sharded` concatenates every shard, for the
single-process path (the same report as one unsharded file).

Shards are taken in file-name order. Rows are numbered across shards in that order; a shard without
an id column or array gets its global row numbers as ids, so ``shards/*.npy`` has the same ids as
the one ``.npy`` file they were cut from. Every problem raises :class:`InputError` naming the shard.
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeval.errors import EmbevalError, InputError
from embeval.io import remote
from embeval.io.files import EMBEDDING_SUFFIXES, EmbeddingSet, load_embedding_file

GLOB_CHARS = "*?["


class ShardError(EmbevalError):
    """A shard that a worker could not read: the message names the shard. (Plain message
    arguments, so it survives the trip from a Dask worker back to the driver.)"""


@dataclass(frozen=True)
class ShardInfo:
    """One shard: ``path``, its ``rows`` and ``dim``, and ``offset`` = its first global row."""

    path: str
    rows: int
    dim: int
    offset: int

    @property
    def stop(self) -> int:
        return self.offset + self.rows


@dataclass
class ShardedSet:
    """The metadata of a sharded input: ``spec`` as given, its shards, and the ids of each shard
    (``id_parts``: a str array; an int ``start`` for a shard without ids, whose ids are the row
    numbers ``start, start+1, ...``; or None for ids left in the shard, unread: a cluster run).
    :attr:`ids` (every id, one str array) is built only when asked for, in one process; a cluster
    run never asks (its workers look ids up: :mod:`embeval.distributed.ids`)."""

    spec: str
    shards: list[ShardInfo]
    id_parts: list[np.ndarray | int | None]
    id_col: str = "id"
    vector_col: str = "embedding"

    @functools.cached_property
    def ids(self) -> np.ndarray:
        if self.ids_on_shards:
            raise RuntimeError(
                "internal error: the ids of this sharded set stay with its shards (read_ids=False); "
                "look them up on the workers (embeval.distributed.ids)"
            )
        if not self.shards:
            return np.empty(0, dtype=str)
        return np.concatenate([_part_ids(part, s.rows) for part, s in zip(self.id_parts, self.shards)])

    @property
    def has_ids(self) -> bool:
        """True when the shards have ids of their own (False: the ids are the global row numbers)."""
        return any(not isinstance(part, int) for part in self.id_parts)

    @property
    def ids_on_shards(self) -> bool:
        """True when some ids were left in their shards, unread (``scan_shards(read_ids=False)``)."""
        return any(part is None for part in self.id_parts)

    @property
    def n(self) -> int:
        return self.shards[-1].stop if self.shards else 0

    @property
    def d(self) -> int:
        return self.shards[0].dim

    def describe(self) -> dict:
        return {"path": self.spec, **provenance(self.shards), "n": self.n, "d": self.d}


def _part_ids(part: np.ndarray | int | None, rows: int) -> np.ndarray:
    if part is None:  # pragma: no cover - ShardedSet.ids refuses before
        raise RuntimeError("internal error: ids left in the shard")
    return np.arange(part, part + rows).astype(str) if isinstance(part, int) else part


def provenance(shards: list[ShardInfo]) -> dict:
    """What identifies a sharded input without hashing it: the shard count, their total size in
    bytes and the latest modification time (an input of many GB is not hashed; see fileinfo)."""
    sizes, mtimes = [], []
    for s in shards:
        if remote.is_url(s.path):
            n = remote.size(s.path)
            if n is not None:
                sizes.append(n)
            continue
        try:
            st = Path(s.path).stat()
        except OSError:
            continue
        sizes.append(st.st_size)
        mtimes.append(int(st.st_mtime))
    return {"shards": len(shards), "size": int(sum(sizes)), "mtime": max(mtimes, default=0)}


def is_shard_spec(path: str | Path) -> bool:
    """True for a glob pattern, or a folder that holds embedding files (and is not a BEIR folder)."""
    text = str(path)
    if remote.is_url(text):
        return any(c in text.partition("://")[2] for c in GLOB_CHARS) or remote.is_dir(text)
    if any(c in text for c in GLOB_CHARS) and not Path(text).exists():
        return True
    p = Path(text)
    if not p.is_dir() or (p / "corpus.jsonl").exists():
        return False
    return any(f.suffix.lower() in EMBEDDING_SUFFIXES for f in p.iterdir() if f.is_file())


def _suffix(path: str) -> str:
    return Path(path.partition("://")[2] if remote.is_url(path) else path).suffix.lower()


def _name(path: str) -> str:
    return Path(path.partition("://")[2] if remote.is_url(path) else path).name


@contextmanager
def _local(path: str) -> Iterator[Path]:
    """``path`` as a local file: itself, or a temporary copy of a URL (:mod:`embeval.io.remote`)."""
    if remote.is_url(path):
        with remote.local_copy(path) as tmp:
            yield tmp
    else:
        yield Path(path)


def load_file(path: str, **kw) -> EmbeddingSet:
    """:func:`load_embedding_file` for a local path or a URL (an error names the URL, not a copy)."""
    if not remote.is_url(path):
        return load_embedding_file(path, **kw)
    missing = remote.stat_error(path)
    if missing is not None:
        raise InputError(path, missing)
    with _local(path) as tmp:
        try:
            emb = load_embedding_file(tmp, **kw)
        except InputError as exc:
            raise InputError(path, exc.problem, exc.where) from None
    emb.path = path
    return emb


def shard_paths(spec: str | Path) -> list[str]:
    """The shard files of a folder (every embedding file in it, one format) or a glob, by name, as
    absolute paths: the shards are read by workers whose working directory is not this one."""
    text = str(spec)
    if remote.is_url(text):
        urls = remote.list_urls(text, EMBEDDING_SUFFIXES, GLOB_CHARS)
        if not urls:
            raise InputError(text, "no shard files match")
        return _one_format(text, sorted(urls, key=_name))
    if not any(c in text for c in GLOB_CHARS) and not Path(text).exists():
        raise InputError(text, "no such file or folder")
    if Path(text).is_dir():
        files = [f for f in Path(text).iterdir() if f.is_file() and f.suffix.lower() in EMBEDDING_SUFFIXES]
    else:
        files = [Path(f) for f in glob.glob(text) if Path(f).is_file()]
    files = [Path(os.path.abspath(f)) for f in files]
    if not files:
        raise InputError(text, "no shard files match" if not Path(text).is_dir() else "folder holds no embedding files")
    files.sort(key=lambda f: f.name)
    return _one_format(text, [str(f) for f in files])


def _one_format(text: str, files: list[str]) -> list[str]:
    kinds = {_suffix(f) for f in files}
    if len(kinds) > 1:
        raise InputError(text, f"shards mix formats ({', '.join(sorted(kinds))}); use one format")
    return files


def _npy_shape(p: str) -> tuple[int, ...]:
    """Shape from the ``.npy`` header, and a size check that catches truncated files."""
    if remote.is_url(p):
        return remote.npy_shape(p)
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(p, f"not a readable .npy shard (truncated or corrupt?): {exc}") from None
    return arr.shape


def _parquet_meta(
    p: str, id_col: str, vector_col: str, read_ids: bool = True
) -> tuple[int, int, np.ndarray | bool | None]:
    """(rows, dim, ids or None) from a Parquet shard, reading the footer, the id column, and the
    vector column of the first row only. With ``read_ids=False`` the id column is not read: True
    in place of the ids says the shard has one."""
    if remote.is_url(p):
        with remote.open_binary(p) as fh:
            return _parquet_read(fh, p, id_col, vector_col, read_ids)
    return _parquet_read(p, p, id_col, vector_col, read_ids)


def _parquet_read(
    src, p: str, id_col: str, vector_col: str, read_ids: bool = True
) -> tuple[int, int, np.ndarray | bool | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(src)
        rows = pf.metadata.num_rows
        names = pf.schema_arrow.names
        ids: np.ndarray | bool | None = None
        if id_col in names:
            ids = pf.read(columns=[id_col]).column(0).to_numpy(zero_copy_only=False).astype(str) if read_ids else True
        if vector_col in names:
            typ = pf.schema_arrow.field(vector_col).type
            if pa.types.is_fixed_size_list(typ):
                dim = typ.list_size
            else:
                first = next(pf.iter_batches(batch_size=1, columns=[vector_col]), None)
                dim = len(first.column(0)[0]) if first is not None and len(first) else 0
        else:
            dim = len([c for c in names if c not in {id_col, "label", "text"}])
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InputError(p, f"not a readable Parquet shard: {str(exc).splitlines()[0]}") from None
    return rows, dim, ids


def _shard_meta(f: str, id_col: str, vector_col: str, read_ids: bool) -> tuple[int, int, np.ndarray | bool | None]:
    """(rows, dim, ids) of one shard: ids a str array, None (no ids: row numbers stand in), or
    True (it has ids, left unread: ``read_ids=False``)."""
    suffix = _suffix(f)
    if suffix == ".npy":
        shape = _npy_shape(f)
        if len(shape) != 2:
            raise InputError(f, f"expected a 2-D array (rows × dimensions), got shape {shape}")
        return shape[0], shape[1], None
    if suffix == ".parquet":
        return _parquet_meta(f, id_col, vector_col, read_ids)
    # small text formats: read the shard once to learn its size and ids
    emb = load_file(f, id_col=id_col, vector_col=vector_col, min_rows=1)
    ids = None if np.array_equal(emb.ids, np.arange(emb.n).astype(str)) else emb.ids
    return emb.n, emb.d, ids if read_ids or ids is None else True


def scan_shards(
    spec: str | Path, *, id_col: str = "id", vector_col: str = "embedding", min_rows: int = 2, read_ids: bool = True
) -> ShardedSet:
    """Metadata and ids of every shard; checks dimensions agree and ids are unique across shards.

    With ``read_ids=False`` (a cluster run) no id is read or held here: a shard with ids gets
    None in ``id_parts``, and the caller checks uniqueness on the workers
    (:func:`embeval.distributed.ids.check_unique`)."""
    files = shard_paths(spec)
    shards: list[ShardInfo] = []
    ids_parts: list[np.ndarray | int | None] = []
    with_ids: list[bool] = []
    offset = 0
    for f in files:
        rows, dim, ids = _shard_meta(f, id_col, vector_col, read_ids)
        if rows == 0:
            raise InputError(f, "shard has no rows")
        if shards and dim != shards[0].dim:
            raise InputError(f, f"dimension {dim} does not match shard {shards[0].path} ({shards[0].dim})")
        with_ids.append(ids is not None)
        if len(set(with_ids)) > 1:  # row numbers of one would collide with the ids of another
            other = next(sh.path for sh, has in zip(shards, with_ids) if has != with_ids[-1])
            raise InputError(
                f,
                f"has {'an' if ids is not None else 'no'} {id_col!r} column but shard {other} has "
                f"{'none' if ids is not None else 'one'}; give every shard ids, or none",
            )
        shards.append(ShardInfo(f, int(rows), int(dim), offset))
        ids_parts.append(ids if isinstance(ids, np.ndarray) else offset if ids is None else None)
        offset += rows
    if offset < min_rows:
        raise InputError(spec, f"only {offset} row(s) across {len(shards)} shard(s); at least {min_rows} are needed")
    out = ShardedSet(str(spec), shards, ids_parts, id_col=id_col, vector_col=vector_col)
    if not out.has_ids or out.ids_on_shards:  # row numbers: unique by construction; or checked on a cluster
        return out
    ids = np.concatenate([_part_ids(part, s.rows) for part, s in zip(ids_parts, shards)])
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = str(uniq[counts > 1][0])
        where = [s.path for s, part in zip(shards, ids_parts) if dup in set(_part_ids(part, s.rows).tolist())]
        raise duplicate_error(spec, dup, where, int((counts > 1).sum()))
    out.ids = ids  # already built for the check
    return out


def duplicate_error(spec: str | Path, dup: str, where: list[str], n_dup: int) -> InputError:
    """The error for ids that are not unique: the first duplicate (in code-point order) ``dup``, the
    shards holding it (``where``, in shard order) and how many distinct ids are repeated."""
    if len(where) == 1:
        return InputError(spec, f"duplicate id {dup!r} within the shard {where[0]} ({n_dup} ids repeated)")
    return InputError(spec, f"duplicate id {dup!r} across shards ({', '.join(where[:2])}; {n_dup} ids repeated)")


def shard_ids(info: ShardInfo, *, id_col: str = "id", vector_col: str = "embedding") -> np.ndarray | None:
    """The ids of one shard as :func:`scan_shards` reads them (a str array; the Parquet id column
    alone), or None for a shard without ids (its ids are the global row numbers). Runs on a worker:
    a problem raises :class:`ShardError` naming the shard and the reader."""
    try:
        if remote.is_url(info.path) or Path(info.path).exists():
            rows, _, ids = _shard_meta(info.path, id_col, vector_col, True)
        else:
            raise InputError(info.path, f"{_reader()} cannot see this shard (moved or deleted since the scan?)")
        if rows != info.rows:
            raise InputError(info.path, f"shard has {rows} rows, its metadata said {info.rows}")
    except InputError as exc:
        raise ShardError(str(exc)) from None
    return ids if isinstance(ids, np.ndarray) else None


def read_shard(info: ShardInfo, *, id_col: str = "id", vector_col: str = "embedding") -> np.ndarray:
    """The validated float32 vectors of one shard (rows × dim); InputError names the shard."""
    if remote.is_url(info.path):
        try:
            emb = load_file(info.path, id_col=id_col, vector_col=vector_col, min_rows=1)
            if emb.vectors.shape != (info.rows, info.dim):
                raise InputError(
                    info.path, f"shard has shape {emb.vectors.shape}, its metadata said ({info.rows}, {info.dim})"
                )
        except InputError as exc:
            raise ShardError(f"{exc} (read by {_reader()})") from None
        return emb.vectors
    p = Path(info.path)
    try:
        if not p.exists():
            raise InputError(
                p,
                f"{_reader()} cannot see this shard (not on a filesystem it mounts at this path, "
                "or moved or deleted since the scan)",
            )
        emb = load_embedding_file(p, id_col=id_col, vector_col=vector_col, min_rows=1)
        if emb.vectors.shape != (info.rows, info.dim):
            raise InputError(p, f"shard has shape {emb.vectors.shape}, its metadata said ({info.rows}, {info.dim})")
    except InputError as exc:
        raise ShardError(str(exc)) from None
    return emb.vectors


def _reader() -> str:
    """Who is reading: ``worker tcp://HOST:PORT`` inside a Dask worker, else ``this process``."""
    try:
        from distributed import get_worker

        return f"worker {get_worker().address}"
    except (ImportError, ValueError):
        return "this process"


def load_sharded(
    spec: str | Path,
    *,
    id_col: str = "id",
    vector_col: str = "embedding",
    label_col: str | None = None,
    min_rows: int = 2,
):
    """Every shard concatenated into one :class:`EmbeddingSet` (the single-process path)."""
    sharded = scan_shards(spec, id_col=id_col, vector_col=vector_col, min_rows=min_rows)
    out = np.empty((sharded.n, sharded.d), dtype=np.float32)
    labels = []
    for s in sharded.shards:
        emb = load_file(s.path, id_col=id_col, vector_col=vector_col, label_col=label_col, min_rows=1)
        out[s.offset : s.stop] = emb.vectors
        if label_col is not None:
            labels.append(np.asarray(emb.labels))
    return EmbeddingSet(
        vectors=out,
        ids=sharded.ids,
        path=sharded.spec,
        labels=np.concatenate(labels) if labels else None,
        info=provenance(sharded.shards),
    )


def shard_column(sharded: ShardedSet, column: str) -> np.ndarray:
    """One column (labels) of every shard, concatenated: read alone from Parquet shards, with the
    shard from other table formats; InputError names a shard without it."""
    parts = []
    for s in sharded.shards:
        with _local(s.path) as p:
            parts.append(_column_of(p, s.path, sharded, column))
    return np.concatenate(parts)


def _column_of(p: Path, shown: str, sharded: ShardedSet, column: str) -> np.ndarray:
    if p.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        if column not in pq.ParquetFile(p).schema_arrow.names:
            raise InputError(shown, f"no label column {column!r}")
        return pq.read_table(p, columns=[column]).column(0).to_numpy(zero_copy_only=False)
    if p.suffix.lower() == ".npy":
        raise InputError(shown, f".npy shards hold no {column!r} column; pass a label file (`labels`)")
    try:
        emb = load_embedding_file(p, id_col=sharded.id_col, vector_col=sharded.vector_col, label_col=column, min_rows=1)
    except InputError as exc:
        raise InputError(shown, exc.problem, exc.where) from None
    return np.asarray(emb.labels)

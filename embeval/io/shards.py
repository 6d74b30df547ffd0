"""Sharded embedding inputs: a folder of shards or a glob (``corpus/*.parquet``, ``shards/*.npy``).

A sharded input is read lazily. :func:`scan_shards` reads only each shard's metadata (``.npy``
header, Parquet footer; other formats are read one shard at a time) and its ids, and checks that
ids are unique across shards without holding more than the ids in one process. :func:`read_shard`
reads one shard's vectors (validated like any embedding file; ShardError names it); the distributed diagnostics call it
on the workers, one shard per task. :func:`load_sharded` concatenates every shard, for the
single-process path (the same report as one unsharded file).

Shards are taken in file-name order. Rows are numbered across shards in that order; a shard without
an id column or array gets its global row numbers as ids, so ``shards/*.npy`` has the same ids as
the one ``.npy`` file they were cut from. Every problem raises :class:`InputError` naming the shard.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeval.errors import EmbevalError, InputError
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
    """The metadata of a sharded input: ``spec`` as given, its shards, the global ids (str array)."""

    spec: str
    shards: list[ShardInfo]
    ids: np.ndarray
    id_col: str = "id"
    vector_col: str = "embedding"

    @property
    def n(self) -> int:
        return self.shards[-1].stop if self.shards else 0

    @property
    def d(self) -> int:
        return self.shards[0].dim

    def describe(self) -> dict:
        return {"path": self.spec, **provenance(self.shards), "n": self.n, "d": self.d}


def provenance(shards: list[ShardInfo]) -> dict:
    """What identifies a sharded input without hashing it: the shard count, their total size in
    bytes and the latest modification time (an input of many GB is not hashed; see fileinfo)."""
    sizes, mtimes = [], []
    for s in shards:
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
    if any(c in text for c in GLOB_CHARS) and not Path(text).exists():
        return True
    p = Path(text)
    if not p.is_dir() or (p / "corpus.jsonl").exists():
        return False
    return any(f.suffix.lower() in EMBEDDING_SUFFIXES for f in p.iterdir() if f.is_file())


def shard_paths(spec: str | Path) -> list[Path]:
    """The shard files of a folder (every embedding file in it, one format) or a glob, by name."""
    text = str(spec)
    if not any(c in text for c in GLOB_CHARS) and not Path(text).exists():
        raise InputError(text, "no such file or folder")
    if Path(text).is_dir():
        files = [f for f in Path(text).iterdir() if f.is_file() and f.suffix.lower() in EMBEDDING_SUFFIXES]
    else:
        files = [Path(f) for f in glob.glob(text) if Path(f).is_file()]
    if not files:
        raise InputError(text, "no shard files match" if not Path(text).is_dir() else "folder holds no embedding files")
    files.sort(key=lambda f: f.name)
    kinds = {f.suffix.lower() for f in files}
    if len(kinds) > 1:
        raise InputError(text, f"shards mix formats ({', '.join(sorted(kinds))}); use one format")
    return files


def _npy_shape(p: Path) -> tuple[int, ...]:
    """Shape from the ``.npy`` header, and a size check that catches truncated files."""
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(p, f"not a readable .npy shard (truncated or corrupt?): {exc}") from None
    return arr.shape


def _parquet_meta(p: Path, id_col: str, vector_col: str) -> tuple[int, int, np.ndarray | None]:
    """(rows, dim, ids or None) from a Parquet shard, reading the footer, the id column, and the
    vector column of the first row only."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(p)
        rows = pf.metadata.num_rows
        names = pf.schema_arrow.names
        ids = None
        if id_col in names:
            ids = pf.read(columns=[id_col]).column(0).to_numpy(zero_copy_only=False).astype(str)
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


def scan_shards(
    spec: str | Path, *, id_col: str = "id", vector_col: str = "embedding", min_rows: int = 2
) -> ShardedSet:
    """Metadata and ids of every shard; checks dimensions agree and ids are unique across shards."""
    files = shard_paths(spec)
    shards: list[ShardInfo] = []
    ids_parts: list[np.ndarray] = []
    with_ids: list[bool] = []
    offset = 0
    for f in files:
        suffix = f.suffix.lower()
        if suffix == ".npy":
            shape = _npy_shape(f)
            if len(shape) != 2:
                raise InputError(f, f"expected a 2-D array (rows × dimensions), got shape {shape}")
            rows, dim, ids = shape[0], shape[1], None
        elif suffix == ".parquet":
            rows, dim, ids = _parquet_meta(f, id_col, vector_col)
        else:  # small text formats: read the shard once to learn its size and ids
            emb = load_embedding_file(f, id_col=id_col, vector_col=vector_col, min_rows=1)
            rows, dim = emb.n, emb.d
            ids = None if np.array_equal(emb.ids, np.arange(emb.n).astype(str)) else emb.ids
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
        shards.append(ShardInfo(str(f), int(rows), int(dim), offset))
        ids_parts.append(ids if ids is not None else np.arange(offset, offset + rows).astype(str))
        offset += rows
    ids = np.concatenate(ids_parts)
    if offset < min_rows:
        raise InputError(spec, f"only {offset} row(s) across {len(shards)} shard(s); at least {min_rows} are needed")
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = str(uniq[counts > 1][0])
        where = [s.path for s, part in zip(shards, ids_parts) if dup in set(part.tolist())]
        n_dup = int((counts > 1).sum())
        if len(where) == 1:
            raise InputError(spec, f"duplicate id {dup!r} within the shard {where[0]} ({n_dup} ids repeated)")
        raise InputError(spec, f"duplicate id {dup!r} across shards ({', '.join(where[:2])}; {n_dup} ids repeated)")
    return ShardedSet(str(spec), shards, ids, id_col=id_col, vector_col=vector_col)


def read_shard(info: ShardInfo, *, id_col: str = "id", vector_col: str = "embedding") -> np.ndarray:
    """The validated float32 vectors of one shard (rows × dim); InputError names the shard."""
    p = Path(info.path)
    try:
        if not p.exists():
            raise InputError(p, "shard is missing (moved or deleted since the scan?)")
        emb = load_embedding_file(p, id_col=id_col, vector_col=vector_col, min_rows=1)
        if emb.vectors.shape != (info.rows, info.dim):
            raise InputError(p, f"shard has shape {emb.vectors.shape}, its metadata said ({info.rows}, {info.dim})")
    except InputError as exc:
        raise ShardError(str(exc)) from None
    return emb.vectors


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
        emb = load_embedding_file(s.path, id_col=id_col, vector_col=vector_col, label_col=label_col, min_rows=1)
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
        p = Path(s.path)
        if p.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            if column not in pq.ParquetFile(p).schema_arrow.names:
                raise InputError(p, f"no label column {column!r}")
            parts.append(pq.read_table(p, columns=[column]).column(0).to_numpy(zero_copy_only=False))
        elif p.suffix.lower() in (".npy",):
            raise InputError(p, f".npy shards hold no {column!r} column; pass a label file (`labels`)")
        else:
            emb = load_embedding_file(
                p, id_col=sharded.id_col, vector_col=sharded.vector_col, label_col=column, min_rows=1
            )
            parts.append(np.asarray(emb.labels))
    return np.concatenate(parts)

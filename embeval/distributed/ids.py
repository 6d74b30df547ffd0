"""Corpus ids on a cluster: they stay with their shards, and the driver never holds them all.

A cluster run scans its shards with ``scan_shards(read_ids=False)``: the driver reads each shard's
footer, not its id column. What needs ids then runs on the workers, one task per shard, each
reading that shard's id column alone (:func:`embeval.io.shards.shard_ids`):

- :func:`check_unique`: ids unique across shards, by a hash partition. Each shard's task splits
  its ids into B buckets by a stable hash of the id text (:func:`bucket_of`: the same on every
  process and run, unlike Python's ``hash``); bucket task b gathers part b of every shard (worker
  to worker: the parts are futures passed as arguments) and returns only how many ids repeat
  there and the first repeated id (in code-point order) with the shards that hold it. Every copy
  of an id lands in the same bucket, so the buckets' counts add up to the global count, and the
  smallest of their first ids is the global first: the error is the one ``scan_shards`` raises in
  one process (:func:`embeval.io.shards.duplicate_error`).
- :func:`rows_of`: the global rows of given ids (the judged documents of the qrels: small), one
  task per shard returning the ids it holds.
- :func:`ids_at`: the ids of given global rows (the merged top-K of a ranking), one task per
  shard holding any of them.

Shards without ids (row numbers stand in) and ids already in the driver's memory need no task.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable

import numpy as np

from embeval.distributed.cluster import run_tasks
from embeval.io.shards import ShardedSet, ShardInfo, duplicate_error, shard_ids
from embeval.progress import NULL, Progress

BUCKET_IDS = 2_000_000  # ids per bucket aimed at: a bucket task holds about this many ids at once
MAX_BUCKETS = 256  # shards × buckets small tasks move the parts; this caps their number

_MULT = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime, one step per character
_MIX1, _MIX2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)  # MurmurHash3's fmix64


def bucket_of(ids: np.ndarray, buckets: int) -> np.ndarray:
    """The bucket (0 … ``buckets``−1) of each id: a 64-bit hash of its code points (FNV-style,
    finished with MurmurHash3's fmix64), modulo ``buckets``. It depends on the text only (not on
    the array's width, the process or the run), so every copy of an id lands in the same bucket."""
    arr = np.ascontiguousarray(np.asarray(ids, dtype=str))
    n = len(arr)
    width = arr.dtype.itemsize // 4
    if n == 0 or width == 0:
        return np.zeros(n, dtype=np.int64)
    codes = arr.view(np.uint32).reshape(n, width).astype(np.uint64)
    h = np.full(n, 0xCBF29CE484222325, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(width):
            c = codes[:, j]
            live = c != 0  # the padding of a shorter id adds nothing
            h = np.where(live, (h ^ c) * _MULT, h)
        h ^= h >> np.uint64(33)
        h *= _MIX1
        h ^= h >> np.uint64(33)
        h *= _MIX2
        h ^= h >> np.uint64(33)
    return (h % np.uint64(buckets)).astype(np.int64)


def _read_ids(info: ShardInfo, cols: tuple[str, str]) -> np.ndarray:
    ids = shard_ids(info, id_col=cols[0], vector_col=cols[1])
    return np.arange(info.offset, info.stop).astype(str) if ids is None else ids


# ----------------------------------------------------------------------------- worker tasks


def _partition(info: ShardInfo, cols: tuple[str, str], buckets: int) -> list[np.ndarray]:
    """One shard's ids split by bucket: part b holds the ids with :func:`bucket_of` = b."""
    ids = _read_ids(info, cols)
    b = bucket_of(ids, buckets)
    order = np.argsort(b, kind="stable")
    bounds = np.searchsorted(b[order], np.arange(buckets + 1))
    return [ids[order[bounds[i] : bounds[i + 1]]] for i in range(buckets)]


def _duplicates(*parts: np.ndarray) -> tuple[int, tuple[str, list[int]] | None]:
    """(distinct ids repeated in this bucket, (the first of them in code-point order, the
    positions of the parts that hold it)); parts in shard order."""
    if not any(len(p) for p in parts):
        return 0, None
    ids = np.concatenate([p for p in parts if len(p)])
    which = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
    uniq, inv, counts = np.unique(ids, return_inverse=True, return_counts=True)
    repeated = np.flatnonzero(counts > 1)
    if not len(repeated):
        return 0, None
    first = int(repeated[0])
    return len(repeated), (str(uniq[first]), sorted(set(which[inv.ravel() == first].tolist())))


# Results are NumPy arrays, not lists: Dask serialises a list element by element (a frame per id).


def _lookup(info: ShardInfo, wanted: np.ndarray, cols: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The ids of ``wanted`` this shard holds, and their global rows."""
    ids = _read_ids(info, cols)
    hits = np.flatnonzero(np.isin(ids, wanted))
    return ids[hits], info.offset + hits


def _ids_at(info: ShardInfo, local: np.ndarray, cols: tuple[str, str]) -> np.ndarray:
    """The ids at shard-local rows ``local``, UTF-8 encoded (a bytes array: a quarter of the
    str array's four bytes per character for ASCII ids, on the way to the driver)."""
    return np.char.encode(_read_ids(info, cols)[local], "utf-8")


# ----------------------------------------------------------------------------- driver


def check_unique(client, sharded: ShardedSet, *, buckets: int | None = None, progress: Progress = NULL) -> None:
    """Ids unique across the shards whose ids were left with them (``scan_shards(read_ids=False)``),
    checked on the workers by a hash partition (module docstring); the driver receives two numbers
    and one id per bucket. A repeated id raises the InputError of ``scan_shards`` (exit 2)."""
    todo = [i for i, part in enumerate(sharded.id_parts) if part is None]
    if not todo:
        return
    n_ids = sum(sharded.shards[i].rows for i in todo)
    b = buckets or min(MAX_BUCKETS, max(1, math.ceil(n_ids / BUCKET_IDS)))
    cols = (sharded.id_col, sharded.vector_col)
    parts = [client.submit(_partition, sharded.shards[i], cols, b, pure=False) for i in todo]
    pieces = [tuple(client.submit(operator.getitem, p, j, pure=False) for p in parts) for j in range(b)]
    found = run_tasks(
        client, _duplicates, pieces, progress=progress, label="checking ids are unique (shards)", keep=False
    )
    del parts, pieces
    n_dup = sum(n for n, _ in found)
    if not n_dup:
        return
    dup, where = min(first for _, first in found if first is not None)
    raise duplicate_error(sharded.spec, dup, [sharded.shards[todo[j]].path for j in where], n_dup)


def _row_numbers(wanted: np.ndarray) -> np.ndarray:
    """Each id as the row number it spells (``str(row) == id``), or −1."""
    out = np.full(len(wanted), -1, dtype=np.int64)
    for i, d in enumerate(wanted.tolist()):
        if d.isascii() and d.isdigit() and str(int(d)) == d:
            out[i] = int(d)
    return out


def rows_of(client, sharded: ShardedSet, wanted: Iterable[str], *, progress: Progress = NULL) -> dict[str, int]:
    """``{id: global row}`` for the ids of ``wanted`` that the corpus holds (the others are
    absent): computed for row-number ids, looked up in memory for ids in memory, and by one task
    per shard for ids left with their shards."""
    want = np.array(sorted({str(w) for w in wanted}), dtype=str)
    out: dict[str, int] = {}
    if not len(want):
        return out
    numbers = _row_numbers(want)
    remote = []
    for s, part in zip(sharded.shards, sharded.id_parts):
        if part is None:
            remote.append(s)
        elif isinstance(part, int):
            sel = (numbers >= part) & (numbers < part + s.rows)
            out.update(zip(want[sel].tolist(), (numbers[sel] - part + s.offset).tolist()))
        else:
            hits = np.flatnonzero(np.isin(part, want))
            out.update(zip(part[hits].tolist(), (s.offset + hits).tolist()))
    if remote:
        cols = (sharded.id_col, sharded.vector_col)
        w_fut = client.scatter(want, broadcast=True, hash=False)
        args = [(s, w_fut, cols) for s in remote]
        for ids, rows in run_tasks(
            client, _lookup, args, progress=progress, label="finding judged ids (shards)", keep=False
        ):
            out.update(zip(ids.tolist(), rows.tolist()))
    return out


def ids_at(client, sharded: ShardedSet, rows: np.ndarray, *, progress: Progress = NULL) -> np.ndarray:
    """The ids (a str array) of the global ``rows`` (sorted, distinct), read by one task per shard
    that holds any of them when its ids were left with it."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty(len(rows), dtype=object)
    remote: list[tuple[ShardInfo, np.ndarray]] = []
    for s, part in zip(sharded.shards, sharded.id_parts):
        lo, hi = np.searchsorted(rows, [s.offset, s.stop])
        if lo == hi:
            continue
        local = rows[lo:hi] - s.offset
        if part is None:
            remote.append((s, local))
        elif isinstance(part, int):
            out[lo:hi] = (local + part).astype(str)
        else:
            out[lo:hi] = part[local]
    if remote:
        cols = (sharded.id_col, sharded.vector_col)
        got = run_tasks(
            client,
            _ids_at,
            [(s, local, cols) for s, local in remote],
            progress=progress,
            label="ranked ids (shards)",
            keep=False,
        )
        for (s, _), encoded in zip(remote, got):
            lo = int(np.searchsorted(rows, s.offset))
            out[lo : lo + len(encoded)] = np.char.decode(encoded, "utf-8")
    return out.astype(str) if len(out) else np.empty(0, dtype=str)

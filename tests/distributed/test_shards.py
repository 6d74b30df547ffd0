"""Sharded inputs (embeval.io.shards): scanning, ids across shards, errors naming the shard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embeval.errors import InputError
from embeval.io.embeddings import load_embeddings
from embeval.io.shards import ShardError, is_shard_spec, read_shard, scan_shards


def _parquet(path, x, ids):
    pd.DataFrame({"id": ids, "embedding": list(x)}).to_parquet(path)


def test_npy_shards_equal_one_file(tmp_path, rng):
    x = rng.standard_normal((50, 8)).astype(np.float32)
    (tmp_path / "s").mkdir()
    for i, part in enumerate(np.array_split(np.arange(50), 3)):
        np.save(tmp_path / "s" / f"part{i}.npy", x[part])
    np.save(tmp_path / "full.npy", x)
    for spec in (tmp_path / "s", str(tmp_path / "s" / "*.npy")):
        assert is_shard_spec(spec)
        sharded = scan_shards(spec)
        assert [(s.rows, s.offset) for s in sharded.shards] == [(17, 0), (17, 17), (16, 34)]
        emb = load_embeddings(spec)
        full = load_embeddings(tmp_path / "full.npy")
        np.testing.assert_array_equal(emb.vectors, full.vectors)
        np.testing.assert_array_equal(emb.ids, full.ids)  # global row numbers
        np.testing.assert_array_equal(read_shard(sharded.shards[1]), x[17:34])
    assert not is_shard_spec(tmp_path / "full.npy")


def test_parquet_shards_ids_read_without_vectors(tmp_path, rng):
    x = rng.standard_normal((20, 4)).astype(np.float32)
    ids = [f"doc{i}" for i in range(20)]
    _parquet(tmp_path / "a.parquet", x[:12], ids[:12])
    _parquet(tmp_path / "b.parquet", x[12:], ids[12:])
    sharded = scan_shards(str(tmp_path / "*.parquet"))
    assert sharded.n == 20 and sharded.d == 4
    assert list(sharded.ids) == ids
    np.testing.assert_array_equal(load_embeddings(str(tmp_path / "*.parquet")).vectors, x)


def test_duplicate_id_across_shards_names_both(tmp_path, rng):
    x = rng.standard_normal((6, 4)).astype(np.float32)
    _parquet(tmp_path / "a.parquet", x[:3], ["p", "q", "r"])
    _parquet(tmp_path / "b.parquet", x[3:], ["s", "q", "t"])
    with pytest.raises(InputError, match=r"duplicate id 'q' across shards .*a\.parquet.*b\.parquet"):
        scan_shards(tmp_path)


def test_bad_shards_are_named(tmp_path, rng):
    x = rng.standard_normal((10, 4)).astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    np.save(tmp_path / "b.npy", x[:, :3])
    with pytest.raises(InputError, match=r"b\.npy: dimension 3 does not match"):
        scan_shards(tmp_path)
    np.save(tmp_path / "b.npy", x)
    (tmp_path / "c.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:100])  # truncated
    with pytest.raises(InputError, match=r"c\.npy: not a readable \.npy shard"):
        scan_shards(tmp_path)
    (tmp_path / "c.npy").unlink()
    y = x.copy()
    y[2, 1] = np.nan  # passes the metadata scan, fails where the shard is read
    np.save(tmp_path / "b.npy", y)
    sharded = scan_shards(tmp_path)
    with pytest.raises(ShardError, match=r"b\.npy \(row 2\): non-finite"):
        read_shard(sharded.shards[1])
    with pytest.raises(InputError, match="no shard files match"):
        scan_shards(str(tmp_path / "*.parquet"))
    with pytest.raises(InputError, match="no such file or folder"):
        scan_shards(tmp_path / "missing")


def test_mixed_formats_refused(tmp_path, rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    _parquet(tmp_path / "b.parquet", x, ["a", "b", "c", "d"])
    with pytest.raises(InputError, match="shards mix formats"):
        scan_shards(tmp_path)


def test_shards_without_ids_hold_no_per_row_array(tmp_path, rng, monkeypatch):
    """.npy shards: ids are row numbers, unique by construction; the driver builds no id array (and
    runs no global unique) unless a caller asks for ``ids``; then they are the global row numbers."""
    x = rng.standard_normal((30, 4)).astype(np.float32)
    for i, part in enumerate(np.array_split(np.arange(30), 3)):
        np.save(tmp_path / f"p{i}.npy", x[part])
    calls = []
    real = np.unique
    monkeypatch.setattr(np, "unique", lambda *a, **k: calls.append(1) or real(*a, **k))
    sharded = scan_shards(tmp_path)
    assert calls == [] and "ids" not in vars(sharded) and sharded.id_parts == [0, 10, 20]
    np.testing.assert_array_equal(sharded.ids, np.arange(30).astype(str))
    from embeval.distributed.gap import union

    both = union(sharded, sharded)  # A∪B: B keeps its own row numbers as ids
    np.testing.assert_array_equal(both.ids, np.concatenate([np.arange(30), np.arange(30)]).astype(str))


def test_relative_paths_are_made_absolute(tmp_path, rng, monkeypatch):
    np.save(tmp_path / "a.npy", rng.standard_normal((5, 3)).astype(np.float32))
    np.save(tmp_path / "b.npy", rng.standard_normal((5, 3)).astype(np.float32))
    monkeypatch.chdir(tmp_path)
    for spec in ("*.npy", "."):
        paths = [s.path for s in scan_shards(spec).shards]
        assert paths == [str(tmp_path / "a.npy"), str(tmp_path / "b.npy")]

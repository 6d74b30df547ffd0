"""Tile kernels and merges of embeval.distributed, without a cluster: every tiling merges to the
whole-array answer (brute-force NumPy references)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embeval.diagnostics.space import l2_normalize
from embeval.distributed import tiles
from embeval.distributed.retrieval import _below_equal
from embeval.index.knn import knn_self_numpy


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=1, max_size=200), st.sets(st.integers(-6, 6), min_size=1))
def test_below_equal_counts(values, thresholds):
    v = np.array(values, dtype=np.float32)
    u = np.array(sorted(thresholds), dtype=np.float32)
    below, equal = _below_equal(v, u)
    np.testing.assert_array_equal(below, [(v < t).sum() for t in u])
    np.testing.assert_array_equal(equal, [(v == t).sum() for t in u])


def test_knn_tiles_merge_to_whole_set(rng):
    x = l2_normalize(rng.standard_normal((230, 12)).astype(np.float32))
    x[40] = x[7]  # an exact duplicate
    k = 6
    cuts = [0, 1, 90, 91, 230]  # 1-row shards included
    sims = np.empty((230, k), np.float32)
    idx = np.empty((230, k), np.int64)
    for a, b in pairwise(cuts):
        parts = [tiles.knn_tile(x[a:b], x[c:e], k + 1, c) for c, e in pairwise(cuts)]
        s, i = tiles.merge_topk(parts, k + 1)
        sims[a:b], idx[a:b] = tiles.drop_self(s, i, k, a)
    ref_s, ref_i = knn_self_numpy(x, k)
    np.testing.assert_allclose(sims, ref_s, atol=1e-5)
    same = (idx == ref_i) | np.isclose(sims, ref_s, atol=1e-6)  # only exact ties may swap rows
    assert same.all()
    assert 7 in idx[40] and 40 in idx[7]  # duplicates find each other, self is never listed
    assert not (idx == np.arange(230)[:, None]).any()


def test_topk_tiles_merge_with_row_tie_rule(rng):
    q = l2_normalize(rng.standard_normal((20, 8)).astype(np.float32))
    x = l2_normalize(rng.standard_normal((100, 8)).astype(np.float32))
    x[60] = x[10]  # tie across shards: the lower row must win
    parts = [tiles.topk_tile(q, x[a:b], 5, a) for a, b in ((0, 33), (33, 34), (34, 100))]
    _, i = tiles.merge_topk(parts, 5)
    full = q.astype(np.float64) @ x.astype(np.float64).T
    order = np.lexsort((np.broadcast_to(np.arange(100), full.shape), -full), axis=1)[:, :5]
    np.testing.assert_array_equal(i, order)


def _leaf(g, j):
    if g == 9 and j == 3:
        raise ValueError("tile 9/3 failed")
    return [(g, j)]


def _cat(a, b, tag):
    return a + b + ([tag] if len(a) + len(b) == 5 else [])


def _fin(part, g):
    return (g, part)


def test_run_tree_merges_in_order_on_the_workers(dask_client):
    """run_tree: each group's leaves merged left-before-right as a tree (any group size), then
    finished; only the finished values reach the driver; a failing leaf re-raises its error."""
    from embeval.distributed.cluster import run_tree

    sizes = [1, 2, 5]
    got: dict = {}
    client = dask_client  # the run's shared LocalCluster (conftest)
    run_tree(
        client,
        _leaf,
        [[(g, j) for j in range(n)] for g, n in enumerate(sizes)],
        merge=(_cat, ("five",)),
        finish=[(_fin, (g,)) for g in range(len(sizes))],
        on_result=lambda g, v: got.__setitem__(g, v),
    )
    assert got[0] == (0, [(0, 0)]) and got[1] == (1, [(1, 0), (1, 1)])
    assert [x for x in got[2][1] if x != "five"] == [(2, j) for j in range(5)]
    with pytest.raises(ValueError, match="tile 9/3 failed"):
        run_tree(
            client,
            _leaf,
            [[(9, j) for j in range(5)]],
            merge=(_cat, ("five",)),
            finish=[(_fin, (9,))],
            on_result=lambda g, v: None,
        )

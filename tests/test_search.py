"""The search-index interface: FAISS vs brute-force NumPy, deterministic tie order, parameters."""

from __future__ import annotations

import numpy as np
import pytest

from embeval.diagnostics.space import l2_normalize
from embeval.errors import UsageError
from embeval.index.knn import search_numpy
from embeval.index.search import build_index, resolve_params, search_recall


@pytest.fixture
def data(rng):
    corpus = l2_normalize(rng.standard_normal((2000, 24)))
    queries = l2_normalize(rng.standard_normal((150, 24)))
    return queries, corpus


@pytest.mark.parametrize("k", [1, 10, 100])
def test_flat_matches_numpy(data, k):
    q, c = data
    s, i = build_index("flat", c).search(q, k)
    s_ref, i_ref = search_numpy(q, c, k)
    assert s.dtype == np.float32 and i.dtype == np.int64 and s.shape == (len(q), k)
    np.testing.assert_allclose(s, s_ref, atol=1e-5)
    # Indices agree except where float32 and float64 scores tie to rounding.
    mismatch = i != i_ref
    assert mismatch.mean() < 0.01
    assert np.all(np.abs(s_ref[mismatch] - np.take_along_axis(q @ c.T, i, 1)[mismatch]) < 1e-5)


def test_flat_matches_faiss_index_flat_ip(data):
    import faiss

    q, c = data
    ref = faiss.IndexFlatIP(c.shape[1])
    ref.add(c)
    s_ref, i_ref = ref.search(q, 50)
    index = build_index("flat", c)
    index.block_elements = 5000  # many corpus chunks per query block
    s, i = index.search(q, 50)
    np.testing.assert_allclose(s, s_ref, atol=2e-6)
    assert (i == i_ref).mean() > 0.99


def test_ties_are_ordered_by_row_including_across_the_cutoff():
    # Scores are exact in float32 (one-hot queries pick a coordinate), with many exact ties.
    base = np.array([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6], [0.0, 1.0]], dtype=np.float32)
    corpus = base[np.array([3, 1, 2, 0, 2, 1, 0, 2, 3, 0, 1, 2])]
    q = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    for k in (1, 2, 3, 4, 5, 12):
        s, i = build_index("flat", corpus).search(q, k)
        full = q.astype(np.float64) @ corpus.T.astype(np.float64)
        for r in range(2):
            expected = np.lexsort((np.arange(len(corpus)), -full[r]))[:k]
            np.testing.assert_array_equal(i[r], expected, err_msg=f"k={k} row={r}")


def test_k_beyond_corpus_pads_with_minus_one(data):
    q, c = data
    s, i = build_index("flat", c[:5]).search(q[:3], 8)
    assert (i[:, 5:] == -1).all() and np.isneginf(s[:, 5:]).all()
    assert sorted(i[0, :5]) == list(range(5))


def test_ivf_probing_every_cell_is_exact(data):
    q, c = data
    exact = build_index("flat", c).search(q, 10)[1]
    ivf = build_index("ivf", c, nlist=16, nprobe=16)
    assert ivf.params == {"nlist": 16, "nprobe": 16}
    approx = ivf.search(q, 10)[1]
    assert search_recall(approx, exact).mean() == 1.0


def test_ivf_unfilled_slots_are_marked(data):
    q, c = data
    s, i = build_index("ivf", c, nlist=50, nprobe=1).search(q, 200)
    assert (i == -1).any()
    assert np.isneginf(s[i == -1]).all()
    # -1 slots sort last, real results stay best-first.
    for row_s, row_i in zip(s, i):
        real = row_i >= 0
        assert not real[np.argmin(real):].any() or real.all()
        assert np.all(np.diff(row_s[real]) <= 0)


def test_hnsw_is_deterministic_and_close_to_exact(data):
    q, c = data
    a = build_index("hnsw", c, m=16, ef_search=64).search(q, 10)
    b = build_index("hnsw", c, m=16, ef_search=64).search(q, 10)
    np.testing.assert_array_equal(a[1], b[1])
    exact = build_index("flat", c).search(q, 10)[1]
    assert search_recall(a[1], exact).mean() > 0.9


def test_search_recall_counts_overlap():
    exact = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])
    approx = np.array([[3, 2, 9, -1], [4, 5, 6, 7]])
    np.testing.assert_allclose(search_recall(approx, exact), [0.5, 1.0])


def test_params_are_checked():
    with pytest.raises(UsageError, match="choose one of flat, hnsw, ivf"):
        resolve_params("annoy", 10, None)
    with pytest.raises(UsageError, match="applies to --index ivf"):
        resolve_params("hnsw", 10, {"nprobe": 3})
    with pytest.raises(UsageError, match="positive integer"):
        resolve_params("hnsw", 10, {"m": 0})
    with pytest.raises(UsageError, match="more than the 10 corpus rows"):
        resolve_params("ivf", 10, {"nlist": 11})
    p = resolve_params("ivf", 10_000, None)
    assert p["nlist"] == 256 and p["nprobe"] == 16  # min(4·√n, n/39)
    assert resolve_params("ivf", 100, {"nprobe": 50})["nprobe"] == 2  # nlist = 100 // 39

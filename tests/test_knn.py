"""FAISS vs brute-force NumPy parity for kNN."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from embeval.diagnostics.space import l2_normalize
from embeval.index.knn import knn_self, knn_self_numpy


@pytest.mark.parametrize("k", [1, 5, 20])
def test_faiss_matches_numpy(gauss, k):
    x = l2_normalize(gauss)
    s_f, i_f = knn_self(x, k)
    s_n, i_n = knn_self_numpy(x, k)
    np.testing.assert_allclose(s_f, s_n, atol=1e-5)
    # Indices agree except where similarities tie to float precision.
    mismatch = i_f != i_n
    assert np.all(np.abs(s_f[mismatch] - s_n[mismatch]) < 1e-5)
    assert not (i_f == np.arange(len(x))[:, None]).any()


def test_l2_metric_matches_numpy(gauss):
    d2, idx = knn_self(gauss, 3, metric="l2")
    full = ((gauss[:, None].astype(np.float64) - gauss[None]) ** 2).sum(-1)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_allclose(d2, np.sort(full, axis=1)[:, :3], rtol=1e-4)


def test_duplicates_never_list_self():
    x = l2_normalize(np.repeat(np.eye(4, dtype=np.float32), 3, axis=0))
    _, idx = knn_self(x, 2)
    assert not (idx == np.arange(len(x))[:, None]).any()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 40), d=st.integers(1, 8), k=st.integers(1, 5), seed=st.integers(0, 10**6))
def test_knn_similarities_property(n, d, k, seed):
    k = min(k, n - 1)
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32) + 0.01
    s_f, i_f = knn_self(x, k)
    s_n, _ = knn_self_numpy(x, k)
    np.testing.assert_allclose(s_f, s_n, rtol=1e-4, atol=1e-4)
    # The returned similarity is the actual inner product with the returned index.
    np.testing.assert_allclose(s_f, np.einsum("ij,ikj->ik", x, x[i_f]), rtol=1e-4, atol=1e-4)

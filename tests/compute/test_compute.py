"""The compute layer: NumPy tiles against brute force, the torch back end (on CPU tensors) against
NumPy within the documented float32 bound, exact tie rules, device resolution."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from embeval.compute import (
    AbsAngleMargin,
    CosineSlots,
    Dot,
    ExpSqDist,
    cross_pair_sum,
    dot_error_bound,
    get_backend,
    knn,
    merge_topk,
    resolve_device,
    sampled_pair_mean,
    search,
    upper_pair_sum,
)
from embeval.errors import UsageError

BACKENDS = ["numpy", "torch"]


def unit(n, d, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def be(engine):
    if engine == "torch":
        pytest.importorskip("torch")
    return get_backend("cpu", engine=engine)


def brute_kernel(g64, kernel, sq=None):
    if isinstance(kernel, ExpSqDist):
        d2 = 2 - 2 * g64 if kernel.normalized else sq[:, None] + sq[None, :] - 2 * g64
        return np.exp(-kernel.t * np.maximum(d2, 0))
    if isinstance(kernel, AbsAngleMargin):
        return np.abs(np.degrees(np.arccos(np.clip(g64, -1, 1))) - 90)
    return g64


@pytest.mark.parametrize("engine", BACKENDS)
@pytest.mark.parametrize("block", [1, 7 * 50, 1 << 24])
@pytest.mark.parametrize("kernel", [Dot(), ExpSqDist(2.0), ExpSqDist(0.5, normalized=False), AbsAngleMargin()])
def test_upper_pair_sum_matches_brute_force(engine, block, kernel):
    x = unit(50, 16, 1) * (1.0 if getattr(kernel, "normalized", True) else 1.5)
    x64 = x.astype(np.float64)
    f = brute_kernel(x64 @ x64.T, kernel, np.einsum("ij,ij->i", x64, x64))
    want = f[np.triu_indices(50, 1)].sum()
    got = upper_pair_sum(x, kernel, backend=be(engine), block_elements=block)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-4)


@pytest.mark.parametrize("engine", BACKENDS)
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("block", [3, 40 * 7, 1 << 24])
def test_cross_pair_sum_matches_brute_force(engine, skip, block):
    a, b = unit(40, 8, 2), unit(30, 8, 3)
    f = np.exp(-2 * np.maximum(2 - 2 * a.astype(np.float64) @ b.T.astype(np.float64), 0))
    if skip:
        f[np.arange(30), np.arange(30)] = 0
    got = cross_pair_sum(a, b, ExpSqDist(2.0), skip_diagonal=skip, backend=be(engine), block_elements=block)
    assert got == pytest.approx(f.sum(), rel=1e-6)


def brute_knn(x, k, rows=None):
    """(score desc, row asc) top-k of other rows, float64 scores."""
    s = x.astype(np.float64) @ x.astype(np.float64).T
    np.fill_diagonal(s, -np.inf)
    rows = np.arange(len(x)) if rows is None else rows
    idx = np.stack([np.lexsort((np.arange(len(x)), -s[r]))[:k] for r in rows])
    return np.take_along_axis(s[rows], idx, axis=1), idx


@pytest.mark.parametrize("engine", BACKENDS)
@pytest.mark.parametrize("block", [64, 700, 1 << 24])
def test_knn_ties_are_score_then_row_and_prefix_stable(engine, block):
    # Coarsely quantised vectors with duplicates: many exact ties, including across place k.
    rng = np.random.default_rng(5)
    x = rng.integers(-1, 2, size=(120, 4)).astype(np.float32)
    x[x.sum(axis=1) == 0, 0] = 1
    x[:10] = x[10:20]
    s_want, i_want = brute_knn(x, 15)
    s, i = knn(x, 15, backend=be(engine), block_elements=block)
    np.testing.assert_array_equal(i, i_want)
    np.testing.assert_allclose(s, s_want, atol=1e-6)
    for k in (1, 3, 7):  # the top k is the prefix of the top 15 whatever k is
        np.testing.assert_array_equal(knn(x, k, backend=be(engine), block_elements=block)[1], i_want[:, :k])


@pytest.mark.parametrize("engine", BACKENDS)
def test_knn_query_subset_and_l2(engine):
    x = unit(200, 12, 7)
    rows = np.array([5, 17, 199, 0])
    _, i_want = brute_knn(x, 4, rows)
    np.testing.assert_array_equal(knn(x, 4, queries=rows, backend=be(engine))[1], i_want)
    y = x * np.linspace(0.5, 3, 200, dtype=np.float32)[:, None]
    d2 = ((y[:, None, :].astype(np.float64) - y[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    want = np.argsort(d2, axis=1, kind="stable")[:, :3]
    got_d, got_i = knn(y, 3, metric="l2", backend=be(engine), block_elements=500)
    np.testing.assert_array_equal(got_i, want)
    np.testing.assert_allclose(got_d, np.take_along_axis(d2, want, axis=1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("engine", BACKENDS)
def test_search_pads_when_k_exceeds_rows(engine):
    q, x = unit(3, 5, 1), unit(4, 5, 2)
    s, i = search(q, x, 6, backend=be(engine))
    assert (i[:, 4:] == -1).all() and np.isneginf(s[:, 4:]).all()
    np.testing.assert_array_equal(i[:, :4], np.argsort(-(q @ x.T), axis=1, kind="stable"))


def test_merge_topk_is_exact_on_ties():
    s1, i1 = np.array([[0.9, 0.5]], np.float32), np.array([[7, 3]])
    s2, i2 = np.array([[0.5, 0.5]], np.float32), np.array([[1, 9]])
    _, i = merge_topk(s1, i1, s2, i2, 3)
    assert i.tolist() == [[7, 1, 3]]


def test_torch_matches_numpy_within_documented_bound():
    """The CPU/GPU agreement bound of the README, checked on CPU tensors: top-k scores within
    2γ_d, identical indices (no near-ties in random data), uniformity within 4·t·2γ_d."""
    x = unit(3000, 384, 11)
    eps = dot_error_bound(384)
    npb, tb = be("numpy"), be("torch")
    for kernel in (ExpSqDist(2.0), Dot()):
        a = upper_pair_sum(x, kernel, backend=npb)
        b = upper_pair_sum(x, kernel, backend=tb)
        pairs = 3000 * 2999 / 2
        if isinstance(kernel, ExpSqDist):
            assert abs(math.log(a / pairs) - math.log(b / pairs)) <= 4 * kernel.t * eps
        else:
            assert abs(a - b) <= pairs * eps
    s1, i1 = knn(x, 10, backend=npb)
    s2, i2 = knn(x, 10, backend=tb)
    assert np.abs(s1 - s2).max() <= eps
    assert (i1 == i2).mean() > 0.999  # only near-ties (within eps) may swap


@pytest.mark.parametrize("engine", BACKENDS)
def test_histogram_and_class_sums(engine):
    b_ = be(engine)
    x = unit(60, 6, 3)
    p = b_.put(x)
    binner = CosineSlots(scale=5.0, offset=5.0, nbins=10)  # floor((cos + 1)·5): 10 bins over [−1, 1]
    counts = sum(b_.histogram(p, p, slice(s, s + 16), slice(0, 60), binner, skip_diagonal=True)
                 for s in range(0, 60, 16))
    g = (x @ x.T).astype(np.float32)
    slots = np.floor(g * np.float32(5.0) + np.float32(5.0)).astype(int)
    slots[np.arange(60), np.arange(60)] = -1
    want = np.bincount(slots[(slots >= 0) & (slots < 10)], minlength=10)
    np.testing.assert_array_equal(counts, want)
    codes = np.arange(60) % 4
    cs = b_.class_sums(p, slice(0, 60), codes, 4)
    np.testing.assert_allclose(cs, np.stack([x[codes == c].astype(np.float64).sum(0) for c in range(4)]), atol=1e-12)


def test_sampled_pair_mean_covers_exact_and_is_seeded():
    x = unit(400, 8, 4)
    f = lambda a, b: np.exp(-2 * ((a.astype(np.float64) - b) ** 2).sum(1))
    exact = upper_pair_sum(x, ExpSqDist(2.0)) / (400 * 399 / 2)
    mean, half, m = sampled_pair_mean(x, f, 100_000, seed=1, block=4096)
    assert m == 100_000 and abs(mean - exact) < half < 0.05 * exact
    assert sampled_pair_mean(x, f, 1000, seed=1) == sampled_pair_mean(x, f, 1000, seed=1)


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("AUTO", rows=10) == "cpu"
    for bad in ("gpu", "cuda:x", "", "cuda:-1", "tpu:0"):
        with pytest.raises(UsageError, match="expected auto, cpu, cuda or cuda:N"):
            resolve_device(bad)
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA is not available"):
            resolve_device("cuda")
        assert resolve_device("auto", rows=10**7) == "cpu"


def test_numpy_paths_never_import_torch():
    code = ("import sys, numpy as np; from embeval.compute import knn, upper_pair_sum, ExpSqDist, resolve_device;"
            "x=np.eye(30, 4, dtype='f4')+0.1; knn(x, 2); upper_pair_sum(x, ExpSqDist());"
            "resolve_device('auto', rows=10);"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("exact_limit", [1 << 24, 0], ids=["exact", "binned"])
def test_auc_pass_on_the_torch_backend_equals_numpy(exact_limit):
    """The all-pairs AUC pass behind the Backend: its score blocks computed by torch (CPU tensors)
    give the AUCs and score moments of the NumPy back end, within the documented bound on a float32
    product (dot_error_bound) for the moments; and the NumPy back end is the default, bit for bit."""
    pytest.importorskip("torch")
    from embeval.compute import dot_error_bound
    from embeval.compute.auc import auc_global_query
    from embeval.compute.backend import NumpyBackend
    from embeval.compute.torch_backend import TorchBackend

    rng = np.random.default_rng(5)
    corpus = rng.standard_normal((700, 16)).astype(np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    queries = corpus[:40] + 0.5 * rng.standard_normal((40, 16)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    positives = [np.array(sorted({i, (i * 13 + 5) % 700})) for i in range(40)]
    kw = {"exact_limit": exact_limit, "block_elements": 4096}  # many blocks, ragged edges
    ref = auc_global_query(queries, corpus, positives, **kw)
    same = auc_global_query(queries, corpus, positives, backend=NumpyBackend(), **kw)
    tor = auc_global_query(queries, corpus, positives, backend=TorchBackend("cpu"), **kw)
    assert ref.levels.auc() == same.levels.auc() and ref.neg_mean == same.neg_mean and ref.neg_std == same.neg_std
    np.testing.assert_array_equal(ref.per_query, same.per_query)
    assert ref.levels.method == ("exact" if exact_limit else "binned")
    assert 0.5 < ref.levels.auc() < 1.0
    assert tor.levels.auc() == pytest.approx(ref.levels.auc(), abs=1e-6)
    np.testing.assert_allclose(tor.per_query, ref.per_query, atol=1e-6)
    np.testing.assert_allclose(tor.pos_scores, ref.pos_scores, atol=2 * dot_error_bound(16), rtol=0)
    assert tor.neg_mean == pytest.approx(ref.neg_mean, abs=2 * dot_error_bound(16))

"""The all-pairs AUC engine's internals against their plain definitions: the histogram of a score
block equals the bincount of ``_to_bins`` (scores outside [-1, 1] included), the int32 counts give
the same result when flushed into int64 early, and the moments of the binned levels equal the
chunked float64 dot products they are defined by, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from embeval.compute import auc as A


def _reference_moments(hist: np.ndarray, bits: int) -> tuple[float, float]:
    """The moments as first written: bin centres per 2^20-bin chunk, BLAS dot products in order."""
    width, s1, s2 = 2.0**-bits, 0.0, 0.0
    for c0 in range(0, len(hist), A._CHUNK):
        h = hist[c0 : c0 + A._CHUNK]
        centres = (np.arange(c0, c0 + len(h), dtype=np.float64) + 0.5) * width - 1.0
        hf = h.astype(np.float64)
        s1 += float(hf @ centres)
        s2 += float(hf @ (centres * centres))
    return s1, s2


@pytest.mark.parametrize("bits", [8, 16, 20])
def test_block_histogram_equals_bincount_of_to_bins(rng, bits):
    s = (rng.standard_normal((37, 501)) * 0.3).astype(np.float32)
    s[0, :6] = [-1.0, 1.0, -3.5, 2.5, np.nextafter(np.float32(1), np.float32(2)), 0.0]  # edges, outside [-1, 1]
    s[1] = 5e9  # beyond int32 once scaled: the exact clip of _to_bins
    top = (1 << (bits + 1)) - 1
    hist = A._Histogram(bits)
    binner = A._Binner(s.size, bits)
    binner.add(s[:20], hist)
    binner.add(s[20:], hist)
    ref = np.bincount(A._to_bins(s.copy().ravel(), bits), minlength=top + 1)
    np.testing.assert_array_equal(hist.result(), ref)
    assert hist.lo == ref.nonzero()[0][0] and hist.hi == ref.nonzero()[0][-1]
    assert ref[0] > 0 and ref[top] >= 501 + 3  # the clipped scores are counted at the ends


def test_non_finite_score_is_refused(rng):
    s = rng.standard_normal((4, 9)).astype(np.float32)
    s[2, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        A._Binner(s.size, 16).add(s, A._Histogram(16))


def test_int32_counts_flushed_into_int64_change_nothing(rng, monkeypatch):
    c = rng.standard_normal((400, 24)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    q = c[:30] + 0.3 * rng.standard_normal((30, 24)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    pos = [np.array([i, (7 * i + 3) % 400]) for i in range(30)]
    kw = {"exact_limit": 0, "block_elements": 2000}  # 30 × 66 scores per block, 7 blocks
    base = A.auc_global_query(q, c, pos, **kw)
    monkeypatch.setattr(A, "_INT32_MAX", 4000)  # flush before every second block
    flushed = A.auc_global_query(q, c, pos, **kw)
    for f in ("value", "pos", "tied", "above"):
        np.testing.assert_array_equal(getattr(base.levels, f), getattr(flushed.levels, f))
    assert (base.neg_mean, base.neg_std) == (flushed.neg_mean, flushed.neg_std)
    np.testing.assert_array_equal(base.per_query, flushed.per_query)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_binned_moments_equal_the_chunked_dot_products(rng, dtype):
    bits = 23
    keys = ((rng.standard_normal(1_000_000) * 0.07 + 1.1) * 2**bits).astype(np.int64)
    hist = np.bincount(keys, minlength=1 << (bits + 1)).astype(dtype)
    pos = (rng.standard_normal(500) * 0.1 + 0.3).astype(np.float32)
    pbins = A._to_bins(pos.copy(), bits, np.int64)
    np.add.at(hist, pbins, 1)  # the positives are scores too
    n_neg = int(hist.sum()) - len(pos)
    neg = hist.copy()
    np.subtract.at(neg, pbins, 1)
    want = _reference_moments(neg, bits)
    lo, hi = int(keys.min()), int(keys.max())
    levels, s1, s2 = A._levels_binned(hist, pos, n_neg, bits, (min(lo, pbins.min()), max(hi, pbins.max())))
    assert (s1, s2) == want  # bit for bit
    # prefix counts: negatives strictly above each positive bin, from a plain cumulative sum
    ub = np.unique(pbins)[::-1]
    np.testing.assert_array_equal(levels.above, n_neg - np.cumsum(neg)[ub])
    np.testing.assert_array_equal(levels.tied, neg[ub])

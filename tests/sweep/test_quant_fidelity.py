"""Compressed codes and searches equal sentence-transformers' (the test oracle) on the same data."""

from __future__ import annotations

import numpy as np
import pytest

from embeval.index.quant import (
    binary_index,
    bytes_per_vector,
    dequantize_uint8,
    int8_ranges,
    quantize_binary,
    quantize_int8,
    quantize_ubinary,
    quantize_uint8,
    search_binary,
    search_int8,
    truncate,
)

quantization = pytest.importorskip("sentence_transformers.util.quantization")


def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    corpus = _unit(rng, 600, 37)  # d not a multiple of 8: packbits pads the last byte
    queries = _unit(rng, 40, 37)
    calib = corpus[rng.choice(600, 200, replace=False)]
    return corpus, queries, calib


def test_int8_codes_equal_sentence_transformers(data):
    corpus, _, calib = data
    ranges = int8_ranges(calib)
    want = quantization.quantize_embeddings(corpus, precision="int8", calibration_embeddings=calib)
    assert want.dtype == np.int8
    np.testing.assert_array_equal(quantize_int8(corpus, ranges), want)
    want_u = quantization.quantize_embeddings(corpus, precision="uint8", calibration_embeddings=calib)
    np.testing.assert_array_equal(quantize_uint8(corpus, ranges), want_u)
    # the ranges are the calibration rows' per-dimension min and max
    np.testing.assert_array_equal(ranges, np.vstack([calib.min(0), calib.max(0)]))


def test_binary_codes_equal_sentence_transformers(data):
    corpus, _, _ = data
    np.testing.assert_array_equal(quantize_binary(corpus), quantization.quantize_embeddings(corpus, precision="binary"))
    np.testing.assert_array_equal(
        quantize_ubinary(corpus), quantization.quantize_embeddings(corpus, precision="ubinary")
    )
    assert quantize_ubinary(corpus).shape == (600, bytes_per_vector("binary", 37))


def test_dequantize_matches_sentence_transformers(data):
    corpus, _, calib = data
    ranges = int8_ranges(calib)
    codes = quantize_uint8(corpus, ranges)
    want = quantization._dequantize_embeddings(codes, "uint8", ranges)
    np.testing.assert_array_equal(dequantize_uint8(codes, ranges), want)


def _st_rows(results):
    return [[r["corpus_id"] for r in row] for row in results]


@pytest.mark.parametrize("rescore", [0, 1, 4])
def test_binary_search_equals_semantic_search_faiss(data, rescore):
    corpus, queries, _ = data
    bits = quantize_ubinary(corpus)
    index = binary_index(bits, 37)
    scores, idx = search_binary(queries, index, bits, 37, 10, rescore=rescore)
    st, _ = quantization.semantic_search_faiss(
        queries,
        corpus_embeddings=bits,
        corpus_precision="ubinary",
        top_k=10,
        rescore=bool(rescore),
        rescore_multiplier=max(rescore, 1),
    )
    assert idx.tolist() == _st_rows(st)
    if rescore:
        np.testing.assert_allclose(scores, [[r["score"] for r in row] for row in st], rtol=1e-12)


@pytest.mark.parametrize("rescore", [0, 2, 4])
def test_int8_search_equals_semantic_search_faiss(data, rescore):
    corpus, queries, calib = data
    ranges = int8_ranges(calib)
    codes = quantize_uint8(corpus, ranges)
    scores, idx = search_int8(queries, codes, ranges, 10, rescore=rescore)
    st, _ = quantization.semantic_search_faiss(
        queries,
        corpus_embeddings=codes,
        corpus_precision="uint8",
        top_k=10,
        ranges=ranges,
        rescore=bool(rescore),
        rescore_multiplier=max(rescore, 1),
    )
    assert idx.tolist() == _st_rows(st)
    np.testing.assert_allclose(scores, [[r["score"] for r in row] for row in st], rtol=1e-6)


def test_truncate_is_first_dims_renormalised(data):
    corpus, _, _ = data
    t = truncate(corpus, 8)
    ref = corpus[:, :8] / np.linalg.norm(corpus[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(t, ref, rtol=1e-6)
    assert truncate(corpus, None).shape == corpus.shape

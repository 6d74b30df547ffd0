"""Compressed vectors and search over them, as sentence-transformers does it (for ``sweep compress``).

Codes (equal to ``sentence_transformers.quantization.quantize_embeddings``; tested):

- ``int8``: per dimension j, ``ranges = [min_j, max_j]`` over calibration rows; step
  ``s_j = (max_j − min_j) / 255`` (1 where 0); code ``clip(floor((x_j − min_j) / s_j), 0, 255) − 128``
  (int8; ``uint8`` = the same without the −128). Arithmetic in float32, as sentence-transformers.
- ``binary``: sign bits ``x_j > 0`` packed 8 to a byte, big-endian within a byte (``numpy.packbits``):
  ``ubinary`` (uint8); sentence-transformers' signed ``binary`` is ``ubinary − 128``.
- Matryoshka truncation: the first ``d`` dimensions, each row re-normalised to unit length.

Search (equal to ``sentence_transformers.quantization.semantic_search_faiss``; tested):

- int8 first stage: the query quantized with the same ranges; score = inner product of the
  ``uint8`` codes (``IndexFlatIP`` over the codes, as ``semantic_search_faiss(corpus_precision="uint8")``).
- binary first stage: Hamming distance between packed sign bits (``faiss.IndexBinaryFlat``).
- rescoring (``rescore`` = r > 0): the first stage returns ``k·r`` candidates, each rescored with
  the float query: ``q · dequantized(code)`` for int8 (``min_j + u_j·s_j``), ``q · bits`` (0/1) for
  binary, then the best k kept (ties: candidate order of the first stage).
"""

from __future__ import annotations

import numpy as np

from embeval.errors import UsageError
from embeval.index.knn import _faiss


def truncate(x: np.ndarray, dims: int | None) -> np.ndarray:
    """The first ``dims`` columns of ``x``, rows re-normalised to unit length (float32); ``None``: all."""
    x = np.asarray(x, dtype=np.float32)
    if dims is None or dims >= x.shape[1]:
        return np.ascontiguousarray(x)
    if dims < 1:
        raise UsageError(f"`dims` {dims}: must be at least 1")
    t = np.ascontiguousarray(x[:, :dims])
    norms = np.linalg.norm(t, axis=1, keepdims=True)
    return (t / np.where(norms > 0, norms, 1)).astype(np.float32)


def int8_ranges(calibration: np.ndarray) -> np.ndarray:
    """(2, d) float32: per-dimension minimum and maximum over the calibration rows."""
    c = np.asarray(calibration, dtype=np.float32)
    if c.ndim != 2 or c.shape[0] < 2:
        raise UsageError("int8 calibration needs at least 2 rows")
    return np.vstack((c.min(axis=0), c.max(axis=0))).astype(np.float32)


def _steps(ranges: np.ndarray) -> np.ndarray:
    r = ranges.astype(np.float32, copy=False)
    steps = (r[1, :] - r[0, :]) / 255
    return np.where(steps == 0, 1, steps)


def quantize_uint8(x: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """uint8 codes of float rows under ``ranges`` (see the module docstring)."""
    r = ranges.astype(np.float32, copy=False)
    q = np.clip(np.floor((np.asarray(x, dtype=np.float32) - r[0, :]) / _steps(r)), 0, 255)
    return q.astype(np.uint8)


def quantize_int8(x: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """int8 codes (uint8 codes − 128), as ``quantize_embeddings(x, "int8", ranges=ranges)``."""
    return (quantize_uint8(x, ranges).astype(np.int16) - 128).astype(np.int8)


def dequantize_uint8(codes: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """float64 values ``min_j + u_j·s_j`` of uint8 codes (sentence-transformers' rescoring values)."""
    r = ranges.astype(np.float32, copy=False)
    return codes.astype(np.float64) * _steps(r) + r[0]


def quantize_ubinary(x: np.ndarray) -> np.ndarray:
    """Packed sign bits (uint8, ⌈d/8⌉ bytes a row), as ``quantize_embeddings(x, "ubinary")``."""
    return np.packbits(np.asarray(x) > 0, axis=-1)


def quantize_binary(x: np.ndarray) -> np.ndarray:
    """Signed packed sign bits (``ubinary − 128`` as int8), as ``quantize_embeddings(x, "binary")``."""
    return (quantize_ubinary(x).astype(np.int16) - 128).astype(np.int8)


def bytes_per_vector(quant: str, dims: int) -> int:
    """Storage of one vector: float32 4·d, float16 2·d, int8 d, binary ⌈d/8⌉ bytes."""
    return {"float32": 4 * dims, "fp16": 2 * dims, "int8": dims, "binary": (dims + 7) // 8}[quant]


def _rescore(q: np.ndarray, cand: np.ndarray, values, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rescore candidate rows ``cand`` (nq×K, −1 = none) with ``q · values(rows)``; keep the best k
    (stable: equal scores keep the first stage's order)."""
    safe = np.where(cand < 0, 0, cand)
    scores = np.einsum("ij,ikj->ik", q.astype(np.float64), values(safe))
    scores[cand < 0] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(cand, order, axis=1)


def search_int8(
    q: np.ndarray, corpus_codes: np.ndarray, ranges: np.ndarray, k: int, rescore: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k over uint8 codes (inner product of codes), optionally rescoring ``k·rescore`` candidates
    with the float query against dequantized codes. Returns (scores, rows) nq×k."""
    from embeval.index.search import build_index

    depth = k * rescore if rescore else k
    u = corpus_codes.astype(np.float32)
    qc = quantize_uint8(q, ranges).astype(np.float32)
    s, idx = build_index("flat", u).search(qc, min(depth, len(u)))
    if not rescore:
        return s, idx
    return _rescore(np.asarray(q, np.float32), idx, lambda rows: dequantize_uint8(corpus_codes[rows], ranges), k)


def binary_index(corpus_bits: np.ndarray, dims: int):
    """A ``faiss.IndexBinaryFlat`` over packed sign bits."""
    faiss = _faiss()
    index = faiss.IndexBinaryFlat(corpus_bits.shape[1] * 8)
    index.add(np.ascontiguousarray(corpus_bits))
    return index


def search_binary(
    q: np.ndarray, index, corpus_bits: np.ndarray, dims: int, k: int, rescore: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by Hamming distance (scores = −distance), optionally rescoring ``k·rescore``
    candidates with ``q · bits``. Returns (scores, rows) nq×k."""
    depth = min(k * rescore if rescore else k, index.ntotal)
    dist, idx = index.search(np.ascontiguousarray(quantize_ubinary(q)), depth)
    idx = idx.astype(np.int64)
    if not rescore:
        return -dist.astype(np.float64), idx

    def values(rows: np.ndarray) -> np.ndarray:
        return np.unpackbits(corpus_bits[rows], axis=-1)[..., :dims].astype(np.float64)

    return _rescore(np.asarray(q, np.float32), idx, values, k)

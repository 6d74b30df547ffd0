"""One compute layer for embeval's blocked O(n²) kernels, with two back ends behind one interface.

Back ends (:func:`get_backend`):

- ``NumpyBackend`` (device ``cpu``): float32 products with NumPy's BLAS (all cores), top-k kept in
  FAISS's C++ heaps. The default; it gives bit-for-bit the numbers embeval gave before this layer.
- ``TorchBackend`` (device ``cuda``/``cuda:N``; also runs on CPU tensors, which is how CI covers
  it): the same tiles as torch ops. TF32 is switched off, products are float32, every reduction is
  accumulated in float64. torch is imported only inside :mod:`embeval.compute.torch_backend`.

Devices: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` (:func:`resolve_device`). ``auto`` picks CUDA
only when the work is O(n²)-sized (n ≥ ``AUTO_MIN_ROWS``), an NVIDIA driver is visible
(``/proc/driver/nvidia/gpus`` on Linux, no import needed) and torch reports CUDA available; for
smaller work, or without a driver, it picks ``cpu`` without importing torch.

Tile functions (the unit of work; pure functions of a row block i and a column block j of
arrays already placed on the device with ``backend.put``; each returns a partial result that
merges *exactly* — sums add, counts add, top-k lists merge with :func:`merge_topk`):

``backend.pair_sum(A, B, rows, cols, kernel, triangle=False, skip_diagonal=False) -> float``
    Σ kernel(A[rows]·B[cols]ᵀ) accumulated in float64. ``triangle``: only entries with global
    column index > global row index (upper triangle of one set, i<j); ``skip_diagonal``: drop
    entries with equal global indices (row-aligned pairs). Merge: ``+``.
``backend.topk(Q, X, rows, cols, k, exclude_self=False, metric="ip") -> (scores, idx)``
    the k best columns of block j for each row of block i: float32 (r×k) scores and int64 global
    column indices, ordered score descending then column ascending, padded with (−inf, −1).
    Exact on ties: a tie across the k-th place is resolved by the (score desc, column asc) rule,
    so the merged top-k of any tiling equals the top-k of the whole row. ``exclude_self`` drops
    the pair (i, i) (kNN of a set against itself). ``metric="l2"`` ranks by −‖q − x‖² (scores
    are 2q·x − ‖x‖²; add ‖q‖² and negate for distances). Merge: :func:`merge_topk`.
``backend.histogram(A, B, rows, cols, binner, nbins, skip_diagonal=False) -> int64[nbins]``
    counts of ``binner`` slots of the block's products (slots outside [0, nbins) dropped).
    Merge: ``+``.
``backend.class_sums(X, rows, codes, n_classes) -> float64[C, d]``: Σ of rows per class. Merge: ``+``.

Kernels and binners (:mod:`embeval.compute.kernels`) are small picklable dataclasses (safe to ship
to Dask workers); each implements its elementwise map once for NumPy and once for torch.

Drivers (:mod:`embeval.compute.drivers`) tile a whole problem, size blocks from free device
memory (``backend.block_elements``), fall back to smaller blocks when the device runs out of
memory, report progress, and merge the tiles: :func:`upper_pair_sum`, :func:`cross_pair_sum`,
:func:`knn`, :func:`search`, :func:`sampled_pair_mean` (streamed pairs with a 95% CI, memory flat
in the sample size), and the cost model :func:`estimate_seconds`.

Agreement between back ends: every float32 product of two d-vectors differs between any two
correct implementations by at most 2·γ_d·Σ_k|a_k b_k| with γ_d = d·2⁻²⁴/(1 − d·2⁻²⁴) (Higham
2002, §3.1); for unit rows that is ≤ 2γ_d (4.6e-5 at d = 384). Consequences checked in the tests:
top-k scores agree within 2γ_d; a uniformity value (log-mean of exp(−t·d²)) within 4·t·2γ_d
absolute plus float64 summation noise; pair sums of a kernel with Lipschitz constant L within
n_pairs·L·2γ_d.
"""

from __future__ import annotations

from embeval.compute.backend import (
    AUTO_MIN_ROWS,
    Backend,
    dot_error_bound,
    get_backend,
    resolve_device,
)
from embeval.compute.context import ComputeContext
from embeval.compute.drivers import (
    cross_pair_sum,
    estimate_seconds,
    knn,
    merge_topk,
    sampled_pair_mean,
    search,
    upper_pair_sum,
)
from embeval.compute.kernels import AbsAngleMargin, CosineSlots, Dot, ExpSqDist

__all__ = [
    "AUTO_MIN_ROWS",
    "AbsAngleMargin",
    "Backend",
    "ComputeContext",
    "CosineSlots",
    "Dot",
    "ExpSqDist",
    "cross_pair_sum",
    "dot_error_bound",
    "estimate_seconds",
    "get_backend",
    "knn",
    "merge_topk",
    "resolve_device",
    "sampled_pair_mean",
    "search",
    "upper_pair_sum",
]

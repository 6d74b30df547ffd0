"""``Space``: a validated set of vectors plus what diagnostics share (kNN cache, seed, progress)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embeval.progress import NULL, Progress


def l2_normalize(x: np.ndarray, *, inplace: bool = False, block: int = 1 << 16) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm, as float32 (rows must be non-zero): a new array, or
    ``x`` itself when ``inplace`` and it is already float32. Works in row blocks, so the only
    full-size array is the result.

    Each row is first divided by its largest absolute value, so that squaring cannot overflow
    (values ~1e20) or underflow (~1e-22) in float32.
    """
    x = np.asarray(x, dtype=np.float32)
    y = x if inplace and x.flags.writeable else np.empty_like(x)
    for s in range(0, x.shape[0], block):
        xb = x[s : s + block]
        scale = np.max(np.abs(xb), axis=1, keepdims=True)
        yb = y[s : s + block]
        np.divide(xb, scale, out=yb)
        yb /= np.linalg.norm(yb, axis=1, keepdims=True)
    return y


def check_k(k: int, n: int) -> int:
    """A neighbour count must leave at least one row out: 1 ≤ k < n."""
    from embeval.errors import UsageError

    if k < 1:
        raise UsageError(f"k must be at least 1, got {k}")
    if k >= n:
        raise UsageError(f"k={k} needs more than {k} rows; the input has {n}")
    return k


def label_codes(labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(codes, classes): ``codes[i]`` is the int64 index of ``labels[i]`` in the sorted ``classes``
    array. Raises UsageError when there are no labels."""
    if labels is None:
        from embeval.errors import UsageError

        raise UsageError("this diagnostic needs labels (pass `labels` or `label_col`)")
    classes, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.int64).ravel(), classes


@dataclass
class Space:
    """Vectors to diagnose.

    x:      n×d float32, the vectors geometry is computed on (unit rows unless normalized=False).
    unit:   n×d float32 unit rows (the same object as ``x`` when normalized).
    pairs:  optional n×d float32 partner of each row (for alignment), same treatment as ``x``.
    labels: optional length-n array of labels.
    backend: the :mod:`embeval.compute` back end for O(n²) work (None: NumPy on the CPU).
    plan:   a :class:`~embeval.diagnostics.scale.ScalePlan` (None: every diagnostic exact).
    raw:    the vectors as given, before normalising (None when they were normalised in place);
            the hygiene diagnostics of norms and of cosine vs inner product read them.
    """

    x: np.ndarray
    unit: np.ndarray
    normalized: bool = True
    pairs: np.ndarray | None = None
    labels: np.ndarray | None = None
    seed: int = 0
    progress: Progress = NULL
    backend: Any = None
    plan: Any = None
    raw: np.ndarray | None = field(default=None, repr=False)
    _knn: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _knn_q: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _codes: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        x,
        *,
        normalize: bool = True,
        pairs=None,
        labels=None,
        seed: int = 0,
        progress: Progress = NULL,
        inplace: bool = False,
        backend: Any = None,
    ) -> Space:
        """``inplace``: the caller gives up ``x``; with ``normalize`` it is normalised in place
        (one float32 copy of the vectors instead of two)."""
        x = np.asarray(x, dtype=np.float32)
        unit = l2_normalize(x, inplace=inplace and normalize)
        if pairs is not None:
            pairs = l2_normalize(pairs) if normalize else np.asarray(pairs, dtype=np.float32)
        return cls(
            x=unit if normalize else x,
            unit=unit,
            normalized=normalize,
            pairs=pairs,
            labels=None if labels is None else np.asarray(labels),
            seed=seed,
            progress=progress,
            backend=backend,
            raw=None if unit is x else x,
        )

    @property
    def n(self) -> int:
        return self.x.shape[0]

    def label_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """(codes, classes): ``codes[i]`` is the int64 index of row i's label in the sorted
        ``classes`` array. Raises UsageError when the space has no labels."""
        if self._codes is None:
            self._codes = label_codes(self.labels)
        return self._codes

    @property
    def neighbours(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The kNN already searched (sims, idx at the largest k asked so far), or None: for the
        report's pictures, which must not search again."""
        return self._knn

    def knn(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine k nearest *other* rows of every row (sims, idx), computed once for the largest k
        asked. Ties: similarity, then row ascending, so the top k never depends on the largest k."""
        from embeval.compute import knn

        if self._knn is None or self._knn[1].shape[1] < k:
            self._knn = knn(self.unit, k, backend=self.backend, progress=self.progress)
        sims, idx = self._knn
        return sims[:, :k], idx[:, :k]

    @property
    def knn_queries(self) -> np.ndarray | None:
        """Rows the kNN diagnostics are estimated on (None: every row, exact)."""
        return None if self.plan is None else self.plan.knn_queries

    def knn_rows(self, k: int) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """(rows, sims, idx): the k nearest other rows (among all n) of the plan's query subset,
        or of every row (rows None) when the run is exact or the full graph exists anyway."""
        from embeval.compute import knn

        q = self.knn_queries
        if q is None or (self._knn is not None and self._knn[1].shape[1] >= k):
            sims, idx = self.knn(k)
            return None, sims, idx
        if self._knn_q is None or self._knn_q[1].shape[1] < k:
            self._knn_q = knn(self.unit, k, queries=q, backend=self.backend, progress=self.progress)
        sims, idx = self._knn_q
        return q, sims[:, :k], idx[:, :k]

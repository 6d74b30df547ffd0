"""``Space``: a validated set of vectors plus what diagnostics share (kNN cache, seed, progress)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from embeval.progress import NULL, Progress


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm, as a new float32 array (rows must be non-zero).

    Each row is first divided by its largest absolute value, so that squaring cannot overflow
    (values ~1e20) or underflow (~1e-22) in float32.
    """
    x = np.asarray(x, dtype=np.float32)
    scale = np.max(np.abs(x), axis=1, keepdims=True)
    y = x / scale
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return y


def check_k(k: int, n: int) -> int:
    """A neighbour count must leave at least one row out: 1 ≤ k < n."""
    from embeval.errors import UsageError

    if k < 1:
        raise UsageError(f"k must be at least 1, got {k}")
    if k >= n:
        raise UsageError(f"k={k} needs more than {k} rows; the input has {n}")
    return k


@dataclass
class Space:
    """Vectors to diagnose.

    x:      n×d float32, the vectors geometry is computed on (unit rows unless normalized=False).
    unit:   n×d float32 unit rows (the same object as ``x`` when normalized).
    pairs:  optional n×d float32 partner of each row (for alignment), same treatment as ``x``.
    labels: optional length-n array of labels.
    """

    x: np.ndarray
    unit: np.ndarray
    normalized: bool = True
    pairs: np.ndarray | None = None
    labels: np.ndarray | None = None
    seed: int = 0
    progress: Progress = NULL
    _knn: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _codes: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def build(cls, x, *, normalize: bool = True, pairs=None, labels=None, seed: int = 0,
              progress: Progress = NULL) -> Space:
        x = np.asarray(x, dtype=np.float32)
        unit = l2_normalize(x)
        if pairs is not None:
            pairs = l2_normalize(pairs) if normalize else np.asarray(pairs, dtype=np.float32)
        return cls(x=unit if normalize else x, unit=unit, normalized=normalize, pairs=pairs,
                   labels=None if labels is None else np.asarray(labels), seed=seed,
                   progress=progress)

    @property
    def n(self) -> int:
        return self.x.shape[0]

    def label_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """(codes, classes): ``codes[i]`` is the int64 index of row i's label in the sorted
        ``classes`` array. Raises UsageError when the space has no labels."""
        if self.labels is None:
            from embeval.errors import UsageError

            raise UsageError("this diagnostic needs labels (pass `labels` or `label_col`)")
        if self._codes is None:
            classes, codes = np.unique(self.labels, return_inverse=True)
            self._codes = (codes.astype(np.int64).ravel(), classes)
        return self._codes

    @property
    def neighbours(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The kNN already searched (sims, idx at the largest k asked so far), or None: for the
        report's pictures, which must not search again."""
        return self._knn

    def knn(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine k nearest *other* rows (sims, idx), computed once for the largest k asked."""
        from embeval.index.knn import knn_self

        if self._knn is None or self._knn[1].shape[1] < k:
            with self.progress.task(f"kNN search (k={k})", total=None):
                self._knn = knn_self(self.unit, k)
        sims, idx = self._knn
        return sims[:, :k], idx[:, :k]

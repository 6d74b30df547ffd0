"""Affine maps of embedding spaces, fitted on a corpus and applied to any vectors of the same model
(corpus, queries, new documents): the remedies ``embeval audit --try`` measures and
``embeval transform`` applies.

One format for every map (``embeval audit --save-transform T.npz``; read back by
:meth:`AffineMap.from_arrays` on ``np.load(path)``)::

    y = (x̃ − mean) @ W + b,   then ŷ = y / ‖y‖ when normalize_out
    x̃ = x / ‖x‖ when normalize_in, else x

T.npz keys: ``format`` ("embeval-affine-1"), ``kind`` (a name: center, whiten, abtt, or any),
``mean`` (d,), ``W`` (d×d'), ``b`` (d',), ``normalize_in`` and ``normalize_out`` (booleans as
0-d arrays), ``fitted_on`` (rows the map was fitted on). Any affine map can be written in it.

Fits (on unit rows, float64):
- ``center``: W = I, b = 0; mean centering and re-normalisation.
- ``whiten``: PCA whitening W = V·diag(1/√(λ + ε·λ₁)) (ε = 1e-6), so the covariance becomes I.
- ``abtt``: all-but-the-top (Mu & Viswanath 2018): W = I − U_D U_Dᵀ, removing the top D principal
  directions after centering; D = max(1, round(d/100)) as the paper advises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT = "embeval-affine-1"
KINDS = ("center", "whiten", "abtt")


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


@dataclass
class AffineMap:
    kind: str
    mean: np.ndarray
    W: np.ndarray
    b: np.ndarray
    normalize_in: bool = True
    normalize_out: bool = True
    fitted_on: int = 0

    @property
    def d_in(self) -> int:
        return int(self.W.shape[0])

    def apply(self, x: np.ndarray, block: int = 1 << 15) -> np.ndarray:
        """The map applied to rows of ``x`` (n×d_in), as float32, in row blocks."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.d_in:
            from embeval.errors import UsageError

            raise UsageError(f"the transform maps {self.d_in}-d vectors; got shape {tuple(x.shape)}")
        out = np.empty((x.shape[0], self.W.shape[1]), dtype=np.float32)
        for s in range(0, x.shape[0], block):
            xb = x[s : s + block].astype(np.float64)
            if self.normalize_in:
                xb = _unit(xb)
            y = (xb - self.mean) @ self.W + self.b
            out[s : s + block] = _unit(y) if self.normalize_out else y
        return out

    def arrays(self) -> dict[str, Any]:
        """The T.npz contents (``np.savez(path, **m.arrays())``)."""
        return {
            "format": np.array(FORMAT),
            "kind": np.array(self.kind),
            "mean": self.mean,
            "W": self.W,
            "b": self.b,
            "normalize_in": np.array(self.normalize_in),
            "normalize_out": np.array(self.normalize_out),
            "fitted_on": np.array(self.fitted_on),
        }

    @classmethod
    def from_arrays(cls, z: Any, source: str = "transform") -> AffineMap:
        """Read the arrays of a T.npz (a mapping or an ``NpzFile``); InputError naming ``source``
        when a key is missing or the shapes disagree."""
        from embeval.errors import InputError

        try:
            if str(z["format"]) != FORMAT:
                raise InputError(source, f"not an embeval transform (format {str(z['format'])!r}, want {FORMAT!r})")
            m = cls(
                kind=str(z["kind"]),
                mean=np.asarray(z["mean"], dtype=np.float64),
                W=np.asarray(z["W"], dtype=np.float64),
                b=np.asarray(z["b"], dtype=np.float64),
                normalize_in=bool(z["normalize_in"]),
                normalize_out=bool(z["normalize_out"]),
                fitted_on=int(z["fitted_on"]) if "fitted_on" in z else 0,
            )
        except KeyError as exc:
            raise InputError(source, f"missing array {exc} (an embeval transform has {FORMAT} keys)") from None
        if m.W.ndim != 2 or m.mean.shape != (m.W.shape[0],) or m.b.shape != (m.W.shape[1],):
            raise InputError(source, f"shapes disagree: mean {m.mean.shape}, W {m.W.shape}, b {m.b.shape}")
        if not (np.isfinite(m.W).all() and np.isfinite(m.mean).all() and np.isfinite(m.b).all()):
            raise InputError(source, "non-finite values in the transform")
        return m


def _cov(u: np.ndarray, mean: np.ndarray) -> np.ndarray:
    c = u - mean
    return c.T @ c / max(len(u) - 1, 1)


def fit(kind: str, x: np.ndarray, *, components: int | None = None) -> AffineMap:
    """Fit ``kind`` (center, whiten, abtt) on the rows of ``x`` (normalised first)."""
    if kind not in KINDS:
        from embeval.errors import UsageError

        raise UsageError(f"unknown transform {kind!r}; known: {', '.join(KINDS)}")
    u = _unit(x)
    n, d = u.shape
    mean = u.mean(axis=0)
    eye = np.eye(d)
    if kind == "center":
        W = eye
    else:
        lam, vec = np.linalg.eigh(_cov(u, mean))
        lam, vec = lam[::-1], vec[:, ::-1]
        if kind == "whiten":
            W = vec / np.sqrt(np.maximum(lam, 0) + 1e-6 * max(lam[0], 1e-300))
        else:
            D = components if components is not None else max(1, round(d / 100))
            top = vec[:, :D]
            W = eye - top @ top.T
    return AffineMap(kind, mean, W, np.zeros(W.shape[1]), True, True, n)

"""Elementwise maps applied to a float32 block of products G = A[rows]·B[cols]ᵀ, before a tile
reduces it. Each is a small frozen dataclass (picklable, hashable) with one NumPy and one torch
implementation of the same float32 arithmetic; both may work in place on ``g``.

``sr``/``sc`` are the squared norms of the block's rows/columns (float32), passed only to kernels
with ``needs_norms``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dot:
    """f(g) = g: plain inner products (anisotropy-type sums)."""

    needs_norms = False
    lipschitz = 1.0

    def numpy(self, g, sr=None, sc=None):
        return g

    def torch(self, g, sr=None, sc=None):
        return g


@dataclass(frozen=True)
class ExpSqDist:
    """f(g) = exp(−t·max(d², 0)) with d² = 2 − 2g on unit rows (``normalized``), else
    ‖a‖² + ‖b‖² − 2g: the uniformity term (Wang & Isola 2020)."""

    t: float = 2.0
    normalized: bool = True

    @property
    def needs_norms(self) -> bool:
        return not self.normalized

    @property
    def lipschitz(self) -> float:  # |d f / d g| = 2t·exp(−t d²) ≤ 2t
        return 2.0 * self.t

    def numpy(self, g, sr=None, sc=None):
        g *= -2.0
        if self.normalized:
            g += 2.0
        else:
            g += sr[:, None]
            g += sc[None, :]
        np.maximum(g, 0.0, out=g)
        g *= -self.t
        return np.exp(g, out=g)

    def torch(self, g, sr=None, sc=None):
        g.mul_(-2.0)
        if self.normalized:
            g.add_(2.0)
        else:
            g.add_(sr[:, None])
            g.add_(sc[None, :])
        g.clamp_(min=0.0)
        g.mul_(-self.t)
        return g.exp_()


@dataclass(frozen=True)
class AbsAngleMargin:
    """f(g) = |θ − 90°| with θ = arccos(clip(g, −1, 1)) in degrees: the pairwise MAM term."""

    needs_norms = False
    lipschitz = math.inf  # arccos is not Lipschitz at ±1

    def numpy(self, g, sr=None, sc=None):
        np.clip(g, -1.0, 1.0, out=g)
        np.arccos(g, out=g)
        g *= np.float32(180.0 / math.pi)
        g -= 90.0
        return np.abs(g, out=g)

    def torch(self, g, sr=None, sc=None):
        g.clamp_(-1.0, 1.0)
        g.arccos_()
        g.mul_(float(np.float32(180.0 / math.pi)))
        g.sub_(90.0)
        return g.abs_()


@dataclass(frozen=True)
class CosineSlots:
    """Histogram slot of each product: ``floor`` (or ``ceil``) of g·scale + offset; slots outside
    [0, nbins) are dropped (``overflow="drop"``) or clipped into the end bins (``"clip"``)."""

    scale: float
    offset: float
    nbins: int
    rounding: str = "floor"
    overflow: str = "drop"

    def numpy(self, g):
        g *= np.float32(self.scale)
        g += np.float32(self.offset)
        (np.floor if self.rounding == "floor" else np.ceil)(g, out=g)
        hi = self.nbins - 1 if self.overflow == "clip" else self.nbins
        np.clip(g, 0 if self.overflow == "clip" else -1, hi, out=g)
        return g.astype(np.intp)

    def torch(self, g):
        import torch

        g.mul_(float(np.float32(self.scale))).add_(float(np.float32(self.offset)))
        g = g.floor_() if self.rounding == "floor" else g.ceil_()
        hi = self.nbins - 1 if self.overflow == "clip" else self.nbins
        g.clamp_(0 if self.overflow == "clip" else -1, hi)
        return g.to(torch.int64)

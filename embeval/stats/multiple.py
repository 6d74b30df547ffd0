"""Multiple-comparison corrections of p-values."""

from __future__ import annotations

import numpy as np


def holm(p_values) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (Holm 1979), in the input order: with p₍₁₎ ≤ … ≤ p₍ₘ₎,
    p̃₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1)·p₍ⱼ₎)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out

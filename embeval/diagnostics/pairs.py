"""Graded pairs (STS style, SPEC §3): how well cosine similarity follows gold scores.

Input: ``a``, ``b`` n×d float32 unit rows (row i of a pairs with row i of b), ``gold`` length n.
As MTEB's STS tasks, cosine Spearman is the main score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embeval.diagnostics.geometry import ALIGNMENT, alignment_value
from embeval.diagnostics.registry import HIGHER, Diagnostic, Output, Param, register
from embeval.results import Result

SPEARMAN = Output(
    "spearman",
    HIGHER,
    "Spearman correlation of cos(a, b) with the gold score (average ranks; MTEB's STS main score)",
)
PEARSON = Output("pearson", HIGHER, "Pearson correlation of cos(a, b) with the gold score")


@dataclass
class PairSet:
    a: np.ndarray
    b: np.ndarray
    gold: np.ndarray

    @property
    def n(self) -> int:
        return self.a.shape[0]

    def cosines(self) -> np.ndarray:
        return np.einsum("ij,ij->i", self.a.astype(np.float64), self.b.astype(np.float64))


def _rank(v: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(v)  # average ranks for ties, as Spearman's rho needs


def pearson_value(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    den = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / den) if den > 0 else float("nan")


def spearman(ps: PairSet) -> list[Result]:
    """Spearman's rho between cos(a_i, b_i) and the gold score (Pearson of average ranks)."""
    return [SPEARMAN(pearson_value(_rank(ps.cosines()), _rank(ps.gold)), n=ps.n)]


def pearson(ps: PairSet) -> list[Result]:
    """Pearson's r between cos(a_i, b_i) and the gold score."""
    return [PEARSON(pearson_value(ps.cosines(), ps.gold.astype(np.float64)), n=ps.n)]


def pair_alignment(ps: PairSet, alpha: float = 2.0) -> list[Result]:
    """mean ‖a_i − b_i‖^alpha over all pairs (Wang & Isola 2020), whatever their gold score."""
    return [ALIGNMENT(alignment_value(ps.a, ps.b, alpha), {"alpha": alpha}, n=ps.n)]


P = "pairs"
register(
    Diagnostic(
        "spearman",
        P,
        spearman,
        "Spearman correlation of cos(a, b) with the gold score (MTEB STS main score)",
        outputs=(SPEARMAN,),
    )
)
register(Diagnostic("pearson", P, pearson, "Pearson correlation of cos(a, b) with the gold score", outputs=(PEARSON,)))
register(
    Diagnostic(
        "pair_alignment",
        P,
        pair_alignment,
        "mean ‖â − b̂‖^alpha over the pairs (reported as 'alignment')",
        outputs=(ALIGNMENT,),
        params={"alpha": Param(float, 2.0, "exponent", low=0, low_open=True)},
    )
)

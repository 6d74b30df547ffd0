"""Budgets for O(n²) work: estimate the cost of the exact diagnostics from n, d and the device
before any of it starts, and above the budget switch each O(n²) diagnostic to its estimated form.

Estimated forms (each result then carries ``exact: false`` and its sample size in ``params``):

- pair means (``uniformity``, ``mam`` pairwise): ``pair_sample`` random pairs i≠j (seeded, drawn
  with replacement, streamed in blocks: memory flat in the sample size), with a 95% CI;
- kNN diagnostics (``mam`` nn, ``intrinsic_dim``, ``knn_label_agreement``, ``knn_accuracy``): the
  exact neighbours of a seeded subset of ``knn_queries`` rows searched against *all* n rows; the
  per-row quantities are then exact and only their mean is sampled (95% CI where it is a mean);
- ``hubness``: the same seeded ``knn_queries`` rows against all n rows; the hits of each row among
  their neighbour lists are a hypergeometric thinning of its k-occurrence, so the factorial moments
  give an estimate of the **full set's** ``hubness_skew`` with a jackknife 95% CI
  (:func:`embeval.diagnostics.geometry.hubness_skew_sampled`; coverage measured in
  bench/bench_estimate_coverage.py). ``antihub_share`` and ``hub_occurrence`` are not estimated
  (a threshold on N_k per row cannot be read off a sample of queries); the note says so. (The
  former form, the kNN graph within a 2,000-row subset, was low every time: −32% on 8,000 × 32
  clustered rows.)

The cost model (:func:`embeval.compute.estimate_seconds`) times one tile on the chosen back end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embeval.compute.context import DEFAULT_BUDGET  # seconds of O(n²) work a default run may start

PAIR_SAMPLE = 1_000_000  # sampled pairs for a pair mean in estimated form
MIN_KNN_QUERIES = 1000
# Share of the budget planned for the kNN queries (hubness included); the rest is headroom for
# the sampled pairs, the O(n·d) diagnostics, loading, and a busy machine (the cost model times one
# tile, so a machine shared with other work runs slower than it estimated).
KNN_SHARE = 0.3
PAIR_SUM = ("uniformity",)
KNN = ("mam", "hubness", "intrinsic_dim", "knn_label_agreement", "knn_accuracy")


def pessimistic_seconds_per_pair(d: int) -> float:
    """An upper bound on the cost of one pair on any machine embeval runs on (no measurement):
    2d flops at 5 GFLOPS plus 20 ns of elementwise work."""
    return 2.0 * d / 5e9 + 2e-8


@dataclass
class ScalePlan:
    """What the O(n²) diagnostics of one run do. ``exact``: every one runs exact; otherwise the
    sizes of the estimated forms (module docstring). ``estimate_s``: estimated seconds of the
    exact O(n²) work (None when it is clearly small and was not measured)."""

    n: int
    d: int
    device: str = "cpu"
    budget: float | None = DEFAULT_BUDGET
    exact: bool = True
    estimate_s: float | None = None
    pair_sample: int = 0
    knn_queries: np.ndarray | None = None
    estimated: list[str] = field(default_factory=list)
    auc_queries: np.ndarray | None = None  # retrieval: seeded query rows whose AUC is computed exactly
    neg_sample: int = 0  # retrieval: sampled negative pairs for auc_global and the score statistics
    what: str = "O(n²)"
    forced_exact: bool = False  # exact=True (--exact) was asked: no budget applies, not even to a sample

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {"device": self.device, "exact": self.exact}
        if self.budget is not None:
            out["budget_s"] = self.budget
        if self.estimate_s is not None:
            out["exact_estimate_s"] = float(f"{self.estimate_s:.3g}")  # 3 significant digits: never 0 for a tiny job
        return out

    def note(self) -> str | None:
        if self.exact:
            return None
        est = f"≈{_duration(self.estimate_s)}" if self.estimate_s is not None else "too long"
        parts = []
        if self.pair_sample:
            parts.append(f"pair means from {self.pair_sample:,} sampled pairs with 95% CI")
        if self.knn_queries is not None:
            parts.append(f"kNN diagnostics on {len(self.knn_queries):,} seeded query rows against all {self.n:,} rows")
        if "hubness" in self.estimated:
            parts.append(
                "hubness_skew of the full set estimated from those query rows with 95% CI; "
                "antihub_share and hub_occurrence not estimated (they need every row's k-occurrence)"
            )
        if self.neg_sample:
            parts.append(
                f"auc_global and the negative-score statistics from every positive pair against "
                f"{self.neg_sample:,} sampled negative pairs, with 95% CI"
            )
        if self.auc_queries is not None:
            parts.append(
                f"auc_query over {len(self.auc_queries):,} seeded queries (each exact, against the "
                "whole corpus), with 95% CI"
            )
        return (
            f"estimated (exact: false): {', '.join(self.estimated)} — the exact {self.what} work would take "
            f"{est} on {self.device}, over the {self.budget:g} s budget; "
            + "; ".join(parts)
            + ". Ask for exact values with exact=True (CLI: --exact) or a larger budget."
        )


def _duration(s: float | None) -> str:
    if s is None:
        return "?"
    if s < 10:  # two significant digits: a 0.2 s estimate over a 0.0001 s budget is not "≈0 s"
        return f"{s:.2g} s"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _pair_sum(name: str, params: dict) -> bool:
    """Does this diagnostic run an exact pair sum (rather than a kNN pass or O(n·d) work)?"""
    return (name == "uniformity" and not params.get("sample")) or (name == "mam" and params.get("mode") == "pairwise")


def plan_geometry(
    n: int,
    d: int,
    chosen: list[tuple[str, dict]],
    *,
    backend=None,
    device: str = "cpu",
    budget: float | None = DEFAULT_BUDGET,
    exact: bool = False,
    seed: int = 0,
    full_knn: bool = False,
    seconds: Callable[[str, float], float] | None = None,
) -> ScalePlan:
    """Plan the O(n²) work of a geometry run. ``chosen``: (diagnostic name, params) pairs;
    ``full_knn``: something else (the item table) needs every row's neighbours anyway.
    ``seconds(kind, pairs)``: the cost model (default :func:`embeval.compute.estimate_seconds` on
    ``backend``; a cluster run passes its own, from one timed tile per worker)."""
    if seconds is None:
        seconds = _seconds_on(backend, d)
    plan = ScalePlan(n=n, d=d, device=device, budget=budget, exact=True, forced_exact=exact)
    pairsum_count = sum(1 for name, p in chosen if _pair_sum(name, p))
    knn_needed = full_knn or any(
        name in KNN and not (name == "mam" and p.get("mode") == "pairwise") for name, p in chosen
    )
    pairs = pairsum_count * n * (n - 1) / 2 + (n * n if knn_needed else 0)
    if pairs == 0 or budget is None:
        return plan
    if exact or pairs * pessimistic_seconds_per_pair(d) <= budget:
        if exact and pairs * pessimistic_seconds_per_pair(d) > budget:
            plan.estimate_s = _estimate(pairsum_count, knn_needed, n, seconds)
        return plan
    plan.estimate_s = _estimate(pairsum_count, knn_needed, n, seconds)
    if plan.estimate_s <= budget:
        return plan
    plan.exact = False
    rng = np.random.default_rng(seed)
    if pairsum_count:
        plan.pair_sample = PAIR_SAMPLE
        plan.estimated += [name for name, p in chosen if _pair_sum(name, p)]
    if knn_needed and not full_knn:
        per_pair = seconds("topk", 1)
        q = int(min(n, max(MIN_KNN_QUERIES, KNN_SHARE * budget / (per_pair * n))))
        if q < n:
            plan.knn_queries = np.sort(rng.choice(n, size=q, replace=False))
        plan.estimated += [
            name
            for name, p in chosen
            if name in KNN
            and name not in plan.estimated
            and not (name == "mam" and p.get("mode") == "pairwise")
            and plan.knn_queries is not None
        ]
    if not plan.estimated:
        plan.exact = True
    return plan


def _seconds_on(backend, d: int) -> Callable[[str, float], float]:
    """The single-machine cost model: :func:`embeval.compute.estimate_seconds` on ``backend``."""

    def seconds(kind: str, pairs: float) -> float:
        from embeval.compute import estimate_seconds

        return estimate_seconds(kind, pairs, d, backend)

    return seconds


def _estimate(pairsum_count: int, knn_needed: bool, n: int, seconds: Callable[[str, float], float]) -> float:
    total = seconds("pair_sum", pairsum_count * n * (n - 1) / 2) if pairsum_count else 0.0
    if knn_needed:
        total += seconds("topk", float(n) * n)
    return total


# ---------------------------------------------------------------- gap


GAP_PAIR_SUMS = ("uniformity_a", "uniformity_b", "uniformity_joint", "uniformity_cross")
GAP_PAIRED_AUC = ("paired_retrieval", "gap_shift")


def plan_gap(
    n_a: int,
    n_b: int,
    d: int,
    names: list[str],
    *,
    backend=None,
    device: str = "cpu",
    budget: float | None = DEFAULT_BUDGET,
    exact: bool = False,
    seed: int = 0,
    seconds: Callable[[str, float], float] | None = None,
) -> ScalePlan:
    """Plan the O(n²) work of a gap run (diagnostic names as registered: ``set_uniformity`` runs the
    four pair sums, ``knn_mixing`` a kNN graph of A∪B, ``paired_retrieval``/``gap_shift`` two
    all-pairs AUC passes each). Over the budget: the pair sums become sampled pair means, knn_mixing
    runs on a seeded subset of query rows against all of A∪B, and the paired AUC passes follow
    :func:`plan_retrieval`'s estimated form. ``seconds(kind, pairs)``: the cost model, as in
    :func:`plan_geometry`."""
    if seconds is None:
        seconds = _seconds_on(backend, d)
    n = n_a + n_b
    plan = ScalePlan(n=n, d=d, device=device, budget=budget, exact=True)
    pair_sum = ((n_a * (n_a - 1) + n_b * (n_b - 1) + n * (n - 1)) / 2 + n_a * n_b) if "set_uniformity" in names else 0
    knn = float(n) * n if "knn_mixing" in names else 0.0
    aucs = sum(2 for name in GAP_PAIRED_AUC if name in names)
    auc_pairs = aucs * float(n_a) * n_b * AUC_COST_FACTOR
    total = pair_sum + knn + auc_pairs
    if total == 0 or budget is None or total * pessimistic_seconds_per_pair(d) <= budget:
        return plan
    plan.estimate_s = seconds("pair_sum", pair_sum + auc_pairs) + (seconds("topk", knn) if knn else 0.0)
    if exact or plan.estimate_s <= budget:
        return plan
    rng = np.random.default_rng(seed)
    plan.exact = False
    if pair_sum:
        plan.pair_sample = PAIR_SAMPLE
        plan.estimated += list(GAP_PAIR_SUMS)
    if knn:
        per_pair = seconds("topk", 1)
        q = int(min(n, max(MIN_KNN_QUERIES, KNN_SHARE * budget / (per_pair * n))))
        if q < n:
            plan.knn_queries = np.sort(rng.choice(n, size=q, replace=False))
            plan.estimated.append("knn_mixing")
    if aucs:
        q = _auc_queries(n_a, n_b, d, backend, budget / aucs)
        if q < n_a:
            plan.auc_queries = np.sort(rng.choice(n_a, size=q, replace=False))
            plan.neg_sample = PAIR_SAMPLE
            plan.estimated += [name for name in GAP_PAIRED_AUC if name in names]
    plan.exact = not plan.estimated
    return plan


# ---------------------------------------------------------------- retrieval

AUC_COST_FACTOR = 3.0  # the all-pairs AUC pass costs about this many pair-sum products per pair
AUC_SHARE = 0.3  # share of the budget planned for the exact per-query AUCs of the query subset
MIN_AUC_QUERIES = 100


def _auc_queries(m: int, n: int, d: int, backend, budget: float) -> int:
    from embeval.compute import estimate_seconds

    per_query = estimate_seconds("pair_sum", float(n) * AUC_COST_FACTOR, d, backend)
    return int(min(m, max(MIN_AUC_QUERIES, AUC_SHARE * budget / per_query)))


def plan_retrieval(
    m: int,
    n: int,
    d: int,
    *,
    backend=None,
    device: str = "cpu",
    budget: float | None = DEFAULT_BUDGET,
    exact: bool = False,
    seed: int = 0,
) -> ScalePlan:
    """Plan the all-pairs AUC pass of ``m`` queries × ``n`` documents. Over the budget:
    ``auc_query`` is the mean of the exact per-query AUCs of a seeded subset of queries (95% CI),
    ``auc_global`` and the negative-score statistics compare every positive pair with
    ``PAIR_SAMPLE`` negative pairs drawn uniformly (95% CI). Ranking metrics need every query's top
    k and stay exact."""
    plan = ScalePlan(n=n, d=d, device=device, budget=budget, exact=True, what="all-pairs AUC")
    pairs = float(m) * n * AUC_COST_FACTOR
    if budget is None or pairs * pessimistic_seconds_per_pair(d) <= budget:
        return plan
    from embeval.compute import estimate_seconds

    plan.estimate_s = estimate_seconds("pair_sum", pairs, d, backend)
    if exact or plan.estimate_s <= budget:
        return plan
    q = _auc_queries(m, n, d, backend, budget)
    if q >= m:  # the subset would be every query: nothing to save
        return plan
    plan.exact = False
    plan.auc_queries = np.sort(np.random.default_rng(seed).choice(m, size=q, replace=False))
    plan.neg_sample = PAIR_SAMPLE
    plan.estimated = [
        "auc_global",
        "auc_query",
        "neg_score_mean",
        "neg_score_std",
        "d_prime",
        "best_threshold",
        "fpr@tpr95",
    ]
    return plan


def mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high): 95% normal-theory interval of the mean of ``values``."""
    v = np.asarray(values, dtype=np.float64)
    m = float(v.mean())
    half = 1.96 * float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else math.inf
    return m, m - half, m + half

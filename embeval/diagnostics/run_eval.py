"""Ranking metrics of an existing TREC run against qrels (``embeval retrieval --run-in``).

The formulas are embeval's own (:func:`embeval.diagnostics.retrieval.ranking_metrics`, the same as
for vectors), applied to the run's order (:func:`embeval.io.trec.ranked_docs`). As trec_eval does,
a query counts when it is both judged and ranked; documents the qrels do not judge gain 0; the ideal
ranking comes from every relevant judgement, ranked or not.

Threshold-free metrics (auc_global, auc_query, the score separation d′, best_threshold, fpr@tpr95)
need a score for every (query, document) pair; a run holds only its top documents, so they are not
computed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embeval.diagnostics.retrieval import RANKING_METRICS, RANKING_OUTPUTS, ranking_metrics
from embeval.errors import InputError
from embeval.results import Result

NEED_FULL_SCORES = (
    "auc_global",
    "auc_query",
    "pos_score_mean",
    "pos_score_std",
    "neg_score_mean",
    "neg_score_std",
    "d_prime",
    "best_threshold",
    "fpr@tpr95",
)


@dataclass
class RunEvaluation:
    results: list[Result]
    per_query: list[dict[str, Any]] = field(default_factory=list)
    n_scored: int = 0
    judged_not_ranked: list[str] = field(default_factory=list)
    ranked_not_judged: list[str] = field(default_factory=list)
    without_relevant: list[str] = field(default_factory=list)


def evaluate_run(
    run: dict[str, dict[str, float]],
    qrels: dict[str, dict[str, float]],
    ks: Sequence[int],
    *,
    per_query: bool = False,
    source: str = "run",
) -> RunEvaluation:
    """Mean recall/precision/mrr/ndcg/map at each k in ``ks`` over the queries in both ``run`` and ``qrels``."""
    from embeval.io.trec import ranked_docs

    common = [q for q in run if q in qrels]
    if not common:
        raise InputError(
            source,
            f"no query of the run is judged in the qrels (run has {len(run)} queries, "
            f"e.g. {next(iter(run))!r}; qrels have e.g. {next(iter(qrels))!r})",
        )
    depth = max(ks)
    m = len(common)
    gains = np.zeros((m, depth), dtype=np.float64)
    n_rel = np.zeros(m, dtype=np.float64)
    ideal = np.zeros((m, depth), dtype=np.float64)
    for i, q in enumerate(common):
        judged = qrels[q]
        for j, d in enumerate(ranked_docs(run[q])[:depth]):
            g = judged.get(d, 0.0)
            gains[i, j] = g if g > 0 else 0.0
        rel = np.sort(np.array([g for g in judged.values() if g > 0], dtype=np.float64))[::-1]
        n_rel[i] = len(rel)
        ideal[i, : min(depth, len(rel))] = rel[:depth]
    has_rel = n_rel > 0
    results: list[Result] = []
    cols: list[tuple[str, np.ndarray]] = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in ks:
            vals = ranking_metrics(gains, np.maximum(n_rel, 1), ideal, k)
            for name in RANKING_METRICS:
                v = np.where(has_rel, vals[name], 0.0) if name in ("ndcg", "map", "recall") else vals[name]
                cols.append((f"{name}@{k}", v))
    order = {name: i for i, name in enumerate(RANKING_METRICS)}
    cols.sort(key=lambda c: (order[c[0].split("@")[0]], int(c[0].split("@")[1])))
    for metric, v in cols:
        results.append(RANKING_OUTPUTS[metric.split("@")[0]](float(v.mean()), n=m, name=metric))
    rows = (
        [{"query_id": q, "metric": metric, "value": float(v[i])} for i, q in enumerate(common) for metric, v in cols]
        if per_query
        else []
    )
    return RunEvaluation(
        results,
        rows,
        m,
        [q for q in qrels if q not in run],
        [q for q in run if q not in qrels],
        [q for q, ok in zip(common, has_rel) if not ok],
    )

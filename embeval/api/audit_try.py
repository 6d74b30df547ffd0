"""``embeval audit --try center,whiten,abtt,csls``: each remedy measured on the user's data.

Without qrels, the findings after each remedy (the same thresholds). With queries and qrels,
nDCG@10 per query before and after, the paired bootstrap CI of the mean change and the sign-flip
p-value (:func:`embeval.stats.paired.paired_test`), and a plain verdict: worth making when the CI
of the change lies above 0, harmful when below, no measurable difference otherwise.

center / whiten / abtt are affine maps fitted on the corpus (:mod:`embeval.compute.transform`) and
applied to corpus and queries alike; csls (Conneau et al. 2018) rescores at query time,
2·cos(q, c) − r(c), r(c) the mean cosine of c to its k nearest queries (of other corpus rows
without queries), which lowers hubs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from embeval.compute import search
from embeval.compute.transform import KINDS, fit
from embeval.diagnostics.audit_rules import Rule
from embeval.diagnostics.geometry import k_occurrence, skewness
from embeval.diagnostics.space import Space
from embeval.results import Report

CSLS_K = 10


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length as float32; zero rows stay zero (they have no direction)."""
    from embeval.diagnostics.space import l2_normalize

    x = np.asarray(x, dtype=np.float32)
    ok = np.linalg.norm(x, axis=1) > 0
    out = np.zeros_like(x)
    out[ok] = l2_normalize(x[ok])
    return out


def _ndcg(q: np.ndarray, c: np.ndarray, aligned, k: int = 10, backend=None) -> np.ndarray:
    from embeval.diagnostics.ranking import ideal_gains, ranked_gains, ranking_metrics

    _, idx = search(q[aligned.query_rows], c, k, backend=backend)
    return ranking_metrics(ranked_gains(aligned, idx), aligned.n_rel, ideal_gains(aligned, k), k)["ndcg"]


def csls_parts(q: np.ndarray | None, c: np.ndarray, k: int = CSLS_K, backend=None) -> tuple[np.ndarray, np.ndarray]:
    """(augmented queries, augmented corpus) whose inner products rank as CSLS: q' = [q, 1],
    c' = [c, −r(c)/2]; r(c) = mean cosine of c to its k nearest queries (``q``), or to its k
    nearest other corpus rows when ``q`` is None."""
    if q is None:
        s, _ = search(c, c, k + 1, backend=backend)
        r = s[:, 1:].mean(axis=1)  # the row itself is first
        q = c
    else:
        s, _ = search(c, q, min(k, len(q)), backend=backend)
        r = s.mean(axis=1)
    qa = np.hstack([q, np.ones((len(q), 1), np.float32)])
    ca = np.hstack([c, (-r / 2).astype(np.float32)[:, None]])
    return qa, ca


def csls_hubness(c: np.ndarray, k: int, backend=None) -> tuple[float, float]:
    """(k-occurrence skewness, antihub share) of the corpus kNN graph ranked by CSLS."""
    qa, ca = csls_parts(None, c, CSLS_K, backend)
    _, idx = search(qa, ca, k + 1, backend=backend)
    own = np.arange(len(c))[:, None]
    idx = np.where(idx == own, -1, idx)
    keep = np.array([row[row >= 0][:k] for row in idx])
    occ = k_occurrence(keep, len(c))
    return skewness(occ), float(np.mean(occ == 0))


def _worth(t) -> str:
    if t.ci_low > 0:
        return "worth making: retrieval improves and the CI excludes no change"
    if t.ci_high < 0:
        return "harmful: retrieval gets worse"
    return "no measurable difference: not worth making"


def try_remedies(
    x: np.ndarray,
    q: np.ndarray | None,
    qrels: Mapping[str, Mapping[str, float]] | None,
    ids: np.ndarray,
    query_ids: np.ndarray,
    tries: Sequence[str],
    findings: list[dict],
    *,
    rules: Mapping[str, Rule],
    space: Space,
    report: Report,
    findings_of: Callable[[np.ndarray, np.ndarray | None], list[dict]],
    k: int,
    seed: int,
    backend,
    metric: str = "cosine",
) -> list[dict[str, Any]]:
    """Each remedy of ``tries`` measured (module docstring). ``findings_of(x, queries)``: the
    audit's findings on transformed vectors. Fitted maps go to ``report.artifacts["transform:KIND"]``."""
    aligned = None
    if qrels is not None and q is not None:
        from embeval.diagnostics.qrels import align_qrels

        aligned = align_qrels({a: dict(b) for a, b in qrels.items()}, list(query_ids), list(ids))
    cu = space.unit
    qu = None if q is None else unit_rows(q)
    # Retrieval before: as the user's index scores (cosine, or inner product of the raw vectors).
    qb, cb = (qu, cu) if metric == "cosine" or q is None else (np.asarray(q, np.float32), np.asarray(x, np.float32))
    before = None if aligned is None or qb is None else _ndcg(qb, cb, aligned, backend=backend)
    was = {f["finding"]: f for f in findings}
    out: list[dict[str, Any]] = []
    for name in tries:
        row: dict[str, Any] = {"remedy": name}
        if name in KINDS:
            m = fit(name, x)
            report.artifacts[f"transform:{name}"] = m
            xt = m.apply(x)
            qt = None if q is None else m.apply(q)
            after = findings_of(xt, qt)
            row["findings"] = [
                {
                    "finding": f["finding"],
                    "before": was[f["finding"]]["value"],
                    "after": f["value"],
                    "verdict_before": was[f["finding"]]["verdict"],
                    "verdict_after": f["verdict"],
                }
                for f in after
                if f["finding"] in was
            ]
            if aligned is not None and qt is not None:
                row["after_scores"] = _ndcg(qt, xt, aligned, backend=backend)  # unit rows: cosine = ip
        else:  # csls
            skew, _ = csls_hubness(cu, k, backend)
            row["findings"] = [
                {
                    "finding": "hubness",
                    "before": was["hubness"]["value"],
                    "after": skew,
                    "verdict_before": was["hubness"]["verdict"],
                    "verdict_after": rules["hubness"].verdict(skew),
                },
            ]
            if aligned is not None and qu is not None:
                qa, ca = csls_parts(qu, cu, CSLS_K, backend)
                row["after_scores"] = _ndcg(qa, ca, aligned, backend=backend)
        if aligned is not None and before is not None:
            from embeval.stats.paired import paired_test

            after_scores = row.pop("after_scores")
            t = paired_test(before, after_scores, seed=seed)
            row["retrieval"] = {
                "metric": "ndcg@10",
                "scored_by": metric,
                "queries": t.n,
                "before": float(before.mean()),
                "after": float(after_scores.mean()),
                "delta": t.mean_delta,
                "ci_low": t.ci_low,
                "ci_high": t.ci_high,
                "p_value": t.p_value,
                "method": t.method,
                "verdict": _worth(t),
            }
        out.append(row)
    return out

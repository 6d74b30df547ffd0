"""The worst queries of a retrieval run, for the HTML report: each query's id, text (when known),
per-query metrics and the documents it ranked first (exact cosine, so it is cheap: only the shown
queries are scored against the corpus)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def worst_queries(
    q_unit: np.ndarray,
    c_unit: np.ndarray,
    aligned,
    per_query: Sequence[dict[str, Any]],
    doc_ids: Sequence[str],
    *,
    query_texts: dict[str, str] | None = None,
    doc_texts: Sequence[str] | None = None,
    show: int = 10,
    top: int = 3,
) -> dict[str, Any] | None:
    """``{"by": metric, "metrics": [...], "rows": [{query_id, text, metrics, top: [{id, score,
    relevant, text}]}]}`` for the ``show`` queries with the lowest ``by`` (ndcg@10 when present,
    else the first nDCG, else the first per-query metric); ties broken by query id. None without
    per-query rows."""
    if not per_query:
        return None
    by_query: dict[str, dict[str, float]] = {}
    for row in per_query:
        by_query.setdefault(str(row["query_id"]), {})[row["metric"]] = float(row["value"])
    metrics = list(dict.fromkeys(row["metric"] for row in per_query))
    ndcgs = [m for m in metrics if m.startswith("ndcg@")]
    by = "ndcg@10" if "ndcg@10" in metrics else (ndcgs[0] if ndcgs else metrics[0])
    ranked = sorted((vals.get(by, np.inf), qid) for qid, vals in by_query.items())[:show]
    row_of = {qid: i for i, qid in enumerate(aligned.query_ids)}
    rows = []
    for _value, qid in ranked:
        i = row_of.get(qid)
        if i is None:
            continue
        scores = c_unit @ q_unit[aligned.query_rows[i]]
        k = min(top, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.lexsort((best, -scores[best]))]
        relevant = set(aligned.pos_doc[aligned.indptr[i] : aligned.indptr[i + 1]].tolist())
        rows.append(
            {
                "query_id": qid,
                "text": (query_texts or {}).get(qid),
                "metrics": by_query[qid],
                "top": [
                    {
                        "id": str(doc_ids[j]),
                        "score": float(scores[j]),
                        "relevant": int(j) in relevant,
                        "text": None if doc_texts is None else _short(doc_texts[j]),
                    }
                    for j in best
                ],
            }
        )
    return {"by": by, "metrics": metrics, "rows": rows}


def _short(text: str, n: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"

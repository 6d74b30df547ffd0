"""Relevance judgements: BEIR TSV (``query-id corpus-id score``, header optional) or TREC
(``qid 0 docid rel``). A score > 0 is relevant; graded scores are kept for nDCG."""

from __future__ import annotations

from pathlib import Path

from embeval.errors import InputError

Qrels = dict[str, dict[str, int]]


def load_qrels(path: str | Path) -> Qrels:
    """Read qrels into ``{query_id: {doc_id: score}}`` (every judged pair, scores as ints)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no such qrels file")
    qrels: Qrels = {}
    with open(p, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) == 3:
                qid, did, raw = parts
            elif len(parts) == 4:
                qid, _, did, raw = parts
            else:
                raise InputError(p, f"expected 3 columns (query-id corpus-id score) or 4 (TREC), got {len(parts)}",
                                 where=f"line {lineno}")
            try:
                score = int(float(raw))
            except ValueError:
                if lineno == 1:  # header
                    continue
                raise InputError(p, f"score {raw!r} is not a number", where=f"line {lineno}") from None
            qrels.setdefault(qid, {})[did] = score
    if not qrels:
        raise InputError(p, "no judgements (empty qrels)")
    return qrels

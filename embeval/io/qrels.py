"""Relevance judgements: BEIR TSV (``query-id corpus-id score``, header optional) or TREC
(``qid 0 docid rel``). A score > 0 is relevant; graded scores are kept as given (floats) for nDCG,
whose gain is the relevance score (SPEC §3), so a 0.5 grade is relevant and a 2.7 grade gains 2.7."""

from __future__ import annotations

import math
import re
from pathlib import Path

from embeval.errors import InputError
from embeval.io.lines import iter_lines

Qrels = dict[str, dict[str, float]]

# A first line is a header when its score field is a column name such as BEIR's "score".
_HEADER_SCORE = re.compile(r"[A-Za-z][A-Za-z_-]*")
_HEADER_WORDS = ("score", "rel", "grade", "label", "gain", "judg")


def load_qrels(path: str | Path) -> Qrels:
    """Read qrels into ``{query_id: {doc_id: score}}`` (every judged pair, scores as floats).

    Line 1 is skipped as a header only when its score field is a column name (e.g. ``score``,
    ``relevance``); any other score that is not a finite number is an error naming the line."""
    from embeval.io.paths import require_file

    p = Path(path)
    require_file(p, what="qrels file", allow_empty=True)
    qrels: Qrels = {}
    seen: dict[tuple[str, str], int] = {}
    for lineno, line in iter_lines(p):
        parts = line.split()
        if not parts:
            continue
        if len(parts) == 3:
            qid, did, raw = parts
        elif len(parts) == 4:
            qid, _, did, raw = parts
        else:
            raise InputError(
                p,
                f"expected 3 columns (query-id corpus-id score) or 4 (TREC), got {len(parts)}",
                where=f"line {lineno}",
            )
        try:
            score = float(raw)
        except ValueError:
            if lineno == 1 and _is_header_name(raw):
                continue
            raise InputError(p, f"score {raw!r} is not a number", where=f"line {lineno}") from None
        if not math.isfinite(score):
            raise InputError(p, f"score {raw!r} is not a finite number", where=f"line {lineno}")
        first = seen.setdefault((qid, did), lineno)
        if first != lineno:
            raise InputError(
                p,
                f"query {qid!r} and document {did!r} are judged twice (lines {first} and "
                f"{lineno}); keep one judgement per pair",
                where=f"line {lineno}",
            )
        qrels.setdefault(qid, {})[did] = score
    if not qrels:
        raise InputError(p, "no judgements (empty qrels)")
    return qrels


def _is_header_name(field: str) -> bool:
    return bool(_HEADER_SCORE.fullmatch(field)) and any(w in field.lower() for w in _HEADER_WORDS)


def qrels_in_memory(qrels) -> Qrels:
    """``{query_id: {doc_id: grade}}`` (or ``{query_id: [doc_id, ...]}``, grade 1) as loaded qrels:
    ids as strings, grades as whole numbers (as a qrels file holds them)."""
    from collections.abc import Mapping

    from embeval.errors import UsageError

    if not isinstance(qrels, Mapping):
        raise UsageError("`qrels`: a path, or a dict {query_id: {doc_id: grade}}")
    out: Qrels = {}
    for q, docs in qrels.items():
        pairs = docs.items() if isinstance(docs, Mapping) else ((d, 1) for d in docs)
        out[str(q)] = {str(d): float(int(g)) for d, g in pairs}
    return out

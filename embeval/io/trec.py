"""TREC run files: ``qid Q0 docid rank score tag``, one ranked document per line.

:func:`write_run` writes embeval's top-K (rank from 1, scores with full float precision);
:func:`read_run` reads any run (BM25, a reranker, embeval's own) into ``{qid: {docid: score}}``.
Ranks in a file are ignored when reading, as trec_eval ignores them: documents are ordered by score,
descending, ties broken by document id in descending byte order (trec_eval's rule), see
:func:`ranked_docs`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeval.errors import InputError, UsageError
from embeval.io.lines import iter_lines

Run = dict[str, dict[str, float]]


def check_run_path(path: str | os.PathLike | None, option: str = "`run_out`") -> None:
    """Fail before any work when the run file cannot be written."""
    if path is None:
        return
    from embeval.io.atomic import check_writable

    if Path(path).suffix.lower() in (".json", ".csv", ".npy", ".parquet", ".md", ".html"):
        raise UsageError(f"{option} {path}: a TREC run is plain text; use a .trec, .run or .txt name")
    check_writable(path, option)


def write_run(
    path: str | os.PathLike,
    query_ids: Sequence[str],
    doc_ids: Sequence[str] | np.ndarray,
    scores: np.ndarray,
    idx: np.ndarray,
    tag: str = "embeval",
) -> int:
    """Write the ranking ``idx`` (m×K corpus rows, best first, −1 = empty slot) with ``scores``
    (m×K) for ``query_ids`` (m). Returns the number of lines. Written atomically."""
    from embeval.io.atomic import write_atomic

    if any(c.isspace() for c in tag) or not tag:
        raise UsageError(f"run tag {tag!r}: one word, no spaces")
    bad = next(
        (str(i) for i in list(query_ids) + list(doc_ids) if not str(i) or any(c.isspace() for c in str(i))), None
    )
    if bad is not None:
        raise UsageError(f"id {bad!r} contains whitespace (or is empty): it cannot be written to a TREC run file")
    lines = []
    docs = np.asarray(doc_ids, dtype=str)
    for qi, qid in enumerate(query_ids):
        rank = 0
        for j in range(idx.shape[1]):
            if idx[qi, j] < 0:
                continue
            rank += 1
            lines.append(f"{qid} Q0 {docs[idx[qi, j]]} {rank} {float(scores[qi, j])!r} {tag}\n")
    write_atomic(path, "".join(lines))
    return len(lines)


def read_run(path: str | os.PathLike) -> Run:
    """``{qid: {docid: score}}`` from a 6-column TREC run; a one-line InputError naming the line for
    a wrong column count, a score that is not a finite number, or a document listed twice for a query."""
    from embeval.io.paths import require_file

    p = require_file(path, what="run file", allow_empty=True)  # a FIFO or a link loop is named, not "no such"
    run: Run = {}
    for lineno, line in iter_lines(p):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 6:
            raise InputError(
                p, f"expected 6 columns (qid Q0 docid rank score tag), got {len(parts)}", where=f"line {lineno}"
            )
        qid, _, did, _, raw, _ = parts
        try:
            score = float(raw)
        except ValueError:
            raise InputError(p, f"score {raw!r} is not a number", where=f"line {lineno}") from None
        if not math.isfinite(score):
            raise InputError(p, f"score {raw!r} is not a finite number", where=f"line {lineno}")
        docs = run.setdefault(qid, {})
        if did in docs:
            raise InputError(p, f"document {did!r} is listed twice for query {qid!r}", where=f"line {lineno}")
        docs[did] = score
    if not run:
        raise InputError(p, "no ranked documents (empty run)")
    return run


def ranked_docs(docs: dict[str, float]) -> list[str]:
    """Document ids best first: score descending, then id descending (bytes), as trec_eval sorts."""
    return [d for d, _ in sorted(docs.items(), key=lambda kv: (-kv[1], _Desc(kv[0])))]


class _Desc:
    """Sort key reversing byte order of a string (trec_eval breaks score ties by docno, descending)."""

    __slots__ = ("b",)

    def __init__(self, s: str):
        self.b = s.encode()

    def __lt__(self, other: _Desc) -> bool:
        return self.b > other.b

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.b == other.b

"""Qrels mapped onto rows of the query and corpus arrays (ids → row numbers), once per run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from embeval.errors import InputError
from embeval.io.qrels import Qrels


@dataclass
class AlignedQrels:
    """Qrels mapped onto rows of the query and corpus arrays.

    query_rows: (m,) int64 rows of the queries array that are scored, in queries-file order.
    query_ids:  the m ids, same order.
    indptr:     (m+1,) int64; positives of scored query i are ``pos_doc[indptr[i]:indptr[i+1]]``.
    pos_doc:    int64 corpus rows of the relevant (grade > 0) documents, ascending per query.
    pos_gain:   float64 grades of those documents.
    n_docs:     corpus size.
    """

    query_rows: np.ndarray
    query_ids: list[str]
    indptr: np.ndarray
    pos_doc: np.ndarray
    pos_gain: np.ndarray
    n_docs: int

    @property
    def m(self) -> int:
        return len(self.query_rows)

    @property
    def n_rel(self) -> np.ndarray:
        return np.diff(self.indptr)

    def positives(self) -> list[np.ndarray]:
        return [self.pos_doc[self.indptr[i] : self.indptr[i + 1]] for i in range(self.m)]


def align_qrels(
    qrels: Qrels,
    query_ids: Sequence[str] | np.ndarray,
    doc_ids: Sequence[str] | np.ndarray,
    *,
    source: str = "qrels",
    queries_source: str = "the queries",
    corpus_source: str = "the corpus",
) -> AlignedQrels:
    """Map qrels ids onto array rows. Raises :class:`InputError` (naming ``source`` and the id) for
    empty qrels, a judged query absent from the queries, a judged document absent from the corpus,
    and a query with no relevant (grade > 0) document."""
    if not qrels or not any(qrels.values()):
        raise InputError(source, "no judgements (empty qrels)")
    dpos = {str(d): i for i, d in enumerate(doc_ids)}
    return align_qrels_rows(
        qrels,
        query_ids,
        dpos,
        len(doc_ids),
        source=source,
        queries_source=queries_source,
        corpus_source=corpus_source,
    )


def judged_docs(qrels: Qrels) -> set[str]:
    """Every document id the qrels judge (any grade): what :func:`align_qrels_rows` needs rows for."""
    return {str(d) for docs in qrels.values() for d in docs}


def align_qrels_rows(
    qrels: Qrels,
    query_ids: Sequence[str] | np.ndarray,
    dpos: Mapping[str, int],
    n_docs: int,
    *,
    source: str = "qrels",
    queries_source: str = "the queries",
    corpus_source: str = "the corpus",
) -> AlignedQrels:
    """:func:`align_qrels` for a corpus of ``n_docs`` rows known by ``dpos`` (``{doc id: row}``, at
    least for every judged document the corpus holds: :func:`judged_docs`); the same errors."""
    if not qrels or not any(qrels.values()):
        raise InputError(source, "no judgements (empty qrels)")
    qpos = {str(q): i for i, q in enumerate(query_ids)}
    missing_q = [q for q in qrels if q not in qpos]
    if missing_q:
        raise InputError(
            source,
            f"query id {missing_q[0]!r} is not in {queries_source} "
            f"({len(missing_q)} of {len(qrels)} judged queries missing)",
        )
    missing_d = [(q, d) for q, docs in qrels.items() for d in docs if d not in dpos]
    if missing_d:
        q, d = missing_d[0]
        raise InputError(
            source,
            f"document id {d!r} (judged for query {q!r}) is not in {corpus_source} "
            f"({len(missing_d)} judgements name missing documents)",
        )
    no_rel = [q for q, docs in qrels.items() if not any(g > 0 for g in docs.values())]
    if no_rel:
        raise InputError(
            source,
            f"query {no_rel[0]!r} has no relevant document (every judgement "
            f"scores ≤ 0; {len(no_rel)} such queries); remove them from the qrels",
        )
    order = sorted(qrels, key=qpos.__getitem__)
    indptr: list[int] = [0]
    docs: list[int] = []
    gains: list[float] = []
    for q in order:
        rel = sorted((dpos[d], g) for d, g in qrels[q].items() if g > 0)
        docs.extend(r for r, _ in rel)
        gains.extend(g for _, g in rel)
        indptr.append(len(docs))
    return AlignedQrels(
        query_rows=np.array([qpos[q] for q in order], dtype=np.int64),
        query_ids=[str(q) for q in order],
        indptr=np.array(indptr, dtype=np.int64),
        pos_doc=np.array(docs, dtype=np.int64),
        pos_gain=np.array(gains, dtype=np.float64),
        n_docs=n_docs,
    )

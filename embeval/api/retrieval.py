"""``embeval retrieval``: ranking metrics, AUCs and score separation of queries against a corpus."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embeval.api.cluster import cluster_route, retrieval_on_cluster
from embeval.api.common import (
    check_retrieval_options,
    describe_source,
    in_memory,
    load_input,
    note_fallback,
    records_cache,
)
from embeval.compute.context import DEFAULT_COMPUTE, ComputeContext
from embeval.diagnostics.registry import parse_ks
from embeval.diagnostics.retrieval import align_qrels, evaluate_aligned
from embeval.diagnostics.scale import plan_retrieval
from embeval.diagnostics.series import roc_series, score_series
from embeval.diagnostics.space import l2_normalize
from embeval.encode import encode_texts, encoder_identity
from embeval.errors import InputError, UsageError
from embeval.index.search import thread_limit
from embeval.io.embeddings import EmbeddingSet, check_same_dim, load_embeddings
from embeval.io.fileinfo import file_info
from embeval.io.ids import id_source
from embeval.io.qrels import Qrels, load_qrels, qrels_in_memory
from embeval.io.texts import TextSet, load_beir
from embeval.progress import NULL, Progress
from embeval.results import Report


@cluster_route(retrieval_on_cluster)
@records_cache
def retrieval_report(
    queries_path: str | Path | EmbeddingSet | TextSet,
    corpus_path: str | Path | EmbeddingSet | TextSet,
    qrels_path: str | Path | Qrels,
    *,
    k: str | Sequence[int] = "1,10,100",
    index: str = "flat",
    index_params: dict[str, Any] | None = None,
    threads: int | None = None,
    per_query: bool = False,
    seed: int = 0,
    progress: Progress = NULL,
    id_col: str = "id",
    vector_col: str = "embedding",
    text_col: str = "text",
    encoder=None,
    compute: ComputeContext = DEFAULT_COMPUTE,
    cluster: str | None = None,
    checkpoint: str | Path | None = None,
) -> Report:
    """``embeval retrieval --queries Q --corpus C --qrels F`` on precomputed vectors (or on texts
    encoded with ``encoder``: queries with its query prompt, documents with its document prompt).

    Ids come from the files (npz ``id`` array, parquet/jsonl/csv id column; row numbers when
    absent). Every input is validated before any search: see :func:`retrieval_report_from_arrays`.

    ``cluster`` (``local:N`` or a scheduler address; default ``$EMBEVAL_CLUSTER``): run over the
    shards of the inputs on Dask instead (:mod:`embeval.api.cluster`, :mod:`embeval.distributed`);
    ``checkpoint`` (a folder) keeps each finished tile there, so the same call again resumes
    (:mod:`embeval.distributed.checkpoint`).
    """
    check_retrieval_options(k=k, index=index, index_params=index_params, threads=threads, seed=seed, encoder=encoder)
    if encoder is None:
        q = _vectors(queries_path, id_col=id_col, vector_col=vector_col, min_rows=1, progress=progress)
        c = _vectors(corpus_path, id_col=id_col, vector_col=vector_col, min_rows=2, progress=progress)
    else:
        load = dict(encoder=encoder, text_col=text_col, id_col=id_col, progress=progress)
        q = load_input(queries_path, role="query", **load)
        c = load_input(corpus_path, role="document", **load)
    check_same_dim(c, q)
    qrels = load_qrels(qrels_path) if isinstance(qrels_path, (str, Path)) else qrels_in_memory(qrels_path)
    inputs = {
        "queries": q.describe(),
        "corpus": c.describe(),
        "qrels": describe_source(
            qrels_path,
            name="argument `qrels`",
            queries=len(qrels),
            judgements=sum(len(v) for v in qrels.values()),
        ),
    }
    return retrieval_report_from_arrays(
        q.vectors,
        c.vectors,
        qrels,
        q.ids,
        c.ids,
        inputs=inputs,
        sources=(
            id_source(q.path, q.ids, id_col),
            id_source(c.path, c.ids, id_col),
            "argument `qrels`" if in_memory(qrels_path) else str(qrels_path),
        ),
        k=k,
        index=index,
        index_params=index_params,
        threads=threads,
        per_query=per_query,
        seed=seed,
        progress=progress,
        compute=compute,
        query_texts=None if q.texts is None else dict(zip(map(str, q.ids), q.texts)),
        doc_texts=c.texts,
    )


def _vectors(x, **kw) -> EmbeddingSet:
    """An EmbeddingSet loaded at the edge, taken as it is; else the file (or shards, or source) read."""
    if isinstance(x, EmbeddingSet):
        return x
    if isinstance(x, TextSet):
        raise UsageError(f"{x.path} holds texts: pass `model` (e.g. `model` default) to encode them")
    return load_embeddings(x, **kw)


@records_cache
def retrieval_report_beir(
    folder: str | Path,
    *,
    encoder,
    split: str = "test",
    progress: Progress = NULL,
    **options: Any,
) -> Report:
    """``embeval retrieval DATA_DIR --model M``: a BEIR folder encoded with ``encoder``.

    Documents are ``title + " " + text`` (as MTEB); only the queries judged in
    ``qrels/<split>.tsv`` are encoded and scored. ``options`` go to
    :func:`retrieval_report_from_arrays` (k, index, index_params, threads, per_query, seed).
    """
    check_retrieval_options(encoder=encoder, split=split, **options)
    data = load_beir(folder, split)
    qrels = load_qrels(data.qrels_path)
    judged = set(qrels)
    q_rows = [i for i, qid in enumerate(data.queries.ids) if qid in judged]
    q_ids = [data.queries.ids[i] for i in q_rows]
    q_texts = [data.queries.texts[i] for i in q_rows]
    corpus = encode_texts(data.corpus.texts, encoder, role="document", progress=progress, source=data.corpus.path)
    queries = (
        encode_texts(q_texts, encoder, role="query", progress=progress, source=data.queries.path)
        if q_texts
        else np.zeros((0, corpus.shape[1]), dtype=np.float32)
    )
    identity = encoder_identity(encoder)
    inputs = {
        "dataset": {**file_info(folder), "split": split, "model": identity},
        "queries": {**file_info(data.queries.path), "n": len(q_ids), "d": corpus.shape[1]},
        "corpus": {**file_info(data.corpus.path), "n": len(data.corpus.ids), "d": corpus.shape[1]},
        "qrels": {
            **file_info(data.qrels_path),
            "queries": len(qrels),
            "judgements": sum(len(v) for v in qrels.values()),
        },
    }
    return retrieval_report_from_arrays(
        queries,
        corpus,
        qrels,
        q_ids,
        data.corpus.ids,
        inputs=inputs,
        sources=(data.queries.path, data.corpus.path, str(data.qrels_path)),
        progress=progress,
        query_texts=dict(zip(q_ids, q_texts)),
        doc_texts=data.corpus.texts,
        **options,
    )


def retrieval_report_from_arrays(
    queries: np.ndarray,
    corpus: np.ndarray,
    qrels: Qrels,
    query_ids: Sequence[str] | np.ndarray,
    doc_ids: Sequence[str] | np.ndarray,
    *,
    inputs: dict[str, dict[str, Any]],
    sources: tuple[str, str, str] = ("queries", "corpus", "qrels"),
    k: str | Sequence[int] = "1,10,100",
    index: str = "flat",
    index_params: dict[str, Any] | None = None,
    threads: int | None = None,
    per_query: bool = False,
    seed: int = 0,
    progress: Progress = NULL,
    notes: Sequence[str] = (),
    compute: ComputeContext = DEFAULT_COMPUTE,
    query_texts: dict[str, str] | None = None,
    doc_texts: Sequence[str] | None = None,
) -> Report:
    """The retrieval report from vectors already loaded (or encoded) and validated row-wise.

    queries q×d, corpus n×d (any non-zero rows; L2-normalised here), ids aligned with the rows,
    ``sources`` = names of the queries, corpus and qrels inputs for error messages, ``inputs`` =
    their descriptions for the report. Checks the qrels against the ids (InputError naming the
    id), runs :func:`embeval.diagnostics.retrieval.evaluate_aligned` under ``threads`` and writes
    keeps the pooled ROC curve in ``report.artifacts["roc_curve"]`` (for ``--roc``). ``compute``
    (a :class:`~embeval.compute.context.ComputeContext`): its ``device`` is where the exact (flat)
    top-k search and the score blocks of the all-pairs AUC pass run (auto|cpu|cuda|cuda:N; the AUC
    counting is on the CPU). Before it, its cost is estimated; above its ``budget`` seconds (None:
    no limit) the AUCs and negative-score statistics switch to their estimated form
    (:func:`embeval.diagnostics.scale.plan_retrieval`) unless ``exact``.
    """
    ks = parse_ks(k)
    backend = compute.backend(rows=corpus.shape[0] if len(queries) * corpus.shape[0] >= 1 << 30 else 0)
    q_src, c_src, r_src = sources
    if queries.shape[1] != corpus.shape[1]:
        raise InputError(q_src, f"dimension {queries.shape[1]} does not match {c_src} ({corpus.shape[1]})")
    aligned = align_qrels(qrels, query_ids, doc_ids, source=r_src, queries_source=q_src, corpus_source=c_src)
    q_unit, c_unit = l2_normalize(queries), l2_normalize(corpus)
    plan = plan_retrieval(
        aligned.m,
        corpus.shape[0],
        corpus.shape[1],
        backend=backend,
        device=backend.device,
        budget=compute.budget,
        exact=compute.exact,
        seed=seed,
    )
    plan_note = plan.note()
    if plan_note:
        progress.note(plan_note)
    with thread_limit(threads):
        out = evaluate_aligned(
            q_unit,
            c_unit,
            aligned,
            ks=ks,
            index=index,
            backend=backend,
            index_params=index_params,
            auc=True,
            separation=True,
            per_query=per_query,
            roc=True,
            progress=progress,
            seed=seed,
            plan=plan,
        )
    settings: dict[str, Any] = {
        "seed": seed,
        "index": index,
        "index_params": out.index_params,
        "k": list(ks),
        "threads": threads or "all",
        "normalized": True,
    }
    if plan.estimate_s is not None:
        settings.update(plan.settings())
    report = Report("retrieval", inputs=inputs, settings=settings, results=out.results, per_query=out.per_query)

    report.artifacts["roc_curve"] = out.roc  # roc=True above: always a curve
    # the ranked top-K (for a TREC run file): query ids, doc ids, scores and corpus rows, m×K best first
    if out.ranking is not None:
        report.artifacts["ranking"] = (aligned.query_ids, doc_ids, *out.ranking)
    report.series = {
        "roc": roc_series(out.roc) if out.roc is not None else {},
        "scores": score_series(q_unit, c_unit, aligned, seed=seed),
    }
    if out.per_query:  # the worst queries, their texts and top documents (the HTML report's table)
        from embeval.diagnostics.worst import worst_queries

        worst = worst_queries(
            q_unit,
            c_unit,
            aligned,
            out.per_query,
            [str(d) for d in doc_ids],
            query_texts=query_texts,
            doc_texts=doc_texts,
        )
        if worst is not None:
            report.series["worst_queries"] = worst
    report.notes.append(
        f"scored {out.n_scored} of {len(query_ids)} queries (those judged in the qrels); "
        f"score = cosine (rows L2-normalised); AUCs over all {len(doc_ids)} documents"
    )
    auc_res = next((r for r in out.results if r.metric == "auc_global"), None)
    if auc_res is not None and auc_res.params.get("method") == "binned" and auc_res.params.get("exact", True):
        report.notes.append(
            f"auc_global counted in bins of width {auc_res.params['bin_width']:.3g} "
            f"(error at most {auc_res.params['max_error']:.2g}); auc_query is exact"
        )
    if per_query:
        report.notes.append(f"{len(out.per_query)} per-query rows: in the CSV and JSON renderings")
    if plan_note:
        report.notes.append(plan_note)
    report.notes.extend(notes)
    note_fallback(report, compute)
    return report


def run_file_report(
    run_path: str | Path,
    qrels_path: str | Path,
    *,
    k: str | Sequence[int] = "1,10,100",
    per_query: bool = False,
    notes: Sequence[str] = (),
) -> Report:
    """``embeval retrieval --qrels Q --run-in RUN``: the ranking metrics of an existing TREC run
    (BM25, a reranker, another system) judged by ``qrels``; equal to trec_eval's ndcg_cut, map_cut,
    recall, P (and recip_rank on the run cut at k). See :mod:`embeval.diagnostics.run_eval`."""
    from embeval.diagnostics.run_eval import NEED_FULL_SCORES, evaluate_run
    from embeval.io.trec import read_run

    ks = parse_ks(k)
    run = read_run(run_path)
    qrels = load_qrels(qrels_path)
    ev = evaluate_run(run, qrels, ks, per_query=per_query, source=str(run_path))
    inputs = {
        "run": {**file_info(run_path), "queries": len(run), "documents": sum(len(v) for v in run.values())},
        "qrels": {**file_info(qrels_path), "queries": len(qrels), "judgements": sum(len(v) for v in qrels.values())},
    }
    report = Report(
        "retrieval",
        inputs=inputs,
        settings={"k": list(ks), "ranking": "run file (trec_eval order)"},
        results=ev.results,
        per_query=ev.per_query,
    )
    report.notes.append(
        f"scored {ev.n_scored} queries (judged and ranked); documents ordered by score, ties by "
        "document id descending, as trec_eval; unjudged documents gain 0"
    )
    if ev.judged_not_ranked:
        report.notes.append(
            f"{len(ev.judged_not_ranked)} judged queries have no line in the run and are left out, "
            f"as trec_eval does (e.g. {ev.judged_not_ranked[0]!r})"
        )
    if ev.ranked_not_judged:
        report.notes.append(
            f"{len(ev.ranked_not_judged)} ranked queries are not in the qrels and are left out "
            f"(e.g. {ev.ranked_not_judged[0]!r})"
        )
    if ev.without_relevant:
        report.notes.append(f"{len(ev.without_relevant)} scored queries have no relevant document: they score 0")
    report.notes.append(
        "not computed from a run file: " + ", ".join(NEED_FULL_SCORES) + " need a score for every "
        "(query, document) pair, and a run holds only its top documents; evaluate the query and "
        "corpus vectors for them"
    )
    report.notes.extend(notes)
    return report


def run_retrieval(
    data: str | Path | None = None,
    *,
    queries: Any = None,
    corpus: Any = None,
    qrels: Any = None,
    run_in: str | Path | None = None,
    split: str = "test",
    encoder=None,
    cluster: str | None = None,
    checkpoint: str | Path | None = None,
    progress: Progress = NULL,
    k: str | Sequence[int] = "1,10,100",
    per_query: bool = False,
    id_col: str = "id",
    vector_col: str = "embedding",
    text_col: str = "text",
    **options: Any,
) -> Report:
    """The one retrieval dispatch (the CLI, the Python API and the pytest plugin call it): which of
    the three modes the arguments ask for, checked once.

    * ``run_in`` + ``qrels``: an existing TREC run, ranking metrics as trec_eval
      (:func:`run_file_report`);
    * ``data``: a BEIR folder, encoded with ``encoder`` (:func:`retrieval_report_beir`);
    * ``queries`` + ``corpus`` + ``qrels``: vectors (or texts with ``encoder``) judged by qrels
      (:func:`retrieval_report`).

    ``options``: index, index_params, threads, seed, compute; the columns (``id_col``,
    ``vector_col``, ``text_col``) name those of ``queries`` and ``corpus`` files."""
    from embeval.errors import UsageError

    if (cluster is not None or checkpoint is not None) and (run_in is not None or data is not None):
        raise UsageError(
            "`cluster` scores precomputed `queries`/`corpus` vectors; a BEIR folder or `run_in` runs "
            "on this machine (unset $EMBEVAL_CLUSTER)"
        )
    if run_in is not None:
        if data is not None or queries is not None or corpus is not None or encoder is not None:
            raise UsageError(
                "`run_in` evaluates an existing run: give it with `qrels` only (no BEIR folder, "
                "`queries`, `corpus` or `model`)"
            )
        if qrels is None:
            raise UsageError("`run_in` needs `qrels`")
        return run_file_report(run_in, qrels, k=k, per_query=per_query)
    if data is not None:
        if queries is not None or corpus is not None or qrels is not None:
            raise UsageError("give either a BEIR folder or `queries`/`corpus`/`qrels`, not both")
        if encoder is None:
            raise UsageError(f"{data} holds texts: pass `model` to encode them (e.g. 'default')")
        return retrieval_report_beir(
            data, encoder=encoder, split=split, progress=progress, k=k, per_query=per_query, **options
        )
    if queries is None or corpus is None or qrels is None:
        missing = [name for name, v in (("queries", queries), ("corpus", corpus), ("qrels", qrels)) if v is None]
        raise UsageError(
            f"missing {', '.join(f'`{m}`' for m in missing)}: pass a BEIR folder with `model`, or "
            "`queries`, `corpus` and `qrels`"
        )
    return retrieval_report(
        queries,
        corpus,
        qrels,
        encoder=encoder,
        cluster=cluster,
        checkpoint=checkpoint,
        progress=progress,
        k=k,
        per_query=per_query,
        id_col=id_col,
        vector_col=vector_col,
        text_col=text_col,
        **options,
    )

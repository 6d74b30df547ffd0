"""Library entry points: one function per command, returning a :class:`Report`.

The CLI and the batch runner call these; they know nothing of the terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embeval.diagnostics.registry import Diagnostic, all_diagnostics, parse_spec, split_specs
from embeval.errors import InputError, UsageError
from embeval.progress import NULL, Progress
from embeval.report.results import Report

if TYPE_CHECKING:
    import numpy as np


def resolve_metrics(specs: list[str] | None, family: str, available: set[str]) -> list[tuple[Diagnostic, dict]]:
    """Parse ``--metric`` values (comma-separated, repeatable). Default: every default diagnostic of
    ``family`` whose needs are in ``available``. Asking for one whose needs are missing is an error."""
    if not specs:
        return [(d, d.defaults()) for d in all_diagnostics(family) if d.default and d.needs <= available]
    chosen = []
    for text in specs:
        for spec in split_specs(text):
            diag, params = parse_spec(spec, family)
            missing = diag.needs - available
            if missing:
                raise UsageError(f"metric {diag.name} needs {', '.join(sorted(missing))} "
                                 f"({_NEEDS_HINT.get(next(iter(missing)), '')})")
            chosen.append((diag, params))
    return chosen


_NEEDS_HINT = {"pairs": "pass --pairs OTHER with row-aligned vectors", "labels": "pass --labels or --label-col"}


def geometry_report(
    file: str | Path,
    *,
    metrics: list[str] | None = None,
    pairs: str | Path | None = None,
    sample: int = 0,
    normalize: bool = True,
    id_col: str = "id",
    vector_col: str = "embedding",
    seed: int = 0,
    progress: Progress = NULL,
) -> Report:
    from embeval.diagnostics.space import Space
    from embeval.io.embeddings import check_same_dim, load_embeddings

    available = {"pairs"} if pairs is not None else set()
    chosen = resolve_metrics(metrics, "geometry", available)
    if sample < 0:
        raise UsageError("--sample must be positive")
    emb = load_embeddings(file, id_col=id_col, vector_col=vector_col)
    inputs = {"embeddings": emb.describe()}
    other = None
    if pairs is not None:
        other = load_embeddings(pairs, id_col=id_col, vector_col=vector_col)
        check_same_dim(emb, other)
        if other.n != emb.n:
            raise UsageError(f"--pairs {pairs}: {other.n} rows, but {file} has {emb.n}; pairs must be row-aligned")
        inputs["pairs"] = other.describe()
    space = Space.build(emb.vectors, normalize=normalize, pairs=None if other is None else other.vectors,
                        seed=seed, progress=progress)
    report = Report("geometry", inputs=inputs, settings={"seed": seed, "normalized": normalize})
    if sample:
        report.settings["sample"] = sample
    for diag, params in chosen:
        if diag.name == "uniformity" and sample and not params.get("sample"):
            params = {**params, "sample": sample}
        report.results.extend(diag.func(space, **params))
    report.notes.append("rows L2-normalised before every diagnostic" if normalize
                        else "rows used as given (--no-normalize); angles and cosines use unit rows")
    return report


def retrieval_report(
    queries_path: str | Path,
    corpus_path: str | Path,
    qrels_path: str | Path,
    *,
    k: str | Sequence[int] = "1,10,100",
    index: str = "flat",
    index_params: dict[str, Any] | None = None,
    threads: int | None = None,
    per_query: bool = False,
    roc: str | Path | None = None,
    seed: int = 0,
    progress: Progress = NULL,
    id_col: str = "id",
    vector_col: str = "embedding",
) -> Report:
    """``embeval retrieval --queries Q --corpus C --qrels F`` on precomputed vectors.

    Ids come from the files (npz ``id`` array, parquet/jsonl/csv id column; row numbers when
    absent). Every input is validated before any search: see :func:`retrieval_report_from_arrays`.
    """
    from embeval.diagnostics.retrieval import parse_ks
    from embeval.index.search import check_threads, resolve_params
    from embeval.io.embeddings import check_same_dim, load_embeddings
    from embeval.io.fileinfo import file_info
    from embeval.io.qrels import load_qrels
    from embeval.report.roc import check_roc_path

    # Usage errors first: they must not wait for (large) files to load.
    parse_ks(k)
    resolve_params(index, None, index_params)
    check_threads(threads)
    check_roc_path(roc)
    q = load_embeddings(queries_path, id_col=id_col, vector_col=vector_col, min_rows=1)
    c = load_embeddings(corpus_path, id_col=id_col, vector_col=vector_col, min_rows=2)
    check_same_dim(c, q)
    qrels = load_qrels(qrels_path)
    inputs = {
        "queries": q.describe(),
        "corpus": c.describe(),
        "qrels": {**file_info(qrels_path), "queries": len(qrels),
                  "judgements": sum(len(v) for v in qrels.values())},
    }
    return retrieval_report_from_arrays(
        q.vectors, c.vectors, qrels, q.ids, c.ids, inputs=inputs,
        sources=(_id_source(queries_path, q.ids, id_col), _id_source(corpus_path, c.ids, id_col), str(qrels_path)),
        k=k, index=index, index_params=index_params, threads=threads, per_query=per_query,
        roc=roc, seed=seed, progress=progress,
    )


def _id_source(path, ids, id_col: str) -> str:
    """The file's name for messages, saying so when it had no ids (row numbers stand in)."""
    import numpy as np

    if np.array_equal(ids, np.arange(len(ids)).astype(str)):
        return f"{path} (it has no {id_col!r} column or array, so its ids are row numbers)"
    return str(path)


def retrieval_report_from_arrays(
    queries: np.ndarray,
    corpus: np.ndarray,
    qrels: dict[str, dict[str, int]],
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    *,
    inputs: dict[str, dict[str, Any]],
    sources: tuple[str, str, str] = ("queries", "corpus", "qrels"),
    k: str | Sequence[int] = "1,10,100",
    index: str = "flat",
    index_params: dict[str, Any] | None = None,
    threads: int | None = None,
    per_query: bool = False,
    roc: str | Path | None = None,
    seed: int = 0,
    progress: Progress = NULL,
    notes: Sequence[str] = (),
) -> Report:
    """The retrieval report from vectors already loaded (or encoded) and validated row-wise.

    queries q×d, corpus n×d (any non-zero rows; L2-normalised here), ids aligned with the rows,
    ``sources`` = names of the queries, corpus and qrels inputs for error messages, ``inputs`` =
    their descriptions for the report. Checks the qrels against the ids (InputError naming the
    id), runs :func:`embeval.diagnostics.retrieval.evaluate_aligned` under ``threads`` and writes
    the ROC curve to ``roc`` (.csv or .png) when asked.
    """
    from embeval.diagnostics.retrieval import align_qrels, evaluate_aligned, parse_ks
    from embeval.diagnostics.space import l2_normalize
    from embeval.index.search import thread_limit
    from embeval.report.roc import check_roc_path, write_roc

    ks = parse_ks(k)
    check_roc_path(roc)
    q_src, c_src, r_src = sources
    if queries.shape[1] != corpus.shape[1]:
        raise InputError(q_src, f"dimension {queries.shape[1]} does not match {c_src} ({corpus.shape[1]})")
    aligned = align_qrels(qrels, query_ids, doc_ids, source=r_src, queries_source=q_src, corpus_source=c_src)
    with thread_limit(threads):
        out = evaluate_aligned(
            l2_normalize(queries), l2_normalize(corpus), aligned, ks=ks, index=index,
            index_params=index_params, auc=True, separation=True, per_query=per_query,
            roc=roc is not None, progress=progress, seed=seed,
        )
    if roc is not None:
        write_roc(roc, out.roc)
    settings: dict[str, Any] = {"seed": seed, "index": index, "index_params": out.index_params,
                                "k": list(ks), "threads": threads or "all", "normalized": True}
    report = Report("retrieval", inputs=inputs, settings=settings, results=out.results,
                    per_query=out.per_query)
    report.notes.append(f"scored {out.n_scored} of {len(query_ids)} queries (those judged in the qrels); "
                        f"score = cosine (rows L2-normalised); AUCs over all {len(doc_ids)} documents")
    auc_res = next((r for r in out.results if r.metric == "auc_global"), None)
    if auc_res is not None and auc_res.params.get("method") == "binned":
        report.notes.append(f"auc_global counted in bins of width {auc_res.params['bin_width']:.3g} "
                            f"(error at most {auc_res.params['max_error']:.2g}); auc_query is exact")
    if roc is not None:
        report.notes.append(f"ROC curve written to {roc}")
    if per_query:
        report.notes.append(f"{len(out.per_query)} per-query rows: in --format csv/json and --output .csv/.json")
    report.notes.extend(notes)
    return report

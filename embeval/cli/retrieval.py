"""``embeval retrieval``: retrieval quality from vectors, a BEIR folder or a run file."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from embeval.cli.app import app
from embeval.cli.console import _progress
from embeval.cli.exits import boundary
from embeval.cli.options import (
    CLUSTER,
    COLUMNS,
    COMPUTE,
    IN,
    OUT,
    MtebLangOpt,
    MtebOutOpt,
    MtebTaskOpt,
    QuietOpt,
    SeedOpt,
    encoding_options,
    flag_names,
    options,
)
from embeval.cli.output import OUTPUT, _write_mteb


class IndexKind(str, Enum):
    """Search index kinds (see :mod:`embeval.index.search`)."""

    flat = "flat"
    hnsw = "hnsw"
    ivf = "ivf"


@app.command("retrieval")
@boundary
@flag_names
@options(COLUMNS, encoding_options(), COMPUTE, CLUSTER, OUTPUT)
def retrieval_cmd(
    data: Annotated[
        Path | None,
        typer.Argument(
            help=(
                "A BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv); needs --model. Or use "
                "--queries/--corpus/--qrels."
            )
        ),
        IN,
    ] = None,
    split: Annotated[str, typer.Option("--split", help="qrels split of a BEIR folder.")] = "test",
    queries: Annotated[
        str | None,
        typer.Option(
            "--queries",
            help=(
                "Query embeddings (.npy .npz .parquet .csv .tsv .jsonl, .faiss, or a source URI); ids from the id "
                "column/array."
            ),
        ),
        IN,
    ] = None,
    corpus: Annotated[str | None, typer.Option("--corpus", help="Document embeddings, same formats."), IN] = None,
    qrels: Annotated[
        Path | None,
        typer.Option(
            "--qrels",
            help=("Relevance judgements: BEIR TSV (query-id corpus-id score) or TREC; score > 0 is relevant."),
        ),
        IN,
    ] = None,
    k: Annotated[
        str, typer.Option("--k", help=("Rank cutoffs for recall/precision/mrr/ndcg/map, comma-separated."))
    ] = "1,10,100",
    index: Annotated[
        IndexKind,
        typer.Option(
            "--index",
            help=(
                "flat (exact) or hnsw / ivf (approximate: also reports ann_recall@K against exact search on a sample)."
            ),
        ),
    ] = IndexKind.flat,
    hnsw_m: Annotated[int | None, typer.Option("--hnsw-m", help="hnsw: links per node (default 32).")] = None,
    ef_construction: Annotated[
        int | None, typer.Option("--ef-construction", help=("hnsw: build-time candidate list (default 200)."))
    ] = None,
    ef_search: Annotated[
        int | None,
        typer.Option("--ef-search", help=("hnsw: search-time candidate list (default 128, at least the largest k).")),
    ] = None,
    nlist: Annotated[int | None, typer.Option("--nlist", help="ivf: number of cells (default about 4·√n).")] = None,
    nprobe: Annotated[int | None, typer.Option("--nprobe", help="ivf: cells visited per query (default 16).")] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help=("CPU threads for search and scoring (default: all cores)."))
    ] = None,
    per_query: Annotated[
        bool, typer.Option("--per-query", help=("Add one row per query and metric to the CSV/JSON output."))
    ] = False,
    roc: Annotated[
        Path | None, typer.Option("--roc", help=("Write the pooled ROC curve: .csv (threshold,fpr,tpr) or .png.")), OUT
    ] = None,
    run_out: Annotated[
        Path | None,
        typer.Option(
            "--run",
            help=("Write the ranked top-K of every scored query as a TREC run file (qid Q0 docid rank score tag)."),
            rich_help_panel="Interop",
        ),
        OUT,
    ] = None,
    run_in: Annotated[
        Path | None,
        typer.Option(
            "--run-in",
            help=(
                "Evaluate an existing TREC run (BM25, a reranker...) against --qrels instead of vectors: ranking "
                "metrics, as trec_eval."
            ),
            rich_help_panel="Interop",
        ),
        IN,
    ] = None,
    columns: Any = None,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    mteb_out: MtebOutOpt = None,
    mteb_task: MtebTaskOpt = None,
    mteb_lang: MtebLangOpt = "eng-Latn",
    encoder: Any = None,
    compute: Any = None,
    cluster: Any = None,
    out: Any = None,
) -> None:
    """Retrieval quality of precomputed query and corpus vectors judged by qrels: recall, precision,
    MRR, nDCG and MAP at each k, auc_global / auc_query over the whole corpus, and positive vs
    negative score separation. Only queries present in the qrels are scored."""
    from embeval.errors import UsageError
    from embeval.io.mteb import check_languages, check_mteb_path

    out.check("retrieval")
    check_mteb_path(mteb_out)
    check_languages(mteb_lang.split(","))
    params = {"m": hnsw_m, "ef_construction": ef_construction, "ef_search": ef_search, "nlist": nlist, "nprobe": nprobe}
    index_params = {name: v for name, v in params.items() if v is not None}
    from embeval.params import parse_ks

    options: dict[str, Any] = dict(
        k=parse_ks(k),  # "1,10,100" parsed once, here: the library gets (1, 10, 100)
        index=index.value,
        index_params=index_params,
        threads=threads,
        per_query=per_query,
        seed=seed,
        compute=compute,
    )
    encoder = compute.encoder(encoder)
    if roc is not None:
        from embeval.report.roc import check_roc_path

        check_roc_path(roc)
    if run_out is not None:
        from embeval.io.trec import check_run_path

        check_run_path(run_out)
    if run_in is not None and (run_out is not None or roc is not None):
        raise UsageError("--run and --roc need vectors; with --run-in only ranking metrics are computed")
    from embeval.api import run_retrieval

    report = run_retrieval(
        data,
        queries=queries,
        corpus=corpus,
        qrels=qrels,
        run_in=run_in,
        split=split,
        encoder=encoder,
        **cluster.kwargs(),
        progress=_progress(quiet),
        **columns,
        **options,
    )
    if roc is not None:
        from embeval.report.roc import write_roc

        write_roc(roc, report.artifacts["roc_curve"])
        report.notes.append(f"ROC curve written to {roc}")
    if run_out is not None:
        from embeval.io.trec import write_run

        n_lines = write_run(run_out, *report.artifacts["ranking"])
        report.notes.append(
            f"TREC run ({n_lines} lines, top {max(report.settings['k'])} per query) written to {run_out}"
        )
    default_task = Path(data).name if data is not None else Path(qrels or ".").resolve().parent.parent.name
    task = mteb_task or default_task or "embeval"
    _write_mteb(mteb_out, report, task, split if data is not None else "test", mteb_lang)
    out.emit(report)

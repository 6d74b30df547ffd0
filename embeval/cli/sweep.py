"""``embeval sweep index|compress``: ANN index settings and compressed storage on your own vectors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from embeval.cli.app import app
from embeval.cli.console import _progress
from embeval.cli.exits import boundary
from embeval.cli.options import IN, DeviceOpt, QuietOpt, SeedOpt, flag_names, options
from embeval.cli.output import OUTPUT

sweep_app = typer.Typer(
    help=(
        "Decide before you ship: FAISS index settings (sweep index) and int8/binary/Matryoshka storage "
        "(sweep compress) measured against exact float32 search on your own vectors."
    ),
    no_args_is_help=True,
)
app.add_typer(sweep_app, name="sweep", short_help="Index and compression sweeps on your vectors.")

CorpusArg = Annotated[Path, typer.Argument(help="Corpus vectors (.npy .npz .parquet .csv .tsv .jsonl)."), IN]
QueriesOpt = Annotated[
    Path | None,
    typer.Option("--queries", help="Query vectors with ids (default: a seeded sample of --n-queries corpus rows)."),
    IN,
]
QrelsOpt = Annotated[
    Path | None,
    typer.Option("--qrels", help="Relevance judgements (TREC or BEIR TSV): adds IR metrics, needs --queries."),
    IN,
]
KOpt = Annotated[int, typer.Option("--k", help="Neighbours compared with exact search (recall@k) and IR cut-off.")]
NQueriesOpt = Annotated[int, typer.Option("--n-queries", help="Corpus rows sampled as queries without --queries.")]
RepeatsOpt = Annotated[int, typer.Option("--repeats", help="Timed passes over the queries; the median is reported.")]


def _check_gates(out: Any) -> None:
    from embeval.api.sweep import _check_gates as check

    check([g.expr for g in out.gates])


def _emit(report: Any, out: Any) -> None:
    from embeval.cli.output import emit
    from embeval.report.sweep import sweep_gate_list

    gates = sweep_gate_list(report, out.gates, "--fail-if")
    emit(report, fmt=out.fmt, output=out.output, gates=gates, junit=out.junit, out_fmt=out.out_fmt)


@sweep_app.command("index")
@boundary
@flag_names
@options(OUTPUT)
def sweep_index_cmd(
    corpus: CorpusArg,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    k: KOpt = 10,
    kinds: Annotated[str, typer.Option("--kinds", help="Index kinds: hnsw, ivf (IVF-Flat), ivfpq.")] = "hnsw,ivf,ivfpq",
    hnsw_m: Annotated[str, typer.Option("--hnsw-m", help="HNSW M values.")] = "16,32",
    ef_construction: Annotated[str, typer.Option("--ef-construction", help="HNSW efConstruction values.")] = "200",
    ef_search: Annotated[str, typer.Option("--ef-search", help="HNSW efSearch values.")] = "16,32,64,128,256",
    nlist: Annotated[int | None, typer.Option("--nlist", help="IVF cells (default ≈ 4·√n).")] = None,
    nprobe: Annotated[str, typer.Option("--nprobe", help="IVF-Flat nprobe values.")] = "1,2,4,8,16,32,64",
    pq_m: Annotated[
        str | None, typer.Option("--pq-m", help="IVF-PQ sub-quantizers (8 bits each; default: divisors near d/4, d/8).")
    ] = None,
    pq_nprobe: Annotated[str, typer.Option("--pq-nprobe", help="IVF-PQ nprobe values.")] = "8,32",
    rerank: Annotated[
        str, typer.Option("--rerank", help="IVF-PQ exact re-ranking of k×R candidates (0 = none).")
    ] = "0,10",
    target_recall: Annotated[
        float, typer.Option("--target-recall", help="Recommend the fastest setting with recall@k ≥ this.")
    ] = 0.95,
    budget: Annotated[
        float, typer.Option("--budget", help="Seconds the sweep may take; settings that would pass it are skipped.")
    ] = 600.0,
    n_queries: NQueriesOpt = 1000,
    repeats: RepeatsOpt = 3,
    threads: Annotated[int | None, typer.Option("--threads", help="'All threads' for QPS and builds.")] = None,
    device: DeviceOpt = "auto",
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    out: Any = None,
) -> None:
    """Index sweep: FAISS HNSW, IVF-Flat and IVF-PQ settings against exact top-k: recall@k (95% CI),
    with --qrels IR metrics and their change (paired CI, p), queries/s at 1 and all threads, build
    time, memory; the Pareto front and the fastest setting reaching --target-recall. A --fail-if
    gate without '(setting=...)' checks that recommendation (or the best setting when none reached
    the target), e.g. --fail-if 'ann_recall@10 < 0.95'."""
    from embeval.api.sweep import sweep_index_report

    _check_gates(out)
    report = sweep_index_report(
        corpus,
        queries,
        qrels,
        k=k,
        kinds=kinds,
        hnsw_m=hnsw_m,
        ef_construction=ef_construction,
        ef_search=ef_search,
        nlist=nlist,
        nprobe=nprobe,
        pq_m=pq_m,
        pq_nprobe=pq_nprobe,
        rerank=rerank,
        target_recall=target_recall,
        budget=budget,
        n_queries=n_queries,
        repeats=repeats,
        threads=threads,
        device=device,
        seed=seed,
        progress=_progress(quiet),
    )
    _emit(report, out)


@sweep_app.command("compress")
@boundary
@flag_names
@options(OUTPUT)
def sweep_compress_cmd(
    corpus: CorpusArg,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    k: KOpt = 10,
    quant: Annotated[str, typer.Option("--quant", help="Storage formats beside float32: fp16, int8, binary.")] = (
        "fp16,int8,binary"
    ),
    dims: Annotated[
        str | None, typer.Option("--dims", help="Matryoshka truncations (first d dimensions, re-normalised).")
    ] = None,
    rescore: Annotated[
        str, typer.Option("--rescore", help="int8/binary: rescore k×R candidates with the float query (0 = none).")
    ] = "0,4",
    calibration: Annotated[
        int, typer.Option("--calibration", help="Corpus rows sampled to calibrate int8 ranges.")
    ] = 10_000,
    target: Annotated[
        float,
        typer.Option(
            "--target", help="Recommend the smallest setting keeping ≥ this (retention with qrels, else recall)."
        ),
    ] = 0.95,
    n_queries: NQueriesOpt = 1000,
    repeats: RepeatsOpt = 3,
    device: DeviceOpt = "auto",
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    out: Any = None,
) -> None:
    """Compression sweep: float32 vs fp16, int8 and binary (as sentence-transformers quantizes;
    with and without rescoring) and Matryoshka truncation: with --qrels each IR metric's retention
    of float32 (paired CI, p-value), else recall@k of the float32 neighbours; bytes per vector;
    search time; sorted by memory. Gate e.g. --fail-if 'retention_ndcg@10 < 0.95' (the
    recommendation) or --fail-if 'retention_ndcg@10(setting=binary/rescore4) < 0.95'."""
    from embeval.api.sweep import sweep_compress_report

    _check_gates(out)
    report = sweep_compress_report(
        corpus,
        queries,
        qrels,
        k=k,
        quant=quant,
        dims=dims,
        rescore=rescore,
        calibration=calibration,
        target=target,
        n_queries=n_queries,
        repeats=repeats,
        device=device,
        seed=seed,
        progress=_progress(quiet),
    )
    _emit(report, out)

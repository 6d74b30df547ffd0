"""Orchestrators of ``embeval sweep index`` and ``embeval sweep compress``: load (or take) the
vectors, draw the queries, compute the exact ground truth once, run the sweep, return a Report.

Queries: a file or array, or by default a seeded sample of ``n_queries`` corpus rows (then a
query's own row is among its exact neighbours, as in ANN benchmarks built from the corpus).
Qrels need query ids, so they need a queries file (or array with ``query_ids``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from embeval.errors import UsageError
from embeval.progress import NULL, Progress
from embeval.results import Report

QUERY_SAMPLE = 1000


def _load(x: Any, ids: Any, what: str) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    if isinstance(x, (str, Path)):
        from embeval.io.embeddings import load_embeddings

        emb = load_embeddings(x)
        info = {"path": str(x), "n": int(emb.vectors.shape[0]), "d": int(emb.vectors.shape[1])}
        return np.ascontiguousarray(emb.vectors, dtype=np.float32), [str(i) for i in emb.ids], info
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if arr.ndim != 2 or arr.shape[0] < 2 or not np.isfinite(arr).all():
        raise UsageError(f"`{what}`: expected a finite n×d array with n ≥ 2, got shape {arr.shape}")
    got = [str(i) for i in (ids if ids is not None else range(len(arr)))]
    if len(got) != len(arr):
        raise UsageError(f"`{what}`: {len(got)} ids for {len(arr)} rows")
    return arr, got, {"path": f"<{what} array>", "n": int(arr.shape[0]), "d": int(arr.shape[1])}


def _inputs(corpus, queries, qrels, *, corpus_ids, query_ids, n_queries: int, seed: int):
    from embeval.options import check_options

    check_options(seed=seed)
    if not isinstance(n_queries, int) or n_queries < 1:
        raise UsageError(f"`n_queries` {n_queries!r}: must be a positive integer")
    x, dids, cinfo = _load(corpus, corpus_ids, "corpus")
    inputs = {"corpus": cinfo}
    if queries is None:
        if qrels is not None:
            raise UsageError("`qrels` needs `queries` (the judged queries' vectors and ids)")
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(x), size=min(n_queries, len(x)), replace=False))
        q, qids = x[rows], [dids[i] for i in rows]
        inputs["queries"] = {"path": f"seeded sample of {len(rows)} corpus rows (seed {seed})", "n": len(rows)}
    else:
        q, qids, qinfo = _load(queries, query_ids, "queries")
        inputs["queries"] = qinfo
    if q.shape[1] != x.shape[1]:
        raise UsageError(f"the queries have {q.shape[1]} dimensions and the corpus {x.shape[1]}")
    aligned = None
    if qrels is not None:
        from embeval.diagnostics.qrels import align_qrels
        from embeval.io.qrels import load_qrels

        qr = load_qrels(qrels) if isinstance(qrels, (str, Path)) else qrels
        aligned = align_qrels(qr, qids, dids, source=str(qrels) if isinstance(qrels, (str, Path)) else "qrels")
        inputs["qrels"] = {
            "path": str(qrels) if isinstance(qrels, (str, Path)) else "<qrels mapping>",
            "n": int(aligned.m),
        }
    return x, q, aligned, inputs


def _ks(k: int, ks: Any) -> list[int]:
    from embeval.diagnostics.registry import parse_ks

    if not isinstance(k, int) or k < 1:
        raise UsageError(f"`k` {k!r}: must be a positive integer")
    return list(parse_ks(ks)) if ks else [k]


def _report(command: str, kind: str, outcome, truth, info, inputs, settings, target, fail_if, clock) -> Report:
    """``clock``: (wall, process CPU) seconds at the start: on a shared machine the CPU time the
    sweep got says how far its wall-clock timings are from an idle machine's."""
    from embeval.report.sweep import sweep_gates

    info = {
        **info,
        "wall_seconds": round(time.perf_counter() - clock[0], 1),
        "cpu_seconds": round(time.process_time() - clock[1], 1),
    }
    report = Report(command=command, inputs=inputs)
    report.settings = {
        **settings,
        **info,
        "k": truth.k,
        "ks": truth.ks,
        "target": target,
        "recommended": outcome.recommended,
        "chosen": outcome.chosen,
        "quality": outcome.quality,
    }
    report.results = outcome.results
    report.notes = outcome.notes
    report.series["sweep"] = {
        "kind": kind,
        "k": truth.k,
        "quality": outcome.quality,
        "target": target,
        "recommended": outcome.recommended,
        "rows": outcome.rows,
    }
    if fail_if:
        sweep_gates(report, list(fail_if))
    return report


def _check_gates(fail_if) -> list[str]:
    """Parse the gates and refuse, before any work, a metric no sweep reports."""
    import difflib

    from embeval.diagnostics.registry import output_pattern
    from embeval.report.gates import parse_gate
    from embeval.sweep.common import output_names

    exprs = [fail_if] if isinstance(fail_if, str) else list(fail_if or [])
    known = output_names()
    for e in exprs:
        g = parse_gate(e)
        if output_pattern(g.metric) not in known:
            close = difflib.get_close_matches(g.metric, [n.replace("@K", "@10") for n in known], n=3)
            hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(known)}"
            raise UsageError(f"{g.option} {e!r}: no metric {g.metric!r} in a sweep; {hint}")
    return exprs


def _truth(corpus, queries, qrels, corpus_ids, query_ids, k, ks, n_queries, device, seed, progress):
    """Where both sweeps start: the inputs read (queries drawn from the corpus when none are
    given) and the exact top-k of every query; returns the truth, where it ran, the inputs'
    descriptions and the clock (wall, CPU) the sweep's timing starts from."""
    from embeval.sweep.common import exact_truth

    ksl = _ks(k, ks)
    clock = (time.perf_counter(), time.process_time())
    x, q, aligned, inputs = _inputs(
        corpus, queries, qrels, corpus_ids=corpus_ids, query_ids=query_ids, n_queries=n_queries, seed=seed
    )
    truth, info = exact_truth(x, q, k=k, ks=ksl, aligned=aligned, device=device, seed=seed, progress=progress)
    return truth, info, inputs, clock


def sweep_compress_report(
    corpus: Any,
    queries: Any = None,
    qrels: Any = None,
    *,
    corpus_ids: Any = None,
    query_ids: Any = None,
    k: int = 10,
    ks: Any = None,
    quant: Any = "fp16,int8,binary",
    dims: Any = None,
    rescore: Any = "0,4",
    calibration: int = 10_000,
    target: float = 0.95,
    n_queries: int = QUERY_SAMPLE,
    repeats: int = 3,
    device: str | None = "auto",
    seed: int = 0,
    fail_if: Any = None,
    progress: Progress = NULL,
) -> Report:
    """``embeval sweep compress``: float32 vs fp16, int8, binary (± rescoring) and Matryoshka
    truncation (see :mod:`embeval.sweep.compress`). ``corpus``/``queries``: paths or arrays."""
    from embeval.sweep.common import check_unit_interval, parse_int_list
    from embeval.sweep.compress import QUANTS, compress_sweep

    quants = [s.strip() for s in (quant.split(",") if isinstance(quant, str) else quant) if s.strip()]
    bad = [s for s in quants if s not in QUANTS]
    if bad:
        raise UsageError(f"`quant` {bad[0]!r}: choose from {', '.join(QUANTS)}")
    dim_list = parse_int_list(dims, "dims")
    rescore_list = parse_int_list(rescore, "rescore", low=0) or [0]
    target = check_unit_interval(target, "target")
    exprs = _check_gates(fail_if)
    if not isinstance(calibration, int) or calibration < 2:
        raise UsageError(f"`calibration` {calibration!r}: at least 2 rows")
    truth, info, inputs, clock = _truth(
        corpus, queries, qrels, corpus_ids, query_ids, k, ks, n_queries, device, seed, progress
    )
    out = compress_sweep(
        truth,
        quants=quants,
        dims=dim_list,
        rescore=rescore_list,
        calibration=calibration,
        target=target,
        repeats=repeats,
        progress=progress,
    )
    settings = {
        "quant": quants,
        "dims": dim_list,
        "rescore": rescore_list,
        "calibration": calibration,
        "repeats": repeats,
        "seed": seed,
    }
    return _report("sweep compress", "compress", out, truth, info, inputs, settings, target, exprs, clock)


def sweep_index_report(
    corpus: Any,
    queries: Any = None,
    qrels: Any = None,
    *,
    corpus_ids: Any = None,
    query_ids: Any = None,
    k: int = 10,
    ks: Any = None,
    kinds: Any = "hnsw,ivf,ivfpq",
    hnsw_m: Any = "16,32",
    ef_construction: Any = "200",
    ef_search: Any = "16,32,64,128,256",
    nlist: int | None = None,
    nprobe: Any = "1,2,4,8,16,32,64",
    pq_m: Any = None,
    pq_nprobe: Any = "8,32",
    rerank: Any = "0,10",
    target_recall: float = 0.95,
    budget: float | None = 600.0,
    n_queries: int = QUERY_SAMPLE,
    repeats: int = 3,
    threads: int | None = None,
    device: str | None = "auto",
    seed: int = 0,
    fail_if: Any = None,
    progress: Progress = NULL,
) -> Report:
    """``embeval sweep index``: FAISS HNSW, IVF-Flat and IVF-PQ grids against exact search (see
    :mod:`embeval.sweep.index`). ``corpus``/``queries``: paths or arrays."""
    from embeval.compute.context import check_budget
    from embeval.index.search import check_threads
    from embeval.sweep.common import check_unit_interval, parse_int_list
    from embeval.sweep.index import Grid, index_sweep

    kind_list = [s.strip() for s in (kinds.split(",") if isinstance(kinds, str) else kinds) if s.strip()]
    grid = Grid(
        kinds=kind_list,
        hnsw_m=parse_int_list(hnsw_m, "hnsw_m"),
        ef_construction=parse_int_list(ef_construction, "ef_construction"),
        ef_search=parse_int_list(ef_search, "ef_search"),
        nlist=None if nlist is None else parse_int_list([nlist], "nlist")[0],
        nprobe=parse_int_list(nprobe, "nprobe"),
        pq_m=parse_int_list(pq_m, "pq_m") or None,
        pq_nprobe=parse_int_list(pq_nprobe, "pq_nprobe"),
        rerank=parse_int_list(rerank, "rerank", low=0) or [0],
    )
    grid.check()
    target_recall = check_unit_interval(target_recall, "target_recall")
    if budget is not None:
        check_budget(budget)
    check_threads(threads)
    exprs = _check_gates(fail_if)
    truth, info, inputs, clock = _truth(
        corpus, queries, qrels, corpus_ids, query_ids, k, ks, n_queries, device, seed, progress
    )
    out = index_sweep(
        truth, grid, target=target_recall, budget=budget, repeats=repeats, threads=threads, progress=progress
    )
    from dataclasses import asdict

    settings = {
        "grid": {k2: (list(v) if isinstance(v, (list, tuple)) else v) for k2, v in asdict(grid).items()},
        "budget": budget,
        "repeats": repeats,
        "threads": threads,
        "seed": seed,
    }
    return _report("sweep index", "index", out, truth, info, inputs, settings, target_recall, exprs, clock)

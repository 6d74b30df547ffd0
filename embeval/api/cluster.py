"""The cluster route of the orchestrators: ``geometry_report``, ``gap_report`` and
``retrieval_report`` take ``cluster`` (``local:N`` or a scheduler address; default
``$EMBEVAL_CLUSTER``) and, when one is named, run over the shards of their inputs on Dask
(:mod:`embeval.distributed`) instead of in this process.

:func:`cluster_route` decorates an orchestrator; its single-machine body never sees a cluster, and
its signature stays its own (the batch runner inspects it). Nothing here imports Dask: only
:func:`embeval.distributed.cluster.open_client` does, when a cluster is used.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from embeval.compute.context import DEFAULT_COMPUTE, ComputeContext
from embeval.errors import UsageError
from embeval.progress import NULL, Progress
from embeval.results import Report


def cluster_route(on_cluster: Callable[..., Report]) -> Callable[[Callable[..., Report]], Callable[..., Report]]:
    """When the call's ``cluster`` (or ``$EMBEVAL_CLUSTER``) names a Dask cluster, run
    ``on_cluster(spec, *args, checkpoint=..., **kwargs)`` instead of the decorated function's body
    (``checkpoint``: a folder keeping each finished tile, :mod:`embeval.distributed.checkpoint`;
    refused without a cluster)."""

    def deco(fn: Callable[..., Report]) -> Callable[..., Report]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Report:
            from embeval.distributed.cluster import resolve_spec

            spec = resolve_spec(kwargs.pop("cluster", None))
            folder = kwargs.pop("checkpoint", None)
            if spec is None:
                if folder is not None:
                    raise UsageError("`checkpoint` keeps the tiles of a cluster run: give `cluster` too")
                return fn(*args, **kwargs)
            return on_cluster(spec, *args, checkpoint=folder, **kwargs)

        return wrapper

    return deco


def _refuse(what: str, given: list[str]) -> None:
    if given:
        raise UsageError(f"a cluster run takes {what}, without {', '.join(given)}")


def _check_on_workers(client, inputs: list, progress: Progress) -> None:
    """Before the diagnostics: every worker runs this process's versions and sees the first shard
    of each input (:func:`~embeval.distributed.cluster.check_workers`); then the ids left with the
    shards are checked unique on the workers (:func:`~embeval.distributed.ids.check_unique`)."""
    from embeval.distributed.cluster import check_workers
    from embeval.distributed.ids import check_unique

    check_workers(client, [s.shards[0].path for s in inputs])
    for s in inputs:
        check_unique(client, s, progress=progress)


def _on_devices(client, device: str, rows: int):
    """The client that sends ``device`` with each task, after every worker resolved it (a worker
    that cannot serve ``cuda``: UsageError naming it, exit 2)."""
    from embeval.distributed.devices import on_devices

    return on_devices(client, device, rows=rows)


def _device_settings(report: Report, client, compute: ComputeContext) -> Report:
    from embeval.distributed.devices import device_settings

    report.settings.update(device_settings(client, compute.device))
    fallback = compute.fallback_note()
    if fallback:
        report.notes.append(fallback)
    return report


def _exact_note(report: Report, pairs: float, d: int, budget: float | None, exact: bool, what: str) -> Report:
    """retrieval on a cluster has no estimated form: its all-pairs AUC pass runs exact; when it
    may exceed ``budget`` (at the pessimistic per-pair cost of :mod:`embeval.diagnostics.scale`),
    the report says so rather than ignoring the budget in silence."""
    from embeval.diagnostics.scale import pessimistic_seconds_per_pair

    report.settings.setdefault("exact", True)
    if budget is not None and not exact and pairs * pessimistic_seconds_per_pair(d) > budget:
        report.settings["budget_s"] = budget
        report.notes.append(
            f"computed exact: {what} on a cluster has no estimated form, so the {budget:g} s budget does "
            f"not apply (up to {pairs:.3g} pairs of products, spread over the workers)"
        )
    return report


def geometry_on_cluster(
    spec: str,
    file: str | Path,
    *,
    metrics: list[str] | None = None,
    pairs: str | Path | None = None,
    sample: int = 0,
    normalize: bool = True,
    encoder=None,
    labels: str | Path | None = None,
    label_col: str | None = None,
    items: bool = False,
    id_col: str = "id",
    vector_col: str = "embedding",
    seed: int = 0,
    progress: Progress = NULL,
    compute: ComputeContext = DEFAULT_COMPUTE,
    checkpoint: str | Path | None = None,
    **_unused: Any,
) -> Report:
    """geometry_report's cluster path: a sharded (or single) embedding file, unit rows; labels
    from a row-aligned label file or a column of the shards. Tiles run on each worker's device
    (:mod:`embeval.distributed.devices`); over ``budget`` (estimated from one timed tile per
    worker) the O(n²) diagnostics take their estimated forms unless ``exact``
    (:func:`embeval.distributed.geometry.geometry_report_distributed`)."""
    from embeval.distributed.checkpoint import checkpointing
    from embeval.distributed.cluster import open_client
    from embeval.distributed.geometry import geometry_report_distributed
    from embeval.io.fileinfo import file_info
    from embeval.io.labels import check_labels, clean_labels, load_labels
    from embeval.io.shards import scan_shards, shard_column
    from embeval.options import check_options

    check_options(seed=seed, sample=sample)
    _refuse(
        "precomputed vectors only",
        [
            name
            for name, given in (
                ("`model`", encoder is not None),
                ("the per-item table (`items`)", items),
                ("sampled uniformity (`sample`)", bool(sample)),
                ("unnormalised rows (`normalize=False`)", not normalize),
            )
            if given
        ],
    )
    # the checkpoint folder is checked, then the scheduler reached (a wrong address fails before the scan)
    with checkpointing(checkpoint, "geometry"), open_client(spec) as client:
        from_file = None if labels is None else load_labels(labels, column=label_col)  # read before the scan
        sharded = scan_shards(file, id_col=id_col, vector_col=vector_col, read_ids=False)
        lab = from_file
        if lab is None and label_col is not None:
            lab = clean_labels(shard_column(sharded, label_col), sharded.spec, label_col)
        if lab is not None:
            check_labels(lab, sharded.n, labels if labels is not None else sharded.spec, sharded.spec)
        partners = None if pairs is None else scan_shards(pairs, id_col=id_col, vector_col=vector_col, read_ids=False)
        if partners is not None and (partners.n != sharded.n or partners.d != sharded.d):
            raise UsageError(
                f"`pairs` {pairs}: {partners.n}×{partners.d}, but {file} is {sharded.n}×{sharded.d}; "
                "pairs must be row-aligned"
            )
        _check_on_workers(client, [s for s in (sharded, partners) if s is not None], progress)
        client = _on_devices(client, compute.device, sharded.n)
        report = geometry_report_distributed(
            client,
            sharded,
            metrics=metrics,
            labels=lab,
            pairs=partners,
            seed=seed,
            progress=progress,
            budget=compute.budget,
            exact=compute.exact,
        )
        _device_settings(report, client, compute)
    if labels is not None and lab is not None:
        report.inputs["labels"] = {**file_info(labels), "n": len(lab)}
    if label_col is not None:
        report.settings["label_col"] = label_col
    return report


def gap_on_cluster(
    spec: str,
    a: str | Path,
    b: str | Path | None = None,
    *,
    paired: bool = False,
    metrics: list[str] | None = None,
    folds: int | None = None,
    k: int | None = None,
    shift_lambda: float | None = None,
    projection: bool = False,
    id_col: str = "id",
    vector_col: str = "embedding",
    encoder=None,
    seed: int = 0,
    progress: Progress = NULL,
    drift: bool = False,
    compute: ComputeContext = DEFAULT_COMPUTE,
    checkpoint: str | Path | None = None,
    **_unused: Any,
) -> Report:
    """gap_report's cluster path: two sharded precomputed sets (:mod:`embeval.distributed.gap`), on
    each worker's device; over ``budget`` the set uniformities and knn_mixing are estimated, as on
    one machine, unless ``exact``."""
    from embeval.distributed.checkpoint import checkpointing
    from embeval.distributed.cluster import open_client
    from embeval.distributed.gap import gap_report_distributed
    from embeval.io.shards import scan_shards
    from embeval.options import check_options

    check_options(seed=seed, folds=folds, k=k, shift_lambda=shift_lambda)
    _refuse(
        "two precomputed inputs A B",
        [
            name
            for name, given in (
                ("`model`", encoder is not None),
                ("a picture (`projection`)", projection),
                ("a single (2, n, d) input", b is None),
                ("`folds`", folds is not None),
                ("`shift_lambda`", shift_lambda is not None),
                ("`drift`", drift),
            )
            if given
        ],
    )
    assert b is not None
    # the checkpoint folder is checked, then the scheduler reached (a wrong address fails before the scan)
    with checkpointing(checkpoint, "gap"), open_client(spec) as client:
        sa = scan_shards(a, id_col=id_col, vector_col=vector_col, read_ids=False)
        sb = scan_shards(b, id_col=id_col, vector_col=vector_col, read_ids=False)
        _check_on_workers(client, [sa, sb], progress)
        client = _on_devices(client, compute.device, sa.n + sb.n)
        report = gap_report_distributed(
            client,
            sa,
            sb,
            paired=paired,
            metrics=metrics,
            k=k,
            seed=seed,
            progress=progress,
            budget=compute.budget,
            exact=compute.exact,
        )
        return _device_settings(report, client, compute)


def retrieval_on_cluster(
    spec: str,
    queries_path: str | Path,
    corpus_path: str | Path,
    qrels_path: str | Path,
    *,
    k: Any = "1,10,100",
    index: str = "flat",
    index_params: dict[str, Any] | None = None,
    threads: int | None = None,
    per_query: bool = False,
    seed: int = 0,
    progress: Progress = NULL,
    id_col: str = "id",
    vector_col: str = "embedding",
    encoder=None,
    compute: ComputeContext = DEFAULT_COMPUTE,
    checkpoint: str | Path | None = None,
    **_unused: Any,
) -> Report:
    """retrieval_report's cluster path: precomputed queries in this process, the (sharded) corpus
    scored on the cluster, flat (exact) index only (:mod:`embeval.distributed.retrieval`)."""
    from embeval.api.common import check_retrieval_options
    from embeval.distributed.checkpoint import checkpointing
    from embeval.distributed.cluster import open_client
    from embeval.distributed.retrieval import retrieval_report_distributed
    from embeval.io.embeddings import load_embeddings
    from embeval.io.fileinfo import file_info
    from embeval.io.ids import id_source, row_number_source
    from embeval.io.qrels import load_qrels
    from embeval.io.shards import scan_shards

    check_retrieval_options(k=k, index=index, index_params=index_params, threads=threads, seed=seed, encoder=encoder)
    _refuse(
        "precomputed vectors and the flat (exact) index",
        [name for name, given in (("`model`", encoder is not None), (f"`index` {index}", index != "flat")) if given],
    )
    # the checkpoint folder is checked, then the scheduler reached (a wrong address fails before the scan)
    with checkpointing(checkpoint, "retrieval"), open_client(spec) as client:
        q = load_embeddings(queries_path, id_col=id_col, vector_col=vector_col, min_rows=1, progress=progress)
        sharded = scan_shards(corpus_path, id_col=id_col, vector_col=vector_col, read_ids=False)
        qrels = load_qrels(qrels_path)
        inputs = {
            "queries": q.describe(),
            "corpus": sharded.describe(),
            "qrels": {
                **file_info(qrels_path),
                "queries": len(qrels),
                "judgements": sum(len(v) for v in qrels.values()),
            },
        }
        corpus_source = str(corpus_path) if sharded.has_ids else row_number_source(corpus_path, id_col)
        sources = (id_source(q.path, q.ids, id_col), corpus_source, str(qrels_path))
        _check_on_workers(client, [sharded], progress)
        client = _on_devices(client, compute.device, sharded.n)
        report = retrieval_report_distributed(
            client,
            q.vectors,
            q.ids,
            sharded,
            qrels,
            inputs=inputs,
            sources=sources,
            k=k,
            per_query=per_query,
            seed=seed,
            progress=progress,
        )
        _exact_note(
            report,
            3.0 * q.n * sharded.n,
            sharded.d,
            compute.budget,
            compute.exact,
            "the all-pairs AUC pass of retrieval",
        )
        return _device_settings(report, client, compute)

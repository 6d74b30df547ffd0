"""Geometry of a sharded set on a Dask cluster: the same results as
:func:`embeval.api.geometry_report` for the diagnostics that are sums or top-k over tiles.

- uniformity(t), mam(mode=pairwise): Σ over shard tiles (i ≤ j) of the pair terms; each tile a
  float64 sum in the single-machine block order, the tile sums added with ``math.fsum`` (exactly
  rounded, so the result does not depend on which tile finished first).
- anisotropy, effective_rank: per-shard Σx̂, Σ‖x̂‖² and Gram x̂ᵀx̂ in float64, added.
- hubness(k), mam(mode=nn): exact kNN, each shard's rows searched in every shard (the compute
  layer's exact search), merged by score then row, self dropped; the driver keeps the merged n×k
  neighbour lists only.

- alignment (with row-aligned partner shards cut at the same rows): per shard pair Σ‖x̂_i − ŷ_i‖^α.
- with labels: tolerance, knn_label_agreement, knn_accuracy and opis (:mod:`.labels`).

The Dask provider registers itself (:func:`embeval.diagnostics.registry.provide`) for these
diagnostics: the list is data (``Diagnostic.providers``), shown by ``embeval metrics`` and the
README. The rest (sampled uniformity, intrinsic_dim, silhouette) a default run skips with a note.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import embeval.diagnostics  # noqa: F401  (registers every diagnostic this provider serves)
from embeval.diagnostics.registry import Value, all_diagnostics, compute, provide, provides
from embeval.distributed import tiles
from embeval.distributed.cluster import DASK, run_tasks
from embeval.errors import UsageError
from embeval.io.shards import ShardedSet
from embeval.progress import NULL, Progress
from embeval.results import Report

# ----------------------------------------------------------------------------- worker tasks


def _pair_task(si, sj, kind: str, param: float, cols: tuple[str, str]) -> float:
    a = tiles.unit_shard(si, *cols)
    return tiles.pair_sum_tile(a, None if sj is None else tiles.unit_shard(sj, *cols), kind, param)


def _moments_task(si, cols):
    return tiles.moments_tile(tiles.unit_shard(si, *cols))


def _alignment_task(si, pi, alpha: float, cols, pcols) -> float:
    """Σ_i ‖x̂_i − ŷ_i‖^alpha over one shard and its row-aligned partner shard (float64)."""
    a, b = tiles.unit_shard(si, *cols), tiles.unit_shard(pi, *pcols)
    d = np.linalg.norm(a.astype(np.float64) - b, axis=1)
    return float(np.sum(d**alpha))


def _knn_task(si, sj, k: int, cols):
    return tiles.knn_tile(tiles.unit_shard(si, *cols), tiles.unit_shard(sj, *cols), k, sj.offset)


# ----------------------------------------------------------------------------- distributed passes


def pair_sum(client, sharded: ShardedSet, kind: str, param: float = 2.0, *, progress: Progress = NULL) -> float:
    """Σ_{i<j} f(x̂_i·x̂_j) over the whole sharded set (f by ``kind``, see :mod:`.tiles`)."""
    shards = sharded.shards
    cols = (sharded.id_col, sharded.vector_col)
    args, weights = [], []
    for i, si in enumerate(shards):
        for j in range(i, len(shards)):
            sj = shards[j]
            args.append((si, None if i == j else sj, kind, param, cols))
            weights.append(si.rows * (si.rows - 1) / 2 if i == j else si.rows * sj.rows)
    parts = run_tasks(client, _pair_task, args, progress=progress, label=f"{kind} tiles", weights=weights)
    return math.fsum(parts)


def moments(client, sharded: ShardedSet, *, progress: Progress = NULL):
    cols = (sharded.id_col, sharded.vector_col)
    parts = run_tasks(
        client,
        _moments_task,
        [(s, cols) for s in sharded.shards],
        progress=progress,
        label="moment tiles",
        weights=[s.rows for s in sharded.shards],
    )
    s = np.sum([p[0] for p in parts], axis=0)
    sq = math.fsum(p[1] for p in parts)
    gram = np.sum([p[2] for p in parts], axis=0)
    return s, sq, gram


def knn(client, sharded: ShardedSet, k: int, *, progress: Progress = NULL) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k nearest other rows of every row (sims float32 n×k, idx int64 n×k, global rows)."""
    shards = sharded.shards
    cols = (sharded.id_col, sharded.vector_col)
    args = [(si, sj, k + 1, cols) for si in shards for sj in shards]
    sims = np.empty((sharded.n, k), dtype=np.float32)
    idx = np.empty((sharded.n, k), dtype=np.int64)
    pending: dict[int, dict[int, Any]] = {}
    ns = len(shards)

    def take(t: int, value) -> None:
        i, j = divmod(t, ns)
        got = pending.setdefault(i, {})
        got[j] = value
        if len(got) == ns:  # every shard searched for shard i's rows: merge and forget the parts
            si = shards[i]
            s, x = tiles.merge_topk([got[jj] for jj in range(ns)], k + 1)
            sims[si.offset : si.stop], idx[si.offset : si.stop] = tiles.drop_self(s, x, k, si.offset)
            del pending[i]

    run_tasks(
        client,
        _knn_task,
        args,
        progress=progress,
        label=f"kNN tiles (k={k})",
        weights=[si.rows * sj.rows for si in shards for sj in shards],
        on_result=take,
    )
    return sims, idx


class ShardedSpace:
    """What :func:`embeval.diagnostics.geometry.hubness` and ``mam`` need from a ``Space``: n, seed,
    progress and ``knn(k)``, here computed on the cluster once for the largest k."""

    def __init__(self, client, sharded: ShardedSet, seed: int = 0, progress: Progress = NULL, labels=None):
        self.client, self.sharded, self.seed, self.progress = client, sharded, seed, progress
        self._knn: tuple[np.ndarray, np.ndarray] | None = None
        self._codes: tuple[np.ndarray, np.ndarray] | None = None
        self.normalized = True
        self.labels = None if labels is None else np.asarray(labels)
        self.plan = None  # always the exact form (no estimated kNN on a cluster)
        self.backend = None

    @property
    def n(self) -> int:
        return self.sharded.n

    def knn(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._knn is None or self._knn[1].shape[1] < k:
            self._knn = knn(self.client, self.sharded, k, progress=self.progress)
        sims, idx = self._knn
        return sims[:, :k], idx[:, :k]

    def label_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """(codes int64, sorted classes), as ``Space.label_codes``."""
        from embeval.diagnostics.space import label_codes

        if self._codes is None:
            self._codes = label_codes(self.labels)
        return self._codes

    def knn_rows(self, k: int) -> tuple[None, np.ndarray, np.ndarray]:
        """(rows, sims, idx) as ``Space.knn_rows``: every row (rows None), exact."""
        sims, idx = self.knn(k)
        return None, sims, idx


# ----------------------------------------------------------------------------- the provider


class GeometryRun:
    """The Dask provider's context for the geometry and label diagnostics: one cluster run over a
    sharded set, sharing the kNN lists and the moments between diagnostics."""

    def __init__(
        self,
        client,
        sharded: ShardedSet,
        space: ShardedSpace,
        pairs: ShardedSet | None = None,
        seed: int = 0,
        progress: Progress = NULL,
    ):
        self.client, self.sharded, self.space, self.pairs = client, sharded, space, pairs
        self.seed, self.progress, self.n = seed, progress, sharded.n
        self._moments = None

    def moments(self):
        if self._moments is None:
            self._moments = moments(self.client, self.sharded, progress=self.progress)
        return self._moments


def _uniformity(run: GeometryRun, t: float = 2.0, sample: int = 0) -> list[Value]:
    from embeval.diagnostics.pairsum import log_mean

    if sample:
        raise UsageError("sampled uniformity (`sample`) is not available on a cluster")
    n = run.n
    val = log_mean(pair_sum(run.client, run.sharded, "uniformity", t, progress=run.progress), n * (n - 1) / 2)
    return [Value("uniformity", val, {"t": t}, n=n)]


def _mam(run: GeometryRun, mode: str = "nn") -> list[Any]:
    from embeval.diagnostics import geometry

    if mode == "nn":
        space: Any = run.space  # a Space for what mam(nn) reads: n, knn_rows
        return geometry.mam(space, mode="nn")
    n = run.n
    val = pair_sum(run.client, run.sharded, "mam_pairwise", progress=run.progress) / (n * (n - 1) / 2)
    return [Value("mam", val, {"mode": "pairwise"}, n=n)]


def _anisotropy(run: GeometryRun) -> list[Value]:
    s, sq, _ = run.moments()
    n = run.n
    return [Value("anisotropy", (float(s @ s) - sq) / (n * (n - 1)), n=n)]


def _effective_rank(run: GeometryRun) -> list[Value]:
    _, _, gram = run.moments()
    ev = np.linalg.eigvalsh(gram)[::-1][: min(run.n, gram.shape[0])]
    sv = np.sqrt(np.maximum(ev, 0.0))
    p = sv / sv.sum() + 1e-7
    return [Value("effective_rank", float(np.exp(-np.sum(p * np.log(p)))), n=run.n)]


def _alignment(run: GeometryRun, alpha: float = 2.0) -> list[Value]:
    a, b = run.sharded, run.pairs
    if b is None:
        raise UsageError("alignment needs pairs (row-aligned partner shards)")
    cols, pcols = (a.id_col, a.vector_col), (b.id_col, b.vector_col)
    args = [(s, p, alpha, cols, pcols) for s, p in zip(a.shards, b.shards)]
    parts = run_tasks(
        run.client,
        _alignment_task,
        args,
        progress=run.progress,
        label="alignment (shards)",
        weights=[s.rows for s in a.shards],
    )
    return [Value("alignment", math.fsum(parts) / run.n, {"alpha": alpha}, n=run.n)]


def _tolerance(run: GeometryRun) -> list[Value]:
    from embeval.distributed import labels as dlabels

    codes, classes = run.space.label_codes()
    val = dlabels.tolerance_value(run.client, run.sharded, codes, progress=run.progress)
    return [Value("tolerance", val, {"classes": len(classes)}, n=run.n)]


def _opis(run: GeometryRun, **params) -> list[Value]:
    from embeval.distributed import labels as dlabels

    val, oparams, n_used = dlabels.opis(
        run.client, run.sharded, run.space.label_codes()[0], seed=run.seed, progress=run.progress, **params
    )
    return [Value("opis", val, oparams, n=n_used)]


def _on_knn_lists(name: str):
    """hubness, knn_label_agreement, knn_accuracy: the registered (local) function on the kNN lists
    computed on the cluster."""

    def provider(run: GeometryRun, **params) -> list[Any]:
        from embeval.diagnostics.registry import get
        from embeval.diagnostics.space import check_k

        check_k(params.get("k", 10), run.n)
        return get(name).func(run.space, **params)

    return provider


for _name, _func in (
    ("uniformity", _uniformity),
    ("mam", _mam),
    ("anisotropy", _anisotropy),
    ("effective_rank", _effective_rank),
    ("hubness", _on_knn_lists("hubness")),
    ("alignment", _alignment),
    ("tolerance", _tolerance),
    ("knn_label_agreement", _on_knn_lists("knn_label_agreement")),
    ("knn_accuracy", _on_knn_lists("knn_accuracy")),
    ("opis", _opis),
):
    provide(DASK, _name, _func)


# ----------------------------------------------------------------------------- the report


def geometry_report_distributed(
    client,
    sharded: ShardedSet,
    *,
    metrics: list[str] | None = None,
    labels=None,
    pairs: ShardedSet | None = None,
    seed: int = 0,
    progress: Progress = NULL,
) -> Report:
    """The geometry report of a sharded set (rows L2-normalised) computed on ``client``'s cluster;
    ``labels`` (length n, row-aligned, validated) adds the label diagnostics, ``pairs`` (partner
    shards cut at the same rows) alignment. A diagnostic the Dask provider does not compute is
    skipped with a note (an error when named)."""
    from embeval.diagnostics.choose import resolve_metrics

    available = (set() if labels is None else {"labels"}) | (set() if pairs is None else {"pairs"})
    chosen = resolve_metrics(metrics, ("geometry", "labels"), available)
    if pairs is not None and [s.rows for s in pairs.shards] != [s.rows for s in sharded.shards]:
        raise UsageError(
            f"pairs {pairs.spec}: partner shards must be cut at the same rows as {sharded.spec} "
            "(same shard sizes, in order)"
        )
    report = Report(
        "geometry",
        inputs={"embeddings": sharded.describe(), **({} if pairs is None else {"pairs": pairs.describe()})},
        settings={"seed": seed, "normalized": True, "cluster": True},
    )
    space = ShardedSpace(client, sharded, seed=seed, progress=progress, labels=labels)
    if labels is not None:
        report.settings["classes"] = len(space.label_codes()[1])
    ks = [int(p.get("k", 10)) for d, p in chosen if d.name in ("hubness", "knn_label_agreement", "knn_accuracy")]
    ks += [1 for d, p in chosen if d.name == "mam" and p.get("mode", "nn") == "nn"]
    if ks and 1 <= max(ks) < space.n:
        space.knn(max(ks))
    run = GeometryRun(client, sharded, space, pairs, seed, progress)
    for diag, params in chosen:
        if not provides(DASK, diag.name) or (diag.name == "uniformity" and params.get("sample")):
            if metrics:
                raise UsageError(
                    f"metric {diag.name} is not available on a cluster; available: "
                    + ", ".join(d.name for d in all_diagnostics(("geometry", "labels")) if provides(DASK, d.name))
                )
            report.notes.append(f"skipped {diag.name}: not available on a cluster")
        else:
            report.results.extend(compute(diag, run, params, DASK))
    report.notes.append(
        f"rows L2-normalised before every diagnostic; computed on a Dask cluster over {len(sharded.shards)} shards"
    )
    return report

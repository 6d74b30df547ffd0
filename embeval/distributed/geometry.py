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

Not available on a cluster (a default run skips them with a note): sampled uniformity, alignment,
intrinsic_dim, silhouette.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from embeval.distributed import tiles
from embeval.distributed.cluster import run_tasks
from embeval.errors import UsageError
from embeval.io.shards import ShardedSet
from embeval.progress import NULL, Progress
from embeval.results import Report, Result

SUPPORTED = (
    "uniformity",
    "mam",
    "anisotropy",
    "effective_rank",
    "hubness",
    "alignment",
    "tolerance",
    "knn_label_agreement",
    "knn_accuracy",
    "opis",
)


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


# ----------------------------------------------------------------------------- the report


class _Run:
    """One cluster geometry run: a method per diagnostic family, sharing the kNN lists and moments."""

    def __init__(
        self, client, sharded: ShardedSet, space: ShardedSpace, pairs: ShardedSet | None, seed: int, progress: Progress
    ):
        self.client, self.sharded, self.space, self.pairs = client, sharded, space, pairs
        self.seed, self.progress, self.n = seed, progress, sharded.n
        self._moments = None

    def uniformity(self, t: float = 2.0, **_) -> list[Result]:
        from embeval.diagnostics.pairsum import log_mean

        n = self.n
        val = log_mean(pair_sum(self.client, self.sharded, "uniformity", t, progress=self.progress), n * (n - 1) / 2)
        return [Result("uniformity", val, {"t": t}, n=n, higher_is_better=False)]

    def mam(self, mode: str = "nn") -> list[Result]:
        from embeval.diagnostics import geometry

        if mode == "nn":
            space: Any = self.space  # a Space for what mam(nn) reads: n, knn_rows
            return geometry.mam(space, mode="nn")
        n = self.n
        val = pair_sum(self.client, self.sharded, "mam_pairwise", progress=self.progress) / (n * (n - 1) / 2)
        return [Result("mam", val, {"mode": "pairwise"}, n=n, higher_is_better=False)]

    def moments(self):
        if self._moments is None:
            self._moments = moments(self.client, self.sharded, progress=self.progress)
        return self._moments

    def anisotropy(self) -> list[Result]:
        s, sq, _ = self.moments()
        n = self.n
        return [Result("anisotropy", (float(s @ s) - sq) / (n * (n - 1)), n=n, higher_is_better=False)]

    def effective_rank(self) -> list[Result]:
        _, _, gram = self.moments()
        ev = np.linalg.eigvalsh(gram)[::-1][: min(self.n, gram.shape[0])]
        sv = np.sqrt(np.maximum(ev, 0.0))
        p = sv / sv.sum() + 1e-7
        return [Result("effective_rank", float(np.exp(-np.sum(p * np.log(p)))), n=self.n, higher_is_better=True)]

    def alignment(self, alpha: float = 2.0) -> list[Result]:
        a, b = self.sharded, self.pairs
        if b is None:
            raise UsageError("alignment needs pairs (row-aligned partner shards)")
        cols, pcols = (a.id_col, a.vector_col), (b.id_col, b.vector_col)
        args = [(s, p, alpha, cols, pcols) for s, p in zip(a.shards, b.shards)]
        parts = run_tasks(
            self.client,
            _alignment_task,
            args,
            progress=self.progress,
            label="alignment (shards)",
            weights=[s.rows for s in a.shards],
        )
        return [Result("alignment", math.fsum(parts) / self.n, {"alpha": alpha}, n=self.n, higher_is_better=False)]

    def tolerance(self) -> list[Result]:
        from embeval.distributed import labels as dlabels

        codes, classes = self.space.label_codes()
        val = dlabels.tolerance_value(self.client, self.sharded, codes, progress=self.progress)
        return [Result("tolerance", val, {"classes": len(classes)}, n=self.n, higher_is_better=True)]

    def opis(self, **params) -> list[Result]:
        from embeval.distributed import labels as dlabels

        val, oparams, n_used = dlabels.opis(
            self.client, self.sharded, self.space.label_codes()[0], seed=self.seed, progress=self.progress, **params
        )
        return [Result("opis", val, oparams, n=n_used, higher_is_better=False)]

    def registered(self, name: str, params: dict) -> list[Result]:
        """hubness, knn_label_agreement, knn_accuracy: the registered functions on the kNN lists."""
        from embeval.diagnostics import geometry
        from embeval.diagnostics import labels as label_diags
        from embeval.diagnostics.space import check_k

        check_k(params.get("k", 10), self.n)
        return getattr(geometry if name == "hubness" else label_diags, name)(self.space, **params)


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
    shards cut at the same rows) alignment."""
    from embeval.diagnostics.choose import resolve_metrics
    from embeval.distributed.cluster import stamp

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
    run = _Run(client, sharded, space, pairs, seed, progress)
    for diag, params in chosen:
        if diag.name not in SUPPORTED or (diag.name == "uniformity" and params.get("sample")):
            if metrics:
                raise UsageError(f"metric {diag.name} is not available on a cluster; available: {', '.join(SUPPORTED)}")
            report.notes.append(f"skipped {diag.name}: not available on a cluster")
        elif diag.name in ("hubness", "knn_label_agreement", "knn_accuracy"):
            report.results.extend(run.registered(diag.name, params))
        else:
            report.results.extend(getattr(run, diag.name)(**params))
    stamp(report.results)
    report.notes.append(
        f"rows L2-normalised before every diagnostic; computed on a Dask cluster over {len(sharded.shards)} shards"
    )
    return report

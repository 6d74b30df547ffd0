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

Over ``budget`` (estimated from one timed tile per worker, :func:`cluster_seconds`), the pair means
and the kNN diagnostics take the single-machine estimated forms (:func:`sampled_pair_mean`,
:func:`knn_subset`): the same seeded pairs and query rows, so the same estimates and CIs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import embeval.diagnostics  # noqa: F401  (registers every diagnostic this provider serves)
from embeval.diagnostics.registry import Value, all_diagnostics, compute, provide, provides
from embeval.distributed import tiles
from embeval.distributed.cluster import DASK, run_tasks, run_tree
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


def pair_args(sharded: ShardedSet, kind: str, param: float = 2.0) -> tuple[list[tuple], list[float]]:
    """The tiles (task arguments) of a pair-sum pass and their weights (pairs per tile)."""
    shards = sharded.shards
    cols = (sharded.id_col, sharded.vector_col)
    args, weights = [], []
    for i, si in enumerate(shards):
        for j in range(i, len(shards)):
            sj = shards[j]
            args.append((si, None if i == j else sj, kind, param, cols))
            weights.append(si.rows * (si.rows - 1) / 2 if i == j else si.rows * sj.rows)
    return args, weights


def pair_sum(
    client,
    sharded: ShardedSet,
    kind: str,
    param: float = 2.0,
    *,
    progress: Progress = NULL,
    done: dict[int, float] | None = None,
) -> float:
    """Σ_{i<j} f(x̂_i·x̂_j) over the whole sharded set (f by ``kind``, see :mod:`.tiles`).
    ``done``: tiles already computed (index in :func:`pair_args` order -> value; the budget's
    timed tiles), not run again. The tile sums are added with ``math.fsum`` (order-free)."""
    args, weights = pair_args(sharded, kind, param)
    done = done or {}
    todo = [i for i in range(len(args)) if i not in done]
    parts = run_tasks(
        client,
        _pair_task,
        [args[i] for i in todo],
        progress=progress,
        label=f"{kind} tiles",
        weights=[weights[i] for i in todo],
    )
    return math.fsum([*parts, *done.values()])


def _pairs_task(si, sj, li: np.ndarray, lj: np.ndarray, kind: str, param: float, cols_i, cols_j) -> np.ndarray:
    """f of the sampled pairs (rows ``li`` of shard ``si``, ``lj`` of ``sj``), in float64 exactly
    as the single-machine sampled pair means compute them."""
    from embeval.diagnostics.geometry import _angles, _SqDist

    a = tiles.unit_shard(si, *cols_i)[li]
    b = tiles.unit_shard(sj, *cols_j)[lj]
    if kind == "uniformity":
        return np.exp(-param * _SqDist()(a, b))
    cos = np.einsum("ij,ij->i", a.astype(np.float64), b.astype(np.float64))
    return np.abs(90.0 - _angles(cos))


SAMPLE_BLOCK = 1 << 14  # pairs per block, as embeval.compute.sampled_pair_mean


def draw_pairs(n_i: int, n_j: int, m: int, seed: int, *, distinct: bool) -> tuple[np.ndarray, np.ndarray]:
    """The ``m`` seeded pairs (i, j) of the single-machine sampled pair means, in their order:
    i uniform in [0, n_i), j uniform in [0, n_j), with j ≠ i when ``distinct`` (drawn in blocks of
    SAMPLE_BLOCK, i then j, as :func:`embeval.compute.sampled_pair_mean` and
    :func:`embeval.diagnostics.gap.cross_uniformity_sampled`)."""
    rng = np.random.default_rng(seed)
    ii, jj = [], []
    for s in range(0, m, SAMPLE_BLOCK):
        b = min(SAMPLE_BLOCK, m - s)
        i = rng.integers(0, n_i, size=b)
        if distinct:
            j = rng.integers(0, n_j - 1, size=b)
            j += j >= i
        else:
            j = rng.integers(0, n_j, size=b)
        ii.append(i)
        jj.append(j)
    return np.concatenate(ii), np.concatenate(jj)


def pair_values(
    client,
    x: ShardedSet,
    y: ShardedSet,
    i_all: np.ndarray,
    j_all: np.ndarray,
    kind: str,
    param: float,
    *,
    progress: Progress = NULL,
) -> np.ndarray:
    """f(x̂_i, ŷ_j) for each pair, in the pairs' order (float64), computed on the workers: one task
    per pair of shards the pairs touch, each reading its two shards. Within one set (``y is x``)
    the term is symmetric bit for bit, so one task serves both orders of a pair of shards."""
    xs, ys = x.shards, y.shards
    si = np.searchsorted([s.offset for s in xs], i_all, "right") - 1
    sj = np.searchsorted([s.offset for s in ys], j_all, "right") - 1
    ri, rj = i_all, j_all
    if y is x:
        swap = si > sj
        si, sj = np.where(swap, sj, si), np.where(swap, si, sj)
        ri, rj = np.where(swap, j_all, i_all), np.where(swap, i_all, j_all)
    key = si * len(ys) + sj
    order = np.argsort(key, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(key[order])) + 1)
    cx, cy = (x.id_col, x.vector_col), (y.id_col, y.vector_col)
    args = []
    for g in groups:
        a, b = xs[si[g[0]]], ys[sj[g[0]]]
        args.append((a, b, ri[g] - a.offset, rj[g] - b.offset, kind, param, cx, cy))
    values = np.empty(len(i_all), dtype=np.float64)

    def take(t: int, v) -> None:
        values[groups[t]] = v

    run_tasks(
        client,
        _pairs_task,
        args,
        progress=progress,
        label=f"{kind} (sampled pairs)",
        weights=[len(g) for g in groups],
        on_result=take,
    )
    return values


def mean_half(values: np.ndarray) -> tuple[float, float]:
    """(mean, 95% half-width) of sampled pair values, with the single-machine arithmetic: float64
    block sums shifted by the first block's mean (:func:`embeval.compute.sampled_pair_mean`)."""
    m = len(values)
    shift = None
    s1 = s2 = 0.0
    for s in range(0, m, SAMPLE_BLOCK):
        v = values[s : s + SAMPLE_BLOCK]
        if shift is None:
            shift = float(v.mean())
        v = v - shift
        s1 += float(v.sum())
        s2 += float(v @ v)
    mean_c = s1 / m
    var = max(s2 / m - mean_c**2, 0.0) * m / (m - 1) if m > 1 else math.inf
    return (shift or 0.0) + mean_c, 1.96 * math.sqrt(var / m) if m > 1 else math.inf


def sampled_pair_mean(
    client, sharded: ShardedSet, kind: str, param: float, m: int, seed: int, *, progress: Progress = NULL
) -> tuple[float, float, int]:
    """:func:`embeval.compute.sampled_pair_mean` of the pair term ``kind`` over a sharded set: the
    same ``m`` seeded pairs i≠j (drawn here, 16 bytes a pair), their values computed on the workers
    (:func:`pair_values`), put back in draw order, and the same statistics: the estimate and its
    95% half-width equal one process's. Returns (mean, half-width, m)."""
    i_all, j_all = draw_pairs(sharded.n, sharded.n, m, seed, distinct=True)
    mean, half = mean_half(pair_values(client, sharded, sharded, i_all, j_all, kind, param, progress=progress))
    return mean, half, m


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


def _merge_task(a, b, k: int):
    return tiles.merge_topk([a, b], k)


def _finish_task(part, k: int, offset: int):
    sims, idx = part
    return tiles.drop_self(sims, idx, k, offset)


def knn(client, sharded: ShardedSet, k: int, *, progress: Progress = NULL) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k nearest other rows of every row (sims float32 n×k, idx int64 n×k, global rows).

    Each row shard's tiles (its rows against every shard) are merged on the workers as a binary
    tree (:func:`embeval.distributed.cluster.run_tree`; the merge is exact and associative: score
    descending, then row ascending), so the driver receives each row's final k neighbours once,
    n × k × 12 bytes, not one partial list per tile."""
    shards = sharded.shards
    cols = (sharded.id_col, sharded.vector_col)
    groups = [[(si, sj, k + 1, cols) for sj in shards] for si in shards]
    sims = np.empty((sharded.n, k), dtype=np.float32)
    idx = np.empty((sharded.n, k), dtype=np.int64)

    def take(i: int, value) -> None:
        si = shards[i]
        sims[si.offset : si.stop], idx[si.offset : si.stop] = value

    run_tree(
        client,
        _knn_task,
        groups,
        merge=(_merge_task, (k + 1,)),
        finish=[(_finish_task, (k, si.offset)) for si in shards],
        progress=progress,
        label=f"kNN tiles (k={k})",
        weights=[[si.rows * sj.rows for sj in shards] for si in shards],
        on_result=take,
    )
    return sims, idx


def _subset_task(q, rows: np.ndarray, sj, k: int, cols):
    return tiles.subset_knn_tile(q, tiles.unit_shard(sj, *cols), k, sj.offset, rows)


def _cut_task(part, k: int):
    sims, idx = part
    return sims[:, :k], idx[:, :k]


def knn_subset(
    client, sharded: ShardedSet, rows: np.ndarray, k: int, *, progress: Progress = NULL
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest other rows among all n of the query rows ``rows`` (sorted global indices): the
    estimated form of the kNN diagnostics, as the single-machine ``knn(x, k, queries=rows)``. The
    query rows (len(rows) × d, bounded by the plan) are gathered here and sent to every shard once;
    each shard's top-k are merged on the workers as a tree; the driver gets len(rows) × k."""
    from embeval.distributed.labels import gather_rows

    q = gather_rows(client, sharded, rows)
    [qf] = client.scatter([q], broadcast=True)
    cols = (sharded.id_col, sharded.vector_col)
    out: list[Any] = [None]

    def take(_: int, value) -> None:
        out[0] = value

    run_tree(
        client,
        _subset_task,
        [[(qf, rows, sj, k, cols) for sj in sharded.shards]],
        merge=(_merge_task, (k,)),
        finish=[(_cut_task, (k,))],
        progress=progress,
        label=f"kNN tiles (k={k}, {len(rows):,} query rows)",
        weights=[[float(len(rows)) * sj.rows for sj in sharded.shards]],
        on_result=take,
    )
    return out[0]


class ShardedSpace:
    """What :func:`embeval.diagnostics.geometry.hubness` and ``mam`` need from a ``Space``: n, seed,
    progress and ``knn(k)``, here computed on the cluster once for the largest k."""

    def __init__(self, client, sharded: ShardedSet, seed: int = 0, progress: Progress = NULL, labels=None):
        self.client, self.sharded, self.seed, self.progress = client, sharded, seed, progress
        self._knn: tuple[np.ndarray, np.ndarray] | None = None
        self._codes: tuple[np.ndarray, np.ndarray] | None = None
        self.normalized = True
        self.labels = None if labels is None else np.asarray(labels)
        self.plan: Any = None  # a ScalePlan when a budget applies (geometry_report_distributed)
        self.backend = None
        self._knn_q: tuple[np.ndarray, np.ndarray] | None = None

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

    @property
    def knn_queries(self) -> np.ndarray | None:
        """Rows the kNN diagnostics are estimated on (None: every row, exact), as ``Space``."""
        return None if self.plan is None else self.plan.knn_queries

    def knn_rows(self, k: int) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """(rows, sims, idx) as ``Space.knn_rows``: every row (rows None, exact), or the plan's
        seeded query rows against all n rows (the estimated form)."""
        q = self.knn_queries
        if q is None or (self._knn is not None and self._knn[1].shape[1] >= k):
            sims, idx = self.knn(k)
            return None, sims, idx
        if self._knn_q is None or self._knn_q[1].shape[1] < k:
            self._knn_q = knn_subset(self.client, self.sharded, q, k, progress=self.progress)
        sims, idx = self._knn_q
        return q, sims[:, :k], idx[:, :k]


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
        self.done: dict[tuple[str, float], dict[int, float]] = {}  # timed tiles of the budget probe

    def estimated(self, name: str) -> bool:
        plan = self.space.plan
        return plan is not None and not plan.exact and name in plan.estimated

    def moments(self):
        if self._moments is None:
            self._moments = moments(self.client, self.sharded, progress=self.progress)
        return self._moments


def _uniformity(run: GeometryRun, t: float = 2.0, sample: int = 0) -> list[Value]:
    from embeval.diagnostics.pairsum import log_mean

    if sample:
        raise UsageError("sampled uniformity (`sample`) is not available on a cluster")
    n = run.n
    if run.estimated("uniformity"):
        m = run.space.plan.pair_sample
        mean, half, _ = sampled_pair_mean(run.client, run.sharded, "uniformity", t, m, run.seed, progress=run.progress)
        lo = math.log(mean - half) if mean - half > 0 else -math.inf
        params = {"t": t, "sample": m, "estimator": "sampled pairs", "exact": False}
        return [Value("uniformity", log_mean(mean, 1.0), params, n=n, ci_low=lo, ci_high=math.log(mean + half))]
    done = run.done.get(("uniformity", t))
    val = log_mean(
        pair_sum(run.client, run.sharded, "uniformity", t, progress=run.progress, done=done), n * (n - 1) / 2
    )
    return [Value("uniformity", val, {"t": t}, n=n)]


def _mam(run: GeometryRun, mode: str = "nn") -> list[Any]:
    from embeval.diagnostics import geometry

    if mode == "nn":
        space: Any = run.space  # a Space for what mam(nn) reads: n, knn_rows
        return geometry.mam(space, mode="nn")
    n = run.n
    if run.estimated("mam"):
        m = run.space.plan.pair_sample
        val, half, _ = sampled_pair_mean(
            run.client, run.sharded, "mam_pairwise", 2.0, m, run.seed, progress=run.progress
        )
        params = {"mode": mode, "estimator": "sampled pairs", "exact": False, "sample": m}
        return [Value("mam", val, params, n=n, ci_low=val - half, ci_high=val + half)]
    done = run.done.get(("mam_pairwise", 2.0))
    val = pair_sum(run.client, run.sharded, "mam_pairwise", progress=run.progress, done=done) / (n * (n - 1) / 2)
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


# ----------------------------------------------------------------------------- the budget


def cluster_seconds(client, sharded: ShardedSet, pair: tuple[str, float] | None, done: dict, k: int = 10):
    """The cluster's cost model for :mod:`embeval.diagnostics.scale`'s planners, measured on first
    use: one real tile per worker of the pair-sum pass ``pair`` = (kind, param) over ``sharded``
    (its values go into ``done[pair]``, and that pass skips them), or, with ``pair`` None, one
    diagonal kNN tile per worker (top-(k+1), the run's largest k). From those
    (:func:`embeval.distributed.devices.time_tiles`):

        rate = 1 / Σ_w (pairs_w / seconds_w)            seconds per pair, all workers together
        seconds(kind, P) = P · rate · c_kind / c_timed

    where c_kind are this process's calibrated per-pair costs of a pair sum and a top-k pass
    (:func:`embeval.compute.drivers.calibrate`), used only for their ratio. So the estimate of the
    exact work is (pair-sum pairs + kNN pairs · c_topk / c_pairsum) · rate: the whole pass spread
    evenly over the workers at their measured pace (a first tile includes reading its shards)."""
    from embeval.compute.drivers import calibrate
    from embeval.distributed import checkpoint
    from embeval.distributed.cluster import task_identity
    from embeval.distributed.devices import time_tiles

    state: dict[str, Any] = {}

    def probe() -> None:
        # A checkpointed run keeps the measured cost model with its tiles, so a resumed run makes the
        # same exact-or-estimated choice and writes the same exact_estimate_s: the same report.
        ck = checkpoint.active()
        if ck is None:
            measure()
            return
        key = ck.key(task_identity(client, cluster_seconds), (tuple(sharded.shards), pair, k))
        found, saved = ck.load(key)
        if found:
            rate, topk, c_pair, c_topk = saved
            state.update(rate=rate, timed="topk" if topk else "pair_sum", c={"pair_sum": c_pair, "topk": c_topk})
            return
        measure()
        c = state["c"]
        ck.save(key, (float(state["rate"]), state["timed"] == "topk", float(c["pair_sum"]), float(c["topk"])))

    def measure() -> None:
        if pair is not None:
            args, weights = pair_args(sharded, *pair)
            done[pair], state["rate"] = time_tiles(client, _pair_task, args, weights)
            state["timed"] = "pair_sum"
        else:
            cols = (sharded.id_col, sharded.vector_col)
            args = [(si, si, k + 1, cols) for si in sharded.shards]
            _, state["rate"] = time_tiles(client, _knn_task, args, [float(si.rows) * si.rows for si in sharded.shards])
            state["timed"] = "topk"
        state["c"] = calibrate(None, sharded.d)

    def seconds(kind: str, pairs: float) -> float:
        if not state:
            probe()
        c = state["c"]
        key = "topk" if kind == "topk" else "pair_sum"
        return float(pairs) * state["rate"] * c[key] / c[state["timed"]]

    return seconds


def _largest_k(chosen: list[tuple[str, dict]]) -> int:
    ks = [int(p.get("k", 10)) for n, p in chosen if n in ("hubness", "knn_label_agreement", "knn_accuracy")]
    return max(ks, default=1)


def plan_budget(run: GeometryRun, chosen: list[tuple[str, dict]], budget: float | None, exact: bool):
    """The run's :class:`embeval.diagnostics.scale.ScalePlan`, the single-machine rules with the
    cluster's measured cost (:func:`cluster_seconds`)."""
    from embeval.diagnostics.scale import _pair_sum, plan_geometry

    first = next(((n, p) for n, p in chosen if _pair_sum(n, p)), None)
    pair = None
    if first is not None:
        pair = ("uniformity", float(first[1].get("t", 2.0))) if first[0] == "uniformity" else ("mam_pairwise", 2.0)
    return plan_geometry(
        run.n,
        run.sharded.d,
        chosen,
        device="the cluster",
        budget=budget,
        exact=exact,
        seed=run.seed,
        seconds=cluster_seconds(run.client, run.sharded, pair, run.done, _largest_k(chosen)),
    )


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
    budget: float | None = None,
    exact: bool = False,
) -> Report:
    """The geometry report of a sharded set (rows L2-normalised) computed on ``client``'s cluster;
    ``labels`` (length n, row-aligned, validated) adds the label diagnostics, ``pairs`` (partner
    shards cut at the same rows) alignment. A diagnostic the Dask provider does not compute is
    skipped with a note (an error when named).

    ``budget`` (seconds; None: no limit, every diagnostic exact): the exact O(n²) work is estimated
    from one timed tile per worker (:func:`cluster_seconds`); above the budget, unless ``exact``,
    the pair means (uniformity, mam pairwise) are sampled pairs with a 95% CI
    (:func:`sampled_pair_mean`) and the kNN diagnostics run on seeded query rows against all rows
    (:func:`knn_subset`), with ``exact: false``, sample sizes and the note of one machine
    (:mod:`embeval.diagnostics.scale`)."""
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
    run = GeometryRun(client, sharded, space, pairs, seed, progress)
    served = [
        (d.name, p) for d, p in chosen if provides(DASK, d.name) and not (d.name == "uniformity" and p.get("sample"))
    ]
    if budget is not None:
        space.plan = plan = plan_budget(run, served, budget, exact)
        settings = plan.settings()
        report.settings.update({k: v for k, v in settings.items() if k != "device"})
        note = plan.note()
        if note:
            report.notes.append(note)
            progress.note(note)
    ks = [int(p.get("k", 10)) for d, p in chosen if d.name in ("hubness", "knn_label_agreement", "knn_accuracy")]
    ks += [1 for d, p in chosen if d.name == "mam" and p.get("mode", "nn") == "nn"]
    if ks and 1 <= max(ks) < space.n:
        space.knn_rows(max(ks))
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

"""Gap between two sharded sets A and B on a Dask cluster (library level): the centroid gap, the
set uniformities (A, B, A∪B and across the sets) and knn_mixing, equal to
:mod:`embeval.diagnostics.gap` up to the summation differences described in
:mod:`embeval.distributed.geometry`.

The cross-set uniformity is a sum over tiles (shard of A × shard of B); A∪B's is
Σ_A + Σ_B + Σ_{A×B}; knn_mixing is the kNN of the union (A's shards, then B's, renumbered).
For paired sets (row i of A ↔ row i of B) the two sets must be cut at the same rows, so that the
matched pairs left out of ``uniformity_cross`` lie on the diagonal of the tiles (i, i).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from embeval.diagnostics.registry import Value, all_diagnostics, compute, get, provide, provides
from embeval.distributed import tiles
from embeval.distributed.cluster import DASK, run_tasks
from embeval.distributed.geometry import (
    cluster_seconds,
    draw_pairs,
    knn,
    knn_subset,
    mean_half,
    moments,
    pair_sum,
    pair_values,
)
from embeval.errors import UsageError
from embeval.io.shards import ShardedSet
from embeval.progress import NULL, Progress
from embeval.results import Result


def _cross_task(sa, sb, t: float, skip_diagonal: bool, cols_a, cols_b) -> tuple[float, float]:
    """(Σ over every pair of the tile, Σ over the tile's diagonal pairs) of exp(−t‖â − b̂‖²)."""
    from embeval.compute import cross_pair_sum
    from embeval.distributed.devices import task_backend

    a, b = tiles.unit_shard(sa, *cols_a), tiles.unit_shard(sb, *cols_b)
    k = tiles._kernel("uniformity", t)
    be = task_backend()
    full = cross_pair_sum(a, b, k, backend=be)
    if not skip_diagonal:
        return full, 0.0
    return full, full - cross_pair_sum(a, b, k, skip_diagonal=True, backend=be)


def union(a: ShardedSet, b: ShardedSet) -> ShardedSet:
    """A∪B as one sharded set: A's shards, then B's renumbered after A's rows."""
    shards = a.shards + [replace(s, offset=s.offset + a.n) for s in b.shards]
    return ShardedSet(f"{a.spec} ∪ {b.spec}", shards, [*a.id_parts, *b.id_parts], a.id_col, a.vector_col)


class _UnionSpace:
    """What :func:`embeval.diagnostics.gap.knn_mixing` needs: n, n_a and the kNN of A∪B."""

    def __init__(self, client, a: ShardedSet, b: ShardedSet, progress: Progress):
        self.client, self.joint, self.n_a, self.progress = client, union(a, b), a.n, progress
        self._knn: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n(self) -> int:
        return self.joint.n

    def knn(self, k: int):
        if self._knn is None or self._knn[1].shape[1] < k:
            self._knn = knn(self.client, self.joint, k, progress=self.progress)
        return self._knn[0][:, :k], self._knn[1][:, :k]


def _check(a: ShardedSet, b: ShardedSet, paired: bool) -> None:
    if a.d != b.d:
        raise UsageError(f"{b.spec}: dimension {b.d} does not match {a.spec} ({a.d})")
    if paired and [s.rows for s in a.shards] != [s.rows for s in b.shards]:
        raise UsageError("paired sharded sets must be cut at the same rows (same shard sizes, in order)")


class GapRun:
    """The Dask provider's context for the gap diagnostics: two sharded sets A and B (checked:
    same dimension; paired sets cut at the same rows) on one cluster."""

    def __init__(self, client, a: ShardedSet, b: ShardedSet, *, paired: bool = False, progress: Progress = NULL):
        _check(a, b, paired)
        self.client, self.a, self.b, self.paired, self.progress = client, a, b, paired, progress
        self._union: _UnionSpace | None = None
        self.plan: Any = None  # a ScalePlan when a budget applies (gap_report_distributed)
        self.seed = 0
        self.done: dict[tuple[str, float], dict[int, float]] = {}  # A's timed uniformity tiles

    def estimated(self, name: str) -> bool:
        return self.plan is not None and not self.plan.exact and name in self.plan.estimated

    def union_space(self) -> Any:
        """A GapSpace for what knn_mixing reads (n, n_a, knn), the kNN lists kept between calls."""
        if self._union is None:
            self._union = _UnionSpace(self.client, self.a, self.b, self.progress)
        return self._union


def _gap(run: GapRun) -> list[Value]:
    """gap = ‖mean(Â) − mean(B̂)‖ and centroid_cosine, from per-shard sums (as ``gap.gap``)."""
    a, b = run.a, run.b
    sa, _, _ = moments(run.client, a, progress=run.progress)
    sb, _, _ = moments(run.client, b, progress=run.progress)
    ca, cb = sa / a.n, sb / b.n
    den = float(np.linalg.norm(ca) * np.linalg.norm(cb))
    n = a.n + b.n
    return [
        Value("gap", float(np.linalg.norm(ca - cb)), n=n),
        Value("centroid_cosine", float(ca @ cb) / den if den > 0 else math.nan, n=n),
    ]


def _set_uniformity(run: GapRun, t: float = 2.0) -> list[Value]:
    """uniformity_a, _b, _joint and _cross (as ``gap.set_uniformity``) from pair-sum tiles."""
    from embeval.diagnostics.pairsum import log_mean

    client, a, b, paired, progress = run.client, run.a, run.b, run.paired, run.progress
    if run.estimated("uniformity_cross"):
        return _set_uniformity_sampled(run, t)
    n_a, n_b = a.n, b.n
    sum_a = pair_sum(client, a, "uniformity", t, progress=progress, done=run.done.get(("uniformity", t)))
    sum_b = pair_sum(client, b, "uniformity", t, progress=progress)
    cols_a, cols_b = (a.id_col, a.vector_col), (b.id_col, b.vector_col)
    args = [
        (x, y, t, paired and i == j, cols_a, cols_b) for i, x in enumerate(a.shards) for j, y in enumerate(b.shards)
    ]
    parts = run_tasks(
        client,
        _cross_task,
        args,
        progress=progress,
        label="cross-set uniformity tiles",
        weights=[x.rows * y.rows for x, y, *_ in args],
    )
    cross_all = math.fsum(p[0] for p in parts)
    matched = math.fsum(p[1] for p in parts)
    count = n_a * n_b - (min(n_a, n_b) if paired else 0)
    if count <= 0:
        raise UsageError("cross-set uniformity needs at least one pair of rows from different sets")
    n = n_a + n_b
    return [
        Value("uniformity_a", log_mean(sum_a, n_a * (n_a - 1) / 2), {"t": t}, n=n_a),
        Value("uniformity_b", log_mean(sum_b, n_b * (n_b - 1) / 2), {"t": t}, n=n_b),
        Value("uniformity_joint", log_mean(sum_a + sum_b + cross_all, n * (n - 1) / 2), {"t": t}, n=n),
        Value(
            "uniformity_cross",
            log_mean(cross_all - matched, count, "uniformity_cross"),
            {"t": t, "pairs": "i≠j (partners left out)" if paired else "all A×B"},
            n=n,
        ),
    ]


def _log_ci(mean: float, half: float, what: str = "uniformity") -> tuple[float, float, float]:
    """(estimate, ci_low, ci_high) on the log scale, as the single-machine sampled uniformities."""
    from embeval.diagnostics.pairsum import log_mean

    lo = math.log(mean - half) if mean - half > 0 else -math.inf
    return log_mean(mean, 1.0, what), lo, math.log(mean + half)


def _set_uniformity_sampled(run: GapRun, t: float) -> list[Value]:
    """The estimated set uniformities (over the budget), as ``gap.set_uniformity`` on one machine:
    the same seeded pairs within A, B and A∪B and across (partners left out when paired), their
    values computed on the workers (:func:`embeval.distributed.geometry.pair_values`)."""
    client, a, b, progress = run.client, run.a, run.b, run.progress
    m, seed = run.plan.pair_sample, run.seed
    est = {"t": t, "sample": m, "estimator": "sampled pairs", "exact": False}
    out = []
    for name, x in (("uniformity_a", a), ("uniformity_b", b), ("uniformity_joint", union(a, b))):
        i, j = draw_pairs(x.n, x.n, m, seed, distinct=True)
        val, lo, hi = _log_ci(*mean_half(pair_values(client, x, x, i, j, "uniformity", t, progress=progress)))
        out.append(Value(name, val, est, n=x.n, ci_low=lo, ci_high=hi))
    i, j = draw_pairs(a.n, b.n, m, seed, distinct=run.paired)
    values = pair_values(client, a, b, i, j, "uniformity", t, progress=progress)
    val, lo, hi = _log_ci(*mean_half(values), "uniformity_cross")
    pairs = "i≠j (partners left out)" if run.paired else "all A×B"
    out.append(Value("uniformity_cross", val, {**est, "pairs": pairs}, n=a.n + b.n, ci_low=lo, ci_high=hi))
    return out


def _knn_mixing(run: GapRun, k: int = 10) -> list[Any]:
    from embeval.diagnostics.gap import knn_mixing, knn_mixing_on_rows

    if run.estimated("knn_mixing"):
        space = run.union_space()
        if k >= space.n:  # the checks of knn_mixing, before any work
            return knn_mixing(space, k=k)
        rows = run.plan.knn_queries
        _, idx = knn_subset(run.client, space.joint, rows, k, progress=run.progress)
        return knn_mixing_on_rows(rows, idx, run.a.n, run.b.n, k)
    return knn_mixing(run.union_space(), k=k)


provide(DASK, "gap", _gap)
provide(DASK, "set_uniformity", _set_uniformity)
provide(DASK, "knn_mixing", _knn_mixing)


def gap_results_distributed(
    client,
    a: ShardedSet,
    b: ShardedSet,
    *,
    paired: bool = False,
    t: float = 2.0,
    k: int = 10,
    progress: Progress = NULL,
) -> list[Result]:
    """gap, centroid_cosine, uniformity_a/b/joint/cross and knn_mixing(k) of two sharded sets
    (rows L2-normalised), as :func:`embeval.diagnostics.gap.gap`, ``set_uniformity`` and ``knn_mixing``."""
    run = GapRun(client, a, b, paired=paired, progress=progress)
    out = compute(get("gap", "gap"), run, {}, DASK)
    out += compute(get("set_uniformity", "gap"), run, {"t": t}, DASK)
    return out + compute(get("knn_mixing", "gap"), run, {"k": k}, DASK)


def _plan(run: GapRun, report, names: list[str], t: float, knn_k: int, budget: float, exact: bool) -> None:
    """Plan the run's O(n²) work with the cluster's measured cost; record it as one machine does."""
    from embeval.diagnostics.scale import plan_gap

    pair = ("uniformity", t) if "set_uniformity" in names else None
    probe_set = run.a if pair is not None else union(run.a, run.b)
    run.plan = plan = plan_gap(
        run.a.n,
        run.b.n,
        run.a.d,
        names,
        device="the cluster",
        budget=budget,
        exact=exact,
        seed=run.seed,
        seconds=cluster_seconds(run.client, probe_set, pair, run.done, knn_k),
    )
    report.settings.update({k: v for k, v in plan.settings().items() if k != "device"})
    note = plan.note()
    if note:
        report.notes.append(note)
        run.progress.note(note)


def gap_report_distributed(
    client,
    a: ShardedSet,
    b: ShardedSet,
    *,
    paired: bool = False,
    metrics: list[str] | None = None,
    k: int | None = None,
    seed: int = 0,
    progress: Progress = NULL,
    budget: float | None = None,
    exact: bool = False,
):
    """The gap report of two sharded sets on a cluster: the diagnostics the Dask provider computes
    (gap, set_uniformity, knn_mixing); the others are skipped with a note (an error when named).

    ``budget`` (seconds; None: every diagnostic exact): the exact O(n²) work is estimated from one
    timed tile per worker (A's uniformity tiles, kept; or a kNN tile of A∪B), and above it, unless
    ``exact``, the set uniformities are sampled pairs and knn_mixing runs on seeded query rows, as
    on one machine (:func:`embeval.diagnostics.scale.plan_gap`): the same estimates and CIs."""
    from embeval.diagnostics.choose import resolve_metrics
    from embeval.results import Report

    run = GapRun(client, a, b, paired=paired, progress=progress)
    run.seed = seed
    chosen = resolve_metrics(
        metrics,
        "gap",
        {"pairs"} if paired else set(),
        hints={"pairs": "pass `paired` when row i of A is the partner of row i of B"},
    )
    report = Report(
        "gap",
        inputs={"a": a.describe(), "b": b.describe()},
        settings={"seed": seed, "paired": paired, "normalized": True, "cluster": True},
    )
    if budget is not None:
        t = next((float(p.get("t", 2.0)) for d, p in chosen if d.name == "set_uniformity"), 2.0)
        knn_k = k if k is not None else next((int(p.get("k", 10)) for d, p in chosen if d.name == "knn_mixing"), 10)
        _plan(run, report, [d.name for d, _ in chosen if provides(DASK, d.name)], t, knn_k, budget, exact)
    for diag, params in chosen:
        if not provides(DASK, diag.name):
            if metrics:
                available = ", ".join(d.name for d in all_diagnostics("gap") if provides(DASK, d.name))
                raise UsageError(f"metric {diag.name} is not available on a cluster; available: {available}")
            report.notes.append(f"skipped {diag.name}: not available on a cluster")
            continue
        if diag.name == "knn_mixing" and k is not None:
            params = {**params, "k": k}
        report.results.extend(compute(diag, run, params, DASK))
    report.notes.append(
        "rows L2-normalised before every diagnostic; gap = ‖mean(Â) − mean(B̂)‖; computed on a "
        f"Dask cluster over {len(a.shards)} + {len(b.shards)} shards"
    )
    if any(r.metric == "uniformity_cross" for r in report.results):
        report.notes.append("uniformity_cross: " + ("partners (i = j) left out" if paired else "all A×B pairs"))
    return report

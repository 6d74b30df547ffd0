"""Label diagnostics of a sharded set on a Dask cluster: tolerance (per-shard class sums),
knn_label_agreement and knn_accuracy (the registered functions on the cluster's kNN lists), and
OPIS from pair-slot histograms over shard tiles (Zhang et al., ICLR 2024; the two exact passes of
:func:`embeval.diagnostics.labels.opis`: the calibration range from the pooled different-label
histogram, then per-class utility curves). Labels (n, small) live on the driver; tasks receive
the class codes of their shards' rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from embeval.distributed import tiles
from embeval.distributed.cluster import run_tasks
from embeval.io.shards import ShardedSet
from embeval.progress import NULL, Progress

HIST_BLOCK = 1 << 22  # row × column entries per block inside a histogram tile


# ----------------------------------------------------------------------------- slot maps


def slots_calibration(g: np.ndarray, bins: int) -> np.ndarray:
    """floor((1 − cos)·bins/2), clipped to [0, bins−1] (the arithmetic of ``calibration_range``)."""
    half = np.float32(bins / 2.0)
    g *= -half
    g += half
    np.floor(g, out=g)
    np.clip(g, 0, bins - 1, out=g)
    return g.astype(np.intp)


def slots_utility(g: np.ndarray, lo: float, hi: float, grid: int) -> np.ndarray:
    """Slot t ⇔ d_{t−1} < d ≤ d_t, ``grid`` ⇔ d > hi (the arithmetic of ``class_utility_curves``)."""
    step = (hi - lo) / (grid - 1)
    if step > 0:
        inv = np.float32(1.0 / step)
        top = np.float32((1.0 - lo) * inv)
        g *= -inv
        g += top
        np.ceil(g, out=g)
        np.clip(g, 0, grid, out=g)
        return g.astype(np.intp)
    return np.where(1.0 - g <= np.float32(lo), 0, grid).astype(np.intp)


def label_hist_tile(a, b, ca, cb, slot, nslots: int, n_classes: int, per_class: bool, diagonal: bool):
    """(same, every): histograms of slot(a_i·b_j) over the tile's ordered pairs, per class of row i
    (``per_class``: n_classes×nslots) or pooled (1×nslots); ``same`` counts pairs with equal codes.
    ``diagonal``: a and b are the same rows, and each row's pair with itself is left out."""
    rows_out = n_classes if per_class else 1
    same = np.zeros(rows_out * (nslots + 1), dtype=np.int64)
    every = np.zeros(rows_out * (nslots + 1), dtype=np.int64)
    step = max(1, HIST_BLOCK // max(1, b.shape[0]))
    for s in range(0, a.shape[0], step):
        e = min(a.shape[0], s + step)
        sl = slot(a[s:e] @ b.T)
        if diagonal:
            sl[np.arange(e - s), np.arange(s, e)] = nslots
        base = (ca[s:e, None] * (nslots + 1)) if per_class else np.zeros((e - s, 1), dtype=np.intp)
        key = base + sl
        every += np.bincount(key.ravel(), minlength=len(every))
        same += np.bincount(key[ca[s:e, None] == cb[None, :]], minlength=len(same))
    shape = (rows_out, nslots + 1)
    return same.reshape(shape)[:, :nslots], every.reshape(shape)[:, :nslots]


# ----------------------------------------------------------------------------- worker tasks


def _hist_task(si, sj, ci, cj, slot_args, nslots, n_classes, per_class, cols):
    a = tiles.unit_shard(si, *cols)
    b = a if sj is None else tiles.unit_shard(sj, *cols)
    kind, *params = slot_args
    if kind == "calibration":

        def slot(g):
            return slots_calibration(g, *params)
    else:

        def slot(g):
            return slots_utility(g, *params)

    return label_hist_tile(a, b, ci, ci if sj is None else cj, slot, nslots, n_classes, per_class, sj is None)


def _class_sums_task(si, ci, n_classes, cols):
    import scipy.sparse as sp

    unit = tiles.unit_shard(si, *cols)
    n = unit.shape[0]
    ind = sp.csr_matrix((np.ones(n), (ci, np.arange(n))), shape=(n_classes, n))
    return np.asarray(ind @ unit.astype(np.float64)), float(np.einsum("ij,ij->", unit, unit, dtype=np.float64))


def _rows_task(si, local_rows, cols):
    return tiles.unit_shard(si, *cols)[local_rows]


# ----------------------------------------------------------------------------- driver


def pair_histograms(
    client,
    sharded: ShardedSet,
    codes: np.ndarray,
    slot_args: tuple,
    nslots: int,
    *,
    per_class: bool,
    progress: Progress = NULL,
    label: str = "label histogram tiles",
):
    """(same, different) slot histograms over every ordered pair i≠j of the sharded set, as
    ``embeval.diagnostics.labels._pair_histograms``: one task per ordered shard pair."""
    shards = sharded.shards
    n_classes = int(codes.max()) + 1
    cols = (sharded.id_col, sharded.vector_col)
    args = []
    for si in shards:
        for sj in shards:
            args.append(
                (
                    si,
                    None if sj is si else sj,
                    codes[si.offset : si.stop],
                    codes[sj.offset : sj.stop],
                    slot_args,
                    nslots,
                    n_classes,
                    per_class,
                    cols,
                )
            )
    rows_out = n_classes if per_class else 1
    acc = {"same": np.zeros((rows_out, nslots), np.int64), "every": np.zeros((rows_out, nslots), np.int64)}

    def take(_, value):
        acc["same"] += value[0]
        acc["every"] += value[1]

    run_tasks(
        client,
        _hist_task,
        args,
        progress=progress,
        label=label,
        weights=[a[0].rows * (a[1] or a[0]).rows for a in args],
        on_result=take,
    )
    return acc["same"], acc["every"] - acc["same"]


def tolerance_value(client, sharded: ShardedSet, codes: np.ndarray, *, progress: Progress = NULL) -> float:
    """Mean cosine over same-label pairs, from per-shard class sums (as ``labels.tolerance_value``)."""
    from embeval.errors import UsageError

    n_classes = int(codes.max()) + 1
    cols = (sharded.id_col, sharded.vector_col)
    parts = run_tasks(
        client,
        _class_sums_task,
        [(s, codes[s.offset : s.stop], n_classes, cols) for s in sharded.shards],
        progress=progress,
        label="class sums (shards)",
        weights=[s.rows for s in sharded.shards],
    )
    s = np.sum([p[0] for p in parts], axis=0)
    sq = math.fsum(p[1] for p in parts)
    sizes = np.bincount(codes, minlength=n_classes).astype(np.float64)
    pairs = float(np.sum(sizes * (sizes - 1) / 2.0))
    if pairs == 0:
        raise UsageError("tolerance needs at least one label shared by two rows")
    return float((np.einsum("ij,ij->", s, s) - sq) / 2.0 / pairs)


def gather_rows(client, sharded: ShardedSet, rows: np.ndarray) -> np.ndarray:
    """The unit rows ``rows`` (sorted global indices) of a sharded set, fetched from the workers."""
    cols = (sharded.id_col, sharded.vector_col)
    args, where = [], []
    for s in sharded.shards:
        sel = np.flatnonzero((rows >= s.offset) & (rows < s.stop))
        if len(sel):
            args.append((s, rows[sel] - s.offset, cols))
            where.append(sel)
    out = np.empty((len(rows), sharded.d), dtype=np.float32)
    for sel, part in zip(where, run_tasks(client, _rows_task, args, label="gathering sampled rows")):
        out[sel] = part
    return out


def opis(
    client,
    sharded: ShardedSet,
    codes: np.ndarray,
    *,
    far_low: float = 0.01,
    far_high: float = 0.1,
    grid: int = 101,
    max_rows: int = 20000,
    seed: int = 0,
    progress: Progress = NULL,
):
    """(value, params, n) of :func:`embeval.diagnostics.labels.opis` over the sharded set. Above
    ``max_rows`` rows, the same seeded subset is fetched and computed on the driver (as on one
    machine); otherwise both histogram passes run as tiles on the cluster."""
    from embeval.diagnostics import labels as L

    L.check_opis_args(far_low, far_high, grid, max_rows)
    params: dict[str, Any] = {"far_low": far_low, "far_high": far_high, "grid": grid}
    n = sharded.n
    if max_rows and n > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))
        unit = gather_rows(client, sharded, rows)
        sub = np.unique(codes[rows], return_inverse=True)[1].ravel()
        params["estimator"] = f"random subset of {max_rows} rows (seed {seed})"
        lo, hi = L.calibration_range(unit, sub, far_low, far_high, progress=progress)
        u, _, _ = L.class_utility_curves(unit, sub, lo, hi, grid, progress=progress)
        n_used = len(sub)
    else:
        codes = np.unique(codes, return_inverse=True)[1].ravel()
        bins = 1 << 16
        _, neg = pair_histograms(
            client,
            sharded,
            codes,
            ("calibration", bins),
            bins,
            per_class=False,
            progress=progress,
            label="opis: calibration range (tiles)",
        )
        cdf = np.cumsum(neg[0]) / neg[0].sum()
        edges = np.arange(1, bins + 1) * (2.0 / bins)
        lo = float(edges[min(bins - 1, int(np.searchsorted(cdf, far_low, side="left")))])
        hi = float(edges[min(bins - 1, int(np.searchsorted(cdf, far_high, side="left")))])
        pos, neg = pair_histograms(
            client,
            sharded,
            codes,
            ("utility", lo, hi, grid),
            grid,
            per_class=True,
            progress=progress,
            label="opis: per-class utility (tiles)",
        )
        n_classes = int(codes.max()) + 1
        sizes = np.bincount(codes, minlength=n_classes).astype(np.float64)
        n_pos, n_neg = sizes * (sizes - 1), sizes * (n - sizes)
        with np.errstate(invalid="ignore", divide="ignore"):
            tar = np.cumsum(pos, axis=1) / n_pos[:, None]
            trr = 1.0 - np.cumsum(neg, axis=1) / n_neg[:, None]
            u = np.where(tar + trr > 0, 2 * tar * trr / (tar + trr), 0.0)
        u[(n_pos == 0) | (n_neg == 0)] = np.nan
        n_used = n
    params.update({"d_low": lo, "d_high": hi, "classes": int(np.sum(~np.isnan(u).any(axis=1)))})
    return L.opis_value(u), params, n_used

"""What both sweeps share: exact ground truth, IR metrics per query, recall against exact search,
retention and change statistics, the Pareto front, and the outputs each setting reports.

A sweep's results are ordinary :class:`~embeval.results.Result` rows, one set per *setting*; each
carries ``params["setting"]`` (a label such as ``hnsw/M16/efC200/efS64`` or ``d128/binary/rescore4``)
as its identity, so ``ann_recall@10(setting=ivf/nlist1789/nprobe16)`` names one value in a gate,
a comparison or ``Report.value``.

Statistics:

- recall against exact: per query |top-k ∩ exact top-k| / k (:func:`embeval.index.search.search_recall`),
  mean with a 95% normal-theory interval over queries (:func:`embeval.diagnostics.scale.mean_ci`);
- change of an IR metric from the reference: mean of per-query differences with the paired
  bootstrap CI and the sign-flip p-value (:func:`embeval.stats.paired.paired_test`);
- retention: mean(setting) / mean(reference), CI from the same paired bootstrap resamples of the
  queries applied to the ratio of means; its p-value is the sign-flip test of the change (H0: the
  setting and the reference are exchangeable per query, i.e. retention 1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embeval.diagnostics.qrels import AlignedQrels
from embeval.diagnostics.ranking import RANKING_METRICS, ideal_gains, ranked_gains, ranking_metrics
from embeval.diagnostics.registry import HIGHER, LOWER, Output
from embeval.diagnostics.retrieval import RANKING_OUTPUTS
from embeval.diagnostics.scale import mean_ci
from embeval.errors import UsageError
from embeval.index.search import build_index, search_recall
from embeval.progress import NULL, Progress
from embeval.results import Result
from embeval.stats.paired import paired_test

SETTING = ("setting",)
N_BOOT = 2000  # paired bootstrap resamples and sign-flip permutations per statistic

ANN_RECALL = Output(
    "ann_recall@K",
    HIGHER,
    "mean over queries of |top-K of the setting ∩ exact float32 top-K| / K, with a 95% CI over queries",
    identity=SETTING,
)
IR = {
    name: Output(out.name, HIGHER, out.description + "; per sweep setting", identity=SETTING)
    for name, out in RANKING_OUTPUTS.items()
}
CHANGE = {
    name: Output(
        f"change_{name}@K",
        HIGHER,
        f"mean per-query change of {name}@K from exact search, paired bootstrap 95% CI, sign-flip p-value in params",
        identity=SETTING,
    )
    for name in RANKING_METRICS
}
RETENTION = {
    name: Output(
        f"retention_{name}@K",
        HIGHER,
        f"mean {name}@K of the setting / mean {name}@K of float32 (1 = no loss), paired bootstrap 95% CI, "
        "sign-flip p-value of the change in params",
        identity=SETTING,
    )
    for name in RANKING_METRICS
}
BYTES = Output("bytes_per_vector", LOWER, "memory per corpus vector (codes, or index size / n)", identity=SETTING)
INDEX_BYTES = Output(
    "index_bytes", LOWER, "size of the serialised FAISS index (faiss.serialize_index)", identity=SETTING
)
BUILD = Output("build_seconds", LOWER, "wall time to train and fill the index (all threads)", identity=SETTING)
SEARCH = Output("search_seconds", LOWER, "wall time to search every query (median of repeats)", identity=SETTING)
QPS1 = Output("qps_1thread", HIGHER, "queries per second on 1 thread (median of repeats)", identity=SETTING)
QPS_ALL = Output("qps_all_threads", HIGHER, "queries per second on all threads (median of repeats)", identity=SETTING)


def output_names() -> list[str]:
    """Every metric name a sweep can report (``@K`` = any cut-off)."""
    outs = [ANN_RECALL, BYTES, INDEX_BYTES, BUILD, SEARCH, QPS1, QPS_ALL, *IR.values(), *CHANGE.values()]
    return sorted({o.name for o in [*outs, *RETENTION.values()]})


def parse_int_list(text: str | Sequence[int] | None, name: str, low: int = 1) -> list[int]:
    """``"16,32"`` or ``[16, 32]`` -> ``[16, 32]``; each value ≥ ``low``."""
    if text is None:
        return []
    parts: list[Any] = [p for p in str(text).split(",") if p.strip()] if isinstance(text, str) else list(text)
    out = []
    for p in parts:
        try:
            v = int(str(p).strip())
        except ValueError:
            raise UsageError(f"`{name}` {text!r}: expected comma-separated integers") from None
        if v < low:
            raise UsageError(f"`{name}` {text!r}: each value must be at least {low}")
        out.append(v)
    return sorted(dict.fromkeys(out))


def check_unit_interval(value: float, name: str) -> float:
    if not isinstance(value, (int, float)) or not (0 < float(value) <= 1):
        raise UsageError(f"`{name}` {value!r}: must be in (0, 1]")
    return float(value)


@dataclass
class Truth:
    """The reference every setting is measured against."""

    queries: np.ndarray  # all query rows, float32
    corpus: np.ndarray
    k: int
    depth: int  # search depth of every setting: max(k, ks)
    ks: list[int]
    exact_idx: np.ndarray  # nq×depth exact float32 top rows (score desc, row asc)
    aligned: AlignedQrels | None = None
    reference_ir: dict[str, np.ndarray] = field(default_factory=dict)  # "ndcg@10" -> per judged query
    seed: int = 0


def exact_truth(
    corpus: np.ndarray,
    queries: np.ndarray,
    *,
    k: int,
    ks: Sequence[int],
    aligned: AlignedQrels | None,
    device: str | None = "auto",
    seed: int = 0,
    progress: Progress = NULL,
) -> tuple[Truth, dict[str, Any]]:
    """Exact top-depth search of every query on the compute layer (a GPU when ``device`` resolves to
    one), and the reference IR metrics when qrels are given. Returns (truth, info for settings)."""
    from embeval.compute import get_backend

    depth = max([k, *ks])
    backend = get_backend(device, rows=len(corpus))
    t0 = time.perf_counter()
    with progress.task(f"exact top-{depth} ground truth", total=None):
        _, idx = build_index("flat", corpus, backend=backend).search(queries, depth)
    truth = Truth(queries, corpus, k, depth, list(ks), idx, aligned, seed=seed)
    if aligned is not None:
        truth.reference_ir = ir_per_query(truth, idx)
    return truth, {"device": backend.device, "exact_seconds": round(time.perf_counter() - t0, 3)}


def ir_per_query(truth: Truth, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Per judged query, every ranking metric at every cut-off of ``truth.ks`` for top rows ``idx``."""
    aligned = truth.aligned
    if aligned is None:
        return {}
    sub = idx[aligned.query_rows]
    gains, ideal = ranked_gains(aligned, sub), ideal_gains(aligned, truth.depth)
    out: dict[str, np.ndarray] = {}
    for k in truth.ks:
        for name, vals in ranking_metrics(gains, aligned.n_rel, ideal, k).items():
            out[f"{name}@{k}"] = vals
    return out


def ratio_ci(old: np.ndarray, new: np.ndarray, seed: int, n_boot: int = N_BOOT) -> tuple[float, float]:
    """95% percentile CI of mean(new)/mean(old) over paired bootstrap resamples of the queries."""
    rng = np.random.default_rng(seed)
    n = len(old)
    idx = rng.integers(0, n, size=(n_boot, n))
    num, den = new[idx].mean(axis=1), old[idx].mean(axis=1)
    ratios = np.divide(num, den, out=np.full(n_boot, np.nan), where=den > 0)
    ratios = ratios[np.isfinite(ratios)]
    if not len(ratios):
        return math.nan, math.nan
    lo, hi = np.quantile(ratios, [0.025, 0.975])
    return float(lo), float(hi)


def setting_results(
    truth: Truth,
    label: str,
    params: dict[str, Any],
    idx: np.ndarray,
    *,
    retention: bool,
) -> tuple[list[Result], dict[str, Any]]:
    """Recall against exact and (with qrels) IR metrics with their change or retention for one
    setting's top rows ``idx`` (nq×depth). Returns (results, a summary row for tables/pictures)."""
    p = {"setting": label, **params}
    rec = search_recall(idx[:, : truth.k], truth.exact_idx[:, : truth.k])
    m, lo, hi = mean_ci(rec)
    rname = f"ann_recall@{truth.k}"
    results = [ANN_RECALL(m, p, n=len(rec), ci_low=max(lo, 0.0), ci_high=min(hi, 1.0), name=rname)]
    row: dict[str, Any] = {"setting": label, rname: m}
    if truth.aligned is not None:
        mine = ir_per_query(truth, idx)
        for key, vals in mine.items():
            name = key.split("@")[0]
            ref = truth.reference_ir[key]
            results.append(IR[name](float(vals.mean()), p, n=len(vals), name=key))
            test = paired_test(ref, vals, n_boot=N_BOOT, n_perm=N_BOOT, seed=truth.seed)
            stats = {**p, "p_value": test.p_value, "reference": float(ref.mean())}
            if retention:
                base = float(ref.mean())
                value = float(vals.mean()) / base if base > 0 else math.nan
                clo, chi = ratio_ci(ref, vals, truth.seed)
                results.append(
                    RETENTION[name](value, stats, n=len(vals), ci_low=clo, ci_high=chi, name=f"retention_{key}")
                )
                row[f"retention_{key}"] = value
            else:
                results.append(
                    CHANGE[name](
                        test.mean_delta,
                        stats,
                        n=len(vals),
                        ci_low=test.ci_low,
                        ci_high=test.ci_high,
                        name=f"change_{key}",
                    )
                )
                row[f"change_{key}"] = test.mean_delta
            row[key] = float(vals.mean())
            row[f"p_value_{key}"] = test.p_value
    return results, row


def median_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``repeats`` calls of ``fn`` (and the first call's return value)."""
    times, first = [], None
    for r in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if r == 0:
            first = out
    return float(np.median(times)), first


def pareto(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (quality, cost-benefit) pairs where both are better larger: True where no other point
    is at least as good in both and strictly better in one."""
    out = []
    for i, (a, b) in enumerate(points):
        dominated = any((x >= a and y >= b) and (x > a or y > b) for j, (x, y) in enumerate(points) if j != i)
        out.append(not dominated)
    return out

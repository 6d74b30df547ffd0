"""N-way comparison: several reports (or the models of one batch report) ranked metric by metric.

For each group (the command of single reports; ``command/model/dataset`` items matched across
batch files; ``command/dataset`` when the systems are the models of one batch) and each metric
with a direction:

- **value and CI**: the report's value; where the report carries per-query values, a percentile
  bootstrap interval of their mean over queries (``n_boot`` resamples, seeded), else the
  report's own interval if it has one.
- **rank**: 1 = best by the metric's direction; equal values share a rank ("1224").
- **pairwise tests** (``test``): for every pair of systems with per-query values, on the queries
  every such system shares:

  - ``signflip`` (embeval's default): the two-sided sign-flip randomisation test of the mean
    paired difference (:mod:`embeval.stats.paired`; p ≥ 1/(R+1)), then Holm–Bonferroni over the
    pairs of that metric (Holm 1979, "A simple sequentially rejective multiple test procedure").
    A pair is significant when its adjusted p < 1 − confidence. This controls the family-wise
    error over the pairs, so it is more conservative than ranx.
  - ``student`` and ``fisher``: ranx's tests, to reproduce a ranx table. ranx applies **no**
    multiple-testing correction (its default is ``stat_test="student"``, ``max_p=0.01``): each
    pair is tested alone and is significant when its raw p ≤ max_p (here max_p = 1 − confidence,
    so ``--confidence 0.99`` matches ranx's default). ``student`` is the two-sided paired
    t-test (``scipy.stats.ttest_rel``, as ranx); ``fisher`` is Fisher's randomisation test as ranx
    computes it: the share of R random swaps of each query's two values whose |mean difference|
    reaches the observed one (p can be 0; ranx's random stream is numba's, so p agrees within
    Monte-Carlo error, not bit for bit).

  The better system of a significant pair carries the other's letter as a superscript, as in
  ranx's tables.

Regression gates compare each later system with the first (the baseline) through the two-report
comparison (:func:`embeval.report.compare.match.compare`). Renderers: :mod:`.rank_render`.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embeval.diagnostics.registry import key_params
from embeval.errors import UnknownMetric, UsageError
from embeval.report.compare.load import Side
from embeval.report.compare.match import PairComparison, _finite, _per_query, _same_params
from embeval.results import GateResult, Report, Result
from embeval.stats.multiple import holm

LETTERS = string.ascii_lowercase


@dataclass(frozen=True)
class System:
    letter: str
    name: str
    source: str  # the report file (and model) it came from


@dataclass
class Cell:
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_from: str = ""  # "bootstrap over N queries", "report", or ""
    rank: int | None = None
    better_than: list[str] = field(default_factory=list)  # letters, significant after correction

    @property
    def best(self) -> bool:
        return self.rank == 1


@dataclass
class PairTest:
    a: str  # letters
    b: str
    n: int
    mean_delta: float  # mean over shared queries of (b − a)
    p_value: float
    p_holm: float
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "n": self.n,
            "mean_delta": self.mean_delta,
            "p_value": self.p_value,
            "p_holm": self.p_holm,
            "significant": self.significant,
        }


@dataclass
class MetricRank:
    group: str
    metric: str
    label: str
    params: dict[str, Any]
    higher_is_better: bool
    cells: list[Cell]  # one per system, in system order
    pairs: list[PairTest] = field(default_factory=list)
    n_queries: int | None = None  # queries the pairwise tests share

    def pair(self, a: str, b: str) -> PairTest | None:
        for t in self.pairs:
            if {t.a, t.b} == {a, b}:
                return t
        return None


@dataclass
class Ranking:
    systems: list[System]
    metrics: list[MetricRank]
    settings: dict[str, Any]
    comparisons: list[PairComparison] = field(default_factory=list)  # system k vs the first, k ≥ 1
    gates: list[tuple[str, GateResult]] = field(default_factory=list)  # (item, gate)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(g.passed for _, g in self.gates)

    def gate_pairs(self) -> list[tuple[str, GateResult]]:
        """(system and item, gate) for every gate."""
        return list(self.gates)

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(m.group for m in self.metrics))

    def to_dict(self) -> dict[str, Any]:
        from embeval._version import __version__

        sys_letters = [s.letter for s in self.systems]
        metrics = []
        for m in self.metrics:
            metrics.append(
                {
                    "group": m.group,
                    "metric": m.metric,
                    "label": m.label,
                    "params": m.params,
                    "higher_is_better": m.higher_is_better,
                    "n_queries": m.n_queries,
                    "systems": {
                        letter: {
                            "value": c.value,
                            "ci_low": c.ci_low,
                            "ci_high": c.ci_high,
                            "ci_from": c.ci_from,
                            "rank": c.rank,
                            "best": c.best,
                            "better_than": c.better_than,
                        }
                        for letter, c in zip(sys_letters, m.cells)
                    },
                    "pairwise": [t.to_dict() for t in m.pairs],
                }
            )
        return {
            "embeval_version": __version__,
            "command": "compare",
            "kind": "ranking",
            "systems": [{"letter": s.letter, "name": s.name, "source": s.source} for s in self.systems],
            "settings": self.settings,
            "metrics": metrics,
            "vs_baseline": [
                {"system": s.letter, "rows": [r.to_dict() for r in c.rows]}
                for s, c in zip(self.systems[1:], self.comparisons)
            ],
            "gates": [{"item": i, **g.to_dict()} for i, g in self.gates],
            "passed": self.passed,
            "notes": self.notes,
        }


# Building -----------------------------------------------------------------------------------


def systems_from_files(sides: list[Side]) -> list[tuple[System, Side]]:
    """Each report file is one system, named by its file name (made unique)."""
    from pathlib import Path

    if len(sides) > len(LETTERS):
        raise UsageError(f"compare ranks at most {len(LETTERS)} reports at once, got {len(sides)}")
    kinds = {s.kind for s in sides}
    if len(kinds) > 1:
        raise UsageError("compare reports of the same kind: " + ", ".join(f"{s.path} is {s.kind}" for s in sides))
    if kinds == {"single"}:
        commands = {next(iter(s.items)) for s in sides}
        if len(commands) > 1:
            raise UsageError(
                "compare reports of the same command: " + ", ".join(f"{s.path} is {next(iter(s.items))}" for s in sides)
            )
    names = [Path(s.path).stem for s in sides]
    if len(set(names)) < len(names):
        names = [str(s.path) for s in sides]
    return [(System(LETTERS[i], n, s.path), s) for i, (n, s) in enumerate(zip(names, sides))]


def systems_from_batch(side: Side) -> list[tuple[System, Side]]:
    """The models of one batch report are the systems; groups are ``command/dataset``."""
    by_model: dict[str, dict[str, Report]] = {}
    for key, report in side.items.items():
        command, model, dataset = key.split("/", 2) if key.count("/") >= 2 else (key, "-", "-")
        by_model.setdefault(model, {})[f"{command}/{dataset}"] = report
    if len(by_model) < 2:
        raise UsageError(
            f"{side.path}: one batch report ranks its models, but it holds "
            f"{len(by_model)} model(s); give two or more reports instead"
        )
    if len(by_model) > len(LETTERS):
        raise UsageError(f"compare ranks at most {len(LETTERS)} models at once, got {len(by_model)}")
    out = []
    for i, (model, items) in enumerate(by_model.items()):
        out.append(
            (
                System(LETTERS[i], model, f"{side.path}:{model}"),
                Side(f"{side.path} [{model}]", "batch", items, {**side.info, "model": model}),
            )
        )
    return out


def _direction(results: list[Result | None]) -> bool | None:
    for r in results:
        if r is not None and r.higher_is_better is not None:
            return r.higher_is_better
    return None


def _find(report: Report, ref: Result) -> Result | None:
    """``report``'s result for ``ref`` (same metric, same identifying parameters), through the one
    lookup :meth:`Report.result`; None when it has none."""
    try:
        found = report.result(ref.metric, **key_params(ref.metric, ref.params))
    except UnknownMetric:
        return None
    return found if _same_params(ref.metric, ref.params, found.params) else None


def _ranks(values: list[float | None], higher: bool) -> list[int | None]:
    """Competition ranks (1 = best; ties share the better rank); None for missing values."""
    present = [v for v in values if v is not None]
    out: list[int | None] = []
    for v in values:
        if v is None:
            out.append(None)
        else:
            out.append(1 + sum(1 for w in present if (w > v if higher else w < v)))
    return out


def _union_results(reports: list[Report]) -> list[Result]:
    """Every distinct (metric, identifying params) in the reports, in order of appearance."""
    seen: list[Result] = []
    for rep in reports:
        for res in rep.results:
            if not any(s.metric == res.metric and _same_params(s.metric, s.params, res.params) for s in seen):
                seen.append(res)
    return seen


def _per_query_values(reports: list[Report | None], per_query: list[dict | None], metric: str) -> list[dict | None]:
    """Each system's finite per-query values of ``metric`` (query id → value), where its report
    holds the metric once (per-query rows are keyed by name only); else None."""
    out: list[dict[str, float] | None] = []
    for r, q in zip(reports, per_query):
        if r is None or q is None or metric not in q or sum(x.metric == metric for x in r.results) != 1:
            out.append(None)
        else:
            out.append({k: v for k, v in q[metric].items() if math.isfinite(v)})
    return out


def _intervals(
    cells: list[Cell], found: list[Result | None], pq: list[dict | None], *, n_boot: int, alpha: float, seed: int
) -> None:
    """Percentile bootstrap interval of the mean over queries; the report's own otherwise."""
    from embeval.stats.paired import bootstrap_means

    rng = np.random.default_rng(seed)
    for c, f, q in zip(cells, found, pq):
        if q is not None and len(q) >= 2:
            means = bootstrap_means(np.fromiter(q.values(), dtype=np.float64), n_boot, rng)
            lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
            c.ci_low, c.ci_high, c.ci_from = float(lo), float(hi), f"bootstrap over {len(q)} queries"
        elif f is not None and f.ci_low is not None and f.ci_high is not None:
            c.ci_low, c.ci_high, c.ci_from = f.ci_low, f.ci_high, "report"


TESTS = ("signflip", "student", "fisher")


def pair_p(d: np.ndarray, test: str, n_perm: int, rng: np.random.Generator) -> float:
    """The two-sided p-value of mean(d) = 0 for ``test`` (see the module docstring)."""
    from embeval.stats.paired import sign_flip_p

    if test == "signflip":
        return sign_flip_p(d, n_perm, rng)[0]
    if test == "student":
        from scipy.stats import ttest_rel

        if not np.any(d != d[0]):  # constant differences: t is ±inf (p = 0) or undefined (p = 1)
            return 0.0 if d[0] != 0 else 1.0
        return float(ttest_rel(d, np.zeros_like(d)).pvalue)
    if test == "fisher":  # ranx: share of permutations with |diff| ≥ observed, no +1
        observed = abs(d.mean())
        tol = 1e-12 * max(1.0, float(np.abs(d).max(initial=0.0)))
        hits = 0
        step = max(1, (1 << 20) // max(d.shape[0], 1))
        for s in range(0, n_perm, step):
            m = min(step, n_perm - s)
            signs = (rng.integers(0, 2, size=(m, d.shape[0]), dtype=np.int8) * 2 - 1).astype(np.float64)
            hits += int(np.sum(np.abs(signs @ d) / d.shape[0] >= observed - tol))
        return hits / n_perm
    raise UsageError(f"`test` {test!r}: choose one of {', '.join(TESTS)}")


def _pairwise(
    mr: MetricRank, pq: list[dict | None], *, n_boot: int, alpha: float, seed: int, test: str = "signflip"
) -> None:
    """Tests between every two systems with per-query values, on the queries all of them share;
    Holm over the pairs for ``signflip``, none for ranx's ``student``/``fisher`` (raw p ≤ alpha);
    the winner of a significant pair gets the loser's letter."""

    have = {i: q for i, q in enumerate(pq) if q is not None}
    tested = list(have)
    if len(tested) < 2:
        return
    qids = sorted(set.intersection(*(set(q) for q in have.values())))
    if len(qids) < 2:
        return
    mr.n_queries = len(qids)
    vals = {i: np.array([q[k] for k in qids]) for i, q in have.items()}
    raw = []
    for x, i in enumerate(tested):
        for j in tested[x + 1 :]:
            d = vals[j] - vals[i]
            p = pair_p(d, test, n_boot, np.random.default_rng(seed))
            raw.append((i, j, float(d.mean()), p))
    adjusted = holm([r[3] for r in raw]) if test == "signflip" else [r[3] for r in raw]
    for (i, j, md, p), pa in zip(raw, adjusted):
        sig = (bool(pa < alpha) if test == "signflip" else bool(pa <= alpha)) and md != 0
        mr.pairs.append(PairTest(LETTERS[i], LETTERS[j], len(qids), md, p, float(pa), sig))
        if sig:
            winner, loser = (j, i) if (md > 0) == mr.higher_is_better else (i, j)
            mr.cells[winner].better_than.append(LETTERS[loser])
    for c in mr.cells:
        c.better_than.sort()


TEST_NAMES = {
    "signflip": "two-sided sign-flip randomisation (paired), Holm-corrected, adjusted p < 1 − confidence",
    "student": "two-sided paired Student t-test (as ranx), uncorrected, p ≤ 1 − confidence",
    "fisher": "Fisher randomisation test (as ranx), uncorrected, p ≤ 1 − confidence",
}


def rank_systems(
    systems: list[tuple[System, Side]],
    *,
    seed: int = 0,
    n_boot: int = 10_000,
    confidence: float = 0.95,
    test: str = "signflip",
) -> Ranking:
    """Rank the systems per (group, metric) with bootstrap CIs and pairwise tests: Holm-corrected
    sign-flip tests by default, or ranx's uncorrected ``student``/``fisher`` (module docstring)."""
    if test not in TESTS:
        raise UsageError(f"`test` {test!r}: choose one of {', '.join(TESTS)}")
    if not 0 < confidence < 1:
        raise UsageError(f"`confidence` {confidence}: must be between 0 and 1")
    if n_boot < 100:
        raise UsageError(f"`n_boot` {n_boot}: use at least 100 resamples")
    alpha = 1.0 - confidence
    ranking = Ranking(
        [s for s, _ in systems],
        [],
        {
            "seed": seed,
            "n_boot": n_boot,
            "n_perm": n_boot,
            "confidence": confidence,
            "correction": "holm" if test == "signflip" else "none",
            "test": TEST_NAMES[test],
        },
    )
    undirected: set[str] = set()
    for group in dict.fromkeys(g for _, side in systems for g in side.items):
        reports = [side.items.get(group) for _, side in systems]
        present = [r for r in reports if r is not None]
        if len(present) < 2:
            ranking.notes.append(f"{group}: only in {len(present)} report; not ranked")
            continue
        per_query = [None if r is None else _per_query(r) for r in reports]
        for ref in _union_results(present):
            found = [None if r is None else _find(r, ref) for r in reports]
            hib = _direction(found)
            if hib is None:
                undirected.add(ref.label())
                continue
            cells = [Cell(None if f is None else _finite(f.value)) for f in found]
            for rank, cell in zip(_ranks([c.value for c in cells], hib), cells):
                cell.rank = rank
            pq = _per_query_values(reports, per_query, ref.metric)
            _intervals(cells, found, pq, n_boot=n_boot, alpha=alpha, seed=seed)
            mr = MetricRank(group, ref.metric, ref.label(), dict(ref.key_params), hib, cells)
            _pairwise(mr, pq, n_boot=n_boot, alpha=alpha, seed=seed, test=test)
            ranking.metrics.append(mr)
    if undirected:
        ranking.notes.append("not ranked (no better direction): " + ", ".join(sorted(undirected)))
    return ranking


def note_missing_intervals(ranking: Ranking) -> None:
    """Say why some metrics have no interval while others have one (call after narrowing the metrics)."""
    no_ci = [m.label for m in ranking.metrics if all(c.ci_low is None for c in m.cells if c.value is not None)]
    if no_ci and len(no_ci) < len(ranking.metrics):
        ranking.notes.append(
            "no interval for " + ", ".join(dict.fromkeys(no_ci)) + ": the reports carry no per-query values of "
            "these (pooled over all query-document scores, or a single number per run), so there is nothing to "
            "bootstrap over queries, and the reports give no interval of their own"
        )


def add_baseline_comparisons(
    ranking: Ranking,
    systems: list[tuple[System, Side]],
    tolerances,
    *,
    seed: int,
    n_boot: int,
    confidence: float,
    allow_different_data: bool = False,
) -> None:
    """Compare every system with the first (deltas, regression gates); each gate's item is
    ``letter name`` (and the batch item when there is one)."""
    from embeval.report.compare.match import compare

    base = systems[0][1]
    for system, side in systems[1:]:
        comp = compare(
            base,
            side,
            tolerances=tolerances,
            seed=seed,
            n_boot=n_boot,
            confidence=confidence,
            allow_different_data=allow_different_data,
        )
        ranking.comparisons.append(comp)
        for item, g in zip(comp.gate_items, comp.gates):
            where = f"{system.letter} {system.name}" + ("" if item == "compare" else f": {item}")
            ranking.gates.append((where, g))

"""``embeval audit``: the diagnostics that matter for search, each as a finding with its value, the
isotropic baseline for this n and d, a verdict (ok / warn / fail) from the thresholds table
(:mod:`embeval.diagnostics.audit_rules`), what it means for retrieval, likely causes, the smallest
thing to try and sample ids; and, with ``tries``, the remedies measured on the user's data.

:func:`audit_arrays` takes loaded arrays (the Python API ``embeval.audit`` calls it);
:func:`audit_report` loads files first. Both return a :class:`~embeval.results.Report` whose
``series["audit"]`` holds the findings, the thresholds used, the remedies and the cluster map, and
whose ``gates`` fail for each finding at or beyond ``fail_on``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embeval.api.audit_try import try_remedies, unit_rows
from embeval.compute.context import CPU_COMPUTE, ComputeContext
from embeval.compute.transform import KINDS, AffineMap
from embeval.diagnostics import hygiene
from embeval.diagnostics.audit_rules import FAIL, LEVELS, OK, WARN, Rule, with_overrides
from embeval.diagnostics.baselines import SUBSET_GRAPH, baseline_of, simulate
from embeval.diagnostics.geometry import anisotropy, effective_rank, hubness
from embeval.diagnostics.scale import plan_geometry
from embeval.diagnostics.space import Space, check_k
from embeval.errors import UsageError
from embeval.progress import NULL, Progress
from embeval.results import GateResult, Report, Result

TRIES = (*KINDS, "csls")
RETRIEVAL_K = 10


def _float32(x: Any, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2 or a.shape[0] < 3 or a.shape[1] < 2:
        raise UsageError(f"`{what}` must be an n×d array with n ≥ 3 and d ≥ 2, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise UsageError(f"`{what}` has NaN or infinite values")
    return a


def _measure(
    x: np.ndarray,
    queries: np.ndarray | None,
    *,
    k: int,
    tau: float,
    seed: int,
    backend,
    device: str,
    budget: float | None,
    exact: bool,
    progress: Progress,
) -> tuple[list[Result], Space, list[str]]:
    """Every result the findings read, on one Space (one kNN search serves them all)."""
    # Zero rows have no direction: they are reported (zero_norm_share) and kept as zero unit rows.
    unit = unit_rows(x)
    space = Space(x=unit, unit=unit, raw=x, seed=seed, progress=progress, backend=backend)
    notes: list[str] = []
    plan = plan_geometry(
        space.n,
        x.shape[1],
        [("hubness", {"k": k}), ("mam", {"mode": "nn"})],
        backend=backend,
        device=device,
        budget=budget,
        exact=exact,
        seed=seed,
    )
    space.plan = plan
    note = plan.note()
    if note:
        notes.append(note)
    space.knn_rows(max(k, 5))
    res: list[Result] = []
    res += anisotropy(space)
    res += effective_rank(space)
    res += hubness(space, k=k)
    res += hygiene.near_duplicates(space, tau=tau, k=5)
    res += hygiene.outliers(space)
    res += hygiene.rogue_dimensions(space)
    res += hygiene.norms(space)
    res += hygiene.metric_mismatch(space, k=k)
    res += hygiene.distance_concentration(space)
    res += hygiene.connectivity(space, k=k)
    if queries is not None:
        _, sims, _ = space.knn_rows(1)
        res += hygiene.query_findings(space.unit, unit_rows(queries), 1.0 - sims[:, 0], k=k, backend=backend)
    return res, space, notes


def _value(results: list[Result], metric: str) -> Result | None:
    return next((r for r in results if r.metric == metric), None)


def _finding(rule: Rule, results: list[Result], n: int, d: int, seed: int) -> dict[str, Any] | None:
    if rule.metric == "effective_rank_ratio":
        r = _value(results, "effective_rank")
        if r is None:
            return None
        full = min(n, d)
        value = r.value / full
        sim = simulate(n, d, 10, seed)
        base: float | None = sim["effective_rank"] / min(sim["n_sim"], d)
        params: dict[str, Any] = {"effective_rank": r.value}
        exact = True
    else:
        r = _value(results, rule.metric)
        if r is None:
            return None
        value, params = r.value, r.params
        m = int(params["sample"]) if params.get("exact") is False and rule.metric in SUBSET_GRAPH else n
        base = baseline_of(rule.metric, {**params, "seed": seed}, m, d, hygiene.QUERY_OUTPUTS.get(rule.metric))
        exact = params.get("exact", True) is not False
    compared = value - base if rule.against == "excess" and base is not None else value
    verdict = rule.verdict(compared)
    return {
        "finding": rule.key,
        "metric": rule.metric,
        "value": float(value),
        "baseline": None if base is None else float(base),
        "compared": rule.against,
        "verdict": verdict,
        "warn": rule.warn,
        "fail": rule.fail,
        "bad": rule.bad,
        "exact": exact,
        "meaning": rule.meaning,
        "causes": rule.causes,
        "try": rule.remedy,
        "sample_ids": list(params.get("sample_ids") or params.get("largest_group") or []),
        "scale": rule.scale,
    }


def _findings(results, rules: Mapping[str, Rule], n: int, d: int, seed: int, queries: bool) -> list[dict]:
    out = []
    for rule in rules.values():
        if rule.needs == "queries" and not queries:
            continue
        f = _finding(rule, results, n, d, seed)
        if f is not None:
            out.append(f)
    return out


def _name_rows(findings: list[dict], ids: Sequence[Any] | None, query_ids: Sequence[Any] | None) -> None:
    """Sample ids as the files name the rows (row numbers when no ids were given): query rows for
    ood_queries, corpus rows otherwise."""
    for f in findings:
        names = query_ids if f["finding"] == "ood_queries" else ids
        if names is not None:
            f["sample_ids"] = [str(names[i]) for i in f["sample_ids"]]


def load_thresholds(path: str | Path) -> dict[str, Any]:
    """A TOML file of overrides, one table per finding: ``[hubness]\\nwarn = 2.5\\nfail = 5``."""
    import tomllib

    from embeval.errors import InputError
    from embeval.io.paths import require_file

    p = Path(path)
    require_file(p, what="thresholds file")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(str(p), f"not valid TOML ({exc})") from None


def _ids_of(ids: Sequence[Any] | None, n: int) -> np.ndarray:
    return np.arange(n).astype(str) if ids is None else np.asarray([str(i) for i in ids])


def audit_arrays(
    x: Any,
    *,
    queries: Any = None,
    qrels: Mapping[str, Mapping[str, float]] | None = None,
    ids: Sequence[Any] | None = None,
    query_ids: Sequence[Any] | None = None,
    k: int = 10,
    near_dup: float = 0.99,
    thresholds: Mapping[str, Any] | None = None,
    fail_on: str = FAIL,
    tries: Sequence[str] = (),
    metric: str = "cosine",
    clusters: int = 8,
    seed: int = 0,
    compute: ComputeContext = CPU_COMPUTE,
    progress: Progress = NULL,
    inputs: dict | None = None,
) -> Report:
    """Audit ``x`` (n×d). ``queries`` (m×d) adds the query-side findings; with ``qrels``
    (``{query_id: {doc_id: grade}}``, ids from ``query_ids``/``ids``, default row numbers) the
    remedies in ``tries`` are scored by retrieval (nDCG@10, paired bootstrap CI, sign-flip p), the
    "before" scored as the user's index does (``metric``: cosine, or ip on the raw vectors).
    ``thresholds`` overrides levels (see :func:`embeval.diagnostics.audit_rules.with_overrides`).
    ``fail_on``: the verdict (warn or fail) at which a finding fails the report's gates."""
    if metric not in ("cosine", "ip"):
        raise UsageError(f"`metric` must be cosine or ip (the index's similarity), got {metric!r}")
    if fail_on not in (WARN, FAIL):
        raise UsageError(f"`fail_on` must be warn or fail, got {fail_on!r}")
    if not 0 < near_dup <= 1:
        raise UsageError(f"`near_dup` must be in (0, 1], got {near_dup}")
    unknown = [t for t in tries if t not in TRIES]
    if unknown:
        raise UsageError(f"`tries`: unknown remedy {unknown[0]!r}; known: {', '.join(TRIES)}")
    rules = with_overrides(thresholds)
    x = _float32(x, "x")
    n, d = x.shape
    k = check_k(k, n)
    q = None
    if queries is not None:
        q = _float32(queries, "queries")
        if q.shape[1] != d:
            raise UsageError(f"`queries` are {q.shape[1]}-d but the corpus is {d}-d")
    if qrels is not None and q is None:
        raise UsageError("`qrels` needs `queries`")
    backend = compute.backend(rows=n)  # auto: a GPU for large n when there is one
    device = backend.device
    opts: dict[str, Any] = dict(
        k=k, tau=near_dup, seed=seed, backend=backend, device=device, budget=compute.budget, exact=compute.exact
    )
    results, space, notes = _measure(x, q, progress=progress, **opts)
    findings = _findings(results, rules, n, d, seed, q is not None)
    _name_rows(findings, ids, query_ids)
    report = Report(
        "audit",
        inputs=inputs or {"embeddings": {"n": n, "d": d}},
        settings={"k": k, "near_dup": near_dup, "seed": seed, "fail_on": fail_on, "device": device, "metric": metric},
        results=results,
        notes=notes,
    )
    report.settings["thresholds"] = {r.key: {"warn": r.warn, "fail": r.fail} for r in rules.values()}
    worst = max((LEVELS.index(f["verdict"]) for f in findings), default=0)
    audit: dict[str, Any] = {"findings": findings, "verdict": LEVELS[worst]}
    if clusters:
        _, idx = space.knn_rows(k)[1:]
        occ = np.bincount(idx.ravel(), minlength=n).astype(np.float64)
        audit["clusters"] = hygiene.cluster_map(space.unit, occ, clusters, seed)
        if ids is not None:
            for c in audit["clusters"]:
                c["sample_ids"] = [str(ids[i]) for i in c["sample_ids"]]
    if tries:
        audit["remedies"] = try_remedies(
            x,
            q,
            qrels,
            _ids_of(ids, n),
            _ids_of(query_ids, 0 if q is None else len(q)),
            tries,
            findings,
            rules=rules,
            space=space,
            report=report,
            findings_of=lambda xt, qt: _findings(
                _measure(xt, qt, progress=progress, **opts)[0], rules, n, xt.shape[1], seed, qt is not None
            ),
            k=k,
            seed=seed,
            backend=backend,
            metric=metric,
        )
    report.series["audit"] = audit
    level = LEVELS.index(fail_on)
    for f in findings:
        bad = LEVELS.index(f["verdict"]) >= level
        report.gates.append(
            GateResult(
                f"audit:{f['finding']}",
                f["value"],
                not bad,
                f"{f['finding']}: {f['verdict']} ({f['metric']} {f['value']:.4g})" if bad else "",
                f["fail"] if f["verdict"] == FAIL else f["warn"],
            )
        )
    if worst == LEVELS.index(OK):
        report.notes.append("every finding ok")
    return report


def audit_report(
    file: str | Path,
    *,
    queries: str | Path | None = None,
    qrels: str | Path | None = None,
    thresholds: str | Path | Mapping[str, Any] | None = None,
    id_col: str = "id",
    vector_col: str = "embedding",
    progress: Progress = NULL,
    **options: Any,
) -> Report:
    """``embeval audit FILE [--queries Q] [--qrels QRELS]``: load, then :func:`audit_arrays`."""
    from embeval.api.common import load_input
    from embeval.io.qrels import load_qrels

    if qrels is not None and queries is None:
        raise UsageError("`qrels` needs `queries`")
    over = load_thresholds(thresholds) if isinstance(thresholds, (str, Path)) else thresholds
    qr = load_qrels(qrels) if qrels is not None else None
    emb = load_input(file, id_col=id_col, vector_col=vector_col, progress=progress)
    inputs = {"embeddings": emb.describe()}
    qv = qids = None
    if queries is not None:
        qe = load_input(queries, id_col=id_col, vector_col=vector_col, progress=progress)
        inputs["queries"] = qe.describe()
        qv, qids = qe.vectors, list(qe.ids)
    if qrels is not None:
        inputs["qrels"] = {"path": str(qrels), "queries": len(qr or {})}
    report = audit_arrays(
        emb.vectors,
        queries=qv,
        qrels=qr,
        ids=list(emb.ids),
        query_ids=qids,
        thresholds=over,
        progress=progress,
        inputs=inputs,
        **options,
    )
    if isinstance(thresholds, (str, Path)):
        report.settings["thresholds_file"] = str(thresholds)
    return report


__all__ = ["TRIES", "AffineMap", "audit_arrays", "audit_report", "load_thresholds"]

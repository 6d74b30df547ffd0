"""The MCP tools: one entry per tool in :data:`TOOLS`, each a function over files the user names.

A tool returns text: a one-line summary, then the same JSON report the command line writes with
``--format json``. Tools are read-only: they write no file (no ``--output``, ``--plot``, ``--roc``).
Every path argument is checked by :func:`guard` before anything is read: it must lie under one of
the root folders the server was started with, after symbolic links are resolved.

To add a tool (``audit``, ``diff``, ``sweep_index``, ``sweep_compress``, ...): write a function with
typed keyword parameters (str, int, float, bool, list[str]) returning a report dict, and append one
``Tool(name, description, function, paths=(...))`` to :data:`TOOLS`.
"""

from __future__ import annotations

import glob
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeval.errors import UsageError


class PathRefused(UsageError):
    """A tool was given a path outside the server's root folders."""


@dataclass(frozen=True)
class Tool:
    """One MCP tool: ``function(**arguments) -> report dict``; ``paths``: the parameters that name
    files or folders (a ``list[str]`` parameter: each element), checked by :func:`guard`."""

    name: str
    description: str
    function: Callable[..., dict]
    paths: tuple[str, ...] = ()


def resolve_roots(roots: Sequence[str | Path]) -> list[Path]:
    """The root folders, absolute with symbolic links resolved; each must be an existing folder."""
    out = []
    for r in roots:
        p = Path(r).expanduser().resolve()
        if not p.is_dir():
            raise UsageError(f"`root` {str(r)!r}: not a folder")
        out.append(p)
    if not out:
        raise UsageError("`root`: give at least one folder")
    return out


def _inside(p: Path, roots: Sequence[Path]) -> bool:
    return any(p == r or p.is_relative_to(r) for r in roots)


def guard(value: str, roots: Sequence[Path]) -> str:
    """``value`` as an absolute path with links resolved, if it lies under one of ``roots``; a
    relative path is taken relative to the first root. A glob (shards) is checked match by match.
    Anything else (a path outside, a URI, a link pointing out) raises :class:`PathRefused`."""
    text = str(value)
    if "://" in text:
        raise PathRefused(f"{text!r}: only files under the server's root folders are allowed, not URIs")
    p = Path(text).expanduser()
    if not p.is_absolute():
        p = roots[0] / p
    shown = ", ".join(str(r) for r in roots)
    if any(c in text for c in "*?["):
        matches = [Path(m) for m in glob.glob(str(p))]
        if not _inside(Path(p.anchor).joinpath(*p.parts[1:]).parent.resolve(), roots) or not all(
            _inside(m.resolve(), roots) for m in matches
        ):
            raise PathRefused(f"{text!r} is outside the allowed folders ({shown})")
        return str(p)
    real = p.resolve()
    if not _inside(real, roots):
        raise PathRefused(f"{text!r} is outside the allowed folders ({shown})")
    return str(real)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def summary(name: str, report: dict, shown: int = 6) -> str:
    """One line: the tool, its first results, and the gates' verdict."""
    if "results" in report:
        rows = report["results"]
        parts = [f"{r['metric']}={_fmt(r['value'])}" for r in rows[:shown]]
        more = f" (+{len(rows) - shown} more)" if len(rows) > shown else ""
        gates = report.get("gates") or []
        verdict = "" if not gates else ("; gates passed" if report.get("passed") else "; a gate FAILED")
        return f"{name}: {len(rows)} results: {', '.join(parts)}{more}{verdict}"
    if "rows" in report or "systems" in report:
        n = len(report.get("rows") or report.get("metrics") or [])
        return f"{name}: {n} metrics compared; {'passed' if report.get('passed', True) else 'a gate FAILED'}"
    if isinstance(report.get("outputs"), list):
        return f"{name}: {len(report['outputs'])} outputs"
    return f"{name}: done"


def _metrics_arg(metrics: str) -> str | None:
    return metrics or None


def geometry(
    path: str, metrics: str = "", labels: str = "", label_col: str = "", sample: int = 0, seed: int = 0
) -> dict:
    """Geometry of one embedding file: uniformity, anisotropy, effective rank, hubness, intrinsic
    dimension; with labels (a label file, or a column of the embeddings file) the label metrics."""
    import embeval

    kw: dict[str, Any] = {}
    if label_col:
        kw["label_col"] = label_col
    rep = embeval.geometry(path, metrics=_metrics_arg(metrics), labels=labels or None, sample=sample, seed=seed, **kw)
    return rep.to_dict()


def retrieval(queries: str, corpus: str, qrels: str, k: str = "1,10,100", index: str = "flat", seed: int = 0) -> dict:
    """Retrieval quality of query vectors against corpus vectors with qrels (BEIR TSV or TREC):
    nDCG, MAP, recall, precision, MRR at each k, retrieval AUCs, score separation."""
    import embeval

    return embeval.retrieval(queries, corpus, qrels, k=k, index=index, seed=seed).to_dict()


def gap(a: str, b: str, metrics: str = "", drift: bool = False, paired: bool = False, seed: int = 0) -> dict:
    """Gap between two embedding sets A and B (modality gap, separability, mixing); with
    drift=true the two-sample tests: mmd2 with its permutation p-value drift_p, and c2st_auc with c2st_p."""
    import embeval

    return embeval.gap(a, b, metrics=_metrics_arg(metrics), paired=paired, drift=drift, seed=seed).to_dict()


def compare(reports: list[str], fail_if_regress: list[str] | None = None, metrics: str = "", seed: int = 0) -> dict:
    """Compare JSON reports (the first is the baseline) metric by metric, with paired tests over
    queries when per-query values exist; three or more reports are ranked."""
    import embeval

    if len(reports) < 2:
        raise UsageError("`reports`: give at least two report files (the first is the baseline)")
    comp = embeval.compare(*reports, fail_if_regress=fail_if_regress or None, metrics=_metrics_arg(metrics), seed=seed)
    return comp.to_dict()


def metrics(family: str = "") -> dict:
    """Every diagnostic's outputs: name, family, direction (higher/lower/none), definition."""
    from embeval.diagnostics import all_diagnostics, families

    diags = all_diagnostics(family or None)
    if not diags:
        raise UsageError(f"unknown family {family!r}; choose one of {', '.join(families())}")
    rows = [
        {
            "name": o.name,
            "family": d.family,
            "diagnostic": d.name,
            "direction": o.direction,
            "identity": list(o.identity),
            "description": o.description,
        }
        for d in diags
        for o in d.outputs
    ]
    return {"outputs": rows}


def audit(path: str, queries: str = "", qrels: str = "", tries: str = "", budget: float = 120.0, seed: int = 0) -> dict:
    """Audit an embedding space for search: per finding (anisotropy, effective rank, hubness,
    near-duplicates, outliers, rogue dimensions, norms, cosine vs inner product, islands, and with
    queries out-of-distribution queries and query hubness) the value, the isotropic baseline for
    this n and d, a verdict ok/warn/fail with the thresholds used, what it means, causes and what to
    try. tries="center,whiten,abtt,csls" measures each remedy (with queries and qrels: nDCG@10
    before/after with a paired CI)."""
    import embeval

    tr = [t for t in tries.split(",") if t.strip()] if tries else []
    rep = embeval.audit(path, queries=queries or None, qrels=qrels or None, tries=tr, seed=seed, budget=budget)
    return rep.to_dict()


def diff(
    old: str,
    new: str,
    queries_old: str = "",
    queries_new: str = "",
    qrels: str = "",
    metrics: str = "",
    seed: int = 0,
) -> dict:
    """Re-embed or not: what changes between two embeddings of the same items (matched by id):
    linear and debiased CKA, kNN overlap per item, with queries their top-k overlap and RBO, with
    qrels each side's IR metrics and the paired change, the old threshold on the new scores, and
    NEW->OLD bridge maps (Procrustes, ridge) with held-out retention."""
    import embeval

    rep = embeval.diff(
        old,
        new,
        queries_old=queries_old or None,
        queries_new=queries_new or None,
        qrels=qrels or None,
        metrics=_metrics_arg(metrics),
        seed=seed,
    )
    return rep.to_dict()


def sweep_index(
    corpus: str, queries: str = "", qrels: str = "", k: int = 10, target_recall: float = 0.95, budget: float = 600.0
) -> dict:
    """FAISS index sweep (HNSW, IVF-Flat, IVF-PQ) against exact top-k on these vectors: recall@k
    with a 95% CI, queries/s, build time, memory, the Pareto front and the fastest setting that
    reaches target_recall."""
    import embeval

    rep = embeval.sweep_index(corpus, queries or None, qrels or None, k=k, target_recall=target_recall, budget=budget)
    return rep.to_dict()


def sweep_compress(
    corpus: str,
    queries: str = "",
    qrels: str = "",
    quant: str = "fp16,int8,binary",
    dims: str = "",
    rescore: str = "0,4",
) -> dict:
    """Compression sweep: float32 vs fp16, int8, binary (with and without rescoring) and Matryoshka
    truncation to dims; retention of each IR metric with a paired CI (with qrels) or recall of the
    float32 neighbours, bytes per vector, search time."""
    import embeval

    rep = embeval.sweep_compress(
        corpus, queries or None, qrels or None, quant=quant, dims=dims or None, rescore=rescore
    )
    return rep.to_dict()


TOOLS: list[Tool] = [
    Tool("geometry", geometry.__doc__ or "", geometry, paths=("path", "labels")),
    Tool("retrieval", retrieval.__doc__ or "", retrieval, paths=("queries", "corpus", "qrels")),
    Tool("gap", gap.__doc__ or "", gap, paths=("a", "b")),
    Tool("compare", compare.__doc__ or "", compare, paths=("reports",)),
    Tool("metrics", metrics.__doc__ or "", metrics),
    Tool("audit", audit.__doc__ or "", audit, paths=("path", "queries", "qrels")),
    Tool("diff", diff.__doc__ or "", diff, paths=("old", "new", "queries_old", "queries_new", "qrels")),
    Tool("sweep_index", sweep_index.__doc__ or "", sweep_index, paths=("corpus", "queries", "qrels")),
    Tool("sweep_compress", sweep_compress.__doc__ or "", sweep_compress, paths=("corpus", "queries", "qrels")),
]


def call(tool: Tool, roots: Sequence[Path], arguments: dict[str, Any]) -> str:
    """Check ``arguments``' paths against ``roots``, run the tool, and return the summary line
    followed by the JSON report."""
    from embeval.results import dumps

    args = dict(arguments)
    for name in tool.paths:
        value = args.get(name)
        if value in (None, ""):
            continue
        args[name] = [guard(v, roots) for v in value] if isinstance(value, list) else guard(value, roots)
    report = tool.function(**args)
    return summary(tool.name, report) + "\n" + dumps(report, indent=2, ensure_ascii=False)

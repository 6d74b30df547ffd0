"""``embeval diff OLD NEW``: what changes between two embeddings of the same items, and whether a
linear map can bridge them (the maths: :mod:`embeval.diagnostics.diff`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embeval.api.common import note_fallback, records_cache, resolve_metrics, run_diagnostic
from embeval.compute.context import DEFAULT_COMPUTE, ComputeContext
from embeval.diagnostics.diff import DiffSpace
from embeval.errors import InputError, UsageError
from embeval.io.embeddings import EmbeddingSet, load_embeddings
from embeval.io.qrels import Qrels
from embeval.progress import NULL, Progress
from embeval.results import Report

SHOW_IDS = 5  # ids named in the note about ids present on one side only
MOVED_SHOWN = 20  # most-moved items listed in the report (all of them go to --items)
KNN_SAMPLE_MIN = 1000  # the estimated kNN overlap never compares fewer items than this
BRIDGE_HOLDOUT_MIN = 200  # nor does the bridge hold out fewer items than this to fit the budget


def match_ids(old: EmbeddingSet, new: EmbeddingSet) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Rows of OLD and NEW holding the same ids (in OLD's order), and the ids present on one side only."""
    for s, name in ((old, "OLD"), (new, "NEW")):
        if len(set(s.ids.tolist())) != s.n:
            raise InputError(s.path, f"{name} has repeated ids; `diff` matches the two sides by id")
    pos_new = {str(i): r for r, i in enumerate(new.ids.tolist())}
    rows_old, rows_new, only_old = [], [], []
    for r, i in enumerate(old.ids.tolist()):
        j = pos_new.get(str(i))
        if j is None:
            only_old.append(str(i))
        else:
            rows_old.append(r)
            rows_new.append(j)
    seen = {str(i) for i in old.ids.tolist()}
    only_new = [str(i) for i in new.ids.tolist() if str(i) not in seen]
    return np.asarray(rows_old, dtype=np.int64), np.asarray(rows_new, dtype=np.int64), only_old, only_new


def _one_side_note(what: str, only_old: list[str], only_new: list[str]) -> str | None:
    parts = []
    for side, ids in (("OLD", only_old), ("NEW", only_new)):
        if ids:
            shown = ", ".join(ids[:SHOW_IDS]) + (", …" if len(ids) > SHOW_IDS else "")
            parts.append(f"{len(ids):,} {what} only in {side} ({shown})")
    return ("left out: " + "; ".join(parts)) if parts else None


def _filter_qrels(qrels: Qrels, query_ids: set[str], doc_ids: set[str]) -> tuple[Qrels, int]:
    """Judgements of matched queries on matched items; the number dropped."""
    out: Qrels = {}
    dropped = 0
    for q, docs in qrels.items():
        if str(q) not in query_ids:
            dropped += len(docs)
            continue
        keep = {d: g for d, g in docs.items() if str(d) in doc_ids}
        dropped += len(docs) - len(keep)
        if any(g > 0 for g in keep.values()):
            out[str(q)] = keep
        else:
            dropped += len(keep)
    return out, dropped


def _knn_sample(n: int, d: int, budget: float | None, exact: bool, backend) -> tuple[int | None, float | None]:
    """Items whose neighbourhoods are compared (None: all) and the estimated seconds of the exact
    form: two exact kNN passes over n² pairs."""
    from embeval.compute.drivers import estimate_seconds

    if n <= KNN_SAMPLE_MIN:
        return None, None
    est = estimate_seconds("topk", 2.0 * n * n, d, backend)
    if exact or budget is None or est <= budget:
        return None, est
    per_item = est / n
    return max(KNN_SAMPLE_MIN, min(n, int(budget / per_item))), est


def _check(queries_old, queries_new, qrels, metrics, *, seed, k, calibration):
    """Usage errors before any work; the chosen diagnostics."""
    from embeval.options import check_options

    check_options(seed=seed, k=k)
    if calibration is not None and calibration < 2:
        raise UsageError(f"`calibration` {calibration}: must be at least 2")
    if (queries_old is None) != (queries_new is None):
        raise UsageError("pass both `queries_old` and `queries_new` (the same queries embedded by each side)")
    if qrels is not None and queries_old is None:
        raise UsageError("`qrels` needs `queries_old` and `queries_new`")
    available = {"queries"} if queries_old is not None else set()
    if qrels is not None:
        available.add("qrels")
    return resolve_metrics(
        metrics,
        "diff",
        available,
        hints={"queries": "pass `queries_old` and `queries_new`", "qrels": "pass `qrels` with the queries"},
    )


def _match_queries(old, new, queries_old, queries_new, qrels, ids, notes):
    """(OLD query rows, NEW query rows, aligned qrels or None, number of matched queries)."""
    qr_old, qr_new, qo, qn = match_ids(queries_old, queries_new)
    if len(qr_old) == 0:
        raise InputError(queries_new.path, "no query id is in both query sets")
    if queries_old.d != old.d or queries_new.d != new.d:
        raise UsageError(
            f"queries must have their side's dimension: OLD {old.d} vs queries {queries_old.d}, "
            f"NEW {new.d} vs queries {queries_new.d}"
        )
    qids = [str(i) for i in queries_old.ids[qr_old].tolist()]
    note = _one_side_note("queries", qo, qn)
    if note:
        notes.append(note)
    aligned = None
    if qrels is not None:
        from embeval.diagnostics.qrels import align_qrels

        doc_ids = [str(i) for i in ids.tolist()]
        kept, dropped = _filter_qrels(qrels, set(qids), set(doc_ids))
        if not kept:
            raise InputError("qrels", "no judged query has a relevant item present on both sides")
        if dropped:
            notes.append(f"{dropped:,} judgements left out (their query or item is not on both sides)")
        aligned = align_qrels(kept, qids, doc_ids)
    return queries_old.vectors[qr_old], queries_new.vectors[qr_new], aligned, len(qids)


def _bridge_holdout(n: int, d: int, budget: float | None, exact: bool, backend, evals: int = 12) -> int | None:
    """Held-out items of the bridge when its searches (each held-out item against all n OLD items,
    once per calibration size and map kind: about ``evals`` passes) would exceed the budget; None:
    the diagnostic's default."""
    from embeval.compute.drivers import estimate_seconds

    if exact or budget is None:
        return None
    per_item = estimate_seconds("topk", float(n) * evals, d, backend)
    fit = int(budget / max(per_item, 1e-12))
    return max(BRIDGE_HOLDOUT_MIN, fit) if fit < 1000 else None


@records_cache
def diff_report_from_sets(
    old: EmbeddingSet,
    new: EmbeddingSet,
    *,
    queries_old: EmbeddingSet | None = None,
    queries_new: EmbeddingSet | None = None,
    qrels: Qrels | None = None,
    qrels_info: dict[str, Any] | None = None,
    texts: dict[str, str] | None = None,
    metrics: list[str] | None = None,
    k: int | None = None,
    calibration: int | None = None,
    drift: bool = True,
    seed: int = 0,
    progress: Progress = NULL,
    compute: ComputeContext = DEFAULT_COMPUTE,
) -> Report:
    """The diff of two loaded embedding sets of the same items (matched by id; dims may differ).

    ``queries_old``/``queries_new``: the same queries embedded by each side (matched by id) add
    query_overlap/rbo; with ``qrels`` also retrieval_change, score_scale and the bridge's retention.
    ``metrics``: diff diagnostics to run (``knn_overlap(k=20)``, ``bridge(calibration=500)``); default
    all that the inputs allow. ``k`` and ``calibration`` override those parameters everywhere.
    ``drift`` (equal dims only): the drift family's MMD test between the two sides.
    Above ``compute.budget`` seconds of estimated kNN work the overlap is estimated on a seeded subset
    of items (``exact: false`` in its params), neighbours still exact among all n, unless
    ``compute.exact``; the kNN work runs on ``compute.device``.
    ``texts``: id → text, shown in the per-item table (``report.artifacts["diff_items"]``).
    ``report.artifacts["maps"]``: the fitted NEW → OLD maps (``W`` d_new×d_old, ``b``, ``kind``).
    """
    chosen = _check(queries_old, queries_new, qrels, metrics, seed=seed, k=k, calibration=calibration)
    budget, exact = compute.budget, compute.exact
    rows_old, rows_new, only_old, only_new = match_ids(old, new)
    if len(rows_old) < 5:
        raise InputError(new.path, f"only {len(rows_old)} ids are in both OLD and NEW; `diff` needs at least 5")
    ids = old.ids[rows_old]
    notes: list[str] = []
    note = _one_side_note("items", only_old, only_new)
    if note:
        notes.append(note)
    q_old = q_new = None
    aligned = None
    n_queries = 0
    if queries_old is not None and queries_new is not None:
        q_old, q_new, aligned, n_queries = _match_queries(old, new, queries_old, queries_new, qrels, ids, notes)

    n = len(rows_old)
    backend = compute.backend(rows=2 * n)
    sample, est = _knn_sample(n, max(old.d, new.d), budget, exact, backend)
    from embeval.stats.paired import paired_test

    space = DiffSpace.build(
        old.vectors[rows_old],
        new.vectors[rows_new],
        queries_old=q_old,
        queries_new=q_new,
        aligned=aligned,
        seed=seed,
        sample=sample,
        backend=backend,
        progress=progress,
        paired=paired_test,
    )
    report = Report(
        "diff",
        inputs={"old": _describe(old), "new": _describe(new)},
        settings={
            "seed": seed,
            "normalized": True,
            "matched": n,
            "only_old": len(only_old),
            "only_new": len(only_new),
            "d_old": old.d,
            "d_new": new.d,
        },
    )
    if queries_old is not None and queries_new is not None:
        report.inputs["queries_old"] = _describe(queries_old)
        report.inputs["queries_new"] = _describe(queries_new)
        report.settings["queries_matched"] = n_queries
    if qrels_info:
        report.inputs["qrels"] = qrels_info
    if est is not None:
        report.settings["estimate_s"] = round(est, 3)
        report.settings["budget_s"] = budget
    if sample is not None:
        plan = (
            f"estimated exact kNN work {est:.3g} s > budget {budget:.3g} s: kNN overlap on a seeded subset of "
            f"{sample:,} of {n:,} items (neighbours exact among all items); --exact for all"
        )
        notes.append(plan)
        progress.note(plan)
    note_fallback(report, compute, notes)

    overrides: dict[str, Any] = {"k": k, "calibration": calibration}
    holdout = _bridge_holdout(n, max(old.d, new.d), budget, exact, backend)
    if holdout is not None and any(d.name == "bridge" for d, _ in chosen):
        overrides["holdout"] = holdout
        notes.append(f"bridge: {holdout:,} held-out items (fewer than the default 1,000) to fit the budget")
    for diag, params in chosen:
        given = {p: v for p, v in overrides.items() if v is not None and p in diag.params}
        if "holdout" in given:  # the budget only lowers it
            given["holdout"] = min(given["holdout"], params["holdout"])
        params = {**params, **given}
        report.results.extend(run_diagnostic(diag, space, params, explicit=bool(metrics), notes=report.notes))

    if drift and space.same_dim and not metrics:
        _add_drift(report, space, seed)
    report.notes.extend(notes)
    _finish(report, space, ids, texts, old)
    return report


def _finish(report: Report, space: DiffSpace, ids: np.ndarray, texts, old: EmbeddingSet) -> None:
    report.per_query.extend(space.per_query_rows)
    report.notes.append("rows L2-normalised on both sides before every diagnostic (cosine geometry)")
    _series(report, space)
    if space.maps:
        report.artifacts["maps"] = space.maps
    if texts is None and old.texts is not None:
        texts = {str(i): t for i, t in zip(old.ids.tolist(), old.texts)}
    items_table = diff_items(space, ids, texts)
    if items_table is not None:
        report.artifacts["diff_items"] = items_table
        c = items_table.columns
        metric = next(k for k in c if k.startswith("knn_overlap@"))
        rows = range(min(MOVED_SHOWN, items_table.n))
        report.series["diff_moved"] = {
            "metric": metric,
            "rows": [
                {
                    "id": str(c["id"][r]),
                    "text": str(c["text"][r])[:200] if "text" in c else "",
                    "value": float(c[metric][r]),
                    "old": str(c["old_neighbours"][r]).split()[:5],
                    "new": str(c["new_neighbours"][r]).split()[:5],
                }
                for r in rows
            ],
        }


def _describe(s: EmbeddingSet) -> dict[str, Any]:
    """The input's description; a set built in memory (no file behind it) gives its size only."""
    if Path(s.path).exists() or "source" in s.info or "shards" in s.info:
        return s.describe()
    return {"path": s.path, "n": s.n, "d": s.d, **s.info}


def _add_drift(report: Report, space: DiffSpace, seed: int) -> None:
    from embeval.diagnostics.gap import GapSpace
    from embeval.diagnostics.registry import get

    gs = GapSpace.build(space.old, space.new, paired=False, seed=seed)
    diag = get("mmd", "drift")
    report.results.extend(run_diagnostic(diag, gs, diag.defaults(), explicit=False, notes=report.notes))
    report.notes.append(
        "drift_p: permutation p-value of the unbiased MMD² of OLD vs NEW coordinates (equal dims only): meaningful when"
        " both share a coordinate system (a fine-tuned or quantised model); a rotation, same geometry, is drift to it"
    )


def _series(report: Report, space: DiffSpace) -> None:
    from embeval.diagnostics.series import diff_series

    report.series.update(diff_series(space))


def diff_items(space: DiffSpace, ids: np.ndarray, texts: dict[str, str] | None):
    """The per-item table of the compared items (worst first), or None when kNN overlap was not run."""
    from embeval.diagnostics.diff import DiffItems

    key = next((k for k in space.per_item if k.startswith("knn_overlap@")), None)
    if key is None:
        return None
    k = int(key.split("@")[1])
    rows = space.rows()
    jac = space.per_item[key]
    old_nn, new_nn = space.knn("old", k), space.knn("new", k)
    order = np.lexsort((rows, jac))
    cols: dict[str, Any] = {"id": ids[rows][order].astype(str)}
    if texts:
        cols["text"] = np.asarray([texts.get(str(i), "") for i in cols["id"]], dtype=object)
    cols[key] = jac[order]
    cols["old_neighbours"] = np.asarray([" ".join(ids[old_nn[r]].astype(str)) for r in order], dtype=object)
    cols["new_neighbours"] = np.asarray([" ".join(ids[new_nn[r]].astype(str)) for r in order], dtype=object)
    return DiffItems(cols, {"k": k, "order": "knn overlap ascending (most moved first)"})


def load_texts_by_id(path: str | Path, text_col: str = "text", id_col: str = "id") -> dict[str, str]:
    from embeval.io.texts import load_texts

    if str(path).lower().endswith(".jsonl") and Path(path).is_file():
        import json

        with open(path, encoding="utf-8") as f:
            first = f.readline()
        try:
            keys = json.loads(first) if first.strip() else {}
        except ValueError:
            keys = {}
        if isinstance(keys, dict) and id_col not in keys and "_id" in keys:
            id_col = "_id"  # a BEIR corpus file
    ts = load_texts(path, text_col=text_col, id_col=id_col)
    return {str(i): t for i, t in zip(ts.ids, ts.texts)}


def diff_report(
    old: str | Path | EmbeddingSet,
    new: str | Path | EmbeddingSet,
    *,
    queries_old: str | Path | EmbeddingSet | None = None,
    queries_new: str | Path | EmbeddingSet | None = None,
    qrels: str | Path | Qrels | None = None,
    texts: str | Path | Mapping[str, str] | Sequence[str] | None = None,
    id_col: str = "id",
    vector_col: str = "embedding",
    text_col: str = "text",
    progress: Progress = NULL,
    **kwargs: Any,
) -> Report:
    """:func:`diff_report_from_sets` on files (any format or source embeval reads) or on data loaded
    at the edge (EmbeddingSets; qrels as ``{query_id: {doc_id: grade}}``). ``texts``: a text file
    (or BEIR folder), an id → text mapping, or texts aligned with OLD's rows, shown by id in the
    per-item table."""
    if (queries_old is None) != (queries_new is None):
        raise UsageError("pass both `queries_old` and `queries_new` (the same queries embedded by each side)")
    if qrels is not None and queries_old is None:
        raise UsageError("`qrels` needs `queries_old` and `queries_new`")
    load: dict[str, Any] = {"id_col": id_col, "vector_col": vector_col, "progress": progress}

    def side(x: Any, min_rows: int = 2) -> EmbeddingSet:
        return x if isinstance(x, EmbeddingSet) else load_embeddings(x, min_rows=min_rows, **load)

    set_old, set_new = side(old), side(new)
    qo = qn = None
    if queries_old is not None and queries_new is not None:
        qo, qn = side(queries_old, 1), side(queries_new, 1)
    q, info = _qrels(qrels)
    text_map = None
    if isinstance(texts, (str, Path)):
        text_map = load_texts_by_id(texts, text_col=text_col, id_col=id_col)
    elif isinstance(texts, Mapping):
        text_map = {str(i): str(t) for i, t in texts.items()}
    elif texts is not None:
        text_map = {str(i): str(t) for i, t in zip(set_old.ids, list(texts))}
    return diff_report_from_sets(
        set_old,
        set_new,
        queries_old=qo,
        queries_new=qn,
        qrels=q,
        qrels_info=info,
        texts=text_map,
        progress=progress,
        **kwargs,
    )


def _qrels(qrels: str | Path | Qrels | None) -> tuple[Qrels | None, dict[str, Any] | None]:
    """Qrels from a file or a mapping given in memory, and their entry among the report's inputs."""
    if qrels is None:
        return None, None
    from embeval.io.qrels import load_qrels, qrels_in_memory

    if isinstance(qrels, (str, Path)):
        from embeval.io.fileinfo import file_info

        q = load_qrels(qrels)
        where: dict[str, Any] = file_info(qrels)
    else:
        q = qrels_in_memory(qrels)
        where = {"path": "<qrels dict>"}
    return q, {**where, "queries": len(q), "judgements": sum(len(v) for v in q.values())}


def best_map(report, maps: dict) -> str:
    """The map kind with the highest held-out bridge_top1 (then overlap) at its calibration size."""

    def score(kind: str) -> tuple[float, float]:
        size = maps[kind]["calibration"]
        vals = [
            next((r.value for r in report.find(m, {"map": kind, "calibration": size})), float("-inf"))
            for m in (
                "bridge_top1",
                next((r.metric for r in report.results if r.metric.startswith("bridge_overlap")), ""),
            )
        ]
        return vals[0], vals[1]

    return max(sorted(maps), key=score)

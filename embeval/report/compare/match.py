"""Matching two reports result by result, with paired tests over shared per-query values."""

from __future__ import annotations

import math

from embeval.diagnostics.registry import key_params
from embeval.errors import UsageError
from embeval.report.compare.load import Side
from embeval.report.compare.model import PairComparison, Row
from embeval.report.compare.regress import evaluate
from embeval.report.gates import RegressGate
from embeval.results import Report, params_match
from embeval.stats.paired import PairedTest


def _per_query(report: Report) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for row in report.per_query:
        out.setdefault(row["metric"], {})[str(row["query_id"])] = float(row["value"])
    return out


def _check_settings(base: Side, cur: Side, n_boot: int, confidence: float) -> None:
    if not 0 < confidence < 1:
        raise UsageError(f"`confidence` {confidence}: must be between 0 and 1")
    if n_boot < 100:
        raise UsageError(f"`n_boot` {n_boot}: use at least 100 resamples")
    if base.kind != cur.kind:
        raise UsageError(
            f"{base.path} is a {base.kind} report but {cur.path} is a {cur.kind} report; "
            "compare two reports of the same kind"
        )
    if base.kind == "single":
        (bcmd,), (ccmd,) = base.items.keys(), cur.items.keys()
        if bcmd != ccmd:
            raise UsageError(
                f"{base.path} is a {bcmd} report but {cur.path} is a {ccmd} report; compare reports of the same command"
            )


def _paired(bq: dict[str, float] | None, cq: dict[str, float] | None, **kw) -> PairedTest | None:
    """The paired test over the queries with finite values in both per-query maps (query id →
    value), when there are at least 2."""
    import numpy as np

    from embeval.stats.paired import paired_test

    if bq is None or cq is None:
        return None
    pairs = np.array([(bq[q], cq[q]) for q in bq if q in cq], dtype=np.float64).reshape(-1, 2)
    pairs = pairs[np.isfinite(pairs).all(axis=1)]
    if len(pairs) < 2:
        return None
    return paired_test(pairs[:, 0], pairs[:, 1], n_perm=kw["n_boot"], **kw)


def _match_item(comp: PairComparison, item: str, b: Report, c: Report, **test_kw) -> None:
    """One Row per baseline result (matched to the current result with the same metric and
    identifying parameters, first unused match), then one per unmatched current result."""
    bq, cq = _per_query(b), _per_query(c)
    once = {m for m in bq if sum(r.metric == m for r in b.results) == 1}  # per-query values are by name
    used: set[int] = set()
    for rb in b.results:
        j = next(
            (
                j
                for j, rc in enumerate(c.results)
                if j not in used and rc.metric == rb.metric and _same_params(rb.metric, rb.params, rc.params)
            ),
            None,
        )
        rc = None if j is None else c.results[j]
        if j is not None:
            used.add(j)
        hib = rb.higher_is_better if rb.higher_is_better is not None else (rc.higher_is_better if rc else None)
        row = Row(item, rb.metric, rb.params, _finite(rb.value), None if rc is None else _finite(rc.value), hib)
        if rc is None:
            row.verdict = "missing in current"
        else:
            row.test = _paired(bq.get(rb.metric) if rb.metric in once else None, cq.get(rb.metric), **test_kw)
        comp.rows.append(row)
    for j, rc in enumerate(c.results):
        if j not in used:
            comp.rows.append(
                Row(item, rc.metric, rc.params, None, _finite(rc.value), rc.higher_is_better, verdict="only in current")
            )


def compare(
    base: Side,
    cur: Side,
    *,
    tolerances: list[RegressGate] | None = None,
    seed: int = 0,
    n_boot: int = 10_000,
    confidence: float = 0.95,
    allow_different_data: bool = False,
) -> PairComparison:
    """Match results, run paired tests where per-query values exist in both, evaluate gates.

    Two sides computed on different data (:func:`data_differences`) are not a change: UsageError
    saying what differs, unless ``allow_different_data`` (then a note says it)."""
    _check_settings(base, cur, n_boot, confidence)
    differs = []
    for key in (k for k in base.items if k in cur.items):
        for why in data_differences(base.items[key], cur.items[key], base.info, cur.info):
            differs.append(why if base.kind == "single" else f"{key}: {why}")
    if differs and not allow_different_data:
        raise UsageError(
            f"{cur.path} and {base.path} were computed on different data ({'; '.join(differs)}), so their "
            "difference is not a change of the model; pass `allow_different_data` to compare them anyway"
        )
    comp = PairComparison(
        baseline=base.info,
        current=cur.info,
        settings={"seed": seed, "n_boot": n_boot, "n_perm": n_boot, "confidence": confidence},
    )
    if differs:
        comp.notes.append("computed on different data (compared as asked): " + "; ".join(differs))
    comp.notes += [f"{k}: only in the baseline" for k in base.items if k not in cur.items]
    comp.notes += [f"{k}: only in the current report" for k in cur.items if k not in base.items]
    for key in (k for k in base.items if k in cur.items):
        b, c = base.items[key], cur.items[key]
        item = "" if base.kind == "single" else key
        _note_differences(comp, item or key, b, c)
        _match_item(comp, item, b, c, n_boot=n_boot, confidence=confidence, seed=seed)
    evaluate(comp, tolerances or [])
    for row in comp.rows:
        row.verdict = row.verdict or _verdict(row)
    return comp


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _same_params(metric: str, a: dict, b: dict) -> bool:
    """Same identifying parameters (descriptive ones, like counts, may differ)."""
    a, b = key_params(metric, a), key_params(metric, b)
    return set(a) == set(b) and params_match(a, b)


def _evaluated_queries(r: Report) -> int | None:
    """How many queries the ranking metrics were averaged over (their ``n``), if recorded."""
    ns = {x.n for x in r.results if "@" in x.metric and x.n}
    return max(ns) if ns else None


def data_differences(b: Report, c: Report, b_info: dict, c_info: dict) -> list[str]:
    """Why two reports may not have been computed on the same data: different numbers of rows of
    the same input role (queries, corpus, ...), other relevance judgements (qrels sha256), another
    split, another number of evaluated queries; for an MTEB result, a ``dataset_revision`` that is
    not the other side's data digest (:func:`embeval.io.mteb.data_revision`). Vector files may
    differ in content (another model on the same data is what compare is for); their row counts may
    not. Empty: nothing shows a difference."""
    from embeval.io.mteb import data_revision

    out: list[str] = []
    mb, mc = b_info.get("format") == "mteb", c_info.get("format") == "mteb"
    if mb or mc:
        if mb and mc:
            for key in ("task", "split", "subset", "dataset_revision"):
                if b_info.get(key) != c_info.get(key):
                    out.append(f"MTEB {key} {b_info.get(key)!r} vs {c_info.get(key)!r}")
            return out
        m_info, rep = (b_info, c) if mb else (c_info, b)
        rev = m_info.get("dataset_revision")
        if rev != data_revision(rep):
            sizes = ", ".join(
                f"{info['n']:,} {role}"
                for role, info in sorted(rep.inputs.items())
                if isinstance(info, dict) and isinstance(info.get("n"), int)
            )
            out.append(
                f"the MTEB result ({m_info.get('task')}, split {m_info.get('split')}, dataset_revision {rev!r}) "
                f"records no data embeval can match with the report's ({sizes or 'no sizes recorded'})"
            )
        return out
    for role in sorted(set(b.inputs) & set(c.inputs)):
        ib, ic = b.inputs.get(role), c.inputs.get(role)
        if not isinstance(ib, dict) or not isinstance(ic, dict):
            continue
        if isinstance(ib.get("n"), int) and isinstance(ic.get("n"), int) and ib["n"] != ic["n"]:
            out.append(f"{role}: {ib['n']:,} vs {ic['n']:,} rows")
        if "d" not in ib and "d" not in ic and ib.get("sha256") and ic.get("sha256") and ib["sha256"] != ic["sha256"]:
            out.append(f"{role}: other contents (sha256 {ib['sha256'][:12]}… vs {ic['sha256'][:12]}…)")
        if ib.get("split") is not None and ic.get("split") is not None and ib["split"] != ic["split"]:
            out.append(f"{role}: split {ib['split']!r} vs {ic['split']!r}")
    for key in ("split",):
        if key in b.settings and key in c.settings and b.settings[key] != c.settings[key]:
            out.append(f"{key} {b.settings[key]!r} vs {c.settings[key]!r}")
    qb, qc = _evaluated_queries(b), _evaluated_queries(c)
    if qb and qc and qb != qc:
        out.append(f"queries evaluated: {qb:,} vs {qc:,}")
    return out


def _note_differences(comp: PairComparison, item: str, b: Report, c: Report) -> None:
    for role in sorted(set(b.inputs) | set(c.inputs)):
        hb, hc = b.inputs.get(role, {}).get("sha256"), c.inputs.get(role, {}).get("sha256")
        if hb and hc and hb != hc:
            comp.notes.append(f"{item}: input '{role}' differs (sha256 {hb[:12]}… → {hc[:12]}…)")
    # A setting only one report records is not a difference: an MTEB result, for one, records none.
    diff = sorted(k for k in set(b.settings) & set(c.settings) if b.settings.get(k) != c.settings.get(k))
    if diff:
        comp.notes.append(
            f"{item}: settings differ: " + ", ".join(f"{k} {b.settings.get(k)!r} → {c.settings.get(k)!r}" for k in diff)
        )


def _verdict(row: Row) -> str:
    if row.old is None or row.new is None:
        return "undefined (NaN)"
    reg = row.regression
    if reg is None:
        return "changed" if row.delta else "same"
    if reg == 0:
        return "same"
    sig = row.significant_worse() if reg > 0 else row.significant_better()
    word = "worse" if reg > 0 else "better"
    if sig is None:
        return word
    return word + (" (significant)" if sig else " (within noise)")

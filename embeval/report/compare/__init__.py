"""``embeval compare``: two reports metric by metric, or N reports (or the models of one batch)
ranked per metric with corrected pairwise tests.

Two reports (``BASELINE CURRENT``), single-command or batch (items matched by command/model/
dataset), results matched by (item, metric, identifying params):

Regression gates (``--fail-if-regress "ndcg@10>0.01"``): for a metric with a direction
(``higher_is_better``), the regression is ``old − new`` when higher is better and ``new − old``
when lower is better, so a positive regression is always "got worse". ``METRIC>TOL`` fails when

1. the regression is larger than TOL (``TOL%`` means TOL percent of ``|old|``), and
2. where both reports carry per-query values of the metric for at least 2 shared queries, the
   paired tests agree the change is real: the ``confidence`` (default 95%) paired-bootstrap
   interval of mean(new − old) lies entirely on the worse side of 0 **and** the two-sided
   sign-flip randomisation p-value is below 1 − confidence. Otherwise the regression is reported
   as within noise and does not fail.

``*>TOL`` applies TOL to every metric that has a direction.

N reports (:mod:`embeval.report.compare.nway`): a ranking per metric, bootstrap CIs over queries,
pairwise sign-flip tests with Holm–Bonferroni correction across the pairs; regression gates are
checked for every report against the first.

Modules: :mod:`.load` (reading reports), :mod:`.match` (matching and paired tests),
:mod:`.regress` (evaluating regression and value gates; their grammar is in
:mod:`embeval.report.gates`), :mod:`.render` (two-report renderers), :mod:`.nway` (ranking) and
:mod:`.rank_render` (its renderers).
"""

from embeval.report.compare.load import Side, load_side
from embeval.report.compare.match import PairComparison, Row, compare
from embeval.report.compare.regress import current_gates, evaluate
from embeval.report.compare.render import (
    COMPARE_RENDERERS,
    comparison_csv,
    comparison_json,
    comparison_markdown,
    print_comparison,
)
from embeval.report.gates import REGRESS_USAGE, RegressGate, parse_regress

__all__ = [
    "COMPARE_RENDERERS",
    "REGRESS_USAGE",
    "PairComparison",
    "RegressGate",
    "Row",
    "Side",
    "compare",
    "comparison_csv",
    "comparison_json",
    "comparison_markdown",
    "current_gates",
    "evaluate",
    "load_side",
    "parse_regress",
    "print_comparison",
]


def run_compare(
    paths,
    *,
    tolerances=(),
    gates=(),
    seed: int = 0,
    n_boot: int = 10_000,
    confidence: float = 0.95,
    rank: bool = False,
    metrics=None,
    test: str = "signflip",
    allow_different_data: bool = False,
):
    """Load the reports and compare them.

    Two reports (and ``rank`` false): a :class:`PairComparison` of the second against the first.
    Otherwise a :class:`~embeval.report.compare.nway.Ranking`: the reports (or, for one batch
    report, its models) ranked per metric, with every later system compared with the first for
    the regression gates; ``test``: the pairwise test of the ranking (``signflip`` with Holm, or
    ranx's uncorrected ``student``/``fisher``, :mod:`.nway`); sides computed on different data are
    refused unless ``allow_different_data`` (:func:`.match.data_differences`). ``gates`` (``--fail-if``) apply to
    the current report's values, or in a ranking to every system but the baseline.
    """
    from embeval.errors import UsageError
    from embeval.report.compare import nway

    if not paths:
        raise UsageError("give the reports to compare: BASELINE CURRENT [MORE ...], or one batch report")
    names = ["baseline", "current"] if len(paths) == 2 else [f"report{i + 1}" for i in range(len(paths))]
    sides = [load_side(p, name=name) for p, name in zip(paths, names)]
    if len(sides) == 2 and not rank:
        comp = compare(
            sides[0],
            sides[1],
            tolerances=list(tolerances),
            seed=seed,
            n_boot=n_boot,
            confidence=confidence,
            allow_different_data=allow_different_data,
        )
        value_gates, items = current_gates(sides[1], list(gates))
        comp.gates += value_gates
        comp.gate_items += items
        if metrics:
            _check_metrics(metrics, {r.metric for r in comp.rows})
            comp.rows = [r for r in comp.rows if r.metric in metrics]
        return comp
    if len(sides) == 1:
        if sides[0].kind != "batch":
            raise UsageError(
                f"{sides[0].path}: one report can be ranked only if it is a batch report with several "
                "models; give BASELINE CURRENT [MORE ...]"
            )
        systems = nway.systems_from_batch(sides[0])
    else:
        systems = nway.systems_from_files(sides)
    ranking = nway.rank_systems(systems, seed=seed, n_boot=n_boot, confidence=confidence, test=test)
    if metrics:
        _check_metrics(metrics, {m.metric for m in ranking.metrics})
        ranking.metrics = [m for m in ranking.metrics if m.metric in metrics]
        head = "not ranked (no better direction): "
        for i, note in enumerate(list(ranking.notes)):  # name only the metrics asked for (newcomer #13)
            if note.startswith(head):
                kept = [x for x in note[len(head) :].split(", ") if x.split("(")[0] in metrics]
                ranking.notes[i] = head + ", ".join(kept) if kept else ""
        ranking.notes = [n for n in ranking.notes if n]
    nway.note_missing_intervals(ranking)
    from embeval.report.compare.model import side_text
    from embeval.safety import public_path

    for system, side in systems:
        if side.info.get("format") == "mteb":
            ranking.notes.append(f"{system.letter} {system.name}: {side_text(side.info, public_path)}")
    nway.add_baseline_comparisons(
        ranking,
        systems,
        list(tolerances),
        seed=seed,
        n_boot=n_boot,
        confidence=confidence,
        allow_different_data=allow_different_data,
    )
    for system, side in systems[1:]:
        value_gates, items = current_gates(side, list(gates))
        for item, g in zip(items, value_gates):
            ranking.gates.append(
                (
                    f"{system.letter} {system.name}"
                    + ("" if item in side.items and len(side.items) == 1 else f": {item}"),
                    g,
                )
            )
    return ranking


def _check_metrics(wanted, known: set[str]) -> None:
    import difflib

    from embeval.errors import UsageError

    for name in wanted:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f"did you mean {' or '.join(close)}?" if close else f"compared: {', '.join(sorted(known))}"
            raise UsageError(f"`metric` {name!r}: not in the compared reports; {hint}")

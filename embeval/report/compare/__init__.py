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
:mod:`embeval.report.gates`), :mod:`.render` (two-report renderers), :mod:`.nway` (ranking).
"""

from embeval.report.compare.load import Side, load_side
from embeval.report.compare.match import Comparison, Row, compare
from embeval.report.compare.regress import current_gates, evaluate
from embeval.report.compare.render import (
    COMPARE_RENDERERS,
    comparison_csv,
    comparison_json,
    comparison_markdown,
    print_comparison,
)
from embeval.report.gates import REGRESS_USAGE, RegressGate, parse_regress

__all__ = ["COMPARE_RENDERERS", "REGRESS_USAGE", "Comparison", "RegressGate", "Row", "Side", "compare",
           "comparison_csv", "comparison_json", "comparison_markdown", "current_gates", "evaluate", "load_side",
           "parse_regress", "print_comparison"]

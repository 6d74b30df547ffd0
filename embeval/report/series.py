"""Compatibility alias: the pictures' data is computed in :mod:`embeval.diagnostics.series`
(the report layer formats and draws; it computes nothing)."""

from embeval.diagnostics.series import (  # noqa: F401
    BINS,
    ROC_POINTS,
    gap_series,
    geometry_series,
    roc_series,
    score_series,
)

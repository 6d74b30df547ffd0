"""Library entry points: one orchestrator per command, each returning a :class:`Report`.

The CLI and the batch runner call these; they know nothing of the terminal and write no file
(arrays a caller may save travel in ``Report.artifacts``). One module per command; what they share
(choosing diagnostics, loading inputs) is in :mod:`embeval.api.common`.
"""

from embeval.api.common import encoding_settings, load_input, resolve_metrics, run_diagnostic
from embeval.api.diff import diff_report, diff_report_from_sets
from embeval.api.encode import encode_file
from embeval.api.gap import gap_report
from embeval.api.geometry import geometry_report
from embeval.api.pairs import pairs_report
from embeval.api.retrieval import (
    retrieval_report,
    retrieval_report_beir,
    retrieval_report_from_arrays,
    run_file_report,
    run_retrieval,
)
from embeval.api.sweep import sweep_compress_report, sweep_index_report

__all__ = [
    "diff_report",
    "diff_report_from_sets",
    "encode_file",
    "encoding_settings",
    "gap_report",
    "geometry_report",
    "load_input",
    "pairs_report",
    "resolve_metrics",
    "retrieval_report",
    "retrieval_report_beir",
    "retrieval_report_from_arrays",
    "run_diagnostic",
    "run_file_report",
    "run_retrieval",
    "sweep_compress_report",
    "sweep_index_report",
]

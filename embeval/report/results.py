"""Compatibility alias: the result model lives in :mod:`embeval.results` (a leaf that both the
diagnostics and the report layer import). Import from there in new code."""

from embeval.results import (  # noqa: F401
    GateResult,
    Report,
    Result,
    dumps,
    json_safe,
    params_match,
    provenance,
)

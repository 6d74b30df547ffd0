"""Tidy result records and the report that carries them (SPEC §4)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Result:
    """One metric value. ``metric`` is the stable name gates and comparisons refer to."""

    metric: str
    value: float
    params: dict[str, Any] = field(default_factory=dict)
    n: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    higher_is_better: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["value"] = _clean(self.value)
        d["ci_low"] = _clean(self.ci_low)
        d["ci_high"] = _clean(self.ci_high)
        return d


def _clean(v: float | None) -> float | None:
    """JSON has no NaN/inf: report them as null."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass
class GateResult:
    expr: str
    value: float | None
    passed: bool
    message: str = ""


@dataclass
class Report:
    """What one command produced: inputs, settings, results, gates."""

    command: str
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    gates: list[GateResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    per_query: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def value(self, metric: str) -> float | None:
        for r in self.results:
            if r.metric == metric:
                return r.value
        return None

    def to_dict(self) -> dict[str, Any]:
        from embeval import __version__

        out = {
            "embeval_version": __version__,
            "command": self.command,
            "inputs": self.inputs,
            "settings": self.settings,
            "results": [r.to_dict() for r in self.results],
            "gates": [
                {"expr": g.expr, "value": _clean(g.value), "passed": g.passed} for g in self.gates
            ],
            "passed": self.passed,
            "notes": self.notes,
        }
        if self.per_query:
            out["per_query"] = [{**row, "value": _clean(row["value"])} for row in self.per_query]
        return out

"""The comparison's model: one Row per matched result, and the PairComparison they make up.
A leaf of the compare package: matching (``match``) and gate evaluation (``regress``) both import it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from embeval._version import __version__
from embeval.diagnostics.registry import key_params
from embeval.results import GateResult, label
from embeval.stats.paired import PairedTest


@dataclass
class Row:
    item: str
    metric: str
    params: dict[str, Any]
    old: float | None
    new: float | None
    higher_is_better: bool | None
    test: PairedTest | None = None  # when both reports carry per-query values
    verdict: str = ""

    @property
    def label(self) -> str:
        return label(self.metric, key_params(self.metric, self.params))

    @property
    def delta(self) -> float | None:
        if self.old is None or self.new is None:
            return None
        return self.new - self.old

    @property
    def relative(self) -> float | None:
        d, old = self.delta, self.old
        if d is None or old is None or old == 0:
            return None
        return d / abs(old)

    @property
    def regression(self) -> float | None:
        """How much worse (> 0) or better (< 0) the current run is; None without a direction."""
        d = self.delta
        if d is None or self.higher_is_better is None:
            return None
        return -d if self.higher_is_better else d

    def _significant(self, worse: bool) -> bool | None:
        """None without a paired test; else whether both tests call the change real: the
        interval of mean(new − old) excludes 0 on that side, and the sign-flip p-value is below
        1 − confidence. (With few non-zero per-query differences the percentile bootstrap is
        too narrow; the randomisation test is not, so requiring both keeps noise from failing.)"""
        if self.test is None or self.higher_is_better is None:
            return None
        lo, hi = self.test.ci_low, self.test.ci_high
        down = hi < 0  # the metric went down, for sure
        up = lo > 0
        moved = (down if self.higher_is_better else up) if worse else (up if self.higher_is_better else down)
        return bool(moved and self.test.p_value < 1 - self.test.confidence)

    def significant_worse(self) -> bool | None:
        return self._significant(worse=True)

    def significant_better(self) -> bool | None:
        return self._significant(worse=False)

    def to_dict(self) -> dict[str, Any]:
        clean = _num
        return {
            "item": self.item,
            "metric": self.metric,
            "params": self.params,
            "old": clean(self.old),
            "new": clean(self.new),
            "delta": clean(self.delta),
            "relative": clean(self.relative),
            "higher_is_better": self.higher_is_better,
            "paired_test": None if self.test is None else self.test.to_dict(),
            "verdict": self.verdict,
        }


def side_text(info: dict, shown=str) -> str:
    """How a table names one side: its path (as ``shown`` writes it), and for an MTEB result the
    task, split and main score."""
    text = shown(str(info.get("path")))
    if info.get("format") == "mteb":
        extra = [f"MTEB {info.get('task')}", f"split {info.get('split')}"]
        if info.get("main_score"):
            extra.append(f"main score {info['main_score']}")
        text += f" ({', '.join(extra)})"
    return text


def _num(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass
class PairComparison:
    baseline: dict[str, Any]
    current: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    gates: list[GateResult] = field(default_factory=list)
    gate_items: list[str] = field(default_factory=list)  # item of each gate (JUnit class name)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def gate_pairs(self) -> list[tuple[str, GateResult]]:
        """(item, gate) for every gate."""
        return list(zip(self.gate_items, self.gates))

    def to_dict(self) -> dict[str, Any]:
        return {
            "embeval_version": __version__,
            "command": "compare",
            "baseline": self.baseline,
            "current": self.current,
            "settings": self.settings,
            "rows": [r.to_dict() for r in self.rows],
            "gates": [{"item": i, **g.to_dict()} for i, g in zip(self.gate_items, self.gates)],
            "passed": self.passed,
            "notes": self.notes,
        }

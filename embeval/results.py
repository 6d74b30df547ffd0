"""Tidy result records and the report that carries them (SPEC §4).

A leaf: it imports nothing of embeval but the version and the errors, so that diagnostics (which produce
results) and the report layer (which formats them) both import it, and neither the other.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from embeval._version import __version__
from embeval.errors import UnknownMetric


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
    # Names of the parameters that identify this result (``t`` of uniformity, ``k`` of hubness), as
    # the output's declaration says; the others are descriptive (counts, the method used). Stamped by
    # the declaration that made the result; None (a result read back from JSON, or built by hand)
    # means every parameter identifies it. Not serialised: a reader re-stamps it from the registry.
    identity: tuple[str, ...] | None = field(default=None, compare=False)
    # The value on an isotropic space of the same n and d (:mod:`embeval.diagnostics.baselines`);
    # None where the output declares no baseline (then left out of the JSON).
    baseline: float | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["identity"]
        if self.baseline is None:
            del d["baseline"]
        else:
            d["baseline"] = _clean(self.baseline)
        d["value"] = _clean(self.value)
        d["ci_low"] = _clean(self.ci_low)
        d["ci_high"] = _clean(self.ci_high)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Result:
        value = d.get("value")
        return cls(
            metric=d["metric"],
            value=math.nan if value is None else float(value),
            params=dict(d.get("params") or {}),
            n=d.get("n"),
            ci_low=d.get("ci_low"),
            ci_high=d.get("ci_high"),
            higher_is_better=d.get("higher_is_better"),
            baseline=d.get("baseline"),
        )

    @property
    def key_params(self) -> dict[str, Any]:
        """The identifying parameters (see ``identity``), in the result's own order."""
        if self.identity is None:
            return dict(self.params)
        return {k: v for k, v in self.params.items() if k in self.identity}

    def label(self) -> str:
        """``metric`` or ``metric(k=v, ...)`` with the identifying parameters: how tables, gates and
        comparisons name this result."""
        return label(self.metric, self.key_params)


def label(metric: str, key_params: dict[str, Any]) -> str:
    """``metric`` or ``metric(k=v, ...)``: the label of a value of ``metric`` identified by ``key_params``."""
    if not key_params:
        return metric
    return f"{metric}({', '.join(f'{k}={_param_str(v)}' for k, v in key_params.items())})"


def _param_str(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def params_match(have: dict[str, Any], want: dict[str, Any]) -> bool:
    """True when every ``want`` parameter equals the result's (numbers compared as numbers)."""
    for key, w in want.items():
        if key not in have:
            return False
        h = have[key]
        try:
            if float(h) != float(w):
                return False
        except (TypeError, ValueError):
            if str(h) != str(w):
                return False
    return True


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN/inf float (at any depth, NumPy scalars included) replaced by None:
    JSON has no NaN, and strict parsers reject it."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and not isinstance(obj, (str, bytes)):
        try:
            obj = obj.item()
        except (TypeError, ValueError):
            return obj
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """Strict JSON (``allow_nan=False``) of :func:`json_safe` ``(obj)``."""
    kwargs.setdefault("ensure_ascii", False)
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def _clean(v: float | None) -> float | None:
    """JSON has no NaN/inf: report them as null."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass
class GateResult:
    """One evaluated gate. ``message`` says what failed and by how much (empty when it passed)."""

    expr: str
    value: float | None
    passed: bool
    message: str = ""
    threshold: float | None = None
    margin: float | None = None  # how far past the threshold (>= 0) when failed
    kind: str = "fail_if"  # fail_if (--fail-if: a condition on a value) or regress (--fail-if-regress)

    @property
    def condition(self) -> str:
        """The gate as shown to a reader: the condition under which it fails, said as such
        ("fail if ndcg@10 < 0.5"), so a "pass" beside it does not read as if the condition held."""
        if self.kind == "regress":
            metric, sep, tol = self.expr.partition(">")
            if sep:
                inclusive = tol.startswith("=")
                return f"fail if {metric.strip()} worsens by {'≥' if inclusive else '>'} {tol.lstrip('=').strip()}"
        return f"fail if {self.expr}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "expr": self.expr,
            "condition": self.condition,
            "value": _clean(self.value),
            "passed": self.passed,
            "threshold": _clean(self.threshold),
            "message": self.message,
        }


def provenance() -> dict[str, Any]:
    """Where a report came from, beyond its inputs and settings: tool and library versions."""
    import platform

    out: dict[str, Any] = {
        "embeval_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }
    try:
        import numpy

        out["numpy"] = numpy.__version__
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    return out


@dataclass
class Report:
    """What one command produced: inputs, settings, results, gates.

    ``per_query``: rows ``{"query_id", "metric", "value"}`` (for paired comparisons between runs).
    ``series``: named data for pictures, e.g. ``{"roc": {"fpr": [...], "tpr": [...]}}``; see
    :mod:`embeval.report.figures` for the names the HTML report draws.
    """

    command: str
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    gates: list[GateResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    per_query: list[dict[str, Any]] = field(default_factory=list)
    series: dict[str, dict[str, Any]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=provenance)
    # Per-item triage table (diagnostics.items.ItemTable) when --items asked for one; it is written
    # to its own file and summarised under the terminal table, never serialised into the report.
    items: Any = field(default=None, repr=False)
    # Arrays a caller may write to files (the gap vector, the 2-D projection, the ROC curve); the
    # library writes no file itself: the CLI does (--export-gap, --plot, --roc). Never serialised.
    artifacts: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def find(self, metric: str, params: dict[str, Any] | None = None) -> list[Result]:
        """Every result named ``metric`` whose params include ``params``."""
        return [r for r in self.results if r.metric == metric and params_match(r.params, params or {})]

    # The one lookup ----------------------------------------------------------------------------
    # Every door (the Python API, the pytest plugin, compare, the HTML report) asks a report for a
    # value through ``result``: by name, ``name(param=value, ...)``, or name plus keyword params.

    def metrics(self) -> list[str]:
        """The names :meth:`value` accepts: ``metric``, or ``metric(param=value)`` where one metric
        has several identifying parameter settings."""
        return [self._name(r) for r in self.results]

    def _name(self, r: Result) -> str:
        return r.metric if sum(x.metric == r.metric for x in self.results) == 1 else r.label()

    def result(self, name: str, **params: Any) -> Result:
        """The one result called ``name``: ``result("ndcg@10")``, ``result("hubness_skew", k=10)`` or
        ``result("hubness_skew(k=10)")``. Raises :class:`~embeval.errors.UnknownMetric` (a
        ``KeyError``) when none matches (naming the closest names) or when several do (naming each
        candidate with its parameters, e.g. ``"ndcg"`` for ndcg@1, ndcg@10, ndcg@100)."""
        metric, wanted = _split_name(name, params)
        rows = self.find(metric, wanted)
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            raise UnknownMetric(
                f"{name!r} is ambiguous in this {self.command} report: {len(rows)} results match "
                f"({'; '.join(_with_params(r) for r in rows)}); name one, or pass its parameters "
                "(value(name, k=10))"
            )
        raise UnknownMetric(self._unknown(name, metric, wanted))

    def _unknown(self, name: str, metric: str, wanted: dict[str, Any]) -> str:
        import difflib

        names = self.metrics()
        same = [r for r in self.results if r.metric == metric]
        if same:  # the name exists, the parameters do not
            return (
                f"no result {name!r} with {_params_text(wanted)} in this {self.command} report; "
                f"{metric} has: {'; '.join(_with_params(r) for r in same)}"
            )
        prefixed = [n for n in names if n.startswith(metric)]
        if len(prefixed) == 1:  # one candidate: nothing to choose between, only a name to correct
            return f"no metric {name!r} in this {self.command} report; did you mean {prefixed[0]!r}?"
        if prefixed:
            return f"{name!r} is ambiguous: it could be {', '.join(prefixed)}; name one"
        close = difflib.get_close_matches(metric, names, n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"no metric {name!r} in this {self.command} report{hint} (it has {len(names)}: see .metrics())"

    def value(self, name: str, **params: Any) -> float:
        """The value of :meth:`result` ``(name, **params)``."""
        return self.result(name, **params).value

    def get(self, name: str, default: float | None = None, **params: Any) -> float | None:
        """:meth:`value`, or ``default`` when the report has no such result (an ambiguous name
        still raises)."""
        metric, wanted = _split_name(name, params)
        if not self.find(metric, wanted):
            return default
        return self.value(name, **params)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "embeval_version": __version__,
            "command": self.command,
            "inputs": self.inputs,
            "settings": self.settings,
            "results": [r.to_dict() for r in self.results],
            "gates": [g.to_dict() for g in self.gates],
            "passed": self.passed,
            "notes": self.notes,
            "provenance": self.provenance,
        }
        if self.per_query:
            out["per_query"] = [{**row, "value": _clean(row["value"])} for row in self.per_query]
        if self.series:
            out["series"] = self.series
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        """The inverse of :meth:`to_dict` (gates come back as recorded)."""
        gates = [
            GateResult(g["expr"], g.get("value"), bool(g.get("passed", True)), g.get("message", ""), g.get("threshold"))
            for g in d.get("gates") or []
        ]
        per_query = [
            {**row, "value": math.nan if row.get("value") is None else float(row["value"])}
            for row in d.get("per_query") or []
        ]
        return cls(
            command=d["command"],
            inputs=dict(d.get("inputs") or {}),
            settings=dict(d.get("settings") or {}),
            results=[Result.from_dict(r) for r in d.get("results") or []],
            gates=gates,
            notes=list(d.get("notes") or []),
            per_query=per_query,
            series=dict(d.get("series") or {}),
            provenance=dict(d.get("provenance") or {"embeval_version": d.get("embeval_version")}),
        )

    # Convenience for notebooks and scripts -------------------------------------------------------

    def to_json(self, indent: int | None = 2) -> str:
        return dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_pandas(self, per_query: bool = False) -> Any:
        """A DataFrame: one row per result (metric, value, params, n, ci_low, ci_high,
        higher_is_better); ``per_query=True``: one row per query and metric (query_id, metric, value)."""
        import pandas as pd

        if per_query:
            return pd.DataFrame(self.per_query, columns=["query_id", "metric", "value"])
        return pd.DataFrame(
            [r.to_dict() for r in self.results],
            columns=["metric", "value", "params", "n", "ci_low", "ci_high", "higher_is_better"],
        )

    def save(self, path: str | Path) -> Path:
        """Write the report; the format comes from the suffix (.json .csv .md .html), atomically."""
        return _hook("save")(self, Path(path))

    def __repr__(self) -> str:
        rows = ", ".join(f"{self._name(r)}={r.value:.4g}" for r in self.results[:6])
        more = f", … ({len(self.results)} results)" if len(self.results) > 6 else ""
        return f"<embeval.Report {self.command}: {rows}{more}>"

    def _repr_html_(self) -> str:
        return _hook("notebook_html")(self)


# What needs the formats (the renderers live in the report layer, above this one) is registered by
# embeval.report.render when it is imported: the model imports nothing above it.
_HOOKS: dict[str, Callable[..., Any]] = {}


def register_hook(name: str, fn: Callable[..., Any]) -> None:
    _HOOKS[name] = fn


def _hook(name: str) -> Callable[..., Any]:
    if name not in _HOOKS:  # every door (CLI, Python API, plugin) imports the renderers first
        raise RuntimeError(f"Report.{name}: import embeval.report.render first (it registers the formats)")
    return _HOOKS[name]


_NAME_PARAMS = re.compile(r"^\s*([^()\s]+)\s*\((.*)\)\s*$")


def _split_name(name: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``"uniformity(t=2)"`` -> ``("uniformity", {"t": "2"})``, merged with keyword ``params``."""
    m = _NAME_PARAMS.match(name)
    if not m:
        return name, dict(params)
    wanted: dict[str, Any] = {}
    for part in m.group(2).split(","):
        key, sep, val = part.partition("=")
        if not sep or not key.strip():
            raise UnknownMetric(f"{name!r}: write metric(NAME=VALUE, ...), e.g. 'uniformity(t=2)'")
        wanted[key.strip()] = val.strip().strip("'\"")
    return m.group(1), {**wanted, **params}


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_param_str(v)}" for k, v in params.items()) or "no parameters"


def _with_params(r: Result) -> str:
    return f"{r.metric}({_params_text(r.params)})" if r.params else r.metric

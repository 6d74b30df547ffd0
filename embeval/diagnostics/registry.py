"""One registry of diagnostics and of the outputs they produce (as ir_measures declares measures).

Each **output** (a named number in a report) is declared once, as an :class:`Output`: name,
direction, identifying parameters, description. Diagnostics produce their values through those
declarations (``UNIFORMITY(value, {"t": t}, n=n)``), so a :class:`~embeval.results.Result` takes
its direction and identity from the declaration, never from a literal at the call site.

Each **diagnostic** (a function computing one or more outputs) declares its family, parameters
(as data), what it needs and its outputs; ``embeval metrics``, the README's metric tables and the
commands' help are generated from them. A spec such as ``hubness(k=5)`` or ``mam(mode=pairwise)``
parses into a diagnostic plus params.

Each diagnostic is computed by one or more **providers** (as ir_measures' providers compute the
measures it declares): ``local`` is the diagnostic's own function (NumPy, or torch through
:mod:`embeval.compute`), and a provider such as ``dask`` (:mod:`embeval.distributed`) registers
itself for the diagnostics it supports with :func:`provide`. Every provider returns raw
:class:`Value` records (or results made by calling the diagnostic's declared outputs); :func:`compute`
wraps them in the declared :class:`Output`, so no provider states a direction or an identity, and
a value of an undeclared output is refused. Which providers compute a diagnostic is data
(:attr:`Diagnostic.providers`): ``embeval metrics`` and the README's tables show it.

This module is a leaf of the diagnostics layer: it imports no family. The family modules register
themselves when imported, and :mod:`embeval.diagnostics` (the package) imports every family.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from embeval.errors import UsageError
from embeval.params import Param, parse_ks  # noqa: F401  (re-exported: families declare with them)
from embeval.results import Report, Result

HIGHER, LOWER, NEITHER = True, False, None  # an output's direction: which way is better

_CUTOFF = re.compile(r"@\d+$")


def output_pattern(metric: str) -> str:
    """The declared name of a reported metric: a numeric cut-off becomes ``@K`` (``ndcg@10`` ->
    ``ndcg@K``); other names are their own pattern."""
    return _CUTOFF.sub("@K", metric)


@dataclass(frozen=True)
class Output:
    """One declared output: a number a diagnostic reports.

    name:             the metric name in reports; ``@K`` stands for a cut-off (``ndcg@K``).
    higher_is_better: the direction (``HIGHER``, ``LOWER``, or ``NEITHER`` for a descriptive number).
    description:      one line, shown by ``embeval metrics`` and in the README tables.
    identity:         names of the parameters that identify a value of this output (``t`` of
                      uniformity); the result's other parameters are descriptive.

    Calling the declaration makes a :class:`Result` with that direction and identity.
    """

    name: str
    higher_is_better: bool | None
    description: str
    identity: tuple[str, ...] = ()

    def __call__(
        self,
        value: float,
        params: Mapping[str, Any] | None = None,
        *,
        n: int | None = None,
        ci_low: float | None = None,
        ci_high: float | None = None,
        name: str | None = None,
    ) -> Result:
        """A result of this output. ``name`` overrides the metric name for outputs with a cut-off or a
        prefix (``ndcg@10``, ``a2b_recall@5``); it must match a declaration with the same direction."""
        return Result(
            self.name if name is None else name,
            value,
            dict(params or {}),
            n=n,
            ci_low=ci_low,
            ci_high=ci_high,
            higher_is_better=self.higher_is_better,
            identity=self.identity,
        )

    @property
    def direction(self) -> str:
        return {True: "higher", False: "lower", None: "none"}[self.higher_is_better]


@dataclass(frozen=True)
class Diagnostic:
    """A diagnostic: ``func(context, **params) -> list[Result]``, each result a value of one of
    its declared ``outputs``."""

    name: str
    family: str
    func: Callable[..., list[Result]]
    description: str
    outputs: tuple[Output, ...]
    params: Mapping[str, Param] = field(default_factory=dict)
    needs: frozenset[str] = frozenset()
    default: bool = True  # part of the family's default run
    # The value does not depend on the order of the input rows (up to float summation order): the
    # check battery (embeval.testing) permutes the rows and expects the same values. False for a
    # diagnostic that splits or subsamples rows by position (cross-validation folds, max_rows).
    order_invariant: bool = True

    def defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.params.items()}

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outputs)

    def output(self, metric: str) -> Output | None:
        """The declaration a reported metric (``ndcg@10``) belongs to, or None."""
        pattern = output_pattern(metric)
        return next((o for o in self.outputs if o.name in (metric, pattern)), None)

    @property
    def providers(self) -> tuple[str, ...]:
        """The providers that compute this diagnostic: ``local`` first, then in registration order."""
        return (LOCAL, *(p for p, funcs in _PROVIDERS.items() if self.name in funcs))


@dataclass(frozen=True)
class Value:
    """A raw value a provider returns: ``metric`` names a declared output of the diagnostic (or the
    output with a cut-off or prefix, ``ndcg@10``); :func:`compute` wraps it in that declaration."""

    metric: str
    value: float
    params: Mapping[str, Any] = field(default_factory=dict)
    n: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None


LOCAL = "local"  # the provider every diagnostic has: its own function, in this process

_REGISTRY: dict[str, Diagnostic] = {}
_OUTPUTS: dict[str, Output] = {}
# provider name -> diagnostic name -> function(context, **params) -> list[Value | Result]
_PROVIDERS: dict[str, dict[str, Callable[..., list[Any]]]] = {}


def register(diag: Diagnostic) -> Diagnostic:
    """Add a diagnostic. Refused (ValueError, a programming error): a name registered twice, an
    output identified by a parameter the diagnostic does not have, and one output name declared
    twice with a different direction or identity."""
    if diag.name in _REGISTRY:
        raise ValueError(f"diagnostic {diag.name!r} registered twice")
    if not diag.outputs:
        raise ValueError(f"diagnostic {diag.name!r} declares no outputs")
    for out in diag.outputs:
        unknown = set(out.identity) - set(diag.params)
        if unknown:
            raise ValueError(f"output {out.name!r} of {diag.name!r} is identified by unknown parameters {unknown}")
        seen = _OUTPUTS.get(out.name)
        if seen is not None and (seen.higher_is_better, seen.identity) != (out.higher_is_better, out.identity):
            raise ValueError(f"output {out.name!r} declared twice with different directions or identities")
    _REGISTRY[diag.name] = diag
    for out in diag.outputs:
        _OUTPUTS.setdefault(out.name, out)
    return diag


def provide(provider: str, diagnostic: str, func: Callable[..., list[Any]]) -> None:
    """Register ``func(context, **params)`` as ``provider``'s way to compute ``diagnostic`` (a
    registered name). Refused (ValueError, a programming error): ``local`` (a diagnostic's own
    function is its local provider), an unknown diagnostic, and the same pair registered twice."""
    if provider == LOCAL:
        raise ValueError("the local provider is the diagnostic's own function")
    if diagnostic not in _REGISTRY:
        raise ValueError(f"provider {provider!r}: no diagnostic {diagnostic!r} is registered")
    funcs = _PROVIDERS.setdefault(provider, {})
    if diagnostic in funcs:
        raise ValueError(f"provider {provider!r} registered twice for {diagnostic!r}")
    funcs[diagnostic] = func


def provider_names() -> tuple[str, ...]:
    """Every provider: ``local``, then the others in registration order."""
    return (LOCAL, *_PROVIDERS)


def provides(provider: str, diagnostic: str) -> bool:
    return provider == LOCAL or diagnostic in _PROVIDERS.get(provider, {})


def wrap(diag: Diagnostic, raw: Any) -> Result:
    """The result of one raw value of ``diag`` (a :class:`Value`, or a result made by calling one of
    its declared outputs), with the declaration's direction and identity. ValueError (a programming
    error of the provider) for an output ``diag`` does not declare, or a result whose direction or
    identity is not its declaration's."""
    out = diag.output(raw.metric)
    if out is None:
        raise ValueError(f"{diag.name} produced {raw.metric!r}, which it does not declare")
    if isinstance(raw, Value):
        name = None if raw.metric == out.name else raw.metric
        return out(raw.value, raw.params, n=raw.n, ci_low=raw.ci_low, ci_high=raw.ci_high, name=name)
    if not isinstance(raw, Result):
        raise ValueError(f"{diag.name}: a provider returns Values, not {type(raw).__name__}")
    if (raw.higher_is_better, raw.identity) != (out.higher_is_better, out.identity):
        raise ValueError(f"{diag.name}: {raw.metric!r} does not carry its declared direction and identity")
    return raw


def compute(
    diag: Diagnostic, context: Any, params: Mapping[str, Any] | None = None, provider: str = LOCAL
) -> list[Result]:
    """``diag``'s results on ``context`` (the provider's context: a ``Space``, a ``GapSpace``, a
    ``RetrievalRun``, a cluster run) computed by ``provider``, each wrapped in its declaration."""
    func = diag.func if provider == LOCAL else _PROVIDERS.get(provider, {}).get(diag.name)
    if func is None:
        raise UsageError(f"metric {diag.name} is not computed by the {provider} provider")
    return [wrap(diag, v) for v in func(context, **dict(params or {}))]


def imported_result(metric: str, value: float) -> Result:
    """A value of ``metric`` read from another tool's result file (an MTEB task result): the
    direction and identity of embeval's declaration of ``metric``; a metric embeval does not declare
    (MTEB's ``accuracy``, ``f1``, ``ap``, ``v_measure``) is one of MTEB's scores, higher is better."""
    out = declared_output(metric)
    if out is not None:
        return out(value, name=None if metric == out.name else metric)
    return Result(metric, value, higher_is_better=HIGHER)


def _families(family: str | tuple[str, ...] | None) -> tuple[str, ...] | None:
    return (family,) if isinstance(family, str) else family


def all_diagnostics(family: str | tuple[str, ...] | None = None) -> list[Diagnostic]:
    """Every registered diagnostic, or those of one family (or of several, given a tuple).
    Import :mod:`embeval.diagnostics` (it imports every family) before asking."""
    fams = _families(family)
    return [d for d in _REGISTRY.values() if fams is None or d.family in fams]


def families() -> list[str]:
    """The registered families, in registration order."""
    return list(dict.fromkeys(d.family for d in _REGISTRY.values()))


def declared_output(metric: str) -> Output | None:
    """The declaration of a reported metric name (``ndcg@10`` -> ``ndcg@K``), or None."""
    return _OUTPUTS.get(metric) or _OUTPUTS.get(output_pattern(metric))


def key_params(metric: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters that identify a value of ``metric`` (see :attr:`Output.identity`); a metric
    nobody declares keeps every parameter; a sweep result (:mod:`embeval.sweep`) is identified by its
    ``setting`` alone (its other parameters are what FAISS read back, p-values, ...)."""
    if "setting" in params:
        return {"setting": params["setting"]}
    out = declared_output(metric)
    if out is None:
        return dict(params)
    return {k: v for k, v in params.items() if k in out.identity}


def stamp_identity(report: Report) -> Report:
    """Give every result read back from JSON (which carries no identity) its declared identity; a
    sweep result (``params["setting"]``, :mod:`embeval.sweep`) is identified by its setting."""
    for r in report.results:
        if r.identity is None and "setting" in r.params:
            r.identity = ("setting",)
        elif r.identity is None:
            out = declared_output(r.metric)
            if out is not None:
                r.identity = out.identity
    return report


def get(name: str, family: str | tuple[str, ...] | None = None) -> Diagnostic:
    pool = {d.name: d for d in all_diagnostics(family)}
    if name in pool:
        return pool[name]
    # Allow output names (hubness_skew -> hubness) to select their diagnostic.
    for d in pool.values():
        if name in d.output_names:
            return d
    names = sorted(set(pool) | {o for d in pool.values() for o in d.output_names})
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; known: {', '.join(sorted(pool))}"
    where = f" for {'/'.join(_families(family) or ())}" if family else ""
    raise UsageError(f"unknown metric {name!r}{where}{hint}")


_SPEC = re.compile(r"^\s*([A-Za-z_][\w@]*)\s*(?:\((.*)\))?\s*$")


def parse_spec(spec: str, family: str | tuple[str, ...] | None = None) -> tuple[Diagnostic, dict[str, Any]]:
    """``"hubness(k=5)"`` -> (hubness diagnostic, {"k": 5}), defaults filled in."""
    m = _SPEC.match(spec)
    if not m:
        raise UsageError(f"cannot parse metric {spec!r}; expected NAME or NAME(param=value, ...)")
    diag = get(m.group(1), family)
    params = diag.defaults()
    if m.group(2):
        # "ks=1,5,k=3": an item without "=" continues the previous value (a list parameter).
        pairs: list[list[str]] = []
        for item in m.group(2).split(","):
            key, sep, raw = item.partition("=")
            if not sep and pairs:
                pairs[-1][1] += "," + item.strip()
                continue
            if not item.strip():
                continue
            key = key.strip()
            if not sep or key not in diag.params:
                known = ", ".join(diag.params) or "none"
                raise UsageError(f"metric {diag.name}: unknown parameter {key!r} (parameters: {known})")
            pairs.append([key, raw.strip()])
        for key, raw in pairs:
            params[key] = diag.params[key].parse(key, raw)
    return diag, params


def split_specs(text: str) -> list[str]:
    """Split ``"a,b(k=1,t=2),c"`` on commas outside parentheses."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]

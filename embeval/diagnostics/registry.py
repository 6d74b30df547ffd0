"""One registry of diagnostics.

Each diagnostic declares its name, parameters (as data), what it needs, its direction and a
one-line description; ``embeval metrics`` and the commands' help are generated from it.
A spec such as ``hubness(k=5)`` or ``mam(mode=pairwise)`` parses into a diagnostic plus params.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from embeval.errors import UsageError


@dataclass(frozen=True)
class Param:
    """A diagnostic's parameter, as data: type, default, help, and the values it may take
    (``choices``, or a range: ``low`` ≤ value, strictly when ``low_open``; value ≤ ``high``)."""

    type: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    low_open: bool = False
    high: float | None = None

    def check(self, name: str, value: Any) -> Any:
        if value is None or self.type not in (int, float):
            return value
        if value != value or value in (float("inf"), float("-inf")):
            raise UsageError(f"parameter {name}={value!r}: must be a finite number")
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            raise UsageError(f"parameter {name}={value!r}: must be {'>' if self.low_open else '≥'} {self.low:g}")
        if self.high is not None and value > self.high:
            raise UsageError(f"parameter {name}={value!r}: must be ≤ {self.high:g}")
        return value

    def parse(self, name: str, raw: str) -> Any:
        try:
            if self.type is bool:
                if raw.lower() in ("1", "true", "yes"):
                    return True
                if raw.lower() in ("0", "false", "no"):
                    return False
                raise ValueError(raw)
            value = self.type(raw)
        except ValueError:
            raise UsageError(f"parameter {name}={raw!r}: expected {self.type.__name__}") from None
        if self.choices is not None and value not in self.choices:
            raise UsageError(f"parameter {name}={raw!r}: choose one of {', '.join(map(str, self.choices))}")
        return self.check(name, value)


@dataclass(frozen=True)
class Diagnostic:
    """A diagnostic: ``func(context, **params) -> list[Result]``."""

    name: str
    family: str
    func: Callable[..., list]
    description: str
    higher_is_better: bool | None
    outputs: tuple[str, ...]
    params: Mapping[str, Param] = field(default_factory=dict)
    needs: frozenset[str] = frozenset()
    default: bool = True  # part of the family's default run

    def defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.params.items()}


_REGISTRY: dict[str, Diagnostic] = {}


def register(diag: Diagnostic) -> Diagnostic:
    if diag.name in _REGISTRY:
        raise ValueError(f"diagnostic {diag.name!r} registered twice")
    _REGISTRY[diag.name] = diag
    return diag


def _load_all() -> None:
    # Importing the family modules registers their diagnostics.
    from embeval.diagnostics import drift, gap, geometry, labels, pairs, retrieval  # noqa: F401


def _families(family: str | tuple[str, ...] | None) -> tuple[str, ...] | None:
    return (family,) if isinstance(family, str) else family


def all_diagnostics(family: str | tuple[str, ...] | None = None) -> list[Diagnostic]:
    """Every registered diagnostic, or those of one family (or of several, given a tuple)."""
    _load_all()
    fams = _families(family)
    return [d for d in _REGISTRY.values() if fams is None or d.family in fams]


def get(name: str, family: str | tuple[str, ...] | None = None) -> Diagnostic:
    _load_all()
    pool = {d.name: d for d in all_diagnostics(family)}
    if name in pool:
        return pool[name]
    # Allow output names (hubness_skew -> hubness) to select their diagnostic.
    for d in pool.values():
        if name in d.outputs:
            return d
    names = sorted(set(pool) | {o for d in pool.values() for o in d.outputs})
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; known: {', '.join(sorted(pool))}"
    where = f" for {'/'.join(_families(family))}" if family else ""
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
    out, depth, cur = [], 0, []
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

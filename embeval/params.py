"""Parameters as data: a :class:`Param` declares a parameter's type, default, help and the values it
may take; :func:`parse_ks` reads a list of rank cut-offs. A leaf (it imports only the errors), so
the diagnostics' registry and the commands' own option table (:mod:`embeval.options`) share it
without either importing the other, and the loaders below them can check options too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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


def parse_ks(ks: str | Iterable[int], name: str = "k") -> tuple[int, ...]:
    """Rank cut-offs: ``"1,10,100"`` or ``[1, 10, 100]`` -> (1, 10, 100), sorted, unique, each ≥ 1.
    The one parser of every list-of-cut-offs parameter; errors name the parameter ``name``."""
    items = ks.split(",") if isinstance(ks, str) else list(ks)
    out = set()
    for item in items:
        text = str(item).strip()
        try:
            k = int(text)
        except ValueError:
            raise UsageError(f"`{name}` {ks!r}: {text!r} is not an integer; expected e.g. 1,10,100") from None
        if k < 1:
            raise UsageError(f"`{name}` {ks!r}: cutoffs must be at least 1, got {k}")
        out.add(k)
    if not out:
        raise UsageError(f"`{name}`: give at least one cutoff, e.g. 1,10,100")
    return tuple(sorted(out))

"""The compute context of a run: where its O(n²) work runs (``device``), how many seconds of it
the run may start before the O(n²) diagnostics switch to their estimated forms (``budget``), and
whether every diagnostic must be exact whatever it costs (``exact``).

A :class:`ComputeContext` is validated when it is made, so it is made once, at whichever door a
run comes in by: the CLI's compute block (``--device``, ``--budget``, ``--exact``), the Python
API's ``device=``/``budget=``/``exact=`` keywords, a batch config's options and the pytest
plugin's command line (:meth:`ComputeContext.pop_from`). The orchestrators of :mod:`embeval.api`
take it as ``compute=`` and the layers below use it as it is: nothing checks the device again.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, fields, replace
from typing import Any

from embeval.compute.backend import (
    OTHER_ACCELERATORS,
    Backend,
    backend_for,
    check_device,
    fallback_note,
    resolve_checked,
)
from embeval.errors import UsageError

DEFAULT_BUDGET = 120.0  # seconds of O(n²) work a default run may start
KEYS = ("device", "budget", "exact")  # the keywords the doors take for a context


def check_budget(budget: float | None) -> float | None:
    """``budget``: seconds of estimated exact work before O(n²) diagnostics switch to estimated
    forms; a positive number, or None (no limit)."""
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) or budget <= 0
    ):
        raise UsageError(f"`budget` {budget!r}: must be a positive number of seconds")
    return budget


@dataclass(frozen=True)
class ComputeContext:
    """The chosen back end (``device``: auto, cpu, cuda, cuda:N; torch's other accelerators are
    taken for encoding, the O(n²) work then runs on the CPU), the ``budget`` in seconds (None: no
    limit) and ``exact``. Checked once, here: an unknown device or a budget that is not a positive
    number is a UsageError naming the parameter."""

    device: str = "auto"
    budget: float | None = DEFAULT_BUDGET
    exact: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", check_device(self.device))
        check_budget(self.budget)
        if self.exact not in (True, False):  # a bool (or 0/1, NumPy's bools)
            raise UsageError(f"`exact` {self.exact!r}: must be true or false")
        object.__setattr__(self, "exact", bool(self.exact))

    def resolve(self, rows: int | None = None) -> str:
        """The concrete device of the O(n²) work (``cpu`` or ``cuda:N``); ``rows`` is its size,
        which ``auto`` uses (see :func:`embeval.compute.backend.resolve_device`)."""
        return resolve_checked(self.device, rows=rows)

    def backend(self, rows: int | None = None, engine: str | None = None) -> Backend:
        """The back end for O(n²) work on ``rows`` rows."""
        return backend_for(self.resolve(rows), engine)

    def fallback_note(self) -> str | None:
        """A note when the device is an accelerator only encoding uses (mps, xpu, …)."""
        return fallback_note(self.device)

    @property
    def encode_only(self) -> bool:
        """Whether the device is one that only encoding uses (the O(n²) work runs on the CPU)."""
        return self.device.split(":")[0] in OTHER_ACCELERATORS

    def encoder(self, encoder: Any) -> Any:
        """The encoder settings (an EncoderConfig, or None) on this device (``auto``: the
        encoder's own default)."""
        if encoder is None or self.device == "auto":
            return encoder
        return replace(encoder, device=self.device)

    def parameters(self) -> dict[str, inspect.Parameter]:
        """``device``, ``budget`` and ``exact`` as keyword parameters with this context's values as
        defaults: what a door that checks keywords against a signature accepts for ``compute``."""
        return {
            f.name: inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=getattr(self, f.name))
            for f in fields(self)
        }

    def pop_from(self, kwargs: dict[str, Any]) -> ComputeContext | None:
        """Take ``device``, ``budget`` and ``exact`` out of ``kwargs`` (a door's keyword arguments)
        and make the context they ask for, this one's values standing for those not given, checked
        once; None when none was given (the orchestrator's own default then applies)."""
        given = {key: kwargs.pop(key) for key in KEYS if key in kwargs}
        return replace(self, **given) if given else None


def compute_default(function: Any) -> ComputeContext | None:
    """The default ``compute`` of an orchestrator (None when it takes none)."""
    p = inspect.signature(function).parameters.get("compute")
    return p.default if p is not None and isinstance(p.default, ComputeContext) else None


DEFAULT_COMPUTE = ComputeContext()  # auto, the default budget, estimated forms over it
CPU_COMPUTE = ComputeContext("cpu")

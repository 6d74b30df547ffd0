"""Choosing diagnostics for a run and running one: what every orchestrator shares, on one machine
(:mod:`embeval.api`) or on a cluster (:mod:`embeval.distributed`).

A default run (no ``metrics``) takes every default diagnostic whose needs the inputs meet, and
skips one that cannot apply with a note; a diagnostic asked for by name fails loudly.
"""

from __future__ import annotations

from embeval.diagnostics.registry import Diagnostic, all_diagnostics, parse_spec, split_specs
from embeval.errors import EmbevalError, InputError, UsageError

_NEEDS_HINT = {"pairs": "pass `pairs` OTHER with row-aligned vectors", "labels": "pass `labels` or `label_col`"}


def resolve_metrics(
    specs: list[str] | None, family: str | tuple[str, ...], available: set[str], hints: dict[str, str] | None = None
) -> list[tuple[Diagnostic, dict]]:
    """Parse ``--metric`` values (comma-separated, repeatable). Default: every default diagnostic of
    ``family`` whose needs are in ``available``. Asking for one whose needs are missing is an error
    (``hints`` overrides the default "how to provide it" text per need)."""
    hints = {**_NEEDS_HINT, **(hints or {})}
    if not specs:
        return [(d, d.defaults()) for d in all_diagnostics(family) if d.default and d.needs <= available]
    chosen = []
    for text in specs:
        for spec in split_specs(text):
            diag, params = parse_spec(spec, family)
            missing = diag.needs - available
            if missing:
                raise UsageError(
                    f"metric {diag.name} needs {', '.join(sorted(missing))} ({hints.get(next(iter(missing)), '')})"
                )
            chosen.append((diag, params))
    return chosen


def run_diagnostic(diag: Diagnostic, context, params: dict, *, explicit: bool, notes: list[str]) -> list:
    """Run one diagnostic. In a default run (no --metric) one that cannot apply to this input
    (too few rows for its k, no distinct rows, ...) is skipped with a note instead of failing the
    whole report; a diagnostic the user asked for by name still fails loudly."""
    try:
        return diag.func(context, **params)
    except InputError:
        raise
    except EmbevalError as exc:  # a UsageError, or a kNN that needs more rows than there are
        if explicit:
            raise
        notes.append(f"skipped {diag.name}: {exc}")
        return []

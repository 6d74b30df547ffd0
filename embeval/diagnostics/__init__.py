"""Diagnostics: the maths. Importing this package registers every family (as ir_measures'
``measures/__init__.py`` does); :mod:`embeval.diagnostics.registry` itself imports none.

To add a family: a module here that ends with its ``register(Diagnostic(...))`` calls, imported below.
"""

from embeval.diagnostics import (  # noqa: F401  (registration)
    diff,
    drift,
    gap,
    geometry,
    hygiene,
    labels,
    pairs,
    retrieval,
)
from embeval.diagnostics.registry import all_diagnostics, declared_output, families, get, parse_spec

__all__ = ["all_diagnostics", "declared_output", "families", "get", "parse_spec"]

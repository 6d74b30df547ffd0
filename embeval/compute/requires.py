"""Optional heavy libraries, imported on first use with an install hint (mteb's requires_package)."""

from __future__ import annotations

from embeval.errors import EmbevalError


def _faiss():
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - faiss-cpu is a dependency
        raise EmbevalError("FAISS is not installed: pip install faiss-cpu") from exc
    return faiss

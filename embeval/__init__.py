"""embeval: measure whether an embedding space is any good.

One function per command, taking arrays (NumPy, torch, pandas, PyArrow), paths, or texts with
``model="default"``, and returning a :class:`Report` (``.value("ndcg@10")``, ``.to_pandas()``,
``.to_json()``, a table in notebooks)::

    import embeval
    r = embeval.geometry(vectors)                       # an n×d array
    r = embeval.retrieval(Q, C, {"q1": {"d3": 1}})      # vectors + qrels
    r = embeval.retrieval("scifact/", model="default")  # a BEIR folder, encoded
    x = embeval.encode(["a text", "another"])           # n×d float32

Also ``embeval.gap``, ``embeval.pairs``, ``embeval.compare`` and ``embeval.run``. Importing embeval
is light: nothing heavy (NumPy, torch, FAISS) loads until a function is called.
"""

from embeval._version import __version__

_PUBLIC = (
    "geometry",
    "retrieval",
    "gap",
    "pairs",
    "compare",
    "run",
    "sweep_index",
    "sweep_compress",
    "Report",
    "Comparison",
    "Batch",
    "UnknownMetric",
)
__all__ = ["__version__", "encode", *_PUBLIC]


def __getattr__(name: str):
    if name in _PUBLIC:
        from embeval import python_api

        return getattr(python_api, name)
    if name == "encode":  # the subpackage embeval.encode, which is also callable: embeval.encode(texts)
        import importlib

        return importlib.import_module("embeval.encode")
    raise AttributeError(f"module 'embeval' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""What ``embeval run`` can run: dataset kinds, and commands dispatched by name.

Adding a command to batch runs is one entry in :data:`COMMANDS`: the name of its library
function in :mod:`embeval.api` and, for each dataset kind it accepts, which function parameter
each dataset field goes to. The runner passes ``seed``, ``progress``, ``metrics`` (when the job
lists metrics), ``encoder`` (for kinds that hold texts) and the dataset's and job's ``options``
as keyword arguments; options are checked against the function's signature before anything runs.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Kind:
    """A kind of dataset: the path fields it has (required, optional), and whether it holds
    texts that a model must encode."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    needs_model: bool = False
    help: str = ""


KINDS: dict[str, Kind] = {
    "embeddings": Kind(("path",), help="precomputed vectors: .npy .npz .parquet .csv .tsv .jsonl"),
    "texts": Kind(("path",), needs_model=True, help="texts to encode: .txt, .jsonl/.csv/.tsv/.parquet (text column)"),
    "beir": Kind(("path",), needs_model=True, help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)"),
    "pairs": Kind(("path",), needs_model=True, help="graded pairs: text_a, text_b, score (or an STS Benchmark file)"),
    "retrieval": Kind(("queries", "corpus", "qrels"), help="precomputed query and corpus vectors, and qrels"),
}


@dataclass(frozen=True)
class CommandSpec:
    """``function``: name in :mod:`embeval.api`; ``kinds``: dataset kind → {dataset field: parameter}."""

    function: str
    kinds: dict[str, dict[str, str]]

    def func(self) -> Callable[..., Any]:
        import embeval.api as api

        return getattr(api, self.function)

    def parameters(self) -> dict[str, inspect.Parameter]:
        return dict(inspect.signature(self.func()).parameters)


COMMANDS: dict[str, CommandSpec] = {
    "geometry": CommandSpec("geometry_report", {"embeddings": {"path": "file"}, "texts": {"path": "file"},
                                                "beir": {"path": "file"}}),
    "pairs": CommandSpec("pairs_report", {"pairs": {"path": "file"}}),
    "retrieval": CommandSpec("retrieval_report", {"retrieval": {"queries": "queries_path", "corpus": "corpus_path",
                                                                "qrels": "qrels_path"}}),
}

# Set by the runner; a config may not pass them as options.
RUNNER_ARGS = frozenset({"seed", "progress", "metrics", "encoder"})

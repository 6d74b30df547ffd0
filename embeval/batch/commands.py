"""What ``embeval run`` can run: dataset kinds, and commands dispatched by name.

Adding a command to batch runs is one entry in :data:`COMMANDS`: for each dataset kind it
accepts, the library function in :mod:`embeval.api` to call and which of its parameters each
dataset field goes to. The runner passes ``seed``, ``progress``, ``metrics`` (when the job lists
metrics), ``encoder`` (for kinds that hold texts) and the dataset's and job's ``options`` as
keyword arguments; options are checked against the function's signature before anything runs.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
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
    "beir": Kind(("path",), needs_model=True, help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)"),
    "pairs": Kind(("path",), needs_model=True, help="graded pairs: text_a, text_b, score (or an STS Benchmark file)"),
    "retrieval": Kind(("queries", "corpus", "qrels"), help="precomputed query and corpus vectors, and qrels"),
    "retrieval-texts": Kind(("queries", "corpus", "qrels"), needs_model=True,
                            help="query and document texts to encode, and qrels"),
    "gap": Kind(("a",), ("b",), help="two sets of vectors A and B (or one (2, n, d) .npy as a)"),
    "gap-texts": Kind(("a", "b"), needs_model=True, help="two sets of texts (A encoded as queries, B as documents)"),
}


@dataclass(frozen=True)
class Route:
    """``function`` in :mod:`embeval.api`, ``fields``: dataset field → parameter. A function
    taking ``**options`` names the function they are forwarded to in ``forwards_to``."""

    function: str
    fields: dict[str, str]
    forwards_to: str | None = None

    def func(self) -> Callable[..., Any]:
        import embeval.api as api

        return getattr(api, self.function)

    def parameters(self) -> dict[str, inspect.Parameter]:
        import embeval.api as api

        params = dict(inspect.signature(self.func()).parameters)
        if self.forwards_to:
            for name, p in inspect.signature(getattr(api, self.forwards_to)).parameters.items():
                params.setdefault(name, p)
        return {n: p for n, p in params.items() if p.kind is not p.VAR_KEYWORD}


@dataclass(frozen=True)
class CommandSpec:
    """``kinds``: dataset kind → route; ``families``: registry families its ``metrics`` come from."""

    kinds: dict[str, Route] = field(default_factory=dict)
    families: tuple[str, ...] = ()


def route(function: str, forwards_to: str | None = None, **fields: str) -> Route:
    return Route(function, fields, forwards_to)


COMMANDS: dict[str, CommandSpec] = {
    "geometry": CommandSpec({"embeddings": route("geometry_report", path="file"),
                             "texts": route("geometry_report", path="file"),
                             "beir": route("geometry_report", path="file")}, ("geometry", "labels")),
    "pairs": CommandSpec({"pairs": route("pairs_report", path="file")}, ("pairs",)),
    "retrieval": CommandSpec({
        "retrieval": route("retrieval_report", queries="queries_path", corpus="corpus_path", qrels="qrels_path"),
        "retrieval-texts": route("retrieval_report", queries="queries_path", corpus="corpus_path",
                                 qrels="qrels_path"),
        "beir": route("retrieval_report_beir", "retrieval_report_from_arrays", path="folder")}),
    "gap": CommandSpec({"gap": route("gap_report", a="a", b="b"), "gap-texts": route("gap_report", a="a", b="b")},
                       ("gap",)),
}

# Set by the runner; a config may not pass them as options.
RUNNER_ARGS = frozenset({"seed", "progress", "metrics", "encoder"})
# Parameters of retrieval_report_from_arrays that hold data, not options.
DATA_ARGS = frozenset({"queries", "corpus", "qrels", "query_ids", "doc_ids", "inputs", "sources", "notes"})

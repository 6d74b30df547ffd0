"""What ``embeval run`` can run: dataset kinds, and the library function each command calls.

Adding a command to batch runs is one entry in :data:`COMMANDS`: for each dataset kind it
accepts, the library function of :mod:`embeval.api` to call and which of its parameters each
dataset field goes to. The runner passes ``seed``, ``progress``, ``metrics`` (when the job lists
metrics), ``encoder`` (for kinds that hold texts) and the dataset's and job's ``options`` as
keyword arguments; options are checked against the function's signature before anything runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from embeval import api
from embeval.compute.context import ComputeContext, compute_default


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
    "retrieval-texts": Kind(
        ("queries", "corpus", "qrels"), needs_model=True, help="query and document texts to encode, and qrels"
    ),
    "gap": Kind(("a",), ("b",), help="two sets of vectors A and B (or one (2, n, d) .npy as a)"),
    "gap-texts": Kind(("a", "b"), needs_model=True, help="two sets of texts (A encoded as queries, B as documents)"),
    "diff": Kind(
        ("old", "new"),
        ("queries_old", "queries_new", "qrels", "texts"),
        help="two embeddings of the same items (OLD, NEW), optionally each side's queries and qrels",
    ),
}


@dataclass(frozen=True)
class Route:
    """``function``: the library function to call; ``fields``: dataset field → parameter. A
    function taking ``**options`` names the function they are forwarded to in ``forwards_to``."""

    function: Callable[..., Any]
    fields: dict[str, str]
    forwards_to: Callable[..., Any] | None = None

    def func(self) -> Callable[..., Any]:
        return self.function

    def parameters(self) -> dict[str, inspect.Parameter]:
        """The keyword parameters a config may set; a ``compute`` context is set as its
        ``device``, ``budget`` and ``exact`` (:meth:`compute`)."""
        params = dict(inspect.signature(self.function).parameters)
        if self.forwards_to is not None:
            for name, p in inspect.signature(self.forwards_to).parameters.items():
                params.setdefault(name, p)
        compute = self.compute()
        if compute is not None:
            del params["compute"]
            params.update(compute.parameters())
        return {n: p for n, p in params.items() if p.kind is not p.VAR_KEYWORD}

    def compute(self) -> ComputeContext | None:
        """The default compute context of the function (or of the one it forwards to); None when
        it has no O(n²) work to place."""
        return compute_default(self.function) or (
            None if self.forwards_to is None else compute_default(self.forwards_to)
        )


@dataclass(frozen=True)
class CommandSpec:
    """``kinds``: dataset kind → route; ``families``: registry families its ``metrics`` come from."""

    kinds: dict[str, Route] = field(default_factory=dict)
    families: tuple[str, ...] = ()


def route(function: Callable[..., Any], forwards_to: Callable[..., Any] | None = None, **fields: str) -> Route:
    return Route(function, fields, forwards_to)


COMMANDS: dict[str, CommandSpec] = {
    "geometry": CommandSpec(
        {
            "embeddings": route(api.geometry_report, path="file"),
            "texts": route(api.geometry_report, path="file"),
            "beir": route(api.geometry_report, path="file"),
        },
        ("geometry", "labels"),
    ),
    "pairs": CommandSpec({"pairs": route(api.pairs_report, path="file")}, ("pairs",)),
    "retrieval": CommandSpec(
        {
            "retrieval": route(api.retrieval_report, queries="queries_path", corpus="corpus_path", qrels="qrels_path"),
            "retrieval-texts": route(
                api.retrieval_report, queries="queries_path", corpus="corpus_path", qrels="qrels_path"
            ),
            "beir": route(api.retrieval_report_beir, api.retrieval_report_from_arrays, path="folder"),
        }
    ),
    "gap": CommandSpec(
        {"gap": route(api.gap_report, a="a", b="b"), "gap-texts": route(api.gap_report, a="a", b="b")}, ("gap",)
    ),
    # embeval sweep index|compress (options: the orchestrators' keywords, e.g. kinds, ef_search, quant, dims)
    "sweep-index": CommandSpec(
        {
            "embeddings": route(api.sweep_index_report, path="corpus"),
            "retrieval": route(api.sweep_index_report, queries="queries", corpus="corpus", qrels="qrels"),
        }
    ),
    "sweep-compress": CommandSpec(
        {
            "embeddings": route(api.sweep_compress_report, path="corpus"),
            "retrieval": route(api.sweep_compress_report, queries="queries", corpus="corpus", qrels="qrels"),
        }
    ),
    "diff": CommandSpec(
        {
            "diff": route(
                api.diff_report,
                api.diff_report_from_sets,
                old="old",
                new="new",
                queries_old="queries_old",
                queries_new="queries_new",
                qrels="qrels",
                texts="texts",
            )
        },
        ("diff",),
    ),
}

# Set by the runner; a config may not pass them as options.
RUNNER_ARGS = frozenset({"seed", "progress", "metrics", "encoder"})
# Parameters of retrieval_report_from_arrays that hold data, not options.
DATA_ARGS = frozenset({"queries", "corpus", "qrels", "query_ids", "doc_ids", "inputs", "sources", "notes"})

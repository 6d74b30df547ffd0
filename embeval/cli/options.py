"""Options shared by the commands: their declarations (``Annotated`` types), the path roles
(IN, OUT, Place) that ``boundary`` checks, option groups (``@options``), and ``flag_names``,
which says the library's parameter names as a command's flags."""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from embeval.cli.console import _warn


class Format(str, Enum):
    """Report formats on stdout (``--format``)."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    html = "html"


# Path roles ------------------------------------------------------------------------------
# Every option or argument that names a file says what it is, as extra metadata in its Annotated
# type (Typer ignores metadata that is not its own): IN (read), OUT (written), or Place (a folder or
# other path the command handles itself, with the reason). ``boundary`` collects them from the
# command's signature and checks every OUT against every IN and every other OUT before the command
# runs, so a new flag is checked by being declared; tests/test_path_roles.py fails on a path
# option without a role.


@dataclass(frozen=True)
class PathRole:
    role: str  # "input", "output" or "place"
    why: str = ""


IN = PathRole("input")


OUT = PathRole("output")


def Place(why: str) -> PathRole:
    """A path that is neither a file read nor a file written by the command (a folder, a cache)."""
    return PathRole("place", why)


def path_roles(fn: Callable[..., Any]) -> dict[str, tuple[str, PathRole]]:
    """Parameter name -> (flag or argument name, role), from the command's declared options."""
    table = _flag_table(fn)
    roles = {}
    for name, hint in typing.get_type_hints(fn, include_extras=True).items():
        for meta in getattr(hint, "__metadata__", ()):
            if isinstance(meta, PathRole):
                roles[name] = (table.get(name, name.upper()), meta)
    return roles


def _check_declared_paths(roles: dict[str, tuple[str, PathRole]], kwargs: dict[str, Any]) -> None:
    """Before any work: every OUT is writable, not an IN (nor a link to one), and no two OUTs are
    the same file (see :func:`embeval.io.outputs.check_outputs`)."""
    inputs: list[Any] = []
    outputs: dict[str, Any] = {}
    for name, (flag, role) in roles.items():
        value = kwargs.get(name)
        if value is None:
            continue
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if role.role == "input":
            inputs += values
        elif role.role == "output":
            for v in values:
                outputs[flag] = v
    if outputs:
        from embeval.io.outputs import check_outputs

        check_outputs(outputs, inputs)


def _check_paths(inputs, outputs: dict) -> None:
    """Every output (option name → path) checked before any work: writable, not an input (nor a
    link to one), no two the same."""
    from embeval.io.outputs import check_outputs

    check_outputs(outputs, inputs)


# Options shared by the commands ------------------------------------------------------------
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="stdout format.")]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help=("Write the report here (format from the suffix: .json .csv .md .html), atomically.")
    ),
    OUT,
]
FailIfOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--fail-if",
        help=(
            "Gate 'METRIC OP NUMBER' (OP: < <= > >= ==), e.g. 'ndcg@10 < 0.6' or 'uniformity(t=2) > -2'; exit 1 if it "
            "holds. Repeatable."
        ),
        rich_help_panel="CI",
    ),
]
JunitOpt = Annotated[
    Path | None,
    typer.Option(
        "--junit",
        help=("Write the gates as JUnit XML here (one test case per gate), for CI systems."),
        rich_help_panel="CI",
    ),
    OUT,
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for every random choice (sampling, folds).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
IdColOpt = Annotated[str, typer.Option("--id-col", help="Id column/field/array name.")]
VecColOpt = Annotated[str, typer.Option("--vector-col", help="Vector column/field/array name.")]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help=(
            "Inputs are texts: encode them with this sentence-transformers model (name, local path, or 'default' = "
            "all-MiniLM-L6-v2, offline)."
        ),
        rich_help_panel="Encoding",
    ),
    IN,
]
TextColOpt = Annotated[
    str,
    typer.Option(
        "--text-col", help=("Text column of .jsonl/.csv/.tsv/.parquet text inputs."), rich_help_panel="Encoding"
    ),
]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Encoding batch size.", rich_help_panel="Encoding")]
MaxLenOpt = Annotated[
    int | None,
    typer.Option(
        "--max-seq-length",
        help=("Truncate texts to this many tokens (model default otherwise)."),
        rich_help_panel="Encoding",
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        help=(
            "Where encoding and O(n²) work run: auto, cpu, cuda or cuda:N. auto = cuda when present (looked for only"
            " when the work is large), else cpu. With --cluster each worker resolves it: auto = its GPU or its CPU;"
            " cuda = every worker needs a GPU (else exit 2 naming the worker)."
        ),
        rich_help_panel="Compute",
    ),
]
BudgetOpt = Annotated[
    float,
    typer.Option(
        "--budget",
        help=(
            "Seconds of O(n²) work a run may start (estimated from n, d and the device first; on a --cluster from one"
            " timed tile per worker); above it each O(n²) diagnostic is estimated instead (sampled, 95% CI, exact:"
            " false in its params)."
        ),
        rich_help_panel="Compute",
    ),
]
ExactOpt = Annotated[
    bool,
    typer.Option(
        "--exact",
        help=("Compute every diagnostic exactly whatever the estimated cost (ignores --budget)."),
        rich_help_panel="Compute",
    ),
]
QPromptOpt = Annotated[
    str, typer.Option("--query-prompt", help=("Prefix for query texts (e.g. 'query: ')."), rich_help_panel="Encoding")
]
DPromptOpt = Annotated[
    str,
    typer.Option(
        "--document-prompt", help=("Prefix for document texts (e.g. 'passage: ')."), rich_help_panel="Encoding"
    ),
]
CacheOpt = Annotated[
    bool,
    typer.Option(
        "--cache/--no-cache",
        help=("Read/write the on-disk embedding cache ($EMBEVAL_CACHE_DIR, default ~/.cache/embeval)."),
        rich_help_panel="Encoding",
    ),
]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option("--cache-dir", help=("Embedding cache folder."), rich_help_panel="Encoding"),
    Place("the embedding cache folder (checked by the cache)"),
]
ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help=(
            "Run on Dask: local:N (N worker processes) or a scheduler address tcp://HOST:8786 "
            "(default: $EMBEVAL_CLUSTER). "
            "Inputs may be a folder or glob of shards. Needs pip install 'embeval-cli\\[dask]'."
        ),
        rich_help_panel="Scale out",
    ),
]
CheckpointOpt = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        help=(
            "With --cluster: keep each finished tile in this folder (new, empty, or one of an earlier run of "
            "the same command); the same command run again resumes from it with the same report. "
            "A folder holding anything else is refused, never cleared."
        ),
        rich_help_panel="Scale out",
    ),
    Place("the checkpoint folder (checked when the run starts; written tile by tile)"),
]
MtebOutOpt = Annotated[
    Path | None,
    typer.Option(
        "--mteb-out",
        help=(
            "Also write the scores as an MTEB task result "
            "(.json; main_score = nDCG@10 for retrieval, Spearman for pairs)."
        ),
        rich_help_panel="Interop",
    ),
    OUT,
]
MtebTaskOpt = Annotated[
    str | None,
    typer.Option(
        "--mteb-task",
        help=("task_name in the --mteb-out file (default: the dataset's folder or file name)."),
        rich_help_panel="Interop",
    ),
]
MtebLangOpt = Annotated[
    str,
    typer.Option(
        "--mteb-lang",
        help=(
            "languages of the data in the --mteb-out file, MTEB codes, comma-separated "
            "(MTEB filters scores by language; default eng-Latn)."
        ),
        rich_help_panel="Interop",
    ),
]


# Option groups, defined once -----------------------------------------------------------------
# Typer's idiom for click's shared-option decorators (sqlite-utils' ``output_options``): a group is
# a list of parameters and a function that builds one object from them. ``@options(...)`` adds the
# group's parameters to a command's signature (so --help lists them) and hands the command the
# built object under the group's name.


@dataclass(frozen=True)
class OptionGroup:
    name: str
    params: tuple[inspect.Parameter, ...]
    build: Callable[..., Any]


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def options(*groups: OptionGroup) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the option groups ``groups``: their parameters join its signature where the
    command names the group (a parameter ``encoder: Any = None`` holds the place of the group
    ``encoder``, so --help lists its options there; a group the command does not name goes last),
    and the command receives each group's built object as the keyword argument named after it."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn, include_extras=True)
        sig = inspect.signature(fn)
        by_name = {g.name: g for g in groups}
        params: list[inspect.Parameter] = []
        for p in sig.parameters.values():
            if p.name in by_name:
                params += by_name[p.name].params
            else:
                params.append(p.replace(annotation=hints.get(p.name, p.annotation)))
        params += [p for g in groups if g.name not in sig.parameters for p in g.params]
        # Typer passes every option by name: keyword-only keeps the signature valid in any order.
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            for g in groups:
                kwargs[g.name] = g.build(**{p.name: kwargs.pop(p.name) for p in g.params})
            return fn(**kwargs)

        wrapper.__signature__ = sig.replace(parameters=params, return_annotation=None)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate


# Library errors name parameters, never flags: `sample`, `shift_lambda` (in backticks). A command
# says them as its own flags, from the one table Typer already holds: each parameter's declaration.
_PARAM_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*(?:=False)?)`")  # `normalize=False` is --no-normalize


def _flag_table(fn: Callable[..., Any]) -> dict[str, str]:
    """Parameter name -> its long flag (``fmt`` -> ``--format``), from the command's own options."""
    table = {}
    for name, hint in typing.get_type_hints(fn, include_extras=True).items():
        for meta in getattr(hint, "__metadata__", ()):
            # In Annotated style Typer reads a first positional "--flag" (stored as default) as a declaration.
            given = [getattr(meta, "default", None), *(getattr(meta, "param_decls", None) or ())]
            decls = [d for d in given if isinstance(d, str) and d.startswith("--")]
            if decls:
                on, _, off = decls[0].partition("/")
                table[name] = on
                if off:  # a --x/--no-x switch: the library's `x=False` is the --no-x flag
                    table[f"{name}=False"] = off
    return table


def flag_names(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Say the library's parameter names (`sample`) in an error as this command's flags (--sample)."""
    table = _flag_table(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from embeval.errors import EmbevalError

        try:
            return fn(*args, **kwargs)
        except EmbevalError as exc:
            exc.args = (_PARAM_NAME.sub(lambda m: table.get(m.group(1), m.group(1)), str(exc)),)
            raise

    return wrapper


def encoding_options(*, model_default: str | None = None, query_prompt: bool = True) -> OptionGroup:
    """The encoding block (``--model`` … ``--cache-dir``), built into an EncoderConfig (None when
    ``--model`` is not given: the inputs are embeddings). ``query_prompt``: whether the command
    encodes queries at all."""
    model_opt: Any = (
        ModelOpt
        if model_default is None
        else Annotated[
            str,
            typer.Option(
                "--model", help="sentence-transformers name, local path, or 'default'.", rich_help_panel="Encoding"
            ),
            IN,
        ]
    )
    params = [
        _param("model", model_opt, model_default),
        _param("batch_size", BatchOpt, 32),
        _param("max_seq_length", MaxLenOpt, None),
    ]
    if query_prompt:
        params.append(_param("query_prompt", QPromptOpt, ""))
    params += [
        _param("document_prompt", DPromptOpt, ""),
        _param("cache", CacheOpt, True),
        _param("cache_dir", CacheDirOpt, None),
    ]
    return OptionGroup("encoder", tuple(params), _encoder)


def _encoder(
    *,
    model: str | None,
    batch_size: int = 32,
    max_seq_length: int | None = None,
    device: str | None = None,
    query_prompt: str = "",
    document_prompt: str = "",
    cache: bool = True,
    cache_dir: Path | None = None,
):
    """An EncoderConfig when --model is given, else None (inputs are embeddings; encoding options
    given anyway are named in one warning line instead of being silently ignored)."""
    if model is None:
        given = [
            name
            for name, value, default in (
                ("--batch-size", batch_size, 32),
                ("--max-seq-length", max_seq_length, None),
                ("--device", device, None),
                ("--query-prompt", query_prompt, ""),
                ("--document-prompt", document_prompt, ""),
                ("--no-cache", cache, True),
                ("--cache-dir", cache_dir, None),
            )
            if value != default
        ]
        if given:
            _warn(
                f"{', '.join(given)} {'has' if len(given) == 1 else 'have'} no effect without --model "
                "(the inputs are embeddings)"
            )
        return None
    from embeval.encode import EncoderConfig
    from embeval.errors import UsageError

    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    return EncoderConfig(
        model=model,
        batch_size=batch_size,
        max_seq_length=max_seq_length,
        device=device,
        query_prompt=query_prompt,
        document_prompt=document_prompt,
        cache=cache,
        cache_dir=None if cache_dir is None else str(cache_dir),
    )


def _compute(device: str = "auto", budget: float = 120.0, exact: bool = False) -> Any:
    """The compute block, made (and so checked) once when the command starts: a
    :class:`~embeval.compute.context.ComputeContext` the command hands to the library as it is."""
    from embeval.compute.context import ComputeContext

    return ComputeContext(device, budget, exact)


def compute_options(*, budget: bool = True) -> OptionGroup:
    """--device, plus --budget and --exact when the command has O(n²) work to budget."""
    params = [_param("device", DeviceOpt, "auto")]
    if budget:
        params += [_param("budget", BudgetOpt, 120.0), _param("exact", ExactOpt, False)]
    return OptionGroup("compute", tuple(params), _compute)


DEVICE = compute_options(budget=False)
COMPUTE = compute_options()


def _columns(id_col: str = "id", vector_col: str = "embedding", text_col: str = "text") -> dict[str, str]:
    """The input columns block (--id-col, --vector-col, --text-col): the orchestrators' keyword
    arguments of the same names, passed on as they are (``**columns``)."""
    return {"id_col": id_col, "vector_col": vector_col, "text_col": text_col}


COLUMNS = OptionGroup(
    "columns",
    (
        _param("id_col", IdColOpt, "id"),
        _param("vector_col", VecColOpt, "embedding"),
        _param("text_col", TextColOpt, "text"),
    ),
    _columns,
)


@dataclass(frozen=True)
class ClusterChoice:
    """The --cluster block, built: ``spec`` (None: this machine) and the ``checkpoint`` folder."""

    spec: str | None = None
    checkpoint: Path | None = None

    def kwargs(self) -> dict[str, Any]:
        """The library's keyword arguments (``cluster``, ``checkpoint``)."""
        return {"cluster": self.spec, "checkpoint": self.checkpoint}


def _cluster(cluster: str | None = None, checkpoint: Path | None = None) -> ClusterChoice:
    """The --cluster block: the Dask cluster spec (or $EMBEVAL_CLUSTER), checked when the command
    starts (None runs on this machine), and --checkpoint, which needs a cluster. Dask itself is
    imported only when a cluster is used."""
    from embeval.distributed.cluster import resolve_spec
    from embeval.errors import UsageError

    spec = resolve_spec(cluster)
    if checkpoint is not None and spec is None:
        raise UsageError("--checkpoint keeps the tiles of a cluster run: give --cluster too (or set $EMBEVAL_CLUSTER)")
    return ClusterChoice(spec, checkpoint)


CLUSTER = OptionGroup(
    "cluster", (_param("cluster", ClusterOpt, None), _param("checkpoint", CheckpointOpt, None)), _cluster
)

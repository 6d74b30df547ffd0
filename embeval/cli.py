"""Command-line interface: parse → library call → render. No maths here.

Heavy libraries (numpy, pandas, faiss, torch) are imported inside the commands, so that
``embeval --help`` stays fast.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer


def _help_markup():
    """Rich help panels where the terminal is wide enough for them (140+ columns); plain help,
    wrapped to the width, in narrower terminals and when the help is piped or captured, so that no
    description is squeezed into a narrow column and cut."""
    import os
    import shutil

    if os.environ.get("EMBEVAL_HELP") in ("rich", "plain"):
        return "rich" if os.environ["EMBEVAL_HELP"] == "rich" else None
    if not sys.stdout.isatty():
        return None
    return "rich" if shutil.get_terminal_size((80, 24)).columns >= 140 else None


_MARKUP = _help_markup()


def _lit(text: str) -> str:
    """Help text shown literally: square brackets escaped only where Rich markup would eat them."""
    return text.replace("[", "\\[") if _MARKUP == "rich" else text


EXIT_CODES = (
    "Exit codes: 0 = ran and every gate passed, 1 = a gate failed, 2 = bad input or usage "
    "(one line on stderr, no output file), 3 = internal error (a bug: one line; set "
    "EMBEVAL_DEBUG=1 for the traceback), 130 = interrupted (Ctrl-C), 141 = stdout closed "
    "early (e.g. piped into head), quietly."
)

app = typer.Typer(
    name="embeval",
    help="Measure whether an embedding space is any good: geometry, retrieval and gap diagnostics.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=_MARKUP,
)


class Format(str, Enum):
    """Report formats on stdout (``--format``)."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    html = "html"


class CompareFormat(str, Enum):
    """``embeval compare`` formats: the report formats and LaTeX (a ranking table, as ranx)."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    latex = "latex"
    html = "html"


FORMATS = tuple(f.value for f in Format)


class ListFormat(str, Enum):
    """Formats of ``embeval metrics``."""

    table = "table"
    json = "json"
    markdown = "markdown"


class Role(str, Enum):
    """Which prompt an encoded text gets."""

    document = "document"
    query = "query"


class IndexKind(str, Enum):
    """Search index kinds (see :mod:`embeval.index.search`)."""

    flat = "flat"
    hnsw = "hnsw"
    ivf = "ivf"


class Layout(str, Enum):
    """Layouts of a graded-pairs file (see :mod:`embeval.io.pairs`)."""

    auto = "auto"
    columns = "columns"
    stsb = "stsb"


def _version(value: bool) -> None:
    if value:
        from embeval import __version__

        typer.echo(f"embeval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help=("Print the version and exit."))
    ] = False,
) -> None:
    """Measure whether an embedding space is any good: geometry, retrieval and gap diagnostics."""
    _warnings_as_lines()


def _warnings_as_lines() -> None:
    """Library warnings (embeval's own, e.g. a broken cache file moved aside) as one line on stderr."""
    import re
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        if category.__module__.startswith("embeval"):  # the library's `param` names said as flags
            text = re.sub(r"`(\w+)`", lambda m: "--" + m.group(1).replace("_", "-"), str(message))
            _say("warning: ", text)  # control characters made visible, as every stderr line
        else:
            _default_show(message, category, filename, lineno, file, line)

    if getattr(warnings.showwarning, "__name__", "") != "show":
        _default_show = warnings.showwarning
        warnings.showwarning = show


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
            " when the work is large), else cpu."
        ),
        rich_help_panel="Compute",
    ),
]
BudgetOpt = Annotated[
    float,
    typer.Option(
        "--budget",
        help=(
            "Seconds of O(n²) work a run may start (estimated from n, d and the device first); above it each O(n²)"
            " diagnostic is estimated instead (sampled, 95% CI, exact: false in its params)."
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
    """Give a command the option groups ``groups``: their parameters join its signature, and the
    command receives each group's built object as the keyword argument named after the group."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn, include_extras=True)
        sig = inspect.signature(fn)
        names = {g.name for g in groups}
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in sig.parameters.values()
            if p.name not in names
        ]
        extra = [p for g in groups for p in g.params]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            for g in groups:
                kwargs[g.name] = g.build(**{p.name: kwargs.pop(p.name) for p in g.params})
            return fn(**kwargs)

        params = own + extra
        wrapper.__signature__ = sig.replace(parameters=params, return_annotation=None)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate


# Library errors name parameters, never flags: `sample`, `shift_lambda` (in backticks). A command
# says them as its own flags, from the one table Typer already holds: each parameter's declaration.
_PARAM_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def _flag_table(fn: Callable[..., Any]) -> dict[str, str]:
    """Parameter name -> its long flag (``fmt`` -> ``--format``), from the command's own options."""
    table = {}
    for name, hint in typing.get_type_hints(fn, include_extras=True).items():
        for meta in getattr(hint, "__metadata__", ()):
            # In Annotated style Typer reads a first positional "--flag" (stored as default) as a declaration.
            given = [getattr(meta, "default", None), *(getattr(meta, "param_decls", None) or ())]
            decls = [d for d in given if isinstance(d, str) and d.startswith("--")]
            if decls:
                table[name] = decls[0].split("/")[0]
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


@dataclass(frozen=True)
class Compute:
    """The compute block: --device (every command that encodes or computes), and --budget/--exact
    (commands with O(n²) diagnostics). The device is checked when the command starts."""

    device: str = "auto"
    budget: float = 120.0
    exact: bool = False

    def encoder(self, encoder: Any) -> Any:
        """The EncoderConfig on this device (``auto``: the encoder's own default)."""
        from dataclasses import replace

        if encoder is None or self.device == "auto":
            return encoder
        return replace(encoder, device=self.device)


def _compute(device: str = "auto", budget: float = 120.0, exact: bool = False) -> Compute:
    from embeval.compute.backend import check_device

    return Compute(check_device(device), budget, exact)


def compute_options(*, budget: bool = True) -> OptionGroup:
    """--device, plus --budget and --exact when the command has O(n²) work to budget."""
    params = [_param("device", DeviceOpt, "auto")]
    if budget:
        params += [_param("budget", BudgetOpt, 120.0), _param("exact", ExactOpt, False)]
    return OptionGroup("compute", tuple(params), _compute)


DEVICE = compute_options(budget=False)
COMPUTE = compute_options()


def _cluster(cluster: str | None = None) -> str | None:
    """The --cluster block: the Dask cluster spec (or $EMBEVAL_CLUSTER), checked when the command
    starts; None runs on this machine. Dask itself is imported only when a cluster is used."""
    from embeval.distributed.cluster import resolve_spec

    return resolve_spec(cluster)


CLUSTER = OptionGroup("cluster", (_param("cluster", ClusterOpt, None),), _cluster)


@dataclass
class Output:
    """The output/gates block: where and how the report goes, and the gates it must pass.
    Checked once, when the command starts (before anything loads)."""

    fmt: str
    output: Path | None
    gates: list[Any]
    junit: Path | None
    out_fmt: str | None

    def emit(self, report: Any) -> None:
        emit(report, fmt=self.fmt, output=self.output, gates=self.gates, junit=self.junit, out_fmt=self.out_fmt)

    def check(self, families: str | tuple[str, ...]) -> None:
        """Before any work: the gates name metrics this command can compute. (The paths were
        checked by ``boundary`` from the command's IN/OUT declarations.)"""
        from embeval.report.gates import check_known

        check_known(self.gates, families)


def _output(fmt: Format, output: Path | None, fail_if: list[str] | None, junit: Path | None) -> Output:
    gates = _parse_gates(fail_if)
    out_fmt = _output_format(output, fmt.value)
    _check_junit(junit)
    return Output(fmt.value, output, gates, junit, out_fmt)


OUTPUT = OptionGroup(
    "out",
    (
        _param("fmt", FormatOpt, Format.table),
        _param("output", OutputOpt, None),
        _param("fail_if", FailIfOpt, None),
        _param("junit", JunitOpt, None),
    ),
    _output,
)


def _die(message: str, code: int = 2) -> None:
    """One line on stderr (control characters made visible), then exit ``code``."""
    _say("error: ", message)
    raise typer.Exit(code)


def _say(prefix: str, message: str) -> None:
    from embeval.safety import term

    line = f"embeval: {prefix}{term(message)}"
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed too: nothing left to tell
        pass


def _internal(exc: BaseException) -> None:
    """An unexpected exception: one line and exit code 3 (the traceback with EMBEVAL_DEBUG=1)."""
    import os

    if os.environ.get("EMBEVAL_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    detail = str(exc).strip().splitlines()
    _say(
        "internal error: ",
        f"{type(exc).__name__}: {detail[0] if detail else ''} (run with EMBEVAL_DEBUG=1 for the traceback)",
    )
    raise typer.Exit(3)


def _pipe_closed() -> None:
    """stdout's reader went away (``embeval metrics | head -1``): stop quietly, exit 141 as a
    process killed by SIGPIPE would. stdout is pointed at /dev/null so that the interpreter's
    final flush does not complain either."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test runner)
        pass
    raise typer.Exit(141)


def boundary(fn):
    """The one place exceptions become exit codes: EmbevalError → one line, exit 2; a closed
    pipe → quiet exit 141; anything unexpected → one line, exit 3 (never 1, the gate code).
    Every command goes through it, so it is also where the declared paths (IN/OUT) are checked,
    before the command's own code runs."""

    roles = path_roles(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from embeval.errors import EmbevalError

        try:
            _check_declared_paths(roles, kwargs)
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except EmbevalError as exc:
            _die(str(exc))
        except BrokenPipeError:
            _pipe_closed()
        except MemoryError:
            _die(
                "out of memory; try a smaller input, a smaller --budget (estimated forms of the O(n²) "
                "diagnostics), or --sample for uniformity"
            )
        except RecursionError as exc:
            _internal(exc)
        except OSError as exc:  # a file that vanished or a disk that filled up mid-run
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _die(f"{where}{exc.strerror or exc}")
        except Exception as exc:  # the contract: anything else is exit code 3
            if _is_click_error(exc):
                raise
            _internal(exc)

    return wrapper


def _is_click_error(exc: BaseException) -> bool:
    """A click/Typer usage exception (public ClickException interface: exit_code, format_message)."""
    return hasattr(exc, "exit_code") and callable(getattr(exc, "format_message", None))


def _console(**kwargs):
    """A Rich console whose closed-pipe handling is ours (BrokenPipeError reaches ``boundary``)
    instead of Rich's default (exit code 1, the gate code)."""
    from rich.console import Console

    class _PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return _PipeConsole(**kwargs)


def _table_console(**kwargs):
    """The console for tables on stdout: :func:`_console`'s closed-pipe handling, with the width
    rules of :mod:`embeval.report.width` (``COLUMNS`` or wide enough off a terminal, never cut)."""
    from embeval.report.width import table_width

    kwargs.setdefault("width", table_width())
    return _console(**kwargs)


def _progress(quiet: bool):
    from embeval.progress import NULL, RichProgress

    if quiet:
        return NULL

    return RichProgress(_console(stderr=True))


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


def _warn(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    from embeval.safety import term

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[yellow]embeval: warning:[/] {escape(term(message))}")


def _output_format(output: Path | None, fmt: str) -> str | None:
    from embeval.errors import UsageError
    from embeval.report.render import SUFFIX_FORMAT

    if output is None:
        return None
    from embeval.io.atomic import check_writable

    check_writable(output, "--output")
    out_fmt = SUFFIX_FORMAT.get(output.suffix.lower())
    if out_fmt is None:
        if fmt == "table":
            raise UsageError(
                f"--output {output}: cannot tell the format from the suffix; "
                "use .json, .csv, .md or .html, or pass --format"
            )
        out_fmt = fmt
    return out_fmt


def _parse_gates(fail_if: list[str] | None, families: str | tuple[str, ...] | None = None):
    """Parse the gates and, for a command with a known set of metrics, check their names now."""
    from embeval.report.gates import check_known, parse_gate

    gates = [parse_gate(e) for e in (fail_if or [])]
    if families:
        check_known(gates, families)
    return gates


def _check_paths(inputs, outputs: dict) -> None:
    """Every output (option name → path) checked before any work: writable, not an input (nor a
    link to one), no two the same."""
    from embeval.io.outputs import check_outputs

    check_outputs(outputs, inputs)


def _check_junit(junit: Path | None) -> None:
    if junit is not None:
        from embeval.io.atomic import check_writable

        check_writable(junit, "--junit")


def _fail(summary: str) -> None:
    """The one-line gate summary on stderr, then exit code 1."""
    _say("", summary)
    raise typer.Exit(1)


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    import os

    rel = os.path.relpath(Path(path).absolute())
    return str(path) if rel.startswith("..") else rel


def _write_mteb(path: Path | None, report, task: str, split: str) -> None:
    """--mteb-out: the report's scores as an MTEB task result (written before the report is shown)."""
    if path is not None:
        from embeval.io.mteb import write_mteb

        write_mteb(path, report, task_name=task, split=split)
        report.notes.append(f"MTEB result ({task}, {split}) written to {path}")


def emit(
    report, *, fmt: str, output: Path | None, gates, junit: Path | None = None, out_fmt: str | None = None
) -> None:
    """Evaluate gates, print, write the report and the JUnit file, and exit with the right code
    (1 with a one-line summary when a gate failed). ``out_fmt``: the output file's format when the
    caller already checked ``output`` (see :class:`Output`)."""
    from embeval.io.atomic import write_atomic
    from embeval.report.gates import apply_gates, failure_summary
    from embeval.report.render import RENDERERS, print_table

    if out_fmt is None:
        _check_junit(junit)
        out_fmt = _output_format(output, fmt)
    apply_gates(report, gates)
    if fmt == "table":
        print_table(report, _table_console())
    else:
        sys.stdout.write(RENDERERS[fmt](report))
    if output is not None and out_fmt is not None:
        write_atomic(output, RENDERERS[out_fmt](report))
    if junit is not None:
        from embeval.report.junit import report_suites, to_junit

        write_atomic(junit, to_junit(report_suites(report)))
    if not report.passed:
        _fail(failure_summary(report))


# Commands ----------------------------------------------------------------------------------


@app.command("metrics")
@boundary
@flag_names
def metrics_cmd(
    family: Annotated[str | None, typer.Argument(help="Only this family (geometry, ...).")] = None,
    fmt: Annotated[
        ListFormat,
        typer.Option(
            "--format",
            "-f",
            help=("table (grouped by diagnostic), json (one object per output) or markdown (the README's tables)."),
        ),
    ] = ListFormat.table,
) -> None:
    """List every diagnostic and the outputs it reports: direction, identifying parameters,
    parameters, what it needs."""
    from rich.padding import Padding

    from embeval.diagnostics import all_diagnostics, families
    from embeval.errors import UsageError

    diags = all_diagnostics(family)
    if not diags:
        raise UsageError(f"unknown family {family!r}; choose one of {', '.join(families())}")
    if fmt is ListFormat.json:
        from embeval.results import dumps

        rows = [
            {
                "name": o.name,
                "family": d.family,
                "diagnostic": d.name,
                "higher_is_better": o.higher_is_better,
                "direction": o.direction,
                "identity": list(o.identity),
                "description": o.description,
                "params": {
                    k: {"type": p.type.__name__, "default": p.default, "help": p.help} for k, p in d.params.items()
                },
                "needs": sorted(d.needs),
            }
            for d in diags
            for o in d.outputs
        ]
        sys.stdout.write(dumps(rows, indent=2) + "\n")
        return
    if fmt is ListFormat.markdown:
        from embeval.report.catalog import catalogue, outputs_table

        sys.stdout.write(outputs_table(family) if family else catalogue())
        return
    con = _table_console(highlight=False)
    family_now = None
    arrow = {True: "↑ higher is better", False: "↓ lower is better", None: "· no direction"}
    for d in diags:
        if d.family != family_now:
            if family_now is not None:
                con.print()
            family_now = d.family
            con.print(f"[bold underline]{d.family}[/]")
        con.print(f"  [bold cyan]{d.name}[/]")
        con.print(Padding(d.description, (0, 0, 0, 6), expand=False))
        for o in d.outputs:
            ident = f" (identified by {', '.join(o.identity)})" if o.identity else ""
            con.print(
                Padding(f"→ [bold]{o.name}[/]  [dim]{arrow[o.higher_is_better]}{ident}[/]", (0, 0, 0, 6), expand=False)
            )
        if d.params:
            con.print(
                Padding(
                    "params: " + ", ".join(f"{k}={p.default} ({p.help})" for k, p in d.params.items()),
                    (0, 0, 0, 6),
                    expand=False,
                )
            )
        if d.needs:
            con.print(Padding(f"needs: {', '.join(sorted(d.needs))}", (0, 0, 0, 6), expand=False))


@app.command("geometry")
@boundary
@flag_names
@options(encoding_options(query_prompt=False), COMPUTE, CLUSTER, OUTPUT)
def geometry_cmd(
    file: Annotated[
        str,
        typer.Argument(
            help=(
                "Embedding file: .npy .npz .parquet .csv .tsv .jsonl, a .faiss index, or a source URI (lancedb://, "
                "postgresql://, hf-disk://, faiss://)."
            )
        ),
        IN,
    ],
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help=(
                "Diagnostics to run, e.g. 'uniformity,hubness(k=5),mam(mode=pairwise)'. Default: all that apply. See "
                "'embeval metrics'."
            ),
        ),
    ] = None,
    pairs: Annotated[
        str | None, typer.Option("--pairs", help=("Row-aligned partner embeddings (for alignment).")), IN
    ] = None,
    sample: Annotated[
        int,
        typer.Option("--sample", help=("Estimate uniformity from N random pairs (with a 95% CI) instead of exactly.")),
    ] = 0,
    normalize: Annotated[
        bool,
        typer.Option("--normalize/--no-normalize", help=("L2-normalise rows first (the default; cosine geometry).")),
    ] = True,
    id_col: IdColOpt = "id",
    vector_col: VecColOpt = "embedding",
    text_col: TextColOpt = "text",
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help=(
                "Row-aligned label file (.txt a label per line; .csv/.tsv/.parquet a 'label' or only column; .jsonl; "
                ".npy). Adds tolerance, knn_label_agreement, knn_accuracy, silhouette, opis."
            ),
        ),
        IN,
    ] = None,
    label_col: Annotated[
        str | None,
        typer.Option(
            "--label-col", help=("Label column of the embeddings file (or, with --labels, of the label file).")
        ),
    ] = None,
    items: Annotated[
        Path | None,
        typer.Option(
            "--items",
            help=(
                "Write per-item triage rows (.csv or .parquet): k-occurrence, nearest neighbour, label agreement, "
                "flags "
                "hub/antihub/near_duplicate/label_suspect."
            ),
        ),
        OUT,
    ] = None,
    items_k: Annotated[
        int | None,
        typer.Option(
            "--items-k",
            help=("Neighbours for the per-item table (default 10, or rows − 1 on a smaller input)."),
            show_default=False,
        ),
    ] = None,
    near_dup_threshold: Annotated[
        float,
        typer.Option(
            "--near-dup-threshold",
            help=("Flag near_duplicate when the cosine to the nearest other row is at least this."),
        ),
    ] = 0.99,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    encoder: Any = None,
    compute: Any = None,
    cluster: Any = None,
    out: Any = None,
) -> None:
    """Geometry of one embedding set: uniformity, alignment, MAM, anisotropy, effective rank,
    hubness, intrinsic dimension; with labels also tolerance, kNN label agreement and accuracy,
    silhouette and OPIS; --items writes a per-item triage file.

    FILE is an embedding file, or texts (.txt, .jsonl/.csv/.tsv/.parquet with --text-col, a BEIR
    folder's corpus) when --model is given (the per-item file then shows each text)."""
    if items is not None:
        from embeval.report.items import check_items_path

        check_items_path(items)
    else:
        unused = [
            n
            for n, v, d in (("--items-k", items_k, None), ("--near-dup-threshold", near_dup_threshold, 0.99))
            if v != d
        ]
        if unused:
            _warn(f"{', '.join(unused)} {'has' if len(unused) == 1 else 'have'} no effect without --items")
    out.check(("geometry", "labels"))
    from embeval.api import geometry_report

    report = geometry_report(
        file,
        metrics=metric,
        pairs=pairs,
        sample=sample,
        normalize=normalize,
        id_col=id_col,
        vector_col=vector_col,
        text_col=text_col,
        encoder=compute.encoder(encoder),
        labels=labels,
        label_col=label_col,
        items=items is not None,
        items_k=items_k,
        near_dup_threshold=near_dup_threshold,
        seed=seed,
        progress=_progress(quiet),
        device=compute.device,
        budget=compute.budget,
        exact=compute.exact,
        cluster=cluster,
    )
    if items is not None:
        from embeval.report.items import write_items

        write_items(items, report.items)
    out.emit(report)


@app.command("encode")
@boundary
@flag_names
@options(encoding_options(model_default="default"), DEVICE)
def encode_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help=("Texts: .txt (a line each), .jsonl/.csv/.tsv/.parquet (--text-col), or a BEIR folder (its corpus).")
        ),
        IN,
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help=("Where to write: .npy .npz .parquet .csv .tsv .jsonl (ids kept except in .npy).")
        ),
        OUT,
    ],
    role: Annotated[Role, typer.Option("--role", help="Which prompt to prepend.")] = Role.document,
    text_col: TextColOpt = "text",
    id_col: IdColOpt = "id",
    normalize: Annotated[bool, typer.Option("--normalize/--no-normalize", help="L2-normalise the vectors.")] = True,
    quiet: QuietOpt = False,
    encoder: Any = None,
    compute: Any = None,
) -> None:
    """Encode texts with a model and write the vectors (with ids) in any format embeval reads."""
    from dataclasses import replace

    from embeval.api import encode_file

    encoder = replace(compute.encoder(encoder), normalize=normalize)
    n, d = encode_file(
        file, output, encoder=encoder, role=role.value, text_col=text_col, id_col=id_col, progress=_progress(quiet)
    )
    if not quiet:
        _console(stderr=True).print(f"wrote {n} × {d} vectors to {output}")


@app.command("pairs")
@boundary
@flag_names
@options(encoding_options(model_default="default", query_prompt=False), DEVICE, OUTPUT)
def pairs_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help=(
                "Graded pairs: .csv/.tsv/.jsonl/.parquet with text_a, text_b, score; or an STS Benchmark release file "
                "(sts-test.csv)."
            )
        ),
        IN,
    ],
    layout: Annotated[
        Layout,
        typer.Option(
            "--layout",
            help=(
                "columns (named columns), stsb (STS Benchmark release: tab-separated, no header, score in field 5, "
                "sentences in 6 and 7) or auto (tell from the file)."
            ),
        ),
    ] = Layout.auto,
    text_a_col: Annotated[str, typer.Option("--text-a-col", help="First text column.")] = "text_a",
    text_b_col: Annotated[str, typer.Option("--text-b-col", help="Second text column.")] = "text_b",
    score_col: Annotated[str, typer.Option("--score-col", help="Gold score column.")] = "score",
    metric: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help=("Subset of spearman, pearson, pair_alignment."))
    ] = None,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    mteb_out: MtebOutOpt = None,
    mteb_task: MtebTaskOpt = None,
    encoder: Any = None,
    compute: Any = None,
    out: Any = None,
) -> None:
    """Graded pairs (STS): Spearman and Pearson of cos(a, b) against the gold score, and alignment."""
    from embeval.io.mteb import check_mteb_path

    check_mteb_path(mteb_out)
    from embeval.api import pairs_report

    out.check("pairs")
    report = pairs_report(
        file,
        encoder=compute.encoder(encoder),
        layout=layout.value,
        text_a_col=text_a_col,
        text_b_col=text_b_col,
        score_col=score_col,
        metrics=metric,
        seed=seed,
        progress=_progress(quiet),
    )
    _write_mteb(mteb_out, report, mteb_task or Path(file).stem, "test")
    out.emit(report)


@app.command("retrieval")
@boundary
@flag_names
@options(encoding_options(), COMPUTE, CLUSTER, OUTPUT)
def retrieval_cmd(
    data: Annotated[
        Path | None,
        typer.Argument(
            help=(
                "A BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv); needs --model. Or use "
                "--queries/--corpus/--qrels."
            )
        ),
        IN,
    ] = None,
    split: Annotated[str, typer.Option("--split", help="qrels split of a BEIR folder.")] = "test",
    queries: Annotated[
        str | None,
        typer.Option(
            "--queries",
            help=(
                "Query embeddings (.npy .npz .parquet .csv .tsv .jsonl, .faiss, or a source URI); ids from the id "
                "column/array."
            ),
        ),
        IN,
    ] = None,
    corpus: Annotated[str | None, typer.Option("--corpus", help="Document embeddings, same formats."), IN] = None,
    qrels: Annotated[
        Path | None,
        typer.Option(
            "--qrels",
            help=("Relevance judgements: BEIR TSV (query-id corpus-id score) or TREC; score > 0 is relevant."),
        ),
        IN,
    ] = None,
    k: Annotated[
        str, typer.Option("--k", help=("Rank cutoffs for recall/precision/mrr/ndcg/map, comma-separated."))
    ] = "1,10,100",
    index: Annotated[
        IndexKind,
        typer.Option(
            "--index",
            help=(
                "flat (exact) or hnsw / ivf (approximate: also reports ann_recall@K against exact search on a sample)."
            ),
        ),
    ] = IndexKind.flat,
    hnsw_m: Annotated[int | None, typer.Option("--hnsw-m", help="hnsw: links per node (default 32).")] = None,
    ef_construction: Annotated[
        int | None, typer.Option("--ef-construction", help=("hnsw: build-time candidate list (default 200)."))
    ] = None,
    ef_search: Annotated[
        int | None,
        typer.Option("--ef-search", help=("hnsw: search-time candidate list (default 128, at least the largest k).")),
    ] = None,
    nlist: Annotated[int | None, typer.Option("--nlist", help="ivf: number of cells (default about 4·√n).")] = None,
    nprobe: Annotated[int | None, typer.Option("--nprobe", help="ivf: cells visited per query (default 16).")] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help=("CPU threads for search and scoring (default: all cores)."))
    ] = None,
    per_query: Annotated[
        bool, typer.Option("--per-query", help=("Add one row per query and metric to the CSV/JSON output."))
    ] = False,
    roc: Annotated[
        Path | None, typer.Option("--roc", help=("Write the pooled ROC curve: .csv (threshold,fpr,tpr) or .png.")), OUT
    ] = None,
    run_out: Annotated[
        Path | None,
        typer.Option(
            "--run",
            help=("Write the ranked top-K of every scored query as a TREC run file (qid Q0 docid rank score tag)."),
            rich_help_panel="Interop",
        ),
        OUT,
    ] = None,
    run_in: Annotated[
        Path | None,
        typer.Option(
            "--run-in",
            help=(
                "Evaluate an existing TREC run (BM25, a reranker...) against --qrels instead of vectors: ranking "
                "metrics, as trec_eval."
            ),
            rich_help_panel="Interop",
        ),
        IN,
    ] = None,
    id_col: IdColOpt = "id",
    vector_col: VecColOpt = "embedding",
    text_col: TextColOpt = "text",
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    mteb_out: MtebOutOpt = None,
    mteb_task: MtebTaskOpt = None,
    encoder: Any = None,
    compute: Any = None,
    cluster: Any = None,
    out: Any = None,
) -> None:
    """Retrieval quality of precomputed query and corpus vectors judged by qrels: recall, precision,
    MRR, nDCG and MAP at each k, auc_global / auc_query over the whole corpus, and positive vs
    negative score separation. Only queries present in the qrels are scored."""
    from embeval.errors import UsageError
    from embeval.io.mteb import check_mteb_path

    out.check("retrieval")
    check_mteb_path(mteb_out)
    params = {"m": hnsw_m, "ef_construction": ef_construction, "ef_search": ef_search, "nlist": nlist, "nprobe": nprobe}
    index_params = {name: v for name, v in params.items() if v is not None}
    options: dict[str, Any] = dict(
        k=k,
        index=index.value,
        index_params=index_params,
        threads=threads,
        per_query=per_query,
        seed=seed,
        device=compute.device,
        budget=compute.budget,
        exact=compute.exact,
    )
    encoder = compute.encoder(encoder)
    if roc is not None:
        from embeval.report.roc import check_roc_path

        check_roc_path(roc)
    if run_out is not None:
        from embeval.io.trec import check_run_path

        check_run_path(run_out)
    if cluster is not None and (run_in is not None or data is not None):
        raise UsageError(
            "--cluster scores precomputed --queries/--corpus vectors; a BEIR folder or --run-in runs "
            "on this machine (unset $EMBEVAL_CLUSTER)"
        )
    if run_in is not None:
        from embeval.api import run_file_report

        if data or queries or corpus or encoder is not None:
            raise UsageError(
                "--run-in evaluates an existing run: give it with --qrels only (no BEIR folder, "
                "--queries, --corpus or --model)"
            )
        if qrels is None:
            raise UsageError("--run-in needs --qrels")
        if run_out is not None or roc is not None:
            raise UsageError("--run and --roc need vectors; with --run-in only ranking metrics are computed")
        report = run_file_report(run_in, qrels, k=k, per_query=per_query)
    elif data is not None:
        from embeval.api import retrieval_report_beir

        if queries or corpus or qrels:
            raise UsageError("give either a BEIR folder or --queries/--corpus/--qrels, not both")
        if encoder is None:
            raise UsageError(f"{data} holds texts: pass --model (e.g. --model default) to encode them")
        report = retrieval_report_beir(data, encoder=encoder, split=split, progress=_progress(quiet), **options)
    else:
        if queries is None or corpus is None or qrels is None:
            missing = [
                name for name, v in (("--queries", queries), ("--corpus", corpus), ("--qrels", qrels)) if v is None
            ]
            raise UsageError(
                f"missing {', '.join(missing)}: pass a BEIR folder with --model, or "
                "--queries Q --corpus C --qrels QRELS"
            )
        from embeval.api import retrieval_report

        report = retrieval_report(
            queries,
            corpus,
            qrels,
            progress=_progress(quiet),
            id_col=id_col,
            vector_col=vector_col,
            text_col=text_col,
            encoder=encoder,
            cluster=cluster,
            **options,
        )
    if roc is not None:
        from embeval.report.roc import write_roc

        write_roc(roc, report.artifacts["roc_curve"])
        report.notes.append(f"ROC curve written to {roc}")
    if run_out is not None:
        from embeval.io.trec import write_run

        n_lines = write_run(run_out, *report.artifacts["ranking"])
        report.notes.append(
            f"TREC run ({n_lines} lines, top {max(report.settings['k'])} per query) written to {run_out}"
        )
    default_task = Path(data).name if data is not None else Path(qrels or ".").resolve().parent.parent.name
    task = mteb_task or default_task or "embeval"
    _write_mteb(mteb_out, report, task, split if data is not None else "test")
    out.emit(report)


@app.command("gap")
@boundary
@flag_names
@options(encoding_options(), COMPUTE, CLUSTER, OUTPUT)
def gap_cmd(
    a: Annotated[
        str,
        typer.Argument(
            help=(
                "Set A: an embedding file (texts with --model), or one .npy of shape (2, n, d) holding A = [0] and B = "
                "[1] (the 'Mind the Gap' layout)."
            )
        ),
        IN,
    ],
    b: Annotated[
        str | None,
        typer.Argument(help=("Set B: an embedding file (texts with --model); omit when A holds both sets.")),
        IN,
    ] = None,
    paired: Annotated[
        bool,
        typer.Option(
            "--paired",
            help=(
                "Row i of A is the partner of row i of B: adds alignment, matched/unmatched cosine, A→B and B→A "
                "retrieval, and gap_shift."
            ),
        ),
    ] = False,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help=(
                "Diagnostics to run, e.g. 'gap,knn_mixing(k=20)'. Default: all that apply. See 'embeval metrics gap'."
            ),
        ),
    ] = None,
    folds: Annotated[
        int | None, typer.Option("--folds", help=("Cross-validation folds for linear_separability (default 5)."))
    ] = None,
    k: Annotated[int | None, typer.Option("--k", help="Neighbours for knn_mixing (default 10).")] = None,
    shift_lambda: Annotated[
        float | None,
        typer.Option(
            "--shift-lambda",
            help=("gap_shift distance λ: A and B each move ½λ along the gap direction (default ‖gap‖)."),
        ),
    ] = None,
    export_gap: Annotated[
        Path | None,
        typer.Option("--export-gap", help=("Write the gap vector mean(Â) − mean(B̂) here (.npy, .csv or .json).")),
        OUT,
    ] = None,
    name_a: Annotated[
        str | None,
        typer.Option(
            "--name-a", help=("Name of set A in notes, pictures and reports (e.g. images; default: its file name).")
        ),
    ] = None,
    name_b: Annotated[str | None, typer.Option("--name-b", help="Name of set B (e.g. captions).")] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help=("Write a 2-D picture (top two principal components of A∪B) here (.png, .svg or .pdf).")
        ),
        OUT,
    ] = None,
    drift: Annotated[
        bool,
        typer.Option(
            "--drift",
            help=(
                "Add the drift tests: unbiased MMD² with permutation p-value drift_p, and a classifier two-sample test "
                "(c2st_auc with CI, c2st_p). Seeded; gate with --fail-if 'drift_p < 0.01'."
            ),
        ),
    ] = False,
    id_col: IdColOpt = "id",
    vector_col: VecColOpt = "embedding",
    text_col: TextColOpt = "text",
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    encoder: Any = None,
    compute: Any = None,
    cluster: Any = None,
    out: Any = None,
) -> None:
    """Gap between two sets (images vs texts, queries vs documents): centroid gap, linear
    separability, uniformity of each set and across, kNN mixing; with --paired also alignment,
    partner retrieval both ways, and retrieval after closing the gap.

    With --model, A and B are texts (.txt, or .jsonl/.csv/.tsv/.parquet with --text-col): A is encoded as
    queries (--query-prompt), B as documents (--document-prompt)."""
    from embeval.api import gap_report
    from embeval.report.export import check_vector_path, write_vector
    from embeval.report.gates import command_families
    from embeval.report.plots import check_plot_path, gap_figure

    out.check(command_families("gap"))
    if cluster is not None and export_gap is not None:
        from embeval.errors import UsageError

        raise UsageError("--export-gap is not available with --cluster (the gap itself is reported)")
    # Usage first: nothing is loaded or computed for a command that cannot finish.
    if export_gap is not None:
        check_vector_path(export_gap)
    if plot is not None:
        check_plot_path(plot)
    report = gap_report(
        a,
        b,
        paired=paired,
        metrics=metric,
        folds=folds,
        k=k,
        shift_lambda=shift_lambda,
        projection=plot is not None,
        id_col=id_col,
        vector_col=vector_col,
        text_col=text_col,
        encoder=compute.encoder(encoder),
        name_a=name_a,
        name_b=name_b,
        seed=seed,
        progress=_progress(quiet),
        drift=drift,
        device=compute.device,
        budget=compute.budget,
        exact=compute.exact,
        cluster=cluster,
    )
    # Files only after every metric has been computed, each written atomically.
    if export_gap is not None:
        g = report.artifacts["gap_vector"]
        write_vector(export_gap, g, name="gap_vector", meta=report.artifacts["gap_vector_meta"])
        report.notes.append(f"gap vector (d={g.shape[0]}) written to {export_gap}")
    if plot is not None:
        proj = report.artifacts["gap_projection"]
        gap_figure(proj.pop("pa"), proj.pop("pb"), plot, **proj)
        report.notes.append(f"picture written to {plot}")
    else:
        report.notes.append("add --plot gap.png for a 2-D picture of both sets")
    out.emit(report)


@app.command("compare")
@boundary
@flag_names
def compare_cmd(
    reports: Annotated[
        list[Path],
        typer.Argument(
            help=(
                "embeval JSON reports (--output X.json, or report.json of embeval run) or MTEB task results: BASELINE "
                "CURRENT compares two; "
                "three or more (or one batch report with several models) are ranked. The first is the baseline."
            ),
            show_default=False,
        ),
        IN,
    ],
    fail_if_regress: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-if-regress",
            help=(
                "'METRIC>TOL': fail if METRIC got worse by more than TOL "
                "(direction from the report; 'TOL%' relative to "
                "the baseline; '*>TOL' every metric). With per-query values in both reports, fails only if the paired "
                "bootstrap CI of the delta excludes 0 and the sign-flip p < 1 - confidence. With several reports, each "
                "is checked against the first. Repeatable."
            ),
            rich_help_panel="CI",
        ),
    ] = None,
    fail_if: FailIfOpt = None,
    junit: JunitOpt = None,
    confidence: Annotated[
        float,
        typer.Option(
            "--confidence",
            help=(
                "Confidence of the intervals; pairwise tests are significant at p < 1 - confidence (Holm-corrected "
                "across pairs when ranking)."
            ),
        ),
    ] = 0.95,
    n_boot: Annotated[
        int, typer.Option("--n-boot", help=("Bootstrap resamples (and sign flips) of the paired tests."))
    ] = 10_000,
    rank: Annotated[
        bool, typer.Option("--rank", help=("Rank even two reports (the default for three or more)."))
    ] = False,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric", "-m", help=("Show only these metrics (comma-separated, repeatable); gates still see all.")
        ),
    ] = None,
    seed: SeedOpt = 0,
    fmt: Annotated[
        CompareFormat, typer.Option("--format", "-f", help=("stdout format (latex and html: the ranking)."))
    ] = CompareFormat.table,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help=("Write the comparison here (.json .csv .md .tex .html), atomically.")),
        OUT,
    ] = None,
    quiet: QuietOpt = False,  # accepted like every command; compare shows no progress bar
) -> None:
    """Compare reports metric by metric. Two: old, new, delta, relative change, and for per-query
    metrics a paired bootstrap CI and sign-flip p-value of the delta. Three or more (or the models
    of one batch report): a ranking per metric with bootstrap CIs over queries and pairwise
    sign-flip tests, Holm-Bonferroni corrected, significance as superscript letters (as ranx).

    Exit 1 when a --fail-if-regress gate (or a --fail-if gate on the current values) fails."""
    from embeval.errors import UsageError
    from embeval.io.atomic import write_atomic
    from embeval.report.compare import COMPARE_RENDERERS, parse_regress, print_comparison, run_compare
    from embeval.report.compare.nway import Ranking
    from embeval.report.compare.rank_render import RANKING_RENDERERS, print_ranking
    from embeval.report.gates import summarize

    fmt_name = CompareFormat(fmt).value
    out_fmt = fmt_name
    if output is not None:
        from embeval.io.atomic import check_writable

        check_writable(output, "--output")
        out_fmt = {
            ".json": "json",
            ".csv": "csv",
            ".md": "markdown",
            ".markdown": "markdown",
            ".tex": "latex",
            ".html": "html",
            ".htm": "html",
        }.get(output.suffix.lower(), "" if fmt_name == "table" else fmt_name)
        if not out_fmt:
            raise UsageError(f"--output {output}: use .json, .csv, .md, .tex or .html, or pass --format")
    _check_junit(junit)
    from embeval.options import check_options

    check_options(seed=seed, confidence=confidence, n_boot=n_boot)
    tolerances = [parse_regress(e) for e in (fail_if_regress or [])]
    gates = _parse_gates(fail_if)
    result = run_compare(
        reports,
        tolerances=tolerances,
        gates=gates,
        seed=seed,
        n_boot=n_boot,
        confidence=confidence,
        rank=rank or bool({fmt_name, out_fmt} & {"latex", "html"}),
        metrics=[m.strip() for text in metric or [] for m in text.split(",") if m.strip()],
    )
    renderers = RANKING_RENDERERS if isinstance(result, Ranking) else COMPARE_RENDERERS
    if fmt_name == "table":
        (print_ranking if isinstance(result, Ranking) else print_comparison)(result, _table_console())
    else:
        sys.stdout.write(renderers[fmt_name](result))
    if output is not None:
        write_atomic(output, renderers[out_fmt](result))
    if junit is not None:
        from embeval.report.junit import comparison_suites, to_junit

        write_atomic(junit, to_junit(comparison_suites(result)))
    if not result.passed:
        pairs = result.gate_pairs()
        # N-way: name the system (letter and report) each failed gate checked
        _fail(summarize([g for _, g in pairs], where=[w for w, _ in pairs] if isinstance(result, Ranking) else None))


@app.command("run")
@boundary
@flag_names
def run_cmd(
    config: Annotated[
        Path,
        typer.Argument(
            help=_lit("Batch config (TOML): [settings], [[models]], [[datasets]], [[jobs]]. See the README.")
        ),
        IN,
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            help=(
                "Where to write report.json, report.csv, report.md, report.html (default: settings.out_dir, else "
                "./embeval-report)."
            ),
        ),
        Place("a folder: its report files are checked against the config's inputs by the command"),
    ] = None,
    fail_fast: Annotated[
        bool,
        typer.Option(
            "--fail-fast", help=("Stop at the first item that errors or fails a gate (the rest are marked skipped).")
        ),
    ] = False,
    fail_if: FailIfOpt = None,
    junit: JunitOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
) -> None:
    """Run a batch of models × datasets × commands from one config and write one combined report
    (long-form CSV, JSON, Markdown for a pull-request comment, self-contained HTML with plots).

    A failing item is reported and the rest still run. --fail-if here applies to every item that
    has the metric. Exit 0 = every item ran and every gate passed, 1 = a gate failed,
    2 = bad config, or an item could not run."""
    from embeval.batch import load_config, run_batch, write_outputs
    from embeval.errors import UsageError
    from embeval.report.batch import BATCH_RENDERERS

    fmt_name = fmt.value
    if fmt_name == "html":
        raise UsageError("--format html: the HTML page is written to the output folder (report.html)")
    gates = _parse_gates(fail_if)
    from embeval.report.gates import check_known

    _check_junit(junit)
    cfg = load_config(config, out_dir=out_dir)
    from embeval.batch.commands import COMMANDS

    # A metric none of the config's commands can compute is refused before any item runs.
    from embeval.report.gates import command_families

    check_known(
        gates,
        tuple({f for j in cfg.jobs for f in command_families(j.command, COMMANDS[j.command].families)}),
        "the commands of this config",
    )
    folder = cfg.settings.out_dir or Path("embeval-report")  # load_config always sets it
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out-dir {folder}: exists and is not a folder")
    from embeval.io.atomic import check_writable

    check_writable(folder / "report.json", "--out-dir")  # before any item runs
    from embeval.batch.runner import input_paths, output_names

    _check_paths(
        [config, *input_paths(cfg)],
        {**{f"--out-dir ({name})": folder / name for name in output_names()}, "--junit": junit},
    )

    err = _console(stderr=True, highlight=False, soft_wrap=True)
    if quiet:
        batch, unmatched = run_batch(cfg, fail_fast=fail_fast, extra_gates=gates)
    else:
        from embeval.batch.runner import plan
        from embeval.progress import LiveProgress

        with LiveProgress(err, total=len(plan(cfg))) as progress:
            batch, unmatched = run_batch(cfg, progress=progress, fail_fast=fail_fast, extra_gates=gates)
    written = write_outputs(batch, folder)
    if junit is not None:
        from embeval.io.atomic import write_atomic
        from embeval.report.junit import batch_suites, to_junit

        write_atomic(junit, to_junit(batch_suites(batch)))
        written.append(junit)
    if fmt_name == "table":
        from embeval.report.batch import print_batch

        print_batch(batch, _table_console())
    else:
        sys.stdout.write(BATCH_RENDERERS[fmt_name](batch))
    if not quiet:
        err.print("wrote " + ", ".join(_shown(p) for p in written))
    if unmatched:
        _die(
            f"--fail-if {unmatched[0].expr!r}: no item computed {unmatched[0].metric!r} "
            f"(outputs were written to {folder})"
        )
    if batch.errors:
        _say("", batch.summary())
        # An item that hit a bug (not a bad input) makes the run an internal error, as in every command.
        raise typer.Exit(3 if any(getattr(it, "internal", False) for it in batch.errors) else 2)
    if not batch.passed:
        _fail(batch.summary())


# embeval cache ------------------------------------------------------------------------------

cache_app = typer.Typer(
    help="Inspect or clear the embedding cache (info, list, clear).", no_args_is_help=True, rich_markup_mode=_MARKUP
)
app.add_typer(cache_app, name="cache")
CacheModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help=(
            "Only the cache files of this model (its name as given to --model, its folder, or a folder with the same "
            "weights)."
        ),
    ),
    IN,
]


def _cache_entries(model, cache_dir):
    from embeval.encode import EncoderConfig
    from embeval.encode.cache import cache_dir as default_dir
    from embeval.encode.cache import list_caches, matches
    from embeval.errors import UsageError

    folder = default_dir(EncoderConfig(cache_dir=None if cache_dir is None else str(cache_dir)))
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--cache-dir {folder}: is a file, not a folder")
    identity = None
    if model is not None:
        from pathlib import Path as _P

        from embeval.encode.base import model_identity

        if model == "default" or _P(model).expanduser().is_dir():
            try:
                identity = model_identity(EncoderConfig(model=model, cache=False))
            except Exception:
                identity = None
    entries = list_caches(folder) if folder.is_dir() else []
    chosen = [e for e in entries if matches(e, model, identity)]
    if model is not None and not chosen:
        known = sorted({e.model for e in entries})
        _say(
            "",
            f"no cache files for model {model!r} in {folder}"
            + (f"; models in the cache: {', '.join(known)}" if known else "; the cache is empty"),
        )
    return folder, chosen


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@cache_app.command("info")
@boundary
def cache_info_cmd(model: CacheModelOpt = None, cache_dir: CacheDirOpt = None) -> None:
    """Where the cache is, its size (each file with its -wal/-shm journal, as in `cache list`), and how
    many vectors it holds per model."""
    from embeval.safety import rich_literal as escape  # markup escaped, control characters visible

    folder, entries = _cache_entries(model, cache_dir)
    con = _table_console(highlight=False)
    con.print(f"cache folder: {escape(str(folder))}" + ("" if folder.is_dir() else " (does not exist yet)"))
    con.print(
        f"files: {len(entries)}, size: {_size(sum(e.size for e in entries))} (with -wal/-shm), "
        f"vectors: {sum(e.entries or 0 for e in entries):,}"
    )
    per_model: dict[str, list[int]] = {}
    for e in entries:
        per_model.setdefault(e.model, [0, 0])
        per_model[e.model][0] += e.entries or 0
        per_model[e.model][1] += e.size
    for name, (n, size) in sorted(per_model.items()):
        con.print(f"  {escape(name)}: {n:,} vectors, {_size(size)}")
    broken = [e for e in entries if e.problem]
    if broken:
        con.print(f"[yellow]{len(broken)} unreadable file(s); 'embeval cache list' names them[/]")


@cache_app.command("list")
@boundary
def cache_list_cmd(model: CacheModelOpt = None, cache_dir: CacheDirOpt = None) -> None:
    """One row per cache file: model, dimension, vectors, size, last change."""
    import datetime

    from rich.table import Table

    from embeval.report.width import print_fitted
    from embeval.safety import rich_literal as escape  # markup escaped, control characters visible

    folder, entries = _cache_entries(model, cache_dir)
    t = Table(title=f"embedding cache: {escape(str(folder))}", caption="size: each file with its -wal/-shm journal")
    for c in ("file", "model", "dim", "vectors", "size", "modified", "problem"):
        t.add_column(c, justify="right" if c in ("dim", "vectors", "size") else "left")
    for e in entries:
        t.add_row(
            escape(e.path.name),
            escape(e.model),
            "" if e.dim is None else str(e.dim),
            "" if e.entries is None else f"{e.entries:,}",
            _size(e.size),
            datetime.datetime.fromtimestamp(e.modified).strftime("%Y-%m-%d %H:%M"),
            escape(e.problem),
        )
    print_fitted(_table_console(), t, keep=("file", "model"))


@cache_app.command("clear")
@boundary
def cache_clear_cmd(model: CacheModelOpt = None, cache_dir: CacheDirOpt = None) -> None:
    """Delete the cache files (of one model with --model, else all of them). A --model with no files
    removes nothing, says so and lists the models the cache holds (exit 0: the cache is as asked)."""
    from embeval.encode.cache import remove

    folder, entries = _cache_entries(model, cache_dir)
    for e in entries:
        remove(e)
    if model is not None and not entries:
        return  # _cache_entries said there are none for that model, and which models there are
    typer.echo(f"removed {len(entries)} cache file(s), {_size(sum(e.size for e in entries))}, from {folder}", err=True)


def _reflow_help(typer_app) -> None:
    """Command help from docstrings, with single line breaks joined, so that Rich wraps it to the
    terminal instead of breaking lines where the source did."""
    import inspect
    import re

    for cmd in typer_app.registered_commands:
        if cmd.help is None and cmd.callback is not None and cmd.callback.__doc__:
            paras = re.split(r"\n\s*\n", inspect.getdoc(cmd.callback) or "")
            cmd.help = "\n\n".join(" ".join(p.split()) for p in paras)
        if cmd.short_help is None and cmd.name in _SHORT_HELP:
            cmd.short_help = _SHORT_HELP[cmd.name]
    for group in typer_app.registered_groups:
        if group.short_help is None and group.name in _SHORT_HELP:
            group.short_help = _SHORT_HELP[group.name]
        _reflow_help(group.typer_instance)


# One line each for the command lists of --help (at most ~55 characters: whole at 80 columns).
_SHORT_HELP = {
    "metrics": "Every diagnostic: outputs, parameters, direction.",
    "geometry": "Geometry of one embedding set: uniformity, hubness, labels.",
    "encode": "Encode texts with a model; write vectors with ids.",
    "pairs": "Graded pairs (STS): Spearman of cosine vs gold.",
    "retrieval": "Retrieval quality (nDCG, MAP, recall, MRR, AUC).",
    "gap": "Gap between two sets (modality gap, drift).",
    "compare": "Compare reports metric by metric; rank systems.",
    "run": "A batch of models × datasets × commands.",
    "cache": "The embedding cache: info, list, clear.",
    "info": "Cache folder, size, vectors per model.",
    "list": "One row per cache file.",
    "clear": "Delete cache files (all, or one model's).",
    "mcp": "Serve the read-only tools to agents over stdio (MCP).",
}


from embeval.cli_mcp import register as _register_mcp  # noqa: E402

_register_mcp(app, boundary, flag_names, Place)

_reflow_help(app)


def main() -> None:
    """Console entry point and outer boundary: usage errors from option parsing are one line,
    exit 2; Ctrl-C is 130; a closed stdout is a quiet 141; anything else is one line, exit 3."""
    try:
        try:
            code = app(standalone_mode=False)
        except typer.Abort:
            code = 130
        except KeyboardInterrupt:
            code = 130
        except BrokenPipeError:
            _pipe_closed()
        except typer.Exit as exc:
            code = exc.exit_code
        except Exception as exc:
            if not _is_click_error(exc):
                _internal(exc)
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
                typer.echo(ctx.get_help())
                sys.exit(2)
            cmd = ctx.command_path if ctx is not None else "embeval"
            message = exc.format_message()  # type: ignore[attr-defined]  # a ClickException (checked above)
            _say("error: ", f"{message} (see '{cmd} --help')")
            exit_code = getattr(exc, "exit_code", None)
            code = exit_code if isinstance(exit_code, int) else 2
    except typer.Exit as exc:
        code = exc.exit_code
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()

"""Read and validate a batch config (TOML). Every problem is reported before anything runs, as
one line naming the file and the key (``config.toml: jobs[1].datasets[0]: ...``).

Schema (every table optional except at least one job)::

    [settings]            # shared by every item
    title = "Nightly embedding report"
    seed = 0              # every random choice
    out_dir = "embeval-report"   # relative to the config file; --out-dir overrides
    cache = true          # embedding cache for encoded texts
    cache_dir = "..."     # default $EMBEVAL_CACHE_DIR or ~/.cache/embeval
    device = "auto"       # encoding and O(n²) work: auto | cpu | cuda | cuda:N (jobs may set
                          # options = { device = ..., budget = 60, exact = true } per command)
    batch_size = 32       # encoding batch size
    cluster = "local:4"   # geometry/retrieval/gap items on vectors run on Dask (local:N or tcp://HOST:8786)
    checkpoint = "ckpt"   # with cluster: keep finished tiles in ckpt/COMMAND (relative to the config
                          # file); the same run again resumes from them

    [[models]]            # sentence-transformers models, for datasets that hold texts
    name = "minilm"       # label in the report (unique)
    model = "default"     # name or local path (default: the label)
    max_seq_length = 256  # optional; also batch_size, device, query_prompt, document_prompt

    [[datasets]]
    name = "scifact"      # label in the report (unique)
    kind = "embeddings"   # embeddings | texts | beir | pairs (see `embeval run --help`)
    path = "vecs.npy"     # relative to the config file
    model = "minilm (precomputed)"   # optional label for precomputed vectors
    options = { id_col = "doc_id" }  # optional keyword arguments of the command's loader

    [[jobs]]
    command = "geometry"            # geometry | pairs | ...
    datasets = ["scifact"]          # default: every dataset of a kind the command accepts
    models = ["minilm"]             # default: every model (used only for datasets of texts)
    metrics = ["uniformity", "hubness(k=5)"]   # default: the command's defaults
    fail_if = ["uniformity > -2.0"]            # gates on every item of the job
    options = { sample = 0 }        # other keyword arguments of the command's library function
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from embeval.batch.commands import COMMANDS, DATA_ARGS, KINDS, RUNNER_ARGS
from embeval.errors import ConfigError, OptionError, UsageError


@dataclass
class ModelSpec:
    name: str
    model: str
    batch_size: int | None = None
    max_seq_length: int | None = None
    device: str | None = None
    query_prompt: str = ""
    document_prompt: str = ""


@dataclass
class DatasetSpec:
    name: str
    kind: str
    paths: dict[str, Path]
    model_label: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_model(self) -> bool:
        return KINDS[self.kind].needs_model


@dataclass
class JobSpec:
    index: int
    command: str
    datasets: list[str]
    models: list[str]
    metrics: list[str] | None
    fail_if: list[Any]  # Gate
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Settings:
    title: str = "embeval report"
    seed: int = 0
    out_dir: Path | None = None
    cache: bool = True
    cache_dir: str | None = None
    device: str | None = None
    batch_size: int = 32
    cluster: str | None = None
    checkpoint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "cache": self.cache,
            "cache_dir": self.cache_dir,
            "device": self.device,
            "batch_size": self.batch_size,
        }


@dataclass
class BatchConfig:
    path: Path
    sha256: str
    text: str
    settings: Settings
    models: dict[str, ModelSpec]
    datasets: dict[str, DatasetSpec]
    jobs: list[JobSpec]


def _toml_loads(text: str) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


class _Checker:
    """Typed access to one TOML table, with errors naming the key."""

    def __init__(self, path: Path, prefix: str, table: Any, allowed: dict[str, Any]):
        self.path, self.prefix = path, prefix
        if not isinstance(table, dict):
            self.fail("", f"must be a table, not {_tname(table)}")
        self.table = table
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, list(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
                self.fail(key, f"unknown key{hint}")
            want = allowed[key]
            if want is not None and not _is(table[key], want):
                self.fail(key, f"must be {_want_name(want)}, not {_tname(table[key])} ({table[key]!r})")

    def key(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix and key else (self.prefix or key)

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ConfigError(self.path, self.key(key), problem)

    def get(self, key: str, default: Any = None, required: bool = False) -> Any:
        if key not in self.table:
            if required:
                self.fail(key, "missing (required)")
            return default
        return self.table[key]


def _is(v: Any, want: Any) -> bool:
    if want is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if want is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if want == "str_or_list":
        return isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
    return isinstance(v, want)


def _want_name(want: Any) -> str:
    return {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "true or false",
        dict: "a table",
        list: "a list",
        "str_or_list": "a string or a list of strings",
    }.get(want, str(want))


def _tname(v: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(v), type(v).__name__)


def _as_list(v: Any) -> list[str]:
    return [v] if isinstance(v, str) else list(v)


def _unique_name(c: _Checker, seen: dict, what: str) -> str:
    name = c.get("name", required=True)
    if not name.strip():
        c.fail("name", "must not be empty")
    if "/" in name:
        c.fail("name", f"{name!r}: '/' is not allowed (it separates command/model/dataset in item names)")
    if name in seen:
        c.fail("name", f"{what} {name!r} is defined twice")
    return name


# The schema is the dataclasses above: each table's keys and their TOML types are read from the
# fields (``int``, ``bool``, ``str``; a Path is written as a string; ``list[...]`` takes one string
# or a list of strings), and one walker (_Checker) checks a table against it: unknown keys (with
# "did you mean"), types, then the declared ranges (_check_declared).


def _toml_type(hint: Any) -> Any:
    import types
    import typing

    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
        return _toml_type(next(a for a in typing.get_args(hint) if a is not type(None)))
    if typing.get_origin(hint) is list:
        return "str_or_list"
    if hint is Path:
        return str
    return typing.get_origin(hint) or hint


def _schema(cls: type, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The TOML keys of a table (the dataclass's fields, in order) and the type each must have."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    return {f.name: _toml_type(hints[f.name]) for f in dataclasses.fields(cls) if f.name not in skip}


def load_config(path: str | Path, *, out_dir: str | Path | None = None) -> BatchConfig:
    """Parse and validate; ConfigError (exit 2) naming the key on the first problem."""
    p = Path(path)
    raw, text, doc = _read_toml(p)
    base = p.resolve().parent
    top = _Checker(p, "", doc, {"settings": dict, "models": list, "datasets": list, "jobs": list})
    settings = _load_settings(_Checker(p, "settings", top.get("settings", {}), _schema(Settings)), base, out_dir)
    models: dict[str, ModelSpec] = {}
    for i, table in enumerate(top.get("models", [])):
        spec = _load_model(_Checker(p, f"models[{i}]", table, _schema(ModelSpec)), models)
        models[spec.name] = spec
    datasets: dict[str, DatasetSpec] = {}
    for i, table in enumerate(top.get("datasets", [])):
        ds = _load_dataset(p, i, table, datasets, base)
        datasets[ds.name] = ds
    job_tables = top.get("jobs", [])
    if not job_tables:
        top.fail("jobs", 'missing: add at least one [[jobs]] table (command = "geometry", ...)')
    seen_items: dict[str, str] = {}
    jobs = [
        _load_job(
            _Checker(p, f"jobs[{i}]", table, _schema(JobSpec, skip=("index",))), i, models, datasets, base, seen_items
        )
        for i, table in enumerate(job_tables)
    ]
    return BatchConfig(p, hashlib.sha256(raw).hexdigest(), text, settings, models, datasets, jobs)


def _read_toml(p: Path) -> tuple[bytes, str, dict]:
    from embeval.errors import InputError
    from embeval.io.paths import require_file

    if p.is_dir():
        raise ConfigError(p, "", "is a folder; give a .toml config")
    try:
        require_file(p, what="file", allow_empty=True)
    except InputError as exc:
        raise ConfigError(p, "", exc.problem) from None
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
        doc = _toml_loads(text)
    except UnicodeDecodeError:
        raise ConfigError(p, "", "not UTF-8 text") from None
    except Exception as exc:  # tomllib.TOMLDecodeError / tomli's
        raise ConfigError(p, "", f"invalid TOML: {exc}") from None
    return raw, text, doc


def _load_settings(s: _Checker, base: Path, out_dir: str | Path | None) -> Settings:
    settings = Settings(
        title=s.get("title", "embeval report"),
        seed=s.get("seed", 0),
        cache=s.get("cache", True),
        device=s.get("device"),
        batch_size=s.get("batch_size", 32),
    )
    for key in ("seed", "batch_size", "device"):
        _check_declared(s, key, getattr(settings, key), key)
    if s.get("cluster") is not None:  # local:N or a scheduler address, declared in embeval.options
        cluster = s.get("cluster")
        settings.cluster = cluster.strip() if isinstance(cluster, str) else cluster
        _check_declared(s, "cluster", settings.cluster, "cluster")
    if s.get("checkpoint") is not None:  # one folder per command below it (the runner adds it)
        settings.checkpoint = str(base / s.get("checkpoint"))
    if s.get("cache_dir") is not None:
        settings.cache_dir = str(base / s.get("cache_dir"))
    if out_dir is not None:
        settings.out_dir = Path(out_dir)
    elif s.get("out_dir") is not None:
        settings.out_dir = Path(os.path.normpath(base / s.get("out_dir")))
    else:
        settings.out_dir = Path("embeval-report")
    return settings


def _load_model(c: _Checker, models: dict[str, ModelSpec]) -> ModelSpec:
    name = _unique_name(c, models, "model")
    for key in ("batch_size", "max_seq_length", "device"):
        _check_declared(c, key, c.get(key), key)
    return ModelSpec(
        name=name,
        model=c.get("model", name),
        batch_size=c.get("batch_size"),
        max_seq_length=c.get("max_seq_length"),
        device=c.get("device"),
        query_prompt=c.get("query_prompt", ""),
        document_prompt=c.get("document_prompt", ""),
    )


def _load_dataset(p: Path, i: int, table: Any, datasets: dict[str, DatasetSpec], base: Path) -> DatasetSpec:
    # A dataset table names its files by role (the kinds' fields), so its keys come from KINDS.
    all_fields = sorted({f for k in KINDS.values() for f in k.required + k.optional})
    c = _Checker(
        p,
        f"datasets[{i}]",
        table,
        {"name": str, "kind": str, "model": str, "options": dict, **{f: str for f in all_fields}},
    )
    name = _unique_name(c, datasets, "dataset")
    kind = c.get("kind", required=True)
    _known(c, "kind", kind, KINDS, "kind")
    spec = KINDS[kind]
    for f in all_fields:
        if f in table and f not in spec.required + spec.optional:
            c.fail(f, f"a {kind} dataset has no {f!r} (it takes {', '.join(spec.required + spec.optional)})")
    paths = {}
    for f in spec.required + spec.optional:
        value = c.get(f, required=f in spec.required)
        if value is not None:
            paths[f] = _dataset_path(c, f, value, base)
    if c.get("model") is not None and spec.needs_model:
        c.fail("model", f"a {kind} dataset is encoded by the job's models; 'model' labels precomputed vectors only")
    return DatasetSpec(name, kind, paths, c.get("model"), dict(c.get("options", {})))


def _dataset_path(c: _Checker, f: str, value: str, base: Path) -> Any:
    if "://" in value:  # a source URI (embeval.io.sources): used as written
        from embeval.io.sources import holds_password, source_kind

        if source_kind(value) is None:
            c.fail(
                f,
                f"unknown source {value.split('://')[0]!r}://; embeval reads lancedb://, "
                "postgresql://, hf-disk://, faiss://",
            )
        if holds_password(value):  # the reader's own parser: what it would send, this sees
            c.fail(
                f,
                "holds a password; the config text is copied into report.json, so put it in "
                "PGPASSWORD or ~/.pgpass instead",
            )
        return value
    fp = base / value
    if not fp.exists():
        c.fail(f, f"no such file or folder: {fp}")
    return fp


def _known(c: _Checker, key: str, value: str, known: Any, what: str) -> None:
    """``value`` must be one of ``known``: the error says "did you mean", or lists them."""
    if value not in known:
        close = difflib.get_close_matches(value, list(known), n=1)
        c.fail(
            key,
            f"unknown {what} {value!r}; "
            + (f"did you mean {close[0]!r}?" if close else f"choose one of {', '.join(known)}"),
        )


def _load_job(
    c: _Checker,
    i: int,
    models: dict[str, ModelSpec],
    datasets: dict[str, DatasetSpec],
    base: Path,
    seen_items: dict[str, str],
) -> JobSpec:
    command = c.get("command", required=True)
    _known(c, "command", command, COMMANDS, "command")
    cmd = COMMANDS[command]
    ds_names = _job_datasets(c, command, datasets)
    model_names = _as_list(c.get("models", list(models)))
    for j, n in enumerate(model_names):
        if n not in models:
            close = difflib.get_close_matches(n, list(models), n=1)
            c.fail(f"models[{j}]", f"no model named {n!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
    if any(datasets[n].needs_model for n in ds_names) and not model_names:
        n = next(n for n in ds_names if datasets[n].needs_model)
        c.fail(
            "models",
            f'dataset {n!r} holds texts: add a [[models]] table (e.g. name = "minilm", '
            'model = "default") or list models here',
        )
    metrics = c.get("metrics")
    metrics = None if metrics is None else _as_list(metrics)
    if metrics is not None:
        _check_metrics(c, command, metrics)
    gates = _job_gates(c, command)
    options = dict(c.get("options", {}))
    for kind in dict.fromkeys(datasets[n].kind for n in ds_names):
        r = cmd.kinds[kind]
        params = r.parameters()
        options = _check_options(c, "options", options, params, command, set(r.fields.values()), base)
        if metrics is not None and "metrics" not in params:
            c.fail("metrics", f"{command} on {kind} datasets takes no metrics list; set its parameters under options")
    for n in ds_names:
        r = cmd.kinds[datasets[n].kind]
        datasets[n].options = _check_options(
            _Checker(c.path, f"datasets[{list(datasets).index(n)}]", {}, {}),
            "options",
            datasets[n].options,
            r.parameters(),
            command,
            set(r.fields.values()),
            base,
        )
        for m in model_names if datasets[n].needs_model else [datasets[n].model_label or "-"]:
            key = f"{command}/{m}/{n}"
            if key in seen_items:
                c.fail(
                    "",
                    f"item {key} is already produced by {seen_items[key]}; merge the two jobs "
                    "or name the dataset twice",
                )
            seen_items[key] = f"jobs[{i}]"
    return JobSpec(i, command, ds_names, model_names, metrics, gates, options)


def _job_datasets(c: _Checker, command: str, datasets: dict[str, DatasetSpec]) -> list[str]:
    cmd = COMMANDS[command]
    accepted = [n for n, d in datasets.items() if d.kind in cmd.kinds]
    ds_names = _as_list(c.get("datasets", accepted))
    if not ds_names:
        c.fail("datasets", f"no dataset of a kind {command} accepts ({', '.join(cmd.kinds)})")
    for j, n in enumerate(ds_names):
        if n not in datasets:
            close = difflib.get_close_matches(n, list(datasets), n=1)
            c.fail(f"datasets[{j}]", f"no dataset named {n!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
        if datasets[n].kind not in cmd.kinds:
            c.fail(
                f"datasets[{j}]",
                f"{command} does not take {datasets[n].kind} datasets ({n!r}); it takes {', '.join(cmd.kinds)}",
            )
    return ds_names


def _job_gates(c: _Checker, command: str) -> list[Any]:
    from embeval.report.gates import check_known, command_families, parse_gate

    gates = []
    for j, expr in enumerate(_as_list(c.get("fail_if", []))):
        try:
            gates.append(parse_gate(expr, option=None))
            check_known(gates[-1:], command_families(command, COMMANDS[command].families))
        except UsageError as exc:
            c.fail(f"fail_if[{j}]", str(exc))
    return gates


def _check_metrics(c: _Checker, command: str, metrics: list[str]) -> None:
    from embeval.diagnostics.registry import parse_spec, split_specs

    families = COMMANDS[command].families
    if not families:
        return  # commands outside the registry check their own metric names when they run
    for j, text in enumerate(metrics):
        try:
            for spec in split_specs(text):
                parse_spec(spec, families)
        except UsageError as exc:
            c.fail(f"metrics[{j}]", str(exc))


def _check_options(
    c: _Checker,
    key: str,
    options: dict,
    params: dict[str, inspect.Parameter],
    command: str,
    reserved: set[str],
    base: Path,
) -> dict:
    """Every option must be a keyword parameter of the command's function, of a plausible type.
    Options whose parameter is annotated as a path are resolved relative to the config file.
    Returns the options with paths resolved."""
    out = {}
    for name, value in options.items():
        where = f"{key}.{name}"
        if name in RUNNER_ARGS or name in reserved or name in DATA_ARGS:
            c.fail(
                where,
                f"set by the runner ({'[settings] seed' if name == 'seed' else 'the job and dataset'}), not an option",
            )
        p = params.get(name)
        if p is None or p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) or p.default is p.empty:
            usable = sorted(
                n for n, q in params.items() if q.default is not q.empty and n not in RUNNER_ARGS and n not in DATA_ARGS
            )
            close = difflib.get_close_matches(name, usable, n=1)
            c.fail(
                where,
                f"{command} has no option {name!r}; "
                + (f"did you mean {close[0]!r}?" if close else f"options: {', '.join(usable)}"),
            )
        default = p.default
        if isinstance(default, bool) and not isinstance(value, bool):
            c.fail(where, f"must be true or false, not {value!r}")
        if (
            isinstance(default, (int, float))
            and not isinstance(default, bool)
            and (isinstance(value, bool) or not isinstance(value, (int, float)))
        ):
            c.fail(where, f"must be a number, not {value!r}")
        if isinstance(default, str) and not isinstance(value, str):
            c.fail(where, f"must be a string, not {value!r}")
        if isinstance(value, str) and "Path" in str(p.annotation):
            value = base / value
        if name == "index_params" and isinstance(value, dict):
            for sub, v in value.items():
                _check_declared(c, f"{where}.{sub}", v, sub)
        elif name == "shift_lambda" or (name in _DECLARED and not (name == "k" and command == "retrieval")):
            _check_declared(c, where, value, name)
        out[name] = value
    return out


_DECLARED = ("sample", "items_k", "near_dup_threshold", "folds", "k", "shift_lambda", "threads", "split", "cluster")


def _check_declared(c: _Checker, where: str, value: Any, name: str) -> None:
    """The range declared in :mod:`embeval.options` (the same check the CLI and the API run)."""
    from embeval.options import OPTIONS, check_option, check_split

    if value is None or name not in OPTIONS:
        return
    try:
        check_split(value) if name == "split" else check_option(name, value)
    except OptionError as exc:
        c.fail(where, exc.problem)

"""The Python API: one function per command, taking arrays, paths or texts, returning a :class:`Report`.

``import embeval`` stays light: this module (and NumPy) load on first use of ``embeval.geometry``
etc.; torch and sentence-transformers only when texts are encoded, FAISS only when a search runs.

Inputs:

* arrays: NumPy arrays, torch tensors, pandas Series/DataFrames, PyArrow arrays of lists, lists of
  lists — anything ``numpy.asarray`` turns into an n×d matrix;
* paths: any file the command line reads (``.npy .npz .parquet .csv .tsv .jsonl``, texts ``.txt``,
  BEIR folders) as ``str`` or ``pathlib.Path``;
* texts: a list of strings, encoded with ``model`` (``"default"`` = all-MiniLM-L6-v2, offline).

In-memory inputs are loaded here, once, with the conversions and checks a file gets
(:func:`embeval.io.embeddings.from_memory`, :func:`embeval.io.texts.texts_in_memory`, ...), and
handed to the orchestrators as loaded data: nothing is written, and errors name the argument
(``argument `x` (row 3): zero-norm vector``) from the start.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import embeval.report.render  # noqa: F401  (registers the formats Report.save writes)
from embeval.errors import UnknownMetric, UsageError
from embeval.report.batch import Batch
from embeval.results import Report

# One report type: every command returns embeval.results.Report (value(), to_pandas(), save(), a
# table in notebooks); a batch returns embeval.report.batch.Batch; compare a Comparison.

__all__ = [
    "Batch",
    "Comparison",
    "Report",
    "UnknownMetric",
    "compare",
    "gap",
    "geometry",
    "pairs",
    "retrieval",
    "run",
    "sweep_compress",
    "sweep_index",
]


# Inputs ------------------------------------------------------------------------------------


def _is_path(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def _is_texts(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(t, str) for t in x)


def _matrix(x: Any, what: str):
    """An n×d float array from NumPy, torch, pandas, PyArrow, or nested lists."""
    import numpy as np

    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    elif hasattr(x, "to_numpy") and not hasattr(x, "columns"):  # pandas Series / PyArrow array
        try:
            x = x.to_numpy(zero_copy_only=False)
        except TypeError:
            x = x.to_numpy()
        if x.dtype == object:
            x = np.stack([np.asarray(v) for v in x]) if len(x) else x
    elif hasattr(x, "columns") and hasattr(x, "to_numpy"):  # DataFrame: every column a dimension
        x = x.to_numpy()
    elif hasattr(x, "combine_chunks"):  # PyArrow ChunkedArray
        return _matrix(x.combine_chunks(), what)
    try:
        arr = np.asarray(x)
    except ValueError as exc:
        raise UsageError(f"{what}: not a matrix ({exc})") from None
    if arr.ndim != 2:
        raise UsageError(f"{what}: expected an n×d matrix, got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise UsageError(f"{what}: expected numbers, got {arr.dtype}")
    return arr


def _input(x: Any, name: str, model: Any, ids: Sequence | None = None, arg: str = "", min_rows: int = 2) -> Any:
    """One input as the orchestrators take it: a path as it is (the orchestrator reads it), texts
    as a TextSet, anything else as a validated EmbeddingSet. Loaded and checked here, once; errors
    name the argument (``argument `x` (row 0): ...``); nothing is written."""
    if _is_path(x):
        return Path(x)
    where = f"argument `{arg}`"
    if _is_texts(x):
        if model is None:
            raise UsageError(f"{name}: a list of texts needs model= (e.g. model='default')")
        from embeval.io.texts import texts_in_memory

        return texts_in_memory(x, name=where, ids=ids, shown=f"<{name} texts>")
    from embeval.io.embeddings import from_memory

    return from_memory(_matrix(x, where), name=where, ids=ids, min_rows=min_rows, shown=f"<{name} array>")


def _labels(labels: Any) -> Any:
    """A label file's path as it is; labels in memory as a sequence (the orchestrator cleans them)."""
    if _is_path(labels):
        return Path(labels)
    import numpy as np

    return np.asarray(labels.to_numpy() if hasattr(labels, "to_numpy") else labels).tolist()


def _check_options(public: str, internal, options: dict[str, Any], taken: Sequence[str] = (), compute_of=None) -> None:
    """``options`` are keyword arguments the public function ``embeval.<public>`` passes on to
    ``internal``: an unknown one is a TypeError that names the public function (with the closest
    names), not the internal one. ``device``, ``budget`` and ``exact`` become one ``compute``
    context (:class:`~embeval.compute.context.ComputeContext`), checked here, once, for the whole
    run; those not given keep the defaults of ``compute_of`` (default ``internal``)."""
    import inspect

    from embeval.compute.context import compute_default

    default = compute_default(compute_of or internal)
    params = dict(inspect.signature(internal).parameters)
    if default is not None:
        params.update(default.parameters())
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        allowed = sorted(
            n
            for n, p in params.items()
            if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD) and n not in taken
        )
        for key in options:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=3)
                hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
                raise TypeError(f"embeval.{public}() got an unexpected keyword argument {key!r}{hint}")
    compute = None if default is None else default.pop_from(options)
    if compute is not None:
        options["compute"] = compute


def _encoder(model: str | None, **kw: Any):
    if model is None:
        return None
    from embeval.encode import EncoderConfig

    if isinstance(model, EncoderConfig):
        return model
    return EncoderConfig(model=model, **{k: v for k, v in kw.items() if v is not None})


def _progress(progress: Any):
    """False: silent; True: Rich bars on stderr (in notebooks too); or a Progress object."""
    from embeval.progress import as_progress

    return as_progress(progress)


# Commands ----------------------------------------------------------------------------------


def geometry(
    x: Any,
    *,
    model: str | None = None,
    metrics: str | Sequence[str] | None = None,
    labels: Any = None,
    pairs: Any = None,
    sample: int = 0,
    normalize: bool = True,
    items: bool = False,
    seed: int = 0,
    progress: Any = False,
    **options: Any,
) -> Report:
    """Geometry of one embedding set (``embeval geometry``): uniformity, alignment (with ``pairs``),
    MAM, anisotropy, effective rank, hubness, intrinsic dimension; with ``labels`` (a sequence
    aligned with the rows, or a label file) also tolerance, kNN label agreement, silhouette, OPIS.

    ``x``: an n×d array, a path, or a list of texts with ``model``. ``metrics``: e.g.
    ``"uniformity,hubness(k=5)"`` (default: all that apply). ``options`` are the keyword arguments
    of :func:`embeval.api.geometry_report` (``items_k``, ``id_col``, ``text_col``, ...)."""
    from embeval.api import geometry_report

    _check_options(
        "geometry",
        geometry_report,
        options,
        ("metrics", "pairs", "labels", "sample", "normalize", "items", "encoder", "seed", "progress"),
    )
    report = geometry_report(
        _input(x, "embeddings", model, arg="x"),
        metrics=_metric_list(metrics),
        pairs=None if pairs is None else _input(pairs, "pairs", model, arg="pairs"),
        labels=None if labels is None else _labels(labels),
        sample=sample,
        normalize=normalize,
        items=items,
        encoder=_encoder(model),
        seed=seed,
        progress=_progress(progress),
        **options,
    )
    return report


def audit(
    x: Any,
    *,
    queries: Any = None,
    qrels: Any = None,
    ids: Sequence[Any] | None = None,
    query_ids: Sequence[Any] | None = None,
    tries: str | Sequence[str] = (),
    thresholds: Any = None,
    seed: int = 0,
    **options: Any,
) -> Report:
    """Audit an embedding space for search (``embeval audit``): per finding the value, the
    isotropic baseline for this n and d, a verdict ok/warn/fail, what it means, causes, what to try
    and sample ids (``report.series["audit"]``). ``x``, ``queries``: n×d arrays (NumPy, torch,
    pandas, PyArrow) or paths; ``qrels``: ``{query_id: {doc_id: grade}}`` or a qrels file;
    ``tries``: "center,whiten,abtt,csls"; ``thresholds``: overrides ``{"hubness": {"warn": 2.5}}``
    or a TOML file. ``options``: the keyword arguments of :func:`embeval.api.audit.audit_arrays`
    (``k``, ``near_dup``, ``fail_on``, ``metric``, ``clusters``, ``device``, ``budget``, ``exact``)."""
    from embeval.api.audit import audit_arrays, audit_report, load_thresholds
    from embeval.io.qrels import load_qrels

    _check_options(
        "audit", audit_arrays, options, ("queries", "qrels", "ids", "query_ids", "tries", "thresholds", "seed")
    )
    tr = [t.strip() for t in tries.split(",") if t.strip()] if isinstance(tries, str) else list(tries)
    over = load_thresholds(thresholds) if _is_path(thresholds) else thresholds
    if _is_path(x):
        return audit_report(
            x,
            queries=queries,
            qrels=qrels,
            thresholds=thresholds if _is_path(thresholds) else over,
            tries=tr,
            seed=seed,
            **options,
        )
    qr = load_qrels(qrels) if _is_path(qrels) else qrels
    q = None if queries is None else _matrix(queries, "queries")
    report = audit_arrays(
        _matrix(x, "x"),
        queries=q,
        qrels=qr,
        ids=ids,
        query_ids=query_ids,
        thresholds=over,
        tries=tr,
        seed=seed,
        **options,
    )
    return report


def retrieval(
    queries: Any,
    corpus: Any = None,
    qrels: Any = None,
    *,
    model: str | None = None,
    query_ids: Sequence | None = None,
    doc_ids: Sequence | None = None,
    k: str | Sequence[int] = "1,10,100",
    index: str = "flat",
    per_query: bool = False,
    split: str = "test",
    seed: int = 0,
    roc: str | Path | None = None,
    progress: Any = False,
    **options: Any,
) -> Report:
    """Retrieval quality (``embeval retrieval``): recall, precision, MRR, nDCG, MAP at each k,
    AUCs and score separation.

    * ``retrieval("path/to/beir_folder", model="default")``: a BEIR folder, encoded;
    * ``retrieval(Q, C, qrels)``: query and document vectors (arrays or files) and relevance
      judgements (a qrels file, or ``{query_id: {doc_id: grade}}``). Array rows are named by
      ``query_ids`` / ``doc_ids`` (default: row numbers "0", "1", ...);
    * ``retrieval(query_texts, doc_texts, qrels, model="default")``: texts, encoded.

    ``roc``: write the pooled ROC curve there (.csv or .png). ``options``: ``index_params``,
    ``threads``, ``id_col``, ... (see :func:`embeval.api.retrieval_report`)."""
    from embeval.api import retrieval_report, retrieval_report_beir, run_retrieval

    taken = ("k", "index", "per_query", "seed", "progress", "encoder", "split")
    _check_options(
        "retrieval",
        retrieval_report_beir if corpus is None and qrels is None else retrieval_report,
        options,
        taken,
        compute_of=retrieval_report,
    )
    if roc is not None:
        from embeval.report.roc import check_roc_path

        check_roc_path(roc)

    from embeval.params import parse_ks

    # k parsed once, here: the orchestrators get the tuple (1, 10, 100), never a "1,10,100" string
    common = dict(k=parse_ks(k), index=index, per_query=per_query, seed=seed, progress=_progress(progress), **options)
    if corpus is None and qrels is None:
        if not _is_path(queries):
            raise UsageError("retrieval(queries, corpus, qrels), or retrieval(beir_folder, model=...)")
        return _with_roc(run_retrieval(queries, encoder=_encoder(model), split=split, **common), roc)
    report = run_retrieval(
        queries=None if queries is None else _input(queries, "queries", model, query_ids, arg="queries", min_rows=1),
        corpus=None if corpus is None else _input(corpus, "corpus", model, doc_ids, arg="corpus"),
        qrels=None if qrels is None else (Path(qrels) if _is_path(qrels) else qrels),
        encoder=_encoder(model),
        **common,
    )
    return _with_roc(report, roc)


def _with_roc(report, roc) -> Report:
    if roc is not None:
        from embeval.report.roc import write_roc

        write_roc(roc, report.artifacts["roc_curve"])
    return report


def gap(
    a: Any,
    b: Any = None,
    *,
    model: str | None = None,
    paired: bool = False,
    metrics: str | Sequence[str] | None = None,
    name_a: str | None = None,
    name_b: str | None = None,
    plot: str | Path | None = None,
    export_gap: str | Path | None = None,
    seed: int = 0,
    progress: Any = False,
    **options: Any,
) -> Report:
    """The gap between two sets (``embeval gap``): centroid gap, linear separability, uniformity,
    kNN mixing; with ``paired=True`` also alignment, partner retrieval, gap_shift.

    ``a``, ``b``: arrays, paths, or lists of texts with ``model`` (A encoded as queries, B as
    documents); ``a`` alone may be a (2, n, d) array or .npy. ``name_a``/``name_b`` name the sets
    in notes and pictures. ``plot`` (.png/.svg/.pdf) and ``export_gap`` (.npy/.csv/.json) are written
    as by the command line. ``options``: ``folds``, ``k``, ``shift_lambda``."""
    import numpy as np

    from embeval.api import gap_report

    _check_options(
        "gap",
        gap_report,
        options,
        ("paired", "metrics", "encoder", "name_a", "name_b", "projection", "seed", "progress"),
    )
    if b is None and not _is_path(a):
        arr = np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a)
        if arr.ndim != 3 or arr.shape[0] != 2:
            raise UsageError("gap(a): a single input must be a (2, n, d) array holding A = [0] and B = [1]")
        a, b = arr[0], arr[1]
    if not _is_path(a):
        name_a = name_a or "A"
    if b is not None and not _is_path(b):
        name_b = name_b or "B"
    pa = _input(a, "A", model, arg="a")
    pb = None if b is None else _input(b, "B", model, arg="b")
    if export_gap is not None:
        from embeval.report.export import check_vector_path

        check_vector_path(export_gap)
    if plot is not None:
        from embeval.report.plots import check_plot_path

        check_plot_path(plot)
    report = gap_report(
        pa,
        pb,
        paired=paired,
        metrics=_metric_list(metrics),
        encoder=_encoder(model),
        name_a=name_a,
        name_b=name_b,
        projection=plot is not None,
        seed=seed,
        progress=_progress(progress),
        **options,
    )
    if export_gap is not None:
        from embeval.report.export import write_vector

        write_vector(
            export_gap, report.artifacts["gap_vector"], name="gap_vector", meta=report.artifacts["gap_vector_meta"]
        )
    if plot is not None:
        from embeval.report.plots import gap_figure

        proj = dict(report.artifacts["gap_projection"])
        gap_figure(proj.pop("pa"), proj.pop("pb"), plot, **proj)
    return report


def pairs(
    data: Any,
    *,
    model: str = "default",
    scores: Sequence[float] | None = None,
    metrics: str | Sequence[str] | None = None,
    seed: int = 0,
    progress: Any = False,
    **options: Any,
) -> Report:
    """Graded pairs / STS (``embeval pairs``): Spearman and Pearson of cos(a, b) against the gold score.

    ``data``: a pairs file (csv/tsv/jsonl, STS layouts detected), or ``(texts_a, texts_b, scores)``,
    or a list of ``(text_a, text_b, score)`` triples."""
    from embeval.api import pairs_report

    _check_options("pairs", pairs_report, options, ("encoder", "metrics", "seed", "progress"))
    if _is_path(data):
        loaded: Any = Path(data)
    else:
        from embeval.io.pairs import pairs_in_memory

        if isinstance(data, tuple) and len(data) == 3 and not isinstance(data[0], str):
            rows = list(zip(*data))
        else:
            rows = [tuple(r) for r in data]
        loaded = pairs_in_memory(rows, name="argument `data`")
    return pairs_report(
        loaded,
        encoder=_encoder(model),
        metrics=_metric_list(metrics),
        seed=seed,
        progress=_progress(progress),
        **options,
    )


class Comparison:
    """What :func:`compare` returns, for two reports or several: ``.kind`` (``"pair"``: the current
    against the baseline; ``"ranking"``: three or more, or ``rank=True``), ``.passed``,
    ``.value(metric, system=None)``, ``.delta(metric, system=None)``, ``.to_pandas()``,
    ``.to_json()``, ``.to_dict()``, ``.save(path)``, a table in notebooks. The underlying record is
    ``.raw`` (a pair: ``.raw.rows``, one per metric with old, new, delta, paired test and verdict;
    a ranking: ``.raw.systems`` and ``.raw.metrics``, as ``embeval compare`` renders them)."""

    def __init__(self, raw) -> None:
        from embeval.report.compare.nway import Ranking

        self.raw = raw
        self.kind = "ranking" if isinstance(raw, Ranking) else "pair"

    @property
    def passed(self) -> bool:
        return self.raw.passed

    @property
    def rows(self) -> list:
        """A pair's rows (old, new, delta, ... per metric); a ranking has none (see ``.raw.metrics``)."""
        return list(getattr(self.raw, "rows", []))

    @property
    def systems(self) -> list[str]:
        """The systems' names, baseline first."""
        if self.kind == "pair":
            return [str(self.raw.baseline.get("path")), str(self.raw.current.get("path"))]
        return [s.name for s in self.raw.systems]

    def _system(self, system: str | int | None) -> int:
        names = self.systems
        if system is None:
            if len(names) == 2:
                return 1
            raise UnknownMetric(f"name the system: one of {', '.join(names)} (or its letter or index)")
        if isinstance(system, int):
            if not 0 <= system < len(names):
                raise UnknownMetric(f"system {system}: there are {len(names)} (0 is the baseline)")
            return system
        letters = [chr(ord("a") + i) for i in range(len(names))]
        for i, (n, letter) in enumerate(zip(names, letters)):
            if system in (n, letter) or Path(n).stem == system:
                return i
        raise UnknownMetric(f"no system {system!r}: the systems are {', '.join(names)}")

    def _metric(self, name: str):
        if self.kind == "pair":
            rows = [r for r in self.raw.rows if r.metric == name or r.label == name]
            known = [r.label for r in self.raw.rows]
        else:
            rows = [m for m in self.raw.metrics if m.metric == name or m.label == name]
            known = [m.label for m in self.raw.metrics]
        if len(rows) == 1:
            return rows[0]
        if rows:
            raise UnknownMetric(f"{name!r} is ambiguous here ({len(rows)} groups or items); see .to_pandas()")
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownMetric(f"no metric {name!r} in this comparison{hint}")

    def value(self, name: str, system: str | int | None = None) -> float | None:
        """The value of ``name`` for ``system`` (a name, letter, or index; 0 = the baseline; default:
        the current report of a pair)."""
        k = self._system(system)
        m = self._metric(name)
        if self.kind == "pair":
            return m.old if k == 0 else m.new
        return m.cells[k].value

    def delta(self, name: str, system: str | int | None = None) -> float | None:
        """``system``'s value minus the baseline's (default: the current report of a pair)."""
        k = self._system(system)
        m = self._metric(name)
        if self.kind == "pair":
            return 0.0 if k == 0 else m.delta
        base, cur = m.cells[0].value, m.cells[k].value
        return None if base is None or cur is None else cur - base

    def to_dict(self) -> dict:
        return self.raw.to_dict()

    def to_json(self, indent: int | None = 2) -> str:
        from embeval.results import dumps

        return dumps(self.raw.to_dict(), indent=indent, ensure_ascii=False)

    def _render(self, fmt: str) -> str:
        from embeval.report.compare import COMPARE_RENDERERS
        from embeval.report.compare.rank_render import RANKING_RENDERERS

        renderers = RANKING_RENDERERS if self.kind == "ranking" else COMPARE_RENDERERS
        if fmt not in renderers:
            raise UsageError(f"a {self.kind} is written as {', '.join(renderers)}, not {fmt}")
        return renderers[fmt](self.raw)

    def to_pandas(self):
        """A DataFrame, the CSV ``embeval compare`` writes: a pair, one row per metric (old, new,
        delta, relative, CI, p, verdict); a ranking, one row per metric and system (value, CI, rank,
        best, better_than, delta_vs_baseline, p_holm_vs_baseline)."""
        import io

        import pandas as pd

        return pd.read_csv(io.StringIO(self._render("csv")), keep_default_na=False, na_values=[""])

    def save(self, path: str | Path) -> Path:
        """Write it; the format comes from the suffix (.json .csv .md, and for a ranking .tex .html)."""
        from embeval.io.atomic import write_atomic

        p = Path(path)
        fmt = {".json": "json", ".csv": "csv", ".md": "markdown", ".tex": "latex", ".html": "html"}.get(
            p.suffix.lower()
        )
        if fmt is None:
            raise UsageError(f"{p}: cannot tell the format from the suffix; use .json, .csv, .md, .tex or .html")
        write_atomic(p, self._render(fmt))
        return p

    def __repr__(self) -> str:
        status = "passed" if self.passed else "a gate failed"
        return f"<embeval.Comparison {self.kind} of {len(self.systems)} systems: {status}>"

    def _repr_html_(self) -> str:
        from html import escape

        frame = self.to_pandas()
        return (
            f"<div><b>embeval compare</b> ({escape(self.kind)}, {'passed' if self.passed else 'a gate failed'})"
            f"<div style='overflow-x:auto'>{frame.to_html(index=False, na_rep='')}</div></div>"
        )


def compare(
    *reports: Any,
    fail_if_regress: str | Sequence[str] | None = None,
    fail_if: str | Sequence[str] | None = None,
    rank: bool = False,
    metrics: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Compare reports (``embeval compare``): :class:`Report` objects or JSON report paths, the
    first the baseline. Two: the current against the baseline (deltas, paired tests, verdicts);
    three or more (or ``rank=True``, or one batch report with several models): a ranking per
    metric with bootstrap intervals and Holm-corrected pairwise tests. Returns a
    :class:`Comparison`."""
    from embeval.report.compare import parse_regress, run_compare
    from embeval.report.gates import parse_gate

    if not reports:
        raise TypeError("embeval.compare() needs the reports to compare: compare(baseline, current, ...)")
    tolerances = [parse_regress(e) for e in _metric_list(fail_if_regress) or []]
    gates = [parse_gate(e) for e in _metric_list(fail_if) or []]
    given = []
    for i, r in enumerate(reports):
        if _is_path(r):
            r = Path(r)
        elif not hasattr(r, "to_dict"):
            raise TypeError(f"embeval.compare(): report {i} is a {type(r).__name__}; give Reports or paths")
        given.append(r)  # a Report in memory is read as its JSON form would be, nothing written
    wanted = [m.strip() for text in _metric_list(metrics) or [] for m in text.split(",") if m.strip()]
    raw = run_compare(
        given,
        tolerances=tolerances,
        gates=gates,
        seed=seed,
        n_boot=n_boot,
        confidence=confidence,
        rank=rank,
        metrics=wanted,
    )
    return Comparison(raw)


def run(
    config: str | Path,
    *,
    out_dir: str | Path | None = None,
    fail_fast: bool = False,
    write: bool = True,
    progress: Any = False,
) -> Batch:
    """Run a batch config (``embeval run``); writes report.json/.csv/.md/.html to ``out_dir``
    (default from the config) unless ``write=False``. Returns a :class:`Batch`."""
    from embeval.batch import load_config, run_batch, write_outputs

    cfg = load_config(config, out_dir=out_dir)
    batch, _ = run_batch(cfg, progress=_progress(progress), fail_fast=fail_fast)
    if write and cfg.settings.out_dir is not None:
        write_outputs(batch, cfg.settings.out_dir)
    return batch


def _metric_list(metrics: str | Sequence[str] | None) -> list[str] | None:
    if metrics is None:
        return None
    return [metrics] if isinstance(metrics, str) else list(metrics)


# Sweeps (self-contained: arrays or paths in, a Report out) ------------------------------------


def sweep_index(
    corpus: Any, queries: Any = None, qrels: Any = None, *, progress: Any = False, **options: Any
) -> Report:
    """Index sweep (``embeval sweep index``): FAISS HNSW / IVF-Flat / IVF-PQ settings against exact
    search: recall@k with a 95% CI, IR metrics and their change with qrels, queries/s at 1 and all
    threads, build time, memory, the Pareto front and a recommendation (``target_recall``).
    ``corpus``/``queries``: n×d arrays or embedding files; queries default to a seeded sample of
    the corpus. ``options``: the keyword arguments of :func:`embeval.api.sweep_index_report`
    (``k``, ``kinds``, ``hnsw_m``, ``ef_search``, ``nprobe``, ``budget``, ``fail_if`` ...)."""
    from embeval.api.sweep import sweep_index_report

    return sweep_index_report(corpus, queries, qrels, progress=_progress(progress), **options)


def sweep_compress(
    corpus: Any, queries: Any = None, qrels: Any = None, *, progress: Any = False, **options: Any
) -> Report:
    """Compression sweep (``embeval sweep compress``): float32 vs fp16, int8, binary (with and
    without rescoring) and Matryoshka truncation, as sentence-transformers quantizes; retention of
    each IR metric with a paired CI and p-value (with qrels) or recall of the float32 neighbours,
    bytes per vector, search time. ``options``: the keyword arguments of
    :func:`embeval.api.sweep_compress_report` (``quant``, ``dims``, ``rescore``, ``fail_if`` ...)."""
    from embeval.api.sweep import sweep_compress_report

    return sweep_compress_report(corpus, queries, qrels, progress=_progress(progress), **options)


def diff(
    old: Any,
    new: Any,
    *,
    ids: Sequence | None = None,
    new_ids: Sequence | None = None,
    queries_old: Any = None,
    queries_new: Any = None,
    query_ids: Sequence | None = None,
    qrels: Any = None,
    texts: Any = None,
    metrics: str | Sequence[str] | None = None,
    items: str | Path | None = None,
    save_map: str | Path | None = None,
    seed: int = 0,
    progress: Any = False,
    **options: Any,
) -> Report:
    """What changes between two embeddings of the same items (``embeval diff``): CKA, kNN overlap,
    with queries their overlap/RBO, with qrels the IR metrics' paired change and the score scale,
    and NEW → OLD bridge maps.

    ``old``, ``new``: arrays or paths, matched by id (``ids`` for arrays, row numbers by default;
    ``new_ids`` when NEW's rows are in another order). ``queries_old``/``queries_new``: the same
    queries embedded by each side (``query_ids``); ``qrels``: a path or ``{query_id: {doc_id: grade}}``.
    ``texts``: a path, or a list aligned with ``ids``, shown for the most moved items. ``items``
    (.csv/.parquet) and ``save_map`` (.npz) are written as by the command line. ``options``: ``k``,
    ``calibration``, ``drift``, ``device``, ``budget``, ``exact``. Arrays are used in memory:
    nothing is written but ``items`` and ``save_map``."""
    from embeval.api.diff import diff_report, diff_report_from_sets

    _check_options("diff", diff_report_from_sets, options, ("metrics", "seed", "progress", "texts"))
    if items is not None:
        from embeval.report.items import check_items_path

        check_items_path(items)
    if save_map is not None and Path(save_map).suffix.lower() != ".npz":
        raise UsageError(f"save_map {save_map}: use a .npz file name")

    def side(x: Any, name: str, rows: Sequence | None, min_rows: int = 2) -> Any:
        """A path as it is (diff_report reads it); an array as an EmbeddingSet, validated here."""
        return x if _is_path(x) else _input(x, name, None, ids=rows, arg=name, min_rows=min_rows)

    report = diff_report(
        side(old, "old", ids),
        side(new, "new", new_ids if new_ids is not None else ids),
        queries_old=None if queries_old is None else side(queries_old, "queries_old", query_ids, 1),
        queries_new=None if queries_new is None else side(queries_new, "queries_new", query_ids, 1),
        qrels=Path(qrels) if _is_path(qrels) else qrels,
        texts=Path(texts) if _is_path(texts) else texts,
        metrics=_metric_list(metrics),
        seed=seed,
        progress=_progress(progress),
        **options,
    )
    if items is not None:
        from embeval.report.items import write_items

        table = report.artifacts.get("diff_items")
        if table is None:
            raise UsageError("items: needs the knn_overlap diagnostic")
        write_items(items, table)
    if save_map is not None:
        from embeval.report.export import write_map

        maps = report.artifacts.get("maps") or {}
        if not maps:
            raise UsageError("save_map: no map was fitted (add the bridge diagnostic)")
        from embeval.api.diff import best_map

        write_map(save_map, maps[best_map(report, maps)])
    return report

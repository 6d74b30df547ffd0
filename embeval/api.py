"""Library entry points: one function per command, returning a :class:`Report`.

The CLI and the batch runner call these; they know nothing of the terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embeval.diagnostics.registry import Diagnostic, all_diagnostics, parse_spec, split_specs
from embeval.errors import InputError, UsageError
from embeval.progress import NULL, Progress
from embeval.results import Report

if TYPE_CHECKING:
    import numpy as np

    from embeval.io.qrels import Qrels


def resolve_metrics(specs: list[str] | None, family: str | tuple[str, ...], available: set[str],
                    hints: dict[str, str] | None = None) -> list[tuple[Diagnostic, dict]]:
    """Parse ``--metric`` values (comma-separated, repeatable). Default: every default diagnostic of
    ``family`` whose needs are in ``available``. Asking for one whose needs are missing is an error
    (``hints`` overrides the default "how to provide it" text per need)."""
    hints = {**_NEEDS_HINT, **(hints or {})}
    if not specs:
        return [(d, d.defaults()) for d in all_diagnostics(family) if d.default and d.needs <= available]
    chosen = []
    for text in specs:
        for spec in split_specs(text):
            diag, params = parse_spec(spec, family)
            missing = diag.needs - available
            if missing:
                raise UsageError(f"metric {diag.name} needs {', '.join(sorted(missing))} "
                                 f"({hints.get(next(iter(missing)), '')})")
            chosen.append((diag, params))
    return chosen


def run_diagnostic(diag: Diagnostic, context, params: dict, *, explicit: bool, notes: list[str]) -> list:
    """Run one diagnostic. In a default run (no --metric) one that cannot apply to this input
    (too few rows for its k, no distinct rows, ...) is skipped with a note instead of failing the
    whole report; a diagnostic the user asked for by name still fails loudly."""
    try:
        return diag.func(context, **params)
    except UsageError as exc:
        if explicit:
            raise
        notes.append(f"skipped {diag.name}: {exc}")
        return []


def records_cache(fn):
    """Record in ``report.settings["cache"]`` how many texts the embedding cache served (hits) and
    the model encoded (misses), when the report encoded texts."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from embeval.encode.base import track_cache

        with track_cache() as stats:
            report = fn(*args, **kwargs)
        if stats.hits or stats.misses or stats.model_loaded:
            report.settings["cache"] = stats.as_dict()
        return report

    return wrapper


_NEEDS_HINT = {"pairs": "pass --pairs OTHER with row-aligned vectors", "labels": "pass --labels or --label-col"}


def load_input(
    path: str | Path,
    *,
    encoder=None,
    role: str = "document",
    text_col: str = "text",
    id_col: str = "id",
    vector_col: str = "embedding",
    label_col: str | None = None,
    progress: Progress = NULL,
):
    """An EmbeddingSet from an embedding file, or from texts encoded with ``encoder``
    (an :class:`~embeval.encode.EncoderConfig`; its ``texts`` are then kept)."""
    from embeval.io.embeddings import EmbeddingSet, load_embeddings, validate
    from embeval.io.texts import is_beir_folder

    if encoder is None:
        p = Path(path)
        if p.suffix.lower() == ".txt" or is_beir_folder(p):
            raise UsageError(f"{path} holds texts: pass --model (e.g. --model default) to encode them")
        return load_embeddings(path, id_col=id_col, vector_col=vector_col, label_col=label_col)
    import numpy as np

    from embeval.encode import encode_texts, encoder_identity
    from embeval.io.texts import load_texts

    ts = load_texts(path, text_col=text_col, id_col=id_col, label_col=label_col)
    vectors = encode_texts(ts.texts, encoder, role=role, progress=progress, source=ts.path)
    emb = EmbeddingSet(vectors=vectors, ids=np.asarray(ts.ids, dtype=str), path=str(path),
                       labels=None if ts.labels is None else np.asarray(ts.labels),
                       texts=ts.texts, info={"model": encoder_identity(encoder)})
    validate(emb)
    return emb


@records_cache
def geometry_report(
    file: str | Path,
    *,
    metrics: list[str] | None = None,
    pairs: str | Path | None = None,
    sample: int = 0,
    normalize: bool = True,
    id_col: str = "id",
    vector_col: str = "embedding",
    text_col: str = "text",
    encoder=None,
    labels: str | Path | None = None,
    label_col: str | None = None,
    items: bool = False,
    items_k: int = 10,
    near_dup_threshold: float = 0.99,
    seed: int = 0,
    progress: Progress = NULL,
) -> Report:
    """Geometry diagnostics of one embedding file, plus the label-aware ones when ``labels`` (a
    row-aligned label file; ``label_col`` names its column) or ``label_col`` alone (a column of
    ``file``) is given. ``items=True`` attaches the per-item triage table as ``report.items``."""
    from embeval.diagnostics.space import Space
    from embeval.io.embeddings import check_same_dim

    available = {"pairs"} if pairs is not None else set()
    if labels is not None or label_col is not None:
        available.add("labels")
    chosen = resolve_metrics(metrics, ("geometry", "labels"), available)
    if sample < 0:
        raise UsageError("--sample must be positive")
    _warn_unused({"sample": (sample or None, "uniformity")}, {d.name for d, _ in chosen})
    lab = None
    if labels is not None:  # read (and reject) a label file before any encoding
        from embeval.io.labels import load_labels

        lab = load_labels(labels, column=label_col)
    load = dict(encoder=encoder, text_col=text_col, id_col=id_col, vector_col=vector_col, progress=progress)
    emb = load_input(file, label_col=label_col if labels is None else None, **load)
    inputs = {"embeddings": emb.describe()}
    lab = _check_labels(emb, lab, labels, label_col, inputs)
    other = None
    if pairs is not None:
        other = load_input(pairs, **load)
        check_same_dim(emb, other)
        if other.n != emb.n:
            raise UsageError(f"--pairs {pairs}: {other.n} rows, but {file} has {emb.n}; pairs must be row-aligned")
        inputs["pairs"] = other.describe()
    space = Space.build(emb.vectors, normalize=normalize, pairs=None if other is None else other.vectors,
                        labels=lab, seed=seed, progress=progress)
    report = Report("geometry", inputs=inputs, settings={"seed": seed, "normalized": normalize})
    if lab is not None:
        report.settings["classes"] = len(space.label_codes()[1])
        if label_col is not None:
            report.settings["label_col"] = label_col
    if sample:
        report.settings["sample"] = sample
    if items:
        from embeval.diagnostics.items import check_item_settings

        check_item_settings(space.n, items_k, near_dup_threshold)
    # One FAISS search serves every kNN diagnostic and the item table: ask for the largest k first.
    ks = [p["k"] for _, p in chosen if isinstance(p.get("k"), int)] + ([items_k] if items else [])
    if ks and 1 <= max(ks) < space.n:
        space.knn(max(ks))
    for diag, params in chosen:
        if diag.name == "uniformity" and sample and not params.get("sample"):
            params = {**params, "sample": sample}
        report.results.extend(run_diagnostic(diag, space, params, explicit=bool(metrics), notes=report.notes))
    report.notes.append("rows L2-normalised before every diagnostic" if normalize
                        else "rows used as given (--no-normalize); angles and cosines use unit rows")
    if items:
        from embeval.diagnostics.items import item_table

        report.items = item_table(space, emb.ids, texts=emb.texts, k=items_k,
                                  near_dup_threshold=near_dup_threshold)
        report.settings.update({"items_k": items_k, "near_dup_threshold": near_dup_threshold})
    if encoder is not None:
        report.settings["encoding"] = encoding_settings(encoder, role="document")
    from embeval.report.series import geometry_series

    hub_k = next((params.get("k") for diag, params in chosen if diag.name == "hubness"), None)
    report.series.update(geometry_series(space, hub_k))
    return report


def _check_labels(emb, lab, labels, label_col, inputs):
    """Row-aligned labels from a label file (already read: ``lab``) or from a column of the input
    file (validated), or None. Records the label file among the report's inputs."""
    from embeval.io.labels import check_labels, clean_labels

    if labels is not None:
        from embeval.io.fileinfo import file_info

        check_labels(lab, emb.n, labels, emb.path)
        inputs["labels"] = {**file_info(labels), "n": len(lab)}
        return lab
    if label_col is not None:
        lab = clean_labels(emb.labels, emb.path, label_col)
        check_labels(lab, emb.n, emb.path, emb.path)
        return lab
    return None


@records_cache
def gap_report(
    a: str | Path,
    b: str | Path | None = None,
    *,
    paired: bool = False,
    metrics: list[str] | None = None,
    folds: int | None = None,
    k: int | None = None,
    shift_lambda: float | None = None,
    export_gap: str | Path | None = None,
    plot: str | Path | None = None,
    id_col: str = "id",
    vector_col: str = "embedding",
    text_col: str = "text",
    encoder=None,
    name_a: str | None = None,
    name_b: str | None = None,
    seed: int = 0,
    progress: Progress = NULL,
) -> Report:
    """Gap between two embedding sets (SPEC §3): ``a`` and ``b`` embedding files, or ``a`` alone
    holding both as a (2, n, d) ``.npy`` ("Mind the Gap" layout, A = [0], B = [1]). With an
    ``encoder`` (:class:`~embeval.encode.EncoderConfig`) ``a`` and ``b`` are texts, A encoded with
    the query role and B with the document role.

    ``paired``: row i of A is the partner of row i of B (adds alignment, matched/unmatched cosine,
    A→B and B→A retrieval, and the same retrieval after closing the gap). ``folds``, ``k`` and
    ``shift_lambda`` override the parameters of linear_separability, knn_mixing and gap_shift.
    ``name_a`` / ``name_b`` name the sets ("images", "captions") in notes, pictures and the HTML
    report (default: the file names).
    ``export_gap`` (.npy/.csv/.json) and ``plot`` (.png/.svg/.pdf) are written, atomically,
    only after every metric has been computed.
    """
    import numpy as np

    from embeval.diagnostics.gap import GapSpace, centroid_cosine_value, gap_vector, pca_2d
    from embeval.io.embeddings import check_same_dim, load_stacked_pair
    from embeval.report.export import check_vector_path, write_vector
    from embeval.report.plots import check_plot_path, gap_figure

    # Usage first: nothing is loaded or computed for a command that cannot finish.
    if export_gap is not None:
        check_vector_path(export_gap)
    if plot is not None:
        check_plot_path(plot)
    if shift_lambda is not None and not paired:
        raise UsageError("--shift-lambda applies to the paired gap_shift; add --paired")
    chosen = resolve_metrics(metrics, "gap", {"pairs"} if paired else set(),
                             hints={"pairs": "pass --paired when row i of A is the partner of row i of B"})
    overrides = {"linear_separability": ("folds", folds), "knn_mixing": ("k", k),
                 "gap_shift": ("lam", shift_lambda)}
    _warn_unused({"folds": (folds, "linear_separability"), "k": (k, "knn_mixing"),
                  "shift_lambda": (shift_lambda, "gap_shift")}, {d.name for d, _ in chosen})

    notes = []
    if b is None:
        if encoder is not None:
            raise UsageError("with --model pass two text inputs A B (a single input is a (2, n, d) .npy)")
        set_a, set_b = load_stacked_pair(a)
        name_a_default, name_b_default = f"{Path(a).name}[0]", f"{Path(a).name}[1]"
        notes.append(f"A = {name_a or name_a_default}, B = {name_b or name_b_default} (one (2, n, d) file)")
    else:
        load = dict(encoder=encoder, text_col=text_col, id_col=id_col, vector_col=vector_col,
                    progress=progress)
        set_a = load_input(a, role="query", **load)
        set_b = load_input(b, role="document", **load)
        check_same_dim(set_a, set_b)
        name_a_default, name_b_default = Path(a).name, Path(b).name
    name_a, name_b = name_a or name_a_default, name_b or name_b_default
    if paired and set_a.n != set_b.n:
        raise UsageError(f"--paired needs row-aligned sets of equal size: A ({name_a}) has {set_a.n} rows, "
                         f"B ({name_b}) has {set_b.n}")

    space = GapSpace.build(set_a.vectors, set_b.vectors, paired=paired, seed=seed, progress=progress)
    report = Report("gap", inputs={"a": set_a.describe(), "b": set_b.describe()},
                    settings={"seed": seed, "paired": paired, "normalized": True,
                              "names": {"a": name_a, "b": name_b}})
    for diag, params in chosen:
        key, value = overrides.get(diag.name, (None, None))
        if value is not None:
            params = {**params, key: value}
        report.results.extend(diag.func(space, **params))

    notes.append("rows L2-normalised before every diagnostic; gap = ‖mean(Â) − mean(B̂)‖")
    names = {r.metric for r in report.results}
    if "linear_separability" in names:
        notes.append("linear_separability: balanced accuracy (0.5 = chance) of a standardised logistic "
                     "regression, stratified seeded k-fold")
    shifted = next((r for r in report.results if r.metric == "shifted_gap"), None)
    if shifted is not None:
        notes.append(f"shifted_*: A and B each moved ½λ along the gap direction and re-normalised, "
                     f"λ = {shifted.params['lambda']:.4f} (Liang et al. 2022)")
    if "uniformity_cross" in names:
        notes.append("uniformity_cross: " + ("partners (i = j) left out" if paired else "all A×B pairs"))

    g = gap_vector(space.a, space.b)
    gap_norm = float(np.linalg.norm(g))
    if export_gap is not None:
        write_vector(export_gap, g, name="gap_vector",
                     meta={"definition": "mean(A_hat) - mean(B_hat), rows L2-normalised",
                           "a": name_a, "b": name_b, "norm": gap_norm})
        notes.append(f"gap vector (d={g.shape[0]}) written to {export_gap}")
    if plot is not None:
        pa, pb, ratio = pca_2d(space.a, space.b)
        title = f"gap = {gap_norm:.3f}, centroid cosine = {centroid_cosine_value(space.a, space.b):.3f}"
        sep = report.value("linear_separability")
        if sep is not None:
            title += f", separability = {sep:.3f}"
        gap_figure(pa, pb, plot, paired=paired, label_a=f"A: {name_a}", label_b=f"B: {name_b}",
                   title=title, seed=seed,
                   axis_labels=(f"PC 1 ({100 * ratio[0]:.1f}% of variance)",
                                f"PC 2 ({100 * ratio[1]:.1f}% of variance)"))
        notes.append(f"picture written to {plot}")
    else:
        notes.append("add --plot gap.png for a 2-D picture of both sets")
    report.notes.extend(notes)
    from embeval.report.series import gap_series

    report.series["gap_pca"] = gap_series(space.a, space.b, paired=paired, seed=seed)
    return report


def _warn_unused(options: dict[str, tuple[Any, str]], chosen: set[str]) -> None:
    """Warn (IgnoredOptionWarning) about each option that was given although the diagnostic it
    tunes is not among the chosen ones, instead of silently doing nothing."""
    import warnings

    from embeval.notices import IgnoredOptionWarning

    for option, (value, diag) in options.items():
        if value is not None and diag not in chosen:
            warnings.warn(f"the {option} setting has no effect: it tunes {diag}, which is not among the "
                          "chosen metrics", IgnoredOptionWarning, stacklevel=3)


def encoding_settings(encoder, role: str) -> dict:
    """The encoder settings that change the vectors (the model identity is in the inputs)."""
    return {"model": encoder.model, "max_seq_length": encoder.max_seq_length, "normalize": encoder.normalize,
            "prompt": encoder.prompt(role)}


@records_cache
def pairs_report(
    file: str | Path,
    *,
    encoder,
    layout: str = "auto",
    text_a_col: str = "text_a",
    text_b_col: str = "text_b",
    score_col: str = "score",
    metrics: list[str] | None = None,
    seed: int = 0,
    progress: Progress = NULL,
) -> Report:
    """Graded pairs: cosine of the encoded pair vs the gold score (spearman, pearson, alignment)."""
    import numpy as np

    from embeval.diagnostics.pairs import PairSet
    from embeval.diagnostics.space import l2_normalize
    from embeval.encode import encode_texts, encoder_identity
    from embeval.io.fileinfo import file_info
    from embeval.io.pairs import load_pairs

    chosen = resolve_metrics(metrics, "pairs", set())
    tp = load_pairs(file, layout=layout, text_a_col=text_a_col, text_b_col=text_b_col, score_col=score_col)
    # Encode each distinct text once.
    uniq = list(dict.fromkeys(tp.texts_a + tp.texts_b))
    vecs = encode_texts(uniq, encoder, progress=progress, source=tp.path)
    row = {t: i for i, t in enumerate(uniq)}
    a = l2_normalize(vecs[[row[t] for t in tp.texts_a]])
    b = l2_normalize(vecs[[row[t] for t in tp.texts_b]])
    ps = PairSet(a, b, np.asarray(tp.scores, dtype=np.float64))
    report = Report("pairs", inputs={"pairs": {**file_info(file), "n": ps.n, "d": a.shape[1],
                                               "layout": tp.layout,
                                               "model": encoder_identity(encoder)}},
                    settings={"seed": seed, "similarity": "cosine",
                              "encoding": encoding_settings(encoder, role="document")})
    for diag, params in chosen:
        report.results.extend(diag.func(ps, **params))
    return report


def encode_file(
    file: str | Path,
    output: str | Path,
    *,
    encoder,
    role: str = "document",
    text_col: str = "text",
    id_col: str = "id",
    progress: Progress = NULL,
) -> tuple[int, int]:
    """Encode a text file (or a BEIR corpus) and write vectors with ids; returns (n, d)."""
    from embeval.encode import encode_texts
    from embeval.io.embeddings import EMBEDDING_SUFFIXES
    from embeval.io.texts import load_texts
    from embeval.io.writers import save_embeddings

    if Path(output).suffix.lower() not in EMBEDDING_SUFFIXES:
        raise UsageError(f"--output {output}: use one of {', '.join(EMBEDDING_SUFFIXES)}")
    ts = load_texts(file, text_col=text_col, id_col=id_col)
    vectors = encode_texts(ts.texts, encoder, role=role, progress=progress, source=ts.path)
    save_embeddings(output, vectors, ts.ids, texts=ts.texts)
    return vectors.shape


def _check_retrieval_options(*, k="1,10,100", index="flat", index_params=None, threads=None, roc=None,
                             **_: Any) -> None:
    """Usage errors first: they must not wait for (large) files to load or texts to encode."""
    from embeval.diagnostics.retrieval import parse_ks
    from embeval.index.search import check_threads, resolve_params
    from embeval.report.roc import check_roc_path

    parse_ks(k)
    resolve_params(index, None, index_params)
    check_threads(threads)
    check_roc_path(roc)


@records_cache
def retrieval_report(
    queries_path: str | Path,
    corpus_path: str | Path,
    qrels_path: str | Path,
    *,
    k: str | Sequence[int] = "1,10,100",
    index: str = "flat",
    index_params: dict[str, Any] | None = None,
    threads: int | None = None,
    per_query: bool = False,
    roc: str | Path | None = None,
    seed: int = 0,
    progress: Progress = NULL,
    id_col: str = "id",
    vector_col: str = "embedding",
    text_col: str = "text",
    encoder=None,
) -> Report:
    """``embeval retrieval --queries Q --corpus C --qrels F`` on precomputed vectors (or on texts
    encoded with ``encoder``: queries with its query prompt, documents with its document prompt).

    Ids come from the files (npz ``id`` array, parquet/jsonl/csv id column; row numbers when
    absent). Every input is validated before any search: see :func:`retrieval_report_from_arrays`.
    """
    from embeval.io.embeddings import check_same_dim, load_embeddings
    from embeval.io.fileinfo import file_info
    from embeval.io.qrels import load_qrels

    _check_retrieval_options(k=k, index=index, index_params=index_params, threads=threads, roc=roc)
    if encoder is None:
        q = load_embeddings(queries_path, id_col=id_col, vector_col=vector_col, min_rows=1)
        c = load_embeddings(corpus_path, id_col=id_col, vector_col=vector_col, min_rows=2)
    else:
        load = dict(encoder=encoder, text_col=text_col, id_col=id_col, progress=progress)
        q = load_input(queries_path, role="query", **load)
        c = load_input(corpus_path, role="document", **load)
    check_same_dim(c, q)
    qrels = load_qrels(qrels_path)
    inputs = {
        "queries": q.describe(),
        "corpus": c.describe(),
        "qrels": {**file_info(qrels_path), "queries": len(qrels),
                  "judgements": sum(len(v) for v in qrels.values())},
    }
    return retrieval_report_from_arrays(
        q.vectors, c.vectors, qrels, q.ids, c.ids, inputs=inputs,
        sources=(_id_source(queries_path, q.ids, id_col), _id_source(corpus_path, c.ids, id_col), str(qrels_path)),
        k=k, index=index, index_params=index_params, threads=threads, per_query=per_query,
        roc=roc, seed=seed, progress=progress,
        query_texts=None if q.texts is None else dict(zip(map(str, q.ids), q.texts)), doc_texts=c.texts,
    )


@records_cache
def retrieval_report_beir(
    folder: str | Path,
    *,
    encoder,
    split: str = "test",
    progress: Progress = NULL,
    **options: Any,
) -> Report:
    """``embeval retrieval DATA_DIR --model M``: a BEIR folder encoded with ``encoder``.

    Documents are ``title + " " + text`` (as MTEB); only the queries judged in
    ``qrels/<split>.tsv`` are encoded and scored. ``options`` go to
    :func:`retrieval_report_from_arrays` (k, index, index_params, threads, per_query, roc, seed).
    """
    import numpy as np

    from embeval.encode import encode_texts, encoder_identity
    from embeval.io.fileinfo import file_info
    from embeval.io.qrels import load_qrels
    from embeval.io.texts import load_beir

    _check_retrieval_options(**options)
    data = load_beir(folder, split)
    qrels = load_qrels(data.qrels_path)
    judged = set(qrels)
    q_rows = [i for i, qid in enumerate(data.queries.ids) if qid in judged]
    q_ids = [data.queries.ids[i] for i in q_rows]
    q_texts = [data.queries.texts[i] for i in q_rows]
    corpus = encode_texts(data.corpus.texts, encoder, role="document", progress=progress,
                          source=data.corpus.path)
    queries = (encode_texts(q_texts, encoder, role="query", progress=progress, source=data.queries.path)
               if q_texts else np.zeros((0, corpus.shape[1]), dtype=np.float32))
    identity = encoder_identity(encoder)
    inputs = {
        "dataset": {**file_info(folder), "split": split, "model": identity},
        "queries": {**file_info(data.queries.path), "n": len(q_ids), "d": corpus.shape[1]},
        "corpus": {**file_info(data.corpus.path), "n": len(data.corpus.ids), "d": corpus.shape[1]},
        "qrels": {**file_info(data.qrels_path), "queries": len(qrels),
                  "judgements": sum(len(v) for v in qrels.values())},
    }
    return retrieval_report_from_arrays(
        queries, corpus, qrels, q_ids, data.corpus.ids, inputs=inputs,
        sources=(data.queries.path, data.corpus.path, str(data.qrels_path)), progress=progress,
        query_texts=dict(zip(q_ids, q_texts)), doc_texts=data.corpus.texts, **options,
    )


def _id_source(path, ids, id_col: str) -> str:
    """The file's name for messages, saying so when it had no ids (row numbers stand in)."""
    import numpy as np

    if np.array_equal(ids, np.arange(len(ids)).astype(str)):
        return f"{path} (it has no {id_col!r} column or array, so its ids are row numbers)"
    return str(path)


def retrieval_report_from_arrays(
    queries: np.ndarray,
    corpus: np.ndarray,
    qrels: Qrels,
    query_ids: Sequence[str] | np.ndarray,
    doc_ids: Sequence[str] | np.ndarray,
    *,
    inputs: dict[str, dict[str, Any]],
    sources: tuple[str, str, str] = ("queries", "corpus", "qrels"),
    k: str | Sequence[int] = "1,10,100",
    index: str = "flat",
    index_params: dict[str, Any] | None = None,
    threads: int | None = None,
    per_query: bool = False,
    roc: str | Path | None = None,
    seed: int = 0,
    progress: Progress = NULL,
    notes: Sequence[str] = (),
    query_texts: dict[str, str] | None = None,
    doc_texts: Sequence[str] | None = None,
) -> Report:
    """The retrieval report from vectors already loaded (or encoded) and validated row-wise.

    queries q×d, corpus n×d (any non-zero rows; L2-normalised here), ids aligned with the rows,
    ``sources`` = names of the queries, corpus and qrels inputs for error messages, ``inputs`` =
    their descriptions for the report. Checks the qrels against the ids (InputError naming the
    id), runs :func:`embeval.diagnostics.retrieval.evaluate_aligned` under ``threads`` and writes
    the ROC curve to ``roc`` (.csv or .png) when asked.
    """
    from embeval.diagnostics.retrieval import align_qrels, evaluate_aligned, parse_ks
    from embeval.diagnostics.space import l2_normalize
    from embeval.index.search import thread_limit
    from embeval.report.roc import check_roc_path, write_roc

    ks = parse_ks(k)
    check_roc_path(roc)
    q_src, c_src, r_src = sources
    if queries.shape[1] != corpus.shape[1]:
        raise InputError(q_src, f"dimension {queries.shape[1]} does not match {c_src} ({corpus.shape[1]})")
    aligned = align_qrels(qrels, query_ids, doc_ids, source=r_src, queries_source=q_src, corpus_source=c_src)
    q_unit, c_unit = l2_normalize(queries), l2_normalize(corpus)
    with thread_limit(threads):
        out = evaluate_aligned(
            q_unit, c_unit, aligned, ks=ks, index=index,
            index_params=index_params, auc=True, separation=True, per_query=per_query,
            roc=True, progress=progress, seed=seed,
        )
    if roc is not None:
        write_roc(roc, out.roc)
    settings: dict[str, Any] = {"seed": seed, "index": index, "index_params": out.index_params,
                                "k": list(ks), "threads": threads or "all", "normalized": True}
    report = Report("retrieval", inputs=inputs, settings=settings, results=out.results,
                    per_query=out.per_query)
    from embeval.report.series import roc_series, score_series

    report.series = {"roc": roc_series(out.roc), "scores": score_series(q_unit, c_unit, aligned, seed=seed)}
    if out.per_query:
        from embeval.report.worst import worst_queries

        worst = worst_queries(q_unit, c_unit, aligned, out.per_query, [str(d) for d in doc_ids],
                              query_texts=query_texts, doc_texts=doc_texts)
        if worst is not None:
            report.series["worst_queries"] = worst
    report.notes.append(f"scored {out.n_scored} of {len(query_ids)} queries (those judged in the qrels); "
                        f"score = cosine (rows L2-normalised); AUCs over all {len(doc_ids)} documents")
    auc_res = next((r for r in out.results if r.metric == "auc_global"), None)
    if auc_res is not None and auc_res.params.get("method") == "binned":
        report.notes.append(f"auc_global counted in bins of width {auc_res.params['bin_width']:.3g} "
                            f"(error at most {auc_res.params['max_error']:.2g}); auc_query is exact")
    if roc is not None:
        report.notes.append(f"ROC curve written to {roc}")
    if per_query:
        report.notes.append(f"{len(out.per_query)} per-query rows: in --format csv/json and --output .csv/.json")
    report.notes.extend(notes)
    return report

"""Text inputs (SPEC §2): ``.txt`` (a line each), ``.jsonl``/``.csv``/``.tsv``/``.parquet`` with a
named text column, and BEIR folders (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).
BEIR documents are encoded as ``title + " " + text`` (stripped), as MTEB does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from embeval.errors import InputError
from embeval.io.lines import iter_jsonl, iter_lines, read_csv, table_errors

TEXT_SUFFIXES = (".txt", ".jsonl", ".csv", ".tsv", ".parquet")


@dataclass
class TextSet:
    ids: list[str]
    texts: list[str]
    path: str
    labels: list | None = None
    shown: str | None = None  # texts given in memory: how the report names them ("<x texts>")


@dataclass
class BeirData:
    folder: str
    corpus: TextSet
    queries: TextSet
    qrels_path: Path


def is_beir_folder(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "corpus.jsonl").is_file()


def load_texts(
    path: str | Path, *, text_col: str = "text", id_col: str = "id", label_col: str | None = None
) -> TextSet:
    """Texts to encode, with ids (row numbers when the file has none) and optional labels."""
    from embeval.io.paths import require_exists, require_file

    p = require_exists(path)
    if is_beir_folder(p):
        return _read_beir_corpus(p / "corpus.jsonl")
    if p.is_dir():
        raise InputError(p, "is a folder without corpus.jsonl (not a BEIR folder)")
    suffix = p.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise InputError(
            p,
            f"unsupported text file {suffix or '(none)'!r}; expected one of "
            + ", ".join(TEXT_SUFFIXES)
            + " or a BEIR folder",
        )
    require_file(p)
    if suffix == ".txt":
        texts = [line.rstrip("\n").rstrip("\r") for _, line in iter_lines(p)]  # only \n ends a line
        while texts and not texts[-1].strip():
            texts.pop()
        ts = TextSet([str(i) for i in range(len(texts))], texts, str(p))
    else:
        with table_errors(p):  # a table library may fail lazily, after the read
            ts = _read_table(p, text_col, id_col, label_col)
    _check(ts, text_col)
    return ts


def _check(ts: TextSet, text_col: str) -> None:
    if not ts.texts:
        raise InputError(ts.path, "no texts")
    from embeval.safety import check_encodable

    for i, t in enumerate(ts.texts):
        where = f"line {i + 1}" if ts.path.endswith(".txt") else f"row {i}, id {ts.ids[i]!r}"
        if not isinstance(t, str) or not t.strip():
            raise InputError(
                ts.path, "empty text" if isinstance(t, str) or t is None else f"{text_col!r} is not text", where=where
            )
        check_encodable(t, ts.path, where)
    if len(set(ts.ids)) != len(ts.ids):
        seen: set[str] = set()
        dup = None
        for ident in ts.ids:
            if ident in seen:
                dup = ident
                break
            seen.add(ident)
        raise InputError(ts.path, f"duplicate id {dup!r}")


def _read_table(p: Path, text_col: str, id_col: str, label_col: str | None) -> TextSet:
    import pandas as pd

    with table_errors(p):
        if p.suffix.lower() == ".parquet":
            df = pd.read_parquet(p)
        elif p.suffix.lower() == ".jsonl":
            df = pd.DataFrame.from_records([rec for _, rec in iter_jsonl(p)])
        else:
            df = read_csv(p, sep="\t" if p.suffix.lower() == ".tsv" else ",", dtype=str, keep_default_na=False)
    if text_col not in df.columns:
        raise InputError(
            p, f"no text column {text_col!r} (columns: {', '.join(map(str, df.columns))}); pass `text_col`"
        )
    if label_col and label_col not in df.columns:
        raise InputError(p, f"no label column {label_col!r} (columns: {', '.join(map(str, df.columns))})")
    from embeval.io.ids import clean_ids
    from embeval.safety import csv_uncell

    texts = [None if (isinstance(t, float) and t != t) else t for t in df[text_col].tolist()]
    raw_ids = df[id_col].tolist() if id_col in df.columns else None
    if p.suffix.lower() in (".csv", ".tsv"):  # undo the formula escape embeval's CSV writers add
        texts = [csv_uncell(t) if isinstance(t, str) else t for t in texts]
        raw_ids = None if raw_ids is None else [csv_uncell(i) if isinstance(i, str) else i for i in raw_ids]
    ids = clean_ids(raw_ids, p).tolist() if raw_ids is not None else [str(i) for i in range(len(df))]
    labels = df[label_col].tolist() if label_col else None
    return TextSet(ids, texts, str(p), labels)  # type: ignore[arg-type]  # missing texts are None until checked


def _read_jsonl_records(p: Path) -> list[dict]:
    from embeval.io.paths import require_file

    require_file(p)
    out = []
    for lineno, rec in iter_jsonl(p):
        if "_id" not in rec:
            raise InputError(p, "expected an object with '_id'", where=f"line {lineno}")
        out.append(rec)
    if not out:
        raise InputError(p, "no records")
    return out


def _read_beir_corpus(p: Path) -> TextSet:
    from embeval.io.ids import clean_ids

    recs = _read_jsonl_records(p)
    ids = clean_ids([r["_id"] for r in recs], p).tolist()
    texts = [(str(r.get("title") or "") + " " + str(r.get("text") or "")).strip() for r in recs]
    ts = TextSet(ids, texts, str(p))
    _check(ts, "text")
    return ts


def load_beir(folder: str | Path, split: str = "test") -> BeirData:
    """A BEIR folder: corpus, the queries that appear in ``qrels/<split>.tsv``, and that qrels file."""
    from embeval.options import check_split

    check_split(split)
    f = Path(folder)
    if not is_beir_folder(f):
        raise InputError(f, "not a BEIR folder (expected corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
    qrels_path = f / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(q.stem for q in (f / "qrels").glob("*.tsv")) if (f / "qrels").is_dir() else []
        raise InputError(f, f"no qrels/{split}.tsv (splits here: {', '.join(have) or 'none'}); use `split`")
    corpus = _read_beir_corpus(f / "corpus.jsonl")
    from embeval.io.ids import clean_ids
    from embeval.safety import check_encodable

    recs = _read_jsonl_records(f / "queries.jsonl")
    queries = TextSet(
        clean_ids([r["_id"] for r in recs], f / "queries.jsonl").tolist(),
        [str(r.get("text") or "") for r in recs],
        str(f / "queries.jsonl"),
    )
    for i, t in enumerate(queries.texts):
        check_encodable(t, queries.path, f"row {i}, id {queries.ids[i]!r}")
    return BeirData(str(f), corpus, queries, qrels_path)


def texts_in_memory(texts, *, name: str, ids=None, labels=None, shown: str | None = None) -> TextSet:
    """A list of texts as a TextSet, with the checks a text file gets (no empty text, encodable,
    unique ids). ``name`` (e.g. "argument `x`") names it in errors; nothing is written."""
    ids = [str(i) for i in (range(len(texts)) if ids is None else ids)]
    if len(ids) != len(texts):
        raise InputError(name, f"{len(ids)} ids for {len(texts)} texts")
    ts = TextSet(ids=ids, texts=list(texts), path=name, labels=None if labels is None else list(labels), shown=shown)
    _check(ts, "text")
    return ts

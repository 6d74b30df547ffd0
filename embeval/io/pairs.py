"""Graded text pairs: ``.csv``/``.tsv``/``.jsonl``/``.parquet`` with ``text_a``, ``text_b``, ``score``
columns, or the STS Benchmark's own release files (``--layout stsb``: tab-separated, no header, no
quoting; fields genre, file, year, sid, score, sentence1, sentence2[, source columns])."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from embeval.errors import InputError, UsageError
from embeval.io.lines import iter_jsonl, iter_lines, read_csv, table_errors

LAYOUTS = ("auto", "columns", "stsb")


@dataclass
class TextPairs:
    texts_a: list[str]
    texts_b: list[str]
    scores: list[float]
    path: str
    layout: str


def _looks_like_stsb(p: Path) -> bool:
    first = next((line for _, line in iter_lines(p)), "").rstrip("\r\n").split("\t")
    if len(first) < 7:
        return False
    try:
        float(first[4])
    except ValueError:
        return False
    return True


def load_pairs(
    path: str | Path,
    *,
    layout: str = "auto",
    text_a_col: str = "text_a",
    text_b_col: str = "text_b",
    score_col: str = "score",
) -> TextPairs:
    p = Path(path)
    if layout not in LAYOUTS:
        raise UsageError(f"`layout` {layout!r}: choose one of {', '.join(LAYOUTS)}")
    from embeval.io.paths import require_file

    require_file(p)
    if layout == "auto":
        layout = "stsb" if p.suffix.lower() in (".csv", ".tsv", ".txt") and _looks_like_stsb(p) else "columns"
    if layout == "stsb":
        pairs = _read_stsb(p)
    else:
        with table_errors(p):  # a table library may fail lazily, after the read
            pairs = _read_columns(p, text_a_col, text_b_col, score_col)
    _check_pairs(pairs, p)
    return pairs


def _check_pairs(pairs: TextPairs, p: Path) -> None:
    from embeval.safety import check_encodable

    if len(pairs.scores) < 2:
        raise InputError(p, f"only {len(pairs.scores)} pair(s); correlations need at least 2")
    for i, (a, b) in enumerate(zip(pairs.texts_a, pairs.texts_b)):
        for t in (a, b):
            if t is None or (isinstance(t, float) and t != t) or (isinstance(t, str) and not t.strip()):
                raise InputError(p, "empty text", where=f"pair {i}")
            if not isinstance(t, str):
                raise InputError(p, f"text {t!r} is a {type(t).__name__}, not text", where=f"pair {i}")
            check_encodable(t, p, f"pair {i}")


def pairs_in_memory(rows, *, name: str) -> TextPairs:
    """``(text_a, text_b, score)`` rows as TextPairs, with the checks a pairs file gets (finite
    scores, non-empty encodable texts, at least 2 pairs). ``name`` names them in errors."""
    p = Path(name)
    texts_a, texts_b, scores = [], [], []
    for i, row in enumerate(rows):
        if len(row) != 3:
            raise InputError(name, f"expected (text_a, text_b, score), got {len(row)} values", where=f"pair {i}")
        texts_a.append(row[0])
        texts_b.append(row[1])
        scores.append(_score(p, row[2], f"pair {i}"))
    pairs = TextPairs(texts_a, texts_b, scores, path=name, layout="memory")
    _check_pairs(pairs, p)
    return pairs


def _read_stsb(p: Path) -> TextPairs:
    """Tab-separated, no quoting: each line is one pair (so errors name the line)."""
    a, b, s = [], [], []
    for lineno, line in iter_lines(p):
        line = line.rstrip("\n").rstrip("\r")
        if not line:
            continue
        row = line.split("\t")
        if len(row) < 7:
            raise InputError(
                p, f"STS Benchmark layout needs at least 7 tab-separated fields, got {len(row)}", where=f"line {lineno}"
            )
        s.append(_score(p, row[4], f"line {lineno}"))
        a.append(row[5])
        b.append(row[6])
    return TextPairs(a, b, s, str(p), "stsb")


def _score(p: Path, value, where: str) -> float:
    """A gold score as a finite float; None, NaN, inf, text and booleans raise naming ``where``."""
    if value is None:
        raise InputError(p, "missing score", where=where)
    if isinstance(value, bool):
        raise InputError(p, f"score {value!r} is not a number", where=where)
    try:
        score = float(value)
    except (TypeError, ValueError):
        text = str(value)
        raise InputError(
            p, "missing score" if not text.strip() else f"score {text!r} is not a number", where=where
        ) from None
    if not math.isfinite(score):
        raise InputError(p, f"score {str(value)!r} is not a finite number", where=where)
    return score


def _read_columns(p: Path, ca: str, cb: str, cs: str) -> TextPairs:
    import pandas as pd

    suffix = p.suffix.lower()
    lines = None  # for .jsonl, the line of each row
    with table_errors(p):
        if suffix == ".parquet":
            df = pd.read_parquet(p)
        elif suffix == ".jsonl":
            numbered = list(iter_jsonl(p))
            lines = [n for n, _ in numbered]
            df = pd.DataFrame.from_records([rec for _, rec in numbered])
        else:
            df = read_csv(p, sep="\t" if suffix == ".tsv" else ",", keep_default_na=False, dtype=str)
    missing = [c for c in (ca, cb, cs) if c not in df.columns]
    if missing:
        raise InputError(
            p,
            f"missing column(s) {', '.join(map(repr, missing))} (columns: "
            f"{', '.join(map(str, df.columns))}); use `text_a_col`/`text_b_col`/`score_col`, "
            "or `layout` stsb for the STS Benchmark release files",
        )
    scores = [
        _score(p, v, f"line {lines[i]}" if lines else f"row {i}, column {cs!r}") for i, v in enumerate(df[cs].tolist())
    ]
    texts_a, texts_b = df[ca].tolist(), df[cb].tolist()
    if suffix in (".csv", ".tsv"):
        from embeval.safety import csv_uncell

        texts_a = [csv_uncell(t) if isinstance(t, str) else t for t in texts_a]
        texts_b = [csv_uncell(t) if isinstance(t, str) else t for t in texts_b]
    return TextPairs(texts_a, texts_b, scores, str(p), "columns")

"""Graded text pairs: ``.csv``/``.tsv``/``.jsonl``/``.parquet`` with ``text_a``, ``text_b``, ``score``
columns, or the STS Benchmark's own release files (``--layout stsb``: tab-separated, no header, no
quoting; fields genre, file, year, sid, score, sentence1, sentence2[, source columns])."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from embeval.errors import InputError, UsageError

LAYOUTS = ("auto", "columns", "stsb")


@dataclass
class TextPairs:
    texts_a: list[str]
    texts_b: list[str]
    scores: list[float]
    path: str
    layout: str


def _looks_like_stsb(p: Path) -> bool:
    with open(p, encoding="utf-8") as fh:
        first = fh.readline().rstrip("\r\n").split("\t")
    if len(first) < 7:
        return False
    try:
        float(first[4])
    except ValueError:
        return False
    return True


def load_pairs(path: str | Path, *, layout: str = "auto", text_a_col: str = "text_a",
               text_b_col: str = "text_b", score_col: str = "score") -> TextPairs:
    p = Path(path)
    if layout not in LAYOUTS:
        raise UsageError(f"--layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    if not p.is_file():
        raise InputError(p, "no such file")
    if p.stat().st_size == 0:
        raise InputError(p, "file is empty")
    if layout == "auto":
        layout = "stsb" if p.suffix.lower() in (".csv", ".tsv", ".txt") and _looks_like_stsb(p) else "columns"
    pairs = _read_stsb(p) if layout == "stsb" else _read_columns(p, text_a_col, text_b_col, score_col)
    if len(pairs.scores) < 2:
        raise InputError(p, f"only {len(pairs.scores)} pair(s); correlations need at least 2")
    for i, (a, b) in enumerate(zip(pairs.texts_a, pairs.texts_b)):
        for t in (a, b):
            if not isinstance(t, str) or not t.strip():
                raise InputError(p, "empty text", where=f"pair {i}")
    return pairs


def _read_stsb(p: Path) -> TextPairs:
    a, b, s = [], [], []
    with open(p, encoding="utf-8", newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not row:
                continue
            if len(row) < 7:
                raise InputError(p, f"STS Benchmark layout needs at least 7 tab-separated fields, got {len(row)}",
                                 where=f"line {lineno}")
            try:
                s.append(float(row[4]))
            except ValueError:
                raise InputError(p, f"score {row[4]!r} is not a number", where=f"line {lineno}") from None
            a.append(row[5])
            b.append(row[6])
    return TextPairs(a, b, s, str(p), "stsb")


def _read_columns(p: Path, ca: str, cb: str, cs: str) -> TextPairs:
    import pandas as pd

    try:
        suffix = p.suffix.lower()
        if suffix == ".parquet":
            df = pd.read_parquet(p)
        elif suffix == ".jsonl":
            df = pd.read_json(p, lines=True, dtype=False)
        else:
            df = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",", keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow raise many types for a bad file
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InputError(p, f"could not read: {msg}") from None
    missing = [c for c in (ca, cb, cs) if c not in df.columns]
    if missing:
        raise InputError(p, f"missing column(s) {', '.join(map(repr, missing))} (columns: "
                            f"{', '.join(map(str, df.columns))}); use --text-a-col/--text-b-col/--score-col, "
                            "or --layout stsb for the STS Benchmark release files")
    try:
        scores = pd.to_numeric(df[cs]).astype(float).tolist()
    except (ValueError, TypeError):
        raise InputError(p, f"column {cs!r} must be numeric") from None
    return TextPairs(df[ca].tolist(), df[cb].tolist(), scores, str(p), "columns")

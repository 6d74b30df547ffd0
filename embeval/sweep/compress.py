"""The compression sweep: how much retrieval quality each storage format keeps, against float32.

Settings (float32 at full width is the reference):

- ``fp16``: vectors stored as float16 (decoded to float32 for the product);
- ``int8``: codes calibrated on a seeded sample of corpus rows (``calibration`` rows) exactly as
  sentence-transformers' ``quantize_embeddings``; search over the codes as its ``semantic_search_faiss``;
- ``binary``: sign bits, Hamming search with ``faiss.IndexBinaryFlat``;
- int8 and binary each without rescoring (``rescore`` 0) and rescoring the top k·r candidates with
  the float query (r in ``rescore``), as ``semantic_search_faiss(rescore=True, rescore_multiplier=r)``;
- Matryoshka truncation to the first d dimensions (re-normalised) for each d in ``dims``, alone
  (float32) and combined with every quantization above (calibrated on the truncated rows).

The codes and searches are :mod:`embeval.index.quant`; every setting searches all queries to the
depth max(k, ks) and is scored by :func:`embeval.sweep.common.setting_results`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embeval.errors import UsageError
from embeval.index import quant as Q
from embeval.index.search import build_index
from embeval.progress import NULL, Progress
from embeval.results import Result
from embeval.sweep.common import BYTES, QPS_ALL, SEARCH, Truth, median_seconds, pareto, setting_results

QUANTS = ("fp16", "int8", "binary")
CALIBRATION = 10_000  # corpus rows sampled to calibrate int8 ranges


@dataclass
class SweepOutcome:
    results: list[Result]
    rows: list[dict[str, Any]]  # one summary row per setting, in table order
    notes: list[str] = field(default_factory=list)
    recommended: str | None = None
    chosen: str | None = None  # the setting a gate without a selector checks
    quality: str = ""  # the column the recommendation reads


def plan(dims_full: int, quants: Sequence[str], dims: Sequence[int], rescore: Sequence[int]) -> list[tuple]:
    """(label, d or None, quant, rescore) for every setting; the reference first."""
    bad = [q for q in quants if q not in QUANTS]
    if bad:
        raise UsageError(f"`quant` {bad[0]!r}: choose from {', '.join(QUANTS)}")
    too_wide = [d for d in dims if d > dims_full]
    if too_wide:
        raise UsageError(f"`dims` {too_wide[0]}: the vectors have only {dims_full} dimensions")
    out: list[tuple] = [("float32", None, "float32", 0)]
    for d in [None, *[d for d in dims if d < dims_full]]:
        prefix = "" if d is None else f"d{d}/"
        if d is not None:
            out.append((f"d{d}", d, "float32", 0))
        for qt in quants:
            for r in rescore if qt in ("int8", "binary") else [0]:
                out.append((f"{prefix}{qt}" + (f"/rescore{r}" if r else ""), d, qt, r))
    return out


def _search(setting: tuple, corpus: np.ndarray, queries: np.ndarray, calib_rows: np.ndarray, depth: int):
    """A function running this setting's search of every query (top ``depth``), and the setting's
    read-back parameters."""
    _, d, qt, r = setting
    x, q = Q.truncate(corpus, d), Q.truncate(queries, d)
    dims = x.shape[1]
    params: dict[str, Any] = {"dims": dims, "quant": qt, "rescore": r}
    if qt in ("float32", "fp16"):
        stored = x if qt == "float32" else x.astype(np.float16).astype(np.float32)
        index = build_index("flat", stored)
        return (lambda: index.search(q, depth)[1]), params
    if qt == "int8":
        ranges = Q.int8_ranges(x[calib_rows])
        codes = Q.quantize_uint8(x, ranges)
        params["calibration_rows"] = len(calib_rows)
        return (lambda: Q.search_int8(q, codes, ranges, depth, rescore=r)[1]), params
    bits = Q.quantize_ubinary(x)
    bindex = Q.binary_index(bits, dims)
    return (lambda: Q.search_binary(q, bindex, bits, dims, depth, rescore=r)[1]), params


def compress_sweep(
    truth: Truth,
    *,
    quants: Sequence[str] = QUANTS,
    dims: Sequence[int] = (),
    rescore: Sequence[int] = (0, 4),
    calibration: int = CALIBRATION,
    target: float = 0.95,
    repeats: int = 3,
    progress: Progress = NULL,
) -> SweepOutcome:
    """Run every setting of :func:`plan` against ``truth``; rows sorted by bytes per vector."""
    corpus, queries = truth.corpus, truth.queries
    n, full = corpus.shape
    settings = plan(full, quants, dims, rescore)
    rng = np.random.default_rng(truth.seed)
    calib_rows = np.sort(rng.choice(n, size=min(n, calibration), replace=False))
    results: list[Result] = []
    rows: list[dict[str, Any]] = []
    with progress.task("compression settings", total=len(settings)) as task:
        for setting in settings:
            label = setting[0]
            run, params = _search(setting, corpus, queries, calib_rows, truth.depth)
            seconds, idx = median_seconds(run, repeats)
            res, row = setting_results(truth, label, params, idx, retention=True)
            nbytes = Q.bytes_per_vector(params["quant"], params["dims"])
            p = {"setting": label, **params}
            res += [
                BYTES(nbytes, p, name="bytes_per_vector"),
                SEARCH(seconds, {**p, "repeats": repeats}, n=len(queries)),
                QPS_ALL(len(queries) / seconds if seconds > 0 else float("inf"), p, n=len(queries)),
            ]
            row.update(params, bytes_per_vector=nbytes, search_seconds=seconds, compression=4 * full / nbytes)
            results += res
            rows.append(row)
            task.advance(1)
    rows.sort(key=lambda r: (r["bytes_per_vector"], r["setting"]))
    out = SweepOutcome(results, rows)
    _recommend(out, truth, target)
    return out


def _recommend(out: SweepOutcome, truth: Truth, target: float) -> None:
    """The smallest setting whose quality (retention of the first IR metric with qrels, else recall
    of the float32 neighbours) reaches ``target``; the Pareto front of quality vs memory."""
    key = f"retention_ndcg@{truth.ks[0]}" if truth.aligned is not None else f"ann_recall@{truth.k}"
    out.quality = key
    flags = pareto([(r[key], -r["bytes_per_vector"]) for r in out.rows])
    for r, f in zip(out.rows, flags):
        r["pareto"] = f
    ok = [r for r in out.rows if r[key] >= target]
    if ok:
        best = min(ok, key=lambda r: (r["bytes_per_vector"], -r[key]))
        out.recommended = out.chosen = best["setting"]
        out.notes.append(
            f"recommendation: {best['setting']} ({best['bytes_per_vector']} bytes/vector, "
            f"{best['compression']:.0f}x smaller than float32) is the smallest setting with {key} ≥ {target:g} "
            f"({best[key]:.4f})"
        )
    else:
        best = max(out.rows, key=lambda r: r[key])
        out.chosen = best["setting"]
        out.notes.append(f"no setting reached {key} ≥ {target:g}; the best was {best['setting']} ({best[key]:.4f})")

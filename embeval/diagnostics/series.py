"""Data for the report's pictures (``Report.series``), computed from what a command already has.

The numbers live here, in the diagnostics layer; :mod:`embeval.report.figures` only draws them.
Each function returns small JSON-ready dicts (lists of floats), bounded in size whatever the
input: at most ``ROC_POINTS`` curve points, ``BINS`` histogram bins. See
:mod:`embeval.report.figures` for how each is drawn.
"""

from __future__ import annotations

import numpy as np

from embeval.diagnostics.gap import pca_2d
from embeval.diagnostics.geometry import k_occurrence
from embeval.diagnostics.retrieval import AlignedQrels, RocCurve
from embeval.diagnostics.space import Space

ROC_POINTS = 400
BINS = 40
NEG_SAMPLE = 200_000  # negative (query, doc) pairs scored for the score histogram
QUERY_SAMPLE = 200  # queries in the sampled grid (× NEG_SAMPLE / 200 documents)


def roc_series(curve: RocCurve) -> dict:
    """The pooled ROC curve (fpr, tpr arrays from (0,0) to (1,1)) thinned to at most
    ``ROC_POINTS`` corner points, evenly spaced along the curve's length, ends kept."""
    fpr, tpr = np.asarray(curve.fpr, dtype=np.float64), np.asarray(curve.tpr, dtype=np.float64)
    if len(fpr) > ROC_POINTS:
        s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(fpr), np.diff(tpr)))])
        want = np.linspace(0.0, s[-1], ROC_POINTS)
        keep = np.unique(np.concatenate([[0, len(fpr) - 1], np.searchsorted(s, want).clip(0, len(fpr) - 1)]))
        fpr, tpr = fpr[keep], tpr[keep]
    auc = float(curve.auc)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": auc if auc == auc else None}


def score_series(
    queries: np.ndarray, corpus: np.ndarray, aligned: AlignedQrels, seed: int = 0, sample: int = NEG_SAMPLE
) -> dict:
    """Histograms of relevant vs irrelevant (query, document) cosine scores.

    queries q×d and corpus n×d float32 unit rows; ``aligned``: :class:`AlignedQrels`. Every
    relevant pair is scored. Irrelevant pairs: all of them when the scored queries × corpus hold
    at most ``sample`` pairs, else a seeded random grid of up to ``QUERY_SAMPLE`` scored queries ×
    ``sample // QUERY_SAMPLE`` documents (about ``sample`` pairs), relevant ones dropped.
    """
    m, n = aligned.m, corpus.shape[0]
    qrows = aligned.query_rows
    n_rel = np.diff(aligned.indptr)
    pos_q = np.repeat(qrows, n_rel)
    pos = np.einsum("ij,ij->i", queries[pos_q], corpus[aligned.pos_doc], dtype=np.float64)
    pos_keys = np.repeat(np.arange(m, dtype=np.int64), n_rel) * n + aligned.pos_doc
    if m * n <= sample:
        s = queries[qrows] @ corpus.T
        mask = np.ones((m, n), dtype=bool)
        mask.ravel()[pos_keys] = False
        neg = s[mask].astype(np.float64)
        sampled = False
    else:
        # A seeded random grid of scored queries × documents: one small matrix product, no row
        # gathers; every pair of the grid is a uniform draw from all pairs.
        rng = np.random.default_rng(seed)
        nq = min(m, QUERY_SAMPLE)
        nd = min(n, max(1, sample // nq))
        qi = np.sort(rng.choice(m, nq, replace=False))
        di = np.sort(rng.choice(n, nd, replace=False))
        s = queries[qrows[qi]] @ corpus[di].T
        keys = qi[:, None].astype(np.int64) * n + di[None, :]
        neg = s[~np.isin(keys, pos_keys)].astype(np.float64)
        sampled = True
    lo = float(min(pos.min(initial=1.0), neg.min(initial=1.0)))
    hi = float(max(pos.max(initial=-1.0), neg.max(initial=-1.0)))
    if not lo < hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, BINS + 1)
    return {
        "edges": edges.tolist(),
        "pos": np.histogram(pos, edges)[0].tolist(),
        "neg": np.histogram(neg, edges)[0].tolist(),
        "neg_sampled": sampled,
        "n_pos": len(pos),
        "n_neg": len(neg),
    }


def geometry_series(space: Space, hub_k: int | None) -> dict:
    """From the kNN graph the geometry diagnostics already built (nothing is searched again):
    the histogram of each row's cosine to its nearest other row, and the k-occurrence histogram
    (how many rows occur j times among the others' ``hub_k`` nearest neighbours, j = 0, 1, ...)."""
    if space.neighbours is None:
        return {}
    sims, idx = space.neighbours
    nn = np.clip(sims[:, 0].astype(np.float64), -1.0, 1.0)
    lo = float(np.floor(nn.min() * 20) / 20)
    counts, edges = np.histogram(nn, bins=BINS, range=(min(lo, 0.95), 1.0))
    out = {"nn_cosine": {"edges": edges.tolist(), "counts": counts.tolist()}}
    if hub_k is not None and idx.shape[1] >= hub_k:
        occ = k_occurrence(idx[:, :hub_k], space.n)
        out["k_occurrence"] = {"k": int(hub_k), "counts": np.bincount(occ).tolist()}
    return out


GAP_POINTS = 500  # points per set in the gap picture
GAP_FIT = 5000  # rows per set the picture's principal components are fitted on


def gap_series(a: np.ndarray, b: np.ndarray, *, paired: bool, seed: int = 0) -> dict:
    """Both sets on the top two principal components of A∪B (Liang et al. 2022, Figure 1).

    a: n_a×d, b: n_b×d float32 unit rows. The components are fitted on at most ``GAP_FIT``
    seeded rows per set (the same rows of both sets when ``paired``), and at most
    ``GAP_POINTS`` of them per set are kept for the picture."""
    rng = np.random.default_rng(seed)

    def pick(n: int, m: int) -> np.ndarray:
        return np.sort(rng.choice(n, m, replace=False)) if n > m else np.arange(n)

    if paired:
        ia = ib = pick(a.shape[0], GAP_FIT)
    else:
        ia, ib = pick(a.shape[0], GAP_FIT), pick(b.shape[0], GAP_FIT)
    pa, pb, ratio = pca_2d(a[ia], b[ib])
    if paired:
        ka = kb = pick(len(ia), GAP_POINTS)
    else:
        ka, kb = pick(len(ia), GAP_POINTS), pick(len(ib), GAP_POINTS)
    return {
        "a": np.round(pa[ka], 5).tolist(),
        "b": np.round(pb[kb], 5).tolist(),
        "paired": bool(paired),
        "explained": [float(r) for r in ratio],
        "fitted_rows": [len(ia), len(ib)],
    }


def diff_series(space, moved: int = 20) -> dict:
    """Pictures of ``embeval diff`` from a :class:`~embeval.diagnostics.diff.DiffSpace` that ran:
    ``diff_overlap_hist`` (20 bins of the per-item kNN overlap over [0, 1]), ``diff_calibration``
    (the bridge's points: map, calibration size, top-1, overlap, cosine, retentions) and
    ``diff_scores`` (relevant vs irrelevant score histograms of OLD and NEW, with qrels)."""
    out: dict = {}
    for key, values in space.per_item.items():
        if key.startswith("knn_overlap@"):
            counts, edges = np.histogram(values, bins=20, range=(0.0, 1.0))
            out["diff_overlap_hist"] = {"metric": key, "edges": edges.tolist(), "counts": counts.tolist()}
    if space.curve:
        out["diff_calibration"] = {"points": [dict(p) for p in space.curve]}
    if space.aligned is not None and space.queries_old is not None and space.queries_new is not None:
        out["diff_scores"] = {
            "old": score_series(space.queries_old, space.old, space.aligned, seed=space.seed),
            "new": score_series(space.queries_new, space.new, space.aligned, seed=space.seed),
        }
    return out

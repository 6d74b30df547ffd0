"""Per-item triage: which rows are hubs, antihubs, near-duplicates, or carry a suspicious label.

One row per input item, in input order, from the same cached FAISS kNN as the diagnostics.

Columns: ``id``, ``text`` (when texts were encoded), ``label`` (with labels), ``k_occurrence``
(N_k: how many rows list this one among their k nearest), ``nn_id``, ``nn_cosine``, ``nn_angle``
(nearest other row, degrees), and with labels ``label_agreement`` (share of the k nearest with the
same label), ``knn_label`` (their majority vote, ties to the nearest), ``silhouette`` (cosine), then
``flag``.

Flags (a row may carry several, joined by ``;`` in this order; empty when none):

- ``hub``: N_k ≥ hub_size·k (as the hubness diagnostic, Radovanović et al. 2010);
- ``antihub``: N_k = 0, no row has it among its k nearest;
- ``near_duplicate``: cosine to its nearest other row ≥ the threshold (exact duplicates give 1;
  a tolerance of 1e-6 absorbs float32 rounding);
- ``label_suspect``: its k nearest neighbours vote for another label (it is misclassified by the
  leave-one-out kNN of ``knn_accuracy``);
- ``outlier``: its nearest-neighbour cosine distance exceeds Q3 + 3·IQR of all rows' (as the
  ``outliers`` diagnostic);
- ``island``: it lies in a component of the undirected kNN graph smaller than max(k + 1, 0.5% of
  n) (as ``connectivity``).

"Worst first" orders: hubs by N_k descending; antihubs by nearest-neighbour cosine ascending (most
isolated first); near-duplicates by cosine descending; label suspects by label agreement ascending,
then silhouette ascending (closest to another class first); outliers and islands by
nearest-neighbour cosine ascending.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from embeval.diagnostics import measures
from embeval.diagnostics.geometry import k_occurrence
from embeval.diagnostics.labels import knn_vote, neighbour_agreement, silhouette_samples_cosine
from embeval.diagnostics.space import Space
from embeval.errors import UsageError

FLAGS = ("hub", "antihub", "near_duplicate", "label_suspect", "outlier", "island")
DUP_TOLERANCE = 1e-6


@dataclass
class ItemTable:
    """Per-item columns (each a length-n array, in input order) and the settings that made them."""

    columns: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    settings: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.columns["id"])

    def counts(self) -> dict[str, int]:
        return {kind: int(m.sum()) for kind, m in self.masks.items()}

    def worst(self, kind: str, m: int | None = None) -> np.ndarray:
        """Row indices flagged ``kind``, worst first (see the module docstring), at most ``m``."""
        rows = np.flatnonzero(self.masks[kind])
        c = self.columns
        if kind == "hub":
            keys: tuple[np.ndarray, ...] = (-c["k_occurrence"][rows],)
        elif kind in ("antihub", "outlier", "island"):
            keys = (c["nn_cosine"][rows],)
        elif kind == "near_duplicate":
            keys = (-c["nn_cosine"][rows],)
        else:
            keys = (c["silhouette"][rows], c["label_agreement"][rows])  # lexsort: last key first
        order = rows[np.lexsort(keys)]
        return order if m is None else order[:m]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.columns)


ITEMS_K_DEFAULT = 10  # neighbours of the per-item table when none are asked for


def check_item_settings(n: int, k: int, near_dup_threshold: float) -> None:
    if k < 1 or k >= n:
        raise UsageError(f"`items_k` {k}: must be between 1 and {n - 1} (rows − 1)")
    if not -1.0 <= near_dup_threshold <= 1.0:
        raise UsageError(f"`near_dup_threshold` {near_dup_threshold}: a cosine, between -1 and 1")


def item_table(
    space: Space, ids: np.ndarray, *, texts=None, k: int = 10, near_dup_threshold: float = 0.99, hub_size: float = 2.0
) -> ItemTable:
    """Build the per-item table. ids: length-n str; texts: optional length-n sequence of str."""
    check_item_settings(space.n, k, near_dup_threshold)
    sims, idx = space.knn(k)
    n = space.n
    occ = k_occurrence(idx, n)
    nn_cos = sims[:, 0].astype(np.float64)
    cols: dict[str, np.ndarray] = {"id": np.asarray(ids).astype(str)}
    if texts is not None:
        cols["text"] = np.asarray(list(texts), dtype=object)
    masks = {
        "hub": occ >= hub_size * k,
        "antihub": occ == 0,
        "near_duplicate": nn_cos >= near_dup_threshold - DUP_TOLERANCE,
    }
    if space.labels is not None:
        codes, classes = space.label_codes()
        cols["label"] = classes[codes]
    cols["k_occurrence"] = occ
    cols["nn_id"] = cols["id"][idx[:, 0]]
    cols["nn_cosine"] = nn_cos
    cols["nn_angle"] = np.degrees(np.arccos(np.clip(nn_cos, -1.0, 1.0)))
    if space.labels is not None:
        vote = knn_vote(codes, idx)
        cols["label_agreement"] = neighbour_agreement(codes, idx)
        cols["knn_label"] = classes[vote]
        cols["silhouette"] = silhouette_samples_cosine(space.unit, codes)
        masks["label_suspect"] = vote != codes
    masks["outlier"] = measures.outlier_mask(1.0 - nn_cos)[0]
    island = np.zeros(n, dtype=bool)
    island[measures.islands(idx)[3]] = True
    masks["island"] = island
    flag = np.full(n, "", dtype=object)
    for kind in FLAGS:
        if kind in masks:
            m = masks[kind]
            flag[m] = np.where(flag[m] == "", kind, flag[m] + ";" + kind)
    cols["flag"] = flag
    settings = {"k": k, "hub_size": hub_size, "near_dup_threshold": near_dup_threshold}
    return ItemTable(columns=cols, masks=masks, settings=settings)

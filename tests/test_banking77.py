"""Banking77 (../shared/data/banking77, test split) with the default model, end to end through the
CLI: label diagnostics against an independent scikit-learn computation on the same vectors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import silhouette_score
from sklearn.neighbors import KNeighborsClassifier

from conftest import shared_data


def nearest_first_vote(neigh_labels: np.ndarray) -> np.ndarray:
    """Majority label; a tie goes to the tied label met first in the (nearest-first) list."""
    out = []
    for row in neigh_labels:
        labs, counts = np.unique(row, return_counts=True)
        tied = set(labs[counts == counts.max()])
        out.append(next(v for v in row if v in tied))
    return np.array(out)


@pytest.mark.slow
def test_banking77_label_metrics_match_sklearn(cli, tmp_path):
    test = shared_data("banking77", "test.csv")
    cache, items = tmp_path / "cache", tmp_path / "out.csv"
    res = cli("geometry", test, "--text-col", "text", "--label-col", "category", "--model", "default",
              "--cache-dir", cache, "--items", items, "-q", "-f", "json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    got = {r["metric"]: r["value"] for r in doc["results"]}
    assert doc["settings"]["classes"] == 77 and doc["inputs"]["embeddings"]["n"] == 3080

    # The same vectors, through embeval's encoder (the run above filled the cache).
    from embeval.encode import EncoderConfig, encode_texts

    df = pd.read_csv(test)
    x = encode_texts(df["text"].tolist(), EncoderConfig(model="default", cache_dir=str(cache)))
    y = df["category"].to_numpy()
    k = 10
    clf = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute").fit(x, y)
    idx = clf.kneighbors(return_distance=False)          # leave-one-out: self excluded
    assert got["knn_label_agreement"] == pytest.approx(np.mean(y[idx] == y[:, None]), abs=1e-9)

    # sklearn's own prediction where the vote is untied; the documented tie rule elsewhere.
    proba = clf.predict_proba(None)
    untied = (proba == proba.max(axis=1, keepdims=True)).sum(axis=1) == 1
    pred = np.where(untied, clf.predict(None), nearest_first_vote(y[idx]))
    assert got["knn_accuracy"] == pytest.approx(np.mean(pred == y), abs=1e-9)
    assert 0.8 < got["knn_accuracy"] < 0.95

    assert got["silhouette"] == pytest.approx(silhouette_score(x, y, metric="cosine"), abs=1e-5)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    c = u.astype(np.float64) @ u.T.astype(np.float64)
    same = (y[:, None] == y[None, :]) & ~np.eye(len(y), dtype=bool)
    assert got["tolerance"] == pytest.approx(c[same].mean(), abs=1e-6)
    assert 0 < got["opis"] < 0.1

    # The per-item file: one row per text, the text itself, flags consistent with the metrics.
    it = pd.read_csv(items, keep_default_na=False)
    assert len(it) == 3080 and it["text"].tolist() == df["text"].tolist()
    assert it["label"].tolist() == y.tolist()
    suspects = it["flag"].str.contains("label_suspect")
    assert suspects.sum() == round((1 - got["knn_accuracy"]) * len(y))
    dup_texts = df["text"].str.strip().duplicated(keep=False).to_numpy()
    assert dup_texts.sum() >= 2
    assert it["flag"][dup_texts].str.contains("near_duplicate").all()

"""Per-item triage table: planted label errors, exact duplicates, hubs/antihubs vs brute force."""

from __future__ import annotations

import numpy as np
import pytest

from embeval.diagnostics import labels as L
from embeval.diagnostics.items import FLAGS, item_table
from embeval.diagnostics.space import Space, l2_normalize
from embeval.errors import UsageError


def labelled_set(rng, n_classes=8, per=50, d=32, noise=1.6):
    cent = rng.standard_normal((n_classes, d)) * 1.5
    y = np.repeat(np.arange(n_classes), per)
    x = (cent[y] + rng.standard_normal((len(y), d)) * noise).astype(np.float32)
    return x, y


def table_for(x, y=None, **kw):
    sp = Space.build(x, labels=None if y is None else np.asarray(y).astype(str))
    ids = np.array([f"r{i}" for i in range(len(x))])
    return sp, item_table(sp, ids, **kw)


def test_planted_label_errors_rank_at_the_top(rng):
    x, y = labelled_set(rng)
    clean_acc = L.knn_accuracy(Space.build(x, labels=y.astype(str)))[0].value
    assert clean_acc > 0.97  # the clusters are learnable, so flips stand out
    planted = rng.choice(len(y), 12, replace=False)
    noisy = y.copy()
    noisy[planted] = (y[planted] + rng.integers(1, 8, len(planted))) % 8
    _, t = table_for(x, noisy)
    top = t.worst("label_suspect", len(planted))
    assert len(set(top) & set(planted)) >= len(planted) - 1
    assert set(planted) <= set(t.worst("label_suspect", 2 * len(planted)))
    # The neighbours' vote recovers the original label of a planted error.
    assert np.mean(t.columns["knn_label"][planted] == y[planted].astype(str)) >= 0.9


def test_exact_duplicates_are_near_duplicates(rng):
    x, y = labelled_set(rng, n_classes=3, per=30)
    x[10] = x[40]
    x[11] = x[41] * 3.0  # a scaled copy is the same direction: cosine 1 after normalisation
    _, t = table_for(x, y)
    dup = np.flatnonzero(t.masks["near_duplicate"])
    assert set(dup) == {10, 40, 11, 41}
    assert t.columns["nn_id"][10] == "r40" and t.columns["nn_id"][41] == "r11"
    assert t.columns["nn_angle"][10] == pytest.approx(0.0, abs=0.05)
    assert "near_duplicate" in t.columns["flag"][10]
    # Lower the threshold: every row whose nearest cosine passes it is flagged, no other.
    _, t2 = table_for(x, y, near_dup_threshold=0.8)
    np.testing.assert_array_equal(t2.masks["near_duplicate"], t2.columns["nn_cosine"] >= 0.8 - 1e-6)


def test_columns_match_brute_force(rng):
    x, y = labelled_set(rng, n_classes=4, per=25, noise=2.5)
    k = 6
    sp, t = table_for(x, y, k=k)
    u = l2_normalize(x).astype(np.float64)
    s = u @ u.T
    np.fill_diagonal(s, -np.inf)
    order = np.argsort(-s, axis=1)[:, :k]
    occ = np.bincount(order.ravel(), minlength=len(x))
    np.testing.assert_array_equal(t.columns["k_occurrence"], occ)
    np.testing.assert_allclose(t.columns["nn_cosine"], s.max(axis=1), atol=1e-5)
    np.testing.assert_array_equal(t.columns["nn_id"], np.array([f"r{i}" for i in order[:, 0]]))
    np.testing.assert_allclose(t.columns["label_agreement"], np.mean(y[order] == y[:, None], axis=1))
    np.testing.assert_array_equal(t.masks["hub"], occ >= 2 * k)
    np.testing.assert_array_equal(t.masks["antihub"], occ == 0)
    # label_suspect rows are exactly the rows the leave-one-out kNN gets wrong.
    acc = L.knn_accuracy(sp, k=k)[0].value
    assert t.masks["label_suspect"].sum() == round((1 - acc) * len(y))
    assert list(t.columns) == ["id", "label", "k_occurrence", "nn_id", "nn_cosine", "nn_angle",
                               "label_agreement", "knn_label", "silhouette", "flag"]


def test_flags_join_and_order(rng):
    x, y = labelled_set(rng, n_classes=3, per=20)
    x[0] = x[25]  # duplicate across classes: near_duplicate and (likely) label_suspect
    _, t = table_for(x, y, k=3)
    for i, f in enumerate(t.columns["flag"]):
        parts = f.split(";") if f else []
        assert parts == [k for k in FLAGS if k in t.masks and t.masks[k][i]]
    assert t.columns["flag"][0].startswith("near_duplicate")


def test_worst_orders(rng):
    x, y = labelled_set(rng, n_classes=4, per=30, noise=3.0)
    _, t = table_for(x, y, k=5)
    c = t.columns
    hubs = t.worst("hub")
    assert np.all(np.diff(c["k_occurrence"][hubs]) <= 0)
    sus = t.worst("label_suspect")
    keys = list(zip(c["label_agreement"][sus], c["silhouette"][sus]))
    assert keys == sorted(keys)
    assert len(t.worst("label_suspect", 3)) == min(3, t.counts()["label_suspect"])


def test_without_labels_only_geometry_flags(rng):
    x, _ = labelled_set(rng, n_classes=2, per=20)
    _, t = table_for(x, None, texts=[f"text {i}" for i in range(len(x))])
    assert set(t.masks) == {"hub", "antihub", "near_duplicate", "outlier", "island"}
    assert list(t.columns)[:2] == ["id", "text"] and "label" not in t.columns


def test_bad_settings(rng):
    """The library names its parameters (the CLI says them as --items-k, --near-dup-threshold)."""
    x, y = labelled_set(rng, n_classes=2, per=5)
    with pytest.raises(UsageError, match="`items_k`"):
        table_for(x, y, k=10)
    with pytest.raises(UsageError, match="`near_dup_threshold`"):
        table_for(x, y, k=3, near_dup_threshold=1.5)


@pytest.mark.parametrize("width", [60, 80, 140])
def test_terminal_summary_fits_the_console(rng, width):
    from rich.console import Console

    from embeval.report.items import print_items

    x, y = labelled_set(rng, n_classes=3, per=20, noise=3.0)
    texts = [f"a rather long example sentence number {i} " * 3 for i in range(len(x))]
    names = np.array(["a_very_long_intent_name_for_class_%d" % v for v in y])
    sp = Space.build(x, labels=names)
    t = item_table(sp, np.arange(len(x)).astype(str), texts=texts, k=5)
    console = Console(width=width, record=True, force_terminal=False)
    print_items(t, console)
    out = console.export_text()
    assert all(len(line) <= width for line in out.splitlines())
    assert "label_suspect:" in out and f"of {len(x)} rows" in out
    # The text column shows where there is room, and is dropped where there is not.
    suspects = out[out.index("label_suspect:"):]
    # (labels are whole, so the text gets the room the two 35-character labels leave)
    assert ("a rather long" in suspects) == (width >= 140)
    assert ("a rather long" in out[: out.index("antihub")]) == (width >= 80)  # the narrower hub table
    # Issue 20 item 8 (newcomer #1): labels are never cut, they wrap; the ends that tell two labels
    # apart ("…class_0" vs "…class_1") stay visible.
    label_part = suspects[: suspects.index("hub:")] if "hub:" in suspects else suspects
    assert "…" not in "".join(ln for ln in label_part.splitlines() if "rather" not in ln)
    assert "class_" in label_part


def test_outlier_and_island_flags_match_the_diagnostics(rng):
    from embeval.diagnostics import hygiene
    from embeval.diagnostics.space import Space

    x = rng.standard_normal((200, 16)).astype(np.float32)
    x[:12, 12:] = 0
    x[:12, :12] = 0
    x[:12, 12:] = np.abs(rng.standard_normal((12, 4)))  # rows that only use 4 other coordinates
    x[20] = 0.0
    x[20, 0] = 1.0  # far from most rows
    sp = Space.build(x)
    t = item_table(sp, np.arange(200).astype(str), k=5)
    out = hygiene.outliers(sp)[0]
    assert t.masks["outlier"].mean() == out.value
    share = next(r.value for r in hygiene.connectivity(sp, k=5) if r.metric == "island_share")
    assert t.masks["island"].mean() == share

"""The Python API hands arrays, texts, labels and qrels straight to the orchestrators: no
temporary file, no message rewritten afterwards (issue 19). Every tempfile function is made to
raise, and each command still runs on arrays, with numbers equal to the same data read from a file."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest

import embeval
from embeval.errors import EmbevalError


@pytest.fixture
def no_tempfiles(monkeypatch):
    calls = []

    def refuse(name):
        def fn(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"the Python API called tempfile.{name}")

        return fn

    names = ("mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryDirectory", "TemporaryFile", "SpooledTemporaryFile")
    for name in names:
        monkeypatch.setattr(tempfile, name, refuse(name))
    yield calls
    assert calls == []


def _sets(seed=0, n=40, d=8):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 0.5


def test_geometry_on_arrays_writes_nothing_and_matches_the_file(no_tempfiles, tmp_path):
    a, _ = _sets()
    a32 = a.astype(np.float32)
    before = a32.copy()
    embeval.geometry(a32, metrics="uniformity")
    np.testing.assert_array_equal(a32, before)  # the caller's array is not normalised in place
    labels = np.repeat(["x", "y"], 20)
    got = embeval.geometry(a, metrics="uniformity,anisotropy,knn_label_agreement", labels=labels)
    assert got.inputs["embeddings"]["path"] == "<embeddings array>"
    np.save(tmp_path / "a.npy", a)
    (tmp_path / "l.txt").write_text("".join(f"{v}\n" for v in labels), encoding="utf-8")
    want = embeval.geometry(
        tmp_path / "a.npy", metrics="uniformity,anisotropy,knn_label_agreement", labels=tmp_path / "l.txt"
    )
    assert [(r.metric, r.value) for r in got.results] == [(r.metric, r.value) for r in want.results]


def test_retrieval_gap_pairs_on_arrays_write_nothing(no_tempfiles, tmp_path):
    a, b = _sets()
    qrels = {str(i): {str(i): 1} for i in range(10)}
    r = embeval.retrieval(a[:10], a, qrels, k=[1, 10])
    assert r.value("ndcg@1") == 1.0 and r.inputs["qrels"]["source"] == "memory"
    g = embeval.gap(a, b, paired=True, metrics="gap,alignment")
    stacked = embeval.gap(np.stack([a, b]), paired=True, metrics="gap,alignment")
    assert [x.value for x in g.results] == [x.value for x in stacked.results]
    assert g.settings["names"] == {"a": "A", "b": "B"}
    p = embeval.pairs([("a cat", "a dog", 1.0), ("the sun", "a car", 0.0), ("red", "blue", 0.5)], model="mock")
    assert -1 <= p.value("spearman") <= 1 and p.inputs["pairs"]["source"] == "memory"


def test_errors_name_the_argument_without_rewriting(no_tempfiles):
    a, _ = _sets()
    bad = a.copy()
    bad[3] = 0
    with pytest.raises(EmbevalError, match=r"^argument `x` \(row 3\): zero-norm vector"):
        embeval.geometry(bad)
    with pytest.raises(EmbevalError, match=r"^argument `corpus` \(row 3\): zero-norm"):
        embeval.retrieval(a[:5], bad, {"0": {"0": 1}})
    with pytest.raises(EmbevalError, match=r"^argument `queries`: 3 ids for 5 rows"):
        embeval.retrieval(a[:5], a, {"0": {"0": 1}}, query_ids=["x", "y", "z"])
    with pytest.raises(EmbevalError, match=r"^argument `data` \(pair 1\): empty text"):
        embeval.pairs([("a", "b", 1.0), ("", "c", 0.0)], model="mock")

"""The public Python API: the README example runs, arrays of every kind give the numbers a file
gives, Report.value raises on unknown/ambiguous names, importing embeval stays light."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, SAMPLE

import embeval
from embeval.errors import EmbevalError


def _readme_python_example() -> str:
    """The Python API guide's example (the README's, moved to docs/guides/python-api.md)."""
    text = (ROOT / "docs" / "guides" / "python-api.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "default_rng(0)" in b]
    assert blocks, "docs/guides/python-api.md has no python block with the array example"
    return blocks[0]


def test_readme_example_runs_and_its_numbers_are_right(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(_readme_python_example(), "docs/guides/python-api.md", "exec"), ns)
    docs, queries, ret, geo = ns["docs"], ns["queries"], ns["ret"], ns["geo"]
    # Independent check: brute-force cosine ranking in NumPy.
    d = docs / np.linalg.norm(docs, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    order = np.argsort(-(q @ d.T), axis=1, kind="stable")
    rank = np.array([np.flatnonzero(order[i] == i)[0] for i in range(len(q))])  # 0-based rank of doc i
    assert ret.value("recall@1") == pytest.approx(np.mean(rank == 0))
    ndcg10 = np.mean(np.where(rank < 10, 1 / np.log2(rank + 2), 0.0))
    assert ret.value("ndcg@10") == pytest.approx(ndcg10)
    assert 0 < ret.value("recall@1") < 1  # the example is not trivially perfect
    # uniformity: log mean exp(-2 ||x_i - x_j||^2) over distinct pairs
    sq = np.clip(2 - 2 * (d @ d.T), 0, None)[np.triu_indices(len(d), 1)]
    assert geo.value("uniformity") == pytest.approx(np.log(np.mean(np.exp(-2 * sq))), rel=1e-6)
    saved = json.loads((tmp_path / "retrieval.json").read_text())
    assert saved["command"] == "retrieval"
    df = ns["table"]
    assert df.loc[df.metric == "ndcg@10", "value"].item() == pytest.approx(ndcg10)


def test_value_raises_on_unknown_and_ambiguous_names():
    rng = np.random.default_rng(1)
    docs = rng.standard_normal((60, 8))
    r = embeval.retrieval(docs[:10] + 0.5, docs, {str(i): {str(i): 1} for i in range(10)}, k=[1, 10])
    with pytest.raises(embeval.UnknownMetric, match=r"ambiguous.*ndcg@1, ndcg@10"):
        r.value("ndcg")
    with pytest.raises(KeyError, match="did you mean 'recall@10'"):
        r.value("recal@10")
    g = embeval.geometry(docs, metrics=["hubness(k=5)", "hubness(k=10)"])
    with pytest.raises(embeval.UnknownMetric, match="ambiguous"):
        g.value("hubness_skew")
    assert g.value("hubness_skew", k=5) == g.value("hubness_skew(k=5)")
    assert g.value("hubness_skew", k=5) != g.value("hubness_skew", k=10)


def test_array_kinds_give_the_numbers_of_the_file(tmp_path):
    import pandas as pd
    import pyarrow as pa
    import torch

    x = np.random.default_rng(2).standard_normal((80, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    want = embeval.geometry(tmp_path / "x.npy", metrics="uniformity,anisotropy")
    for form in (x, torch.from_numpy(x), pd.Series(list(x)), pd.DataFrame(x), pa.array(list(x)), x.tolist()):
        got = embeval.geometry(form, metrics="uniformity,anisotropy")
        assert got.value("uniformity") == want.value("uniformity")
        assert got.value("anisotropy") == want.value("anisotropy")
        assert got.inputs["embeddings"]["path"] == "<embeddings array>"


def test_arrays_are_validated_like_files():
    x = np.ones((10, 4))
    x[3, 1] = np.nan
    with pytest.raises(EmbevalError, match="non-finite"):
        embeval.geometry(x)
    with pytest.raises(EmbevalError, match="n×d"):
        embeval.geometry(np.ones(5))


def test_gap_names_and_stacked_array():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((40, 6)) + 1, rng.standard_normal((40, 6))
    r1 = embeval.gap(a, b, metrics="gap")
    r2 = embeval.gap(np.stack([a, b]), metrics="gap")
    assert r1.value("gap") == r2.value("gap")
    ca = a / np.linalg.norm(a, axis=1, keepdims=True)
    cb = b / np.linalg.norm(b, axis=1, keepdims=True)
    assert r1.value("gap") == pytest.approx(np.linalg.norm(ca.mean(0) - cb.mean(0)), rel=1e-6)


def test_compare_takes_reports():
    rng = np.random.default_rng(4)
    docs = rng.standard_normal((80, 8))
    qrels = {str(i): {str(i): 1} for i in range(20)}
    r1 = embeval.retrieval(docs[:20] + 0.3 * rng.standard_normal((20, 8)), docs, qrels, k=[1, 10], per_query=True)
    r2 = embeval.retrieval(docs[:20] + 1.5 * rng.standard_normal((20, 8)), docs, qrels, k=[1, 10], per_query=True)
    comp = embeval.compare(r1, r2)
    df = comp.to_pandas()
    row = df[df.metric == "ndcg@10"].iloc[0]
    assert row["new"] - row["old"] == pytest.approx(r2.value("ndcg@10") - r1.value("ndcg@10"))


def test_repr_html_and_to_pandas_per_query():
    docs = np.random.default_rng(5).standard_normal((30, 4))
    r = embeval.retrieval(docs[:5], docs, {str(i): {str(i): 1} for i in range(5)}, k=[1], per_query=True)
    html = r._repr_html_()
    assert "<table>" in html and "recall@1" in html and "overflow-x:auto" in html
    pq = r.to_pandas(per_query=True)
    assert list(pq.columns) == ["query_id", "metric", "value"] and len(pq) > 0
    assert set(pq.query_id) == {str(i) for i in range(5)}


def test_encode_and_texts_use_a_model(monkeypatch, tmp_path):
    from first_mock import install_mock

    monkeypatch.setenv("EMBEVAL_CACHE_DIR", str(tmp_path / "cache"))
    install_mock(monkeypatch)
    vecs = embeval.encode(["a b", "c d", "a b"], model="mock-model")
    assert vecs.shape == (3, 8) and np.array_equal(vecs[0], vecs[2])
    r = embeval.geometry(["one", "two", "three", "four", "five"], model="mock-model", metrics="uniformity")
    assert np.isfinite(r.value("uniformity"))
    assert r.settings["cache"]["misses"] == 5 and r.inputs["embeddings"]["path"] == "<embeddings texts>"
    with pytest.raises(EmbevalError, match="needs model="):
        embeval.geometry(["one", "two"])


def test_retrieval_files_give_the_readme_number():
    want = embeval.retrieval(SAMPLE / "scifact_small" / "queries.npz", SAMPLE / "scifact_small" / "corpus.npz",
                             SAMPLE / "scifact_small" / "qrels" / "test.tsv", k=[10])
    assert want.value("ndcg@10") == pytest.approx(0.829412, abs=1e-6)  # the README's number


def test_import_embeval_is_light():
    code = ("import sys, embeval; heavy = [m for m in ('numpy', 'torch', 'faiss', 'pandas', 'sentence_transformers') "
            "if m in sys.modules]; print(heavy); embeval.geometry; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.split("\n")[:2] == ["[]", "False"]


def test_files_written_like_the_command_line(tmp_path):
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((30, 5)) + 1, rng.standard_normal((30, 5))
    g = embeval.gap(a, b, metrics="gap", name_a="images", name_b="captions", plot=tmp_path / "g.png",
                    export_gap=tmp_path / "g.npy")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    ua = a / np.linalg.norm(a, axis=1, keepdims=True)
    ub = b / np.linalg.norm(b, axis=1, keepdims=True)
    np.testing.assert_allclose(np.load(tmp_path / "g.npy"), ua.mean(0) - ub.mean(0), rtol=1e-6, atol=1e-7)
    assert g.settings["names"] == {"a": "images", "b": "captions"}
    r = embeval.retrieval(a[:5], a, {str(i): {str(i): 1} for i in range(5)}, k=[1], roc=tmp_path / "roc.csv")
    assert (tmp_path / "roc.csv").read_text().startswith("threshold,fpr,tpr")
    assert r.value("recall@1") == 1.0


# Review P2-8: N-way compare, a consistent object, run's Batch, errors naming arguments ------------


def _three_reports():
    rng = np.random.default_rng(7)
    docs = rng.standard_normal((80, 8))
    qrels = {str(i): {str(i): 1} for i in range(30)}
    return [
        embeval.retrieval(docs[:30] + s * rng.standard_normal((30, 8)), docs, qrels, k=[1, 10], per_query=True)
        for s in (0.3, 1.0, 2.0)
    ]


def test_compare_two_returns_a_report_like_object():
    r1, r2, _ = _three_reports()
    comp = embeval.compare(r1, r2)
    assert isinstance(comp, embeval.Comparison) and comp.kind == "pair"
    want = r2.value("ndcg@10") - r1.value("ndcg@10")
    assert comp.delta("ndcg@10") == pytest.approx(want)
    assert comp.value("ndcg@10") == pytest.approx(r2.value("ndcg@10"))
    assert comp.value("ndcg@10", 0) == pytest.approx(r1.value("ndcg@10"))
    assert json.loads(comp.to_json())["command"] == "compare"
    assert "<table" in comp._repr_html_() and "ndcg@10" in comp._repr_html_()
    df = comp.to_pandas()
    assert df[df.metric == "ndcg@10"].iloc[0]["delta"] == pytest.approx(want)


def test_compare_ranks_n_reports_like_the_cli():
    r1, r2, r3 = _three_reports()
    comp = embeval.compare(r1, r2, r3, fail_if_regress="ndcg@10>0.01")
    assert comp.kind == "ranking" and len(comp.systems) == 3
    for k, r in enumerate((r1, r2, r3)):
        assert comp.value("ndcg@10", k) == pytest.approx(r.value("ndcg@10"))
    assert comp.value("ndcg@10", "c") == pytest.approx(r3.value("ndcg@10"))
    assert comp.delta("ndcg@10", 2) == pytest.approx(r3.value("ndcg@10") - r1.value("ndcg@10"))
    df = comp.to_pandas()
    assert set(df.letter) == {"a", "b", "c"}
    best = df[(df.metric == "ndcg@10") & (df.best)].letter.tolist()
    assert best == ["a"]  # the least noisy queries rank best
    assert not comp.passed  # r3 is much worse than r1
    assert "<table" in comp._repr_html_()
    with pytest.raises(embeval.UnknownMetric, match="name the system"):
        comp.value("ndcg@10")


def test_array_errors_name_the_argument_not_a_temporary_file():
    with pytest.raises(EmbevalError) as info:
        embeval.geometry(np.zeros((5, 3)))
    msg = str(info.value)
    assert msg.startswith("argument `x` (row 0): zero-norm"), msg
    assert "/tmp" not in msg and "embeval-" not in msg
    docs = np.random.default_rng(1).standard_normal((4, 3))
    with pytest.raises(EmbevalError, match=r"^argument `corpus` \(row 0\): zero-norm"):
        embeval.retrieval(docs[:2], np.zeros((3, 3)), {"0": {"1": 1}})


def test_unknown_keyword_names_the_public_function():
    with pytest.raises(TypeError, match=r"embeval\.geometry\(\) got an unexpected keyword argument 'itms_k'; "
                                        r"did you mean 'items_k'"):
        embeval.geometry(np.eye(4), itms_k=2)
    with pytest.raises(TypeError, match=r"embeval\.gap\(\)"):
        embeval.gap(np.eye(4), np.eye(4), nonsense=1)


def test_run_returns_a_batch_with_the_report_conveniences(tmp_path):
    from conftest import SAMPLE

    corpus = SAMPLE / "scifact_small" / "corpus.npz"
    cfg = tmp_path / "b.toml"
    cfg.write_text(
        f'[settings]\nseed = 1\n\n[[datasets]]\nname = "corpus"\nkind = "embeddings"\npath = "{corpus}"\n'
        'model = "minilm"\n\n[[jobs]]\ncommand = "geometry"\nmetrics = ["uniformity,anisotropy"]\n'
    )
    batch = embeval.run(cfg, write=False)
    assert isinstance(batch, embeval.Batch) and batch.passed
    key = batch.keys()[0]
    direct = embeval.geometry(corpus, metrics="uniformity,anisotropy", seed=1)
    assert batch.value(key, "anisotropy") == pytest.approx(direct.value("anisotropy"))
    df = batch.to_pandas()
    assert df[df.metric == "anisotropy"].value.iloc[0] == pytest.approx(direct.value("anisotropy"))
    assert json.loads(batch.to_json())["kind"] == "batch" and "<table" in batch._repr_html_()

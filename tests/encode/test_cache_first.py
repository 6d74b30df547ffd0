"""The embedding cache, with a seeded mock encoder: hits and misses are counted, a full hit does not
load the model, the weights hash is remembered, broken files and bad rows are recovered from."""

from __future__ import annotations

import hashlib
import sqlite3
import warnings

import numpy as np
import pytest
from first_mock import install_mock

import embeval.encode.base as base
from embeval.encode import EncoderConfig, encode_texts
from embeval.encode.cache import CacheWarning, cache_dir, list_caches


@pytest.fixture
def mock(monkeypatch):
    """Patch model loading; ``mock.loads`` counts loads, ``mock.enc`` is the encoder."""
    return install_mock(monkeypatch)


@pytest.fixture
def cfg(tmp_path):
    return EncoderConfig(model="mock-model-xyz", cache_dir=str(tmp_path / "cache"))


TEXTS = [f"sentence number {i}" for i in range(30)]


def test_full_hit_does_not_load_the_model_and_counts(mock, cfg):
    with base.track_cache() as s1:
        first = encode_texts(TEXTS, cfg)
    assert (s1.hits, s1.misses, s1.model_loaded) == (0, 30, True)
    loads = mock.loads
    with base.track_cache() as s2:
        second = encode_texts(TEXTS, cfg)
    assert mock.loads == loads  # no load at all
    assert (s2.hits, s2.misses, s2.model_loaded) == (30, 0, False)
    np.testing.assert_array_equal(first, second)
    with base.track_cache() as s3:
        encode_texts([*TEXTS[:5], "new one"], cfg)
    assert (s3.hits, s3.misses) == (5, 1)
    assert mock.enc.encoded[-1] == "new one"


def test_report_settings_record_hits_and_misses(mock, cfg, tmp_path):
    from embeval.api import geometry_report

    f = tmp_path / "t.txt"
    f.write_text("\n".join(TEXTS) + "\n")
    r1 = geometry_report(f, encoder=cfg, metrics=["uniformity"])
    r2 = geometry_report(f, encoder=cfg, metrics=["uniformity"])
    assert r1.settings["cache"] == {"hits": 0, "misses": 30, "model_loaded": True}
    assert r2.settings["cache"] == {"hits": 30, "misses": 0, "model_loaded": False}
    assert r1.value("uniformity") == pytest.approx(r2.value("uniformity"), abs=0)
    assert r2.inputs["embeddings"]["model"]["dim"] == 8


@pytest.mark.parametrize("damage", ["garbage", "truncate", "foreign"])
def test_broken_cache_file_warns_once_is_moved_and_rebuilt(mock, cfg, damage):
    ref = encode_texts(TEXTS, cfg)
    [path] = list(cache_dir(cfg).glob("emb-*.sqlite"))
    for extra in ("-wal", "-shm"):
        (path.parent / (path.name + extra)).unlink(missing_ok=True)
    if damage == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(100_000))
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:1500])
    else:
        path.unlink()
        c = sqlite3.connect(path)
        c.execute("CREATE TABLE other (x)")
        c.commit()
        c.close()
    mock.enc.encoded.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = encode_texts(TEXTS, cfg)
    msgs = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(msgs) == 1 and path.name in msgs[0] and "moved to" in msgs[0]
    assert len(mock.enc.encoded) == 30  # everything encoded again
    np.testing.assert_array_equal(again, ref)
    assert list(path.parent.glob(path.name + ".broken-*"))
    # rebuilt: the next run is a full hit, silently
    mock.enc.encoded.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encode_texts(TEXTS, cfg)
    assert mock.enc.encoded == [] and not [w for w in caught if issubclass(w.category, CacheWarning)]


def test_bad_cached_vectors_are_encoded_again(mock, cfg):
    ref = encode_texts(TEXTS, cfg)
    [path] = list(cache_dir(cfg).glob("emb-*.sqlite"))
    c = sqlite3.connect(path)
    rows = c.execute("SELECT k, v FROM emb").fetchall()
    bad = np.frombuffer(rows[0][1], dtype=np.float32).copy()
    bad[0] = np.nan
    c.execute("UPDATE emb SET v=? WHERE k=?", (bad.tobytes(), rows[0][0]))
    c.execute("UPDATE emb SET v=? WHERE k=?", (b"\x00" * 12, rows[1][0]))  # wrong size
    c.commit()
    c.close()
    mock.enc.encoded.clear()
    with pytest.warns(CacheWarning, match="2 cached vector"):
        out = encode_texts(TEXTS, cfg)
    assert len(mock.enc.encoded) == 2
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, ref)
    mock.enc.encoded.clear()
    encode_texts(TEXTS, cfg)  # replaced in the cache
    assert mock.enc.encoded == []


def test_weights_hashed_once_remembered_by_path_size_mtime(mock, tmp_path, monkeypatch):
    import embeval.encode.st as st

    model = tmp_path / "my-model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights" * 1000)
    (model / "config.json").write_text("{}")
    (model / "sentence_bert_config.json").write_text('{"max_seq_length": 128}')
    cfg = EncoderConfig(model=str(model), cache_dir=str(tmp_path / "c"))
    st._IDENTITIES.clear()
    hashed = []
    real = st._file_sha256

    def counting(path, remembered):
        before = dict(remembered or {})
        out = real(path, remembered)
        if remembered is None or before.get(__import__("os").path.realpath(path)) != remembered.get(
                __import__("os").path.realpath(path)):
            hashed.append(path)
        return out

    monkeypatch.setattr(st, "_file_sha256", counting)
    ident = st.model_identity(cfg)
    assert ident["weights_sha256"] == hashlib.sha256(b"weights" * 1000).hexdigest()
    assert ident["max_seq_length"] == 128
    assert len(hashed) == 3
    st._IDENTITIES.clear()
    hashed.clear()
    assert st.model_identity(cfg) == ident and hashed == []  # remembered on disk
    # Same weights under another path: same fingerprint, so the same cache file.
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    st._IDENTITIES.clear()
    other = st.model_identity(EncoderConfig(model=str(copy), cache_dir=str(tmp_path / "c")))
    assert other["fingerprint"] == ident["fingerprint"]
    encode_texts(TEXTS, cfg)
    mock.enc.encoded.clear()
    encode_texts(TEXTS, EncoderConfig(model=str(copy), cache_dir=str(tmp_path / "c")))
    assert mock.enc.encoded == []
    # A changed weight file (new size/mtime) is hashed again and changes the identity.
    (model / "model.safetensors").write_bytes(b"other" * 1000)
    st._IDENTITIES.clear()
    assert st.model_identity(cfg)["weights_sha256"] == hashlib.sha256(b"other" * 1000).hexdigest()
    [entry] = list_caches(tmp_path / "c")
    assert entry.entries == 30 and entry.dim == 8


def test_cache_folder_that_is_a_file_fails_before_loading(mock, tmp_path):
    from embeval.errors import InputError

    f = tmp_path / "not-a-folder"
    f.write_text("x")
    with pytest.raises(InputError, match="cache folder is a file"):
        encode_texts(TEXTS, EncoderConfig(model="mock-model-xyz", cache_dir=str(f)))
    assert mock.loads == 0


def test_missing_local_model_folder_fails_before_loading(mock, tmp_path):
    from embeval.errors import ModelError

    with pytest.raises(ModelError, match="no such local folder"):
        encode_texts(TEXTS, EncoderConfig(model="./no-such-model-dir", cache_dir=str(tmp_path)))
    assert mock.loads == 0

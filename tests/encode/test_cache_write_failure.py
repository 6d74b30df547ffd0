"""A cache that cannot be written is not a broken cache (review trust-3, H2): under a file-size limit
or a full disk a healthy cache file is never moved aside, one warning names it, the run goes on
without the cache, and nothing loops."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from first_mock import MockEncoder, install_mock

import embeval.encode.cache as cache_mod
from embeval.encode import EncoderConfig, encode_texts
from embeval.encode.cache import CacheWarning, cache_dir, is_corrupt

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [f"sentence number {i}" for i in range(300)]
NEW = ["brand new text one", "brand new text two"]


@pytest.fixture
def mock(monkeypatch):
    return install_mock(monkeypatch)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _expected(texts):
    """The mock encoder's vectors, computed without embeval (the oracle)."""

    class Task:
        def advance(self, n):
            pass

    return MockEncoder(EncoderConfig(model="x")).encode_batch(list(texts), Task())


_CHILD = """
import json, resource, sys, warnings
sys.path[:0] = [{root!r}, {tests!r}]
from first_mock import MockEncoder
import embeval.encode.base as base
base.load_encoder = lambda config: MockEncoder(config)
from embeval.encode import EncoderConfig, encode_texts
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))  # ulimit -f 8: no file may grow past 8 KiB
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    out = encode_texts({texts!r}, EncoderConfig(model="mock-model-xyz", cache_dir={cache!r}))
print(json.dumps({{"out": out.tolist(), "warnings": [str(w.message) for w in caught]}}))
"""


@pytest.mark.parametrize("prefill", [True, False], ids=["healthy_cache", "empty_cache"])
def test_file_size_limit_keeps_the_cache_and_warns_once(mock, tmp_path, prefill):
    """RLIMIT_FSIZE in a child process (Python ignores SIGXFSZ, so writes fail with EFBIG, as on a
    full disk): the healthy 300-vector cache is untouched, one warning, the vectors are right."""
    folder = tmp_path / "c"
    if prefill:
        encode_texts(TEXTS, EncoderConfig(model="mock-model-xyz", cache_dir=str(folder)))
        [db] = list(folder.glob("emb-*.sqlite"))
        assert db.stat().st_size > 8192  # the limit is below the file's size: any growth fails
        before = {p.name: _sha(p) for p in folder.iterdir() if p.name.endswith(".sqlite")}
    child = _CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), texts=NEW, cache=str(folder))
    res = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout)
    np.testing.assert_array_equal(np.asarray(got["out"], dtype=np.float32), _expected(NEW))
    cache_warnings = [w for w in got["warnings"] if "embedding cache" in w]
    assert len(cache_warnings) == 1, got["warnings"]
    assert "without the cache" in cache_warnings[0] and "moved" not in cache_warnings[0]
    assert not list(folder.glob("*.broken-*")), sorted(p.name for p in folder.iterdir())
    if prefill:
        assert {p.name: _sha(p) for p in folder.iterdir() if p.name.endswith(".sqlite")} == before
        mock.enc = None  # the cache still serves all 300 vectors, without loading the model
        loads = mock.loads
        again = encode_texts(TEXTS, EncoderConfig(model="mock-model-xyz", cache_dir=str(folder)))
        assert mock.loads == loads
        np.testing.assert_array_equal(again, _expected(TEXTS))


ERRORS = {
    "disk_full": lambda: sqlite3.OperationalError("database or disk is full"),
    "io_error": lambda: sqlite3.OperationalError("disk I/O error"),
    "enospc": lambda: OSError(28, os.strerror(28)),
}


@pytest.mark.parametrize("kind", ["disk_full", "io_error"])
def test_write_error_warns_once_and_moves_nothing(mock, tmp_path, monkeypatch, kind):
    """Every write to SQLite raises the OS-level error: one warning, no .broken-* file, the right
    vectors, and no RecursionError (the old code re-opened until the stack ran out)."""
    cfg = EncoderConfig(model="mock-model-xyz", cache_dir=str(tmp_path / "c"))
    encode_texts(TEXTS[:30], cfg)
    [db] = list(cache_dir(cfg).glob("emb-*.sqlite"))
    before = _sha(db)
    real = sqlite3.connect

    class Failing:
        def __init__(self, conn):
            self._c = conn

        def execute(self, sql, *a):
            if sql.lstrip().upper().startswith(("BEGIN", "INSERT", "PRAGMA JOURNAL", "CREATE")):
                raise ERRORS[kind]()
            return self._c.execute(sql, *a)

        def executemany(self, *a):
            raise ERRORS[kind]()

        def __getattr__(self, name):
            return getattr(self._c, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(cache_mod.sqlite3, "connect", lambda *a, **k: Failing(real(*a, **k)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = encode_texts(TEXTS[:30] + NEW, cfg)
    msgs = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(msgs) == 1 and db.name in msgs[0] and "moved" not in msgs[0], msgs
    np.testing.assert_array_equal(out, _expected(TEXTS[:30] + NEW))
    assert not list(db.parent.glob("*.broken-*"))
    monkeypatch.undo()
    assert _sha(db) == before


def test_cache_folder_cannot_be_made(mock, tmp_path, monkeypatch):
    """ENOSPC making the cache folder: a warning, the run goes on."""
    cfg = EncoderConfig(model="mock-model-xyz", cache_dir=str(tmp_path / "new" / "c"))

    def full(*a, **k):
        raise ERRORS["enospc"]()

    monkeypatch.setattr(Path, "mkdir", full)
    with pytest.warns(CacheWarning, match="No space left on device"):
        out = encode_texts(NEW, cfg)
    np.testing.assert_array_equal(out, _expected(NEW))


def test_corruption_is_told_from_write_failures():
    """The classifier that decides whether a file may be moved aside, on SQLite's own errors."""
    bad = sqlite3.connect(":memory:")
    assert not is_corrupt(sqlite3.OperationalError("database or disk is full"))
    assert not is_corrupt(sqlite3.OperationalError("disk I/O error"))
    assert is_corrupt(sqlite3.DatabaseError("database disk image is malformed"))
    assert is_corrupt(sqlite3.DatabaseError("file is not a database"))
    try:
        bad.execute("SELECT * FROM nosuch")
    except sqlite3.OperationalError as exc:  # a real error with SQLite's code (SQLITE_ERROR)
        assert not is_corrupt(exc)
    bad.close()

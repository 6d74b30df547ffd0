"""On-disk embedding cache.

One SQLite file per encoder configuration (model identity incl. a weights hash, normalisation, max
sequence length), under ``$EMBEVAL_CACHE_DIR`` or ``$XDG_CACHE_HOME/embeval`` (default
``~/.cache/embeval``). Rows are keyed by sha256 of the exact text encoded (prompt included), so a
second run over the same texts reads vectors instead of running the model. SQLite's locking (WAL
mode, busy timeout) makes it safe for several runs to share one cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeval.encode.config import EncoderConfig

_CHUNK = 500  # SQLite host-parameter limit is 999 on older builds


def cache_dir(config: EncoderConfig | None = None) -> Path:
    if config is not None and config.cache_dir:
        return Path(config.cache_dir).expanduser()
    if os.environ.get("EMBEVAL_CACHE_DIR"):
        return Path(os.environ["EMBEVAL_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "embeval"


def config_key(identity: dict, config: EncoderConfig) -> str:
    blob = json.dumps({"identity": identity, "normalize": config.normalize}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    def __init__(self, path: Path, dim: int):
        self.path = path
        self.dim = dim
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA busy_timeout=60000")
        self.conn.execute("CREATE TABLE IF NOT EXISTS emb (k BLOB PRIMARY KEY, v BLOB NOT NULL)")

    @classmethod
    def open(cls, identity: dict, config: EncoderConfig) -> EmbeddingCache:
        return cls(cache_dir(config) / f"emb-{config_key(identity, config)}.sqlite", identity["dim"])

    def get_many(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Returns (indices of cached texts, their vectors)."""
        keys = [_text_key(t) for t in texts]
        pos: dict[bytes, list[int]] = {}
        for i, k in enumerate(keys):
            pos.setdefault(k, []).append(i)
        found: dict[bytes, bytes] = {}
        uniq = list(pos)
        for s in range(0, len(uniq), _CHUNK):
            part = uniq[s:s + _CHUNK]
            q = f"SELECT k, v FROM emb WHERE k IN ({','.join('?' * len(part))})"
            found.update(self.conn.execute(q, part).fetchall())
        idx, vecs = [], []
        for k, blob in found.items():
            v = np.frombuffer(blob, dtype=np.float32)
            if v.shape[0] != self.dim:
                continue
            for i in pos[k]:
                idx.append(i)
                vecs.append(v)
        order = np.argsort(idx)
        return (np.asarray(idx, dtype=np.int64)[order],
                np.asarray(vecs, dtype=np.float32).reshape(-1, self.dim)[order])

    def put_many(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(_text_key(t), np.ascontiguousarray(v, dtype=np.float32).tobytes())
                for t, v in zip(texts, vectors)]
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("INSERT OR REPLACE INTO emb (k, v) VALUES (?, ?)", rows)

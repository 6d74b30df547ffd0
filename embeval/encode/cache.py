"""On-disk embedding cache.

One SQLite file per encoder configuration (the model's fingerprint: weights, configs and tokenizer;
its max sequence length; normalisation), under ``--cache-dir``, ``$EMBEVAL_CACHE_DIR`` or
``$XDG_CACHE_HOME/embeval`` (default ``~/.cache/embeval``). Rows are keyed by sha256 of the exact
text encoded (prompt included), so a second run over the same texts reads vectors instead of running
the model; when every text is cached the model is not even loaded. SQLite's locking (WAL mode, busy
timeout) makes it safe for several runs to share one cache.

A cache file that is corrupt, truncated or not ours is moved aside (``NAME.broken-TIME``) with one
:class:`CacheWarning` naming it, and rebuilt (once: a second failure turns the cache off). A cache
that cannot be *written* (a full disk, a file-size limit, a read-only folder, a lock held too long)
is not damaged: it is never moved, one warning names the file and the OS error, and the run goes on
without the cache. Cached vectors are checked like any input (right dimension, finite, not all
zero); a bad one is encoded again and replaced.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeval.encode.config import EncoderConfig
from embeval.notices import EmbevalWarning

_CHUNK = 500  # SQLite host-parameter limit is 999 on older builds
_HASHES = "fingerprints.json"
_WARNED: set[str] = set()  # cache files already reported unusable in this process (one warning each)


class CacheWarning(EmbevalWarning):
    """The embedding cache had a problem it recovered from (a broken file moved aside, bad rows)."""


def cache_dir(config: EncoderConfig | None = None) -> Path:
    if config is not None and config.cache_dir:
        return Path(config.cache_dir).expanduser()
    if os.environ.get("EMBEVAL_CACHE_DIR"):
        return Path(os.environ["EMBEVAL_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "embeval"


@contextmanager
def remembered_hashes(config: EncoderConfig) -> Iterator[dict | None]:
    """The file hashes remembered in the cache folder (``fingerprints.json``: real path → size,
    mtime, sha256); written back when new ones were added. None (nothing remembered) with
    ``cache=False``, so that --no-cache writes nothing."""
    if not config.cache:
        yield None
        return
    path = cache_dir(config) / _HASHES
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    before = json.dumps(data, sort_keys=True)
    yield data
    if json.dumps(data, sort_keys=True) != before:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{_HASHES}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, path)
        except OSError:  # a read-only cache folder: hash again next time
            pass


def config_key(identity: dict, config: EncoderConfig) -> str:
    """The cache file's name part: the model's fingerprint when it is a local folder (so the same
    weights reached by another path or name share the cache), else its name."""
    if identity.get("fingerprint"):
        who = {"fingerprint": identity["fingerprint"]}
    else:
        who = {"model": identity.get("model"), "path": identity.get("path")}
    blob = json.dumps(
        {**who, "max_seq_length": identity.get("max_seq_length"), "normalize": config.normalize}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def is_corrupt(exc: BaseException) -> bool:
    """Is this SQLite error damage to the file (SQLITE_CORRUPT, SQLITE_NOTADB), as opposed to a
    file that cannot be written or opened now (SQLITE_IOERR, SQLITE_FULL, SQLITE_READONLY,
    SQLITE_CANTOPEN, SQLITE_BUSY...)? Only damage may move a file aside."""
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str) and name:
        return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
    text = str(exc).lower()  # an error raised without SQLite's code: its documented message
    return "malformed" in text or "not a database" in text


def _move_aside(path: Path, reason: str) -> None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.broken-{stamp}-{os.getpid()}")
    try:
        os.replace(path, target)
        moved = f"moved to {target.name}"
    except FileNotFoundError:
        moved = "already gone"
    except OSError as exc:
        moved = f"could not be moved aside ({exc.strerror or exc}); it is bypassed"
    for extra in ("-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.remove(f"{path}{extra}")
    warnings.warn(f"embedding cache {path}: {reason}; {moved}, the cache is rebuilt", CacheWarning, stacklevel=4)


class EmbeddingCache:
    """One cache file. Opened lazily: reading a file that does not exist creates nothing."""

    def __init__(self, path: Path, dim: int | None = None, identity: dict | None = None, normalize: bool = True):
        self.path = Path(path)
        self.dim = dim
        self.identity = identity or {}
        self.normalize = normalize
        self.conn: sqlite3.Connection | None = None
        self.invalid = 0  # cached rows rejected by the last get_many
        self._broken = False
        self.disabled = False  # the cache could not be written or opened: not used for the rest of the run

    @classmethod
    def open(cls, identity: dict, config: EncoderConfig) -> EmbeddingCache:
        return cls(
            cache_dir(config) / f"emb-{config_key(identity, config)}.sqlite",
            identity.get("dim"),
            identity=identity,
            normalize=config.normalize,
        )

    # connection ---------------------------------------------------------------------------
    def _connect(self, create: bool) -> sqlite3.Connection | None:
        """The open connection, or None (no file and ``create`` is false, or the cache is off for
        this run). A damaged file is moved aside and opened afresh at most once: nothing loops."""
        if self.conn is not None:
            return self.conn
        if self.disabled or (self._broken and not create):
            return None
        outcome = self._open(create)
        if isinstance(outcome, str):  # damaged or foreign: moved aside; a read gives misses
            _move_aside(self.path, outcome)
            self._broken = True
            if not create:
                return None
            outcome = self._open(create)  # a write opens a fresh file, once
            if isinstance(outcome, str):
                self._unusable(f"a fresh cache file is unusable too ({outcome})")
                return None
        if outcome is None:
            return None
        self.conn = outcome
        self._broken = False
        return outcome

    def _open(self, create: bool) -> sqlite3.Connection | str | None:
        """A connection, None (nothing to read, or the cache is off now), or the reason the file is
        damaged (the caller moves it aside). SQLite answers "database is locked" at once, without
        its busy handler, while another process creates the file or switches it to WAL: that is
        retried for up to about 6 s before the cache is given up for this run."""
        for attempt in range(LOCKED_RETRIES):
            try:
                return self._open_once(create)
            except _Locked:
                time.sleep(min(0.01 * 2**attempt, 1.0))
        self._unusable("database is locked")
        return None

    def _open_once(self, create: bool) -> sqlite3.Connection | str | None:
        if not create and not self.path.exists():
            return None
        conn = None
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=60000")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and not {"emb", "meta"} <= tables:
                conn.close()
                return "not an embeval cache file (unexpected tables)"
            if not tables and not create:
                conn.close()
                return None
            conn.execute("PRAGMA journal_mode=WAL")
            if not tables:  # both tables in one transaction: a concurrent reader never sees half
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("CREATE TABLE IF NOT EXISTS emb (k BLOB PRIMARY KEY, v BLOB NOT NULL)")
                    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            stored = int(meta["dim"]) if "dim" in meta else None
        except sqlite3.DatabaseError as exc:
            _close(conn)
            if is_corrupt(exc):
                return f"unreadable ({exc})"
            if getattr(exc, "sqlite_errorcode", None) in _LOCKED_CODES or "locked" in str(exc):
                raise _Locked from None
            self._unusable(str(exc))
            return None
        except OSError as exc:  # the folder cannot be made (read-only, full disk)
            _close(conn)
            self._unusable(exc.strerror or str(exc))
            return None
        except ValueError:
            _close(conn)
            return "its dimension record is not a number"
        if stored is not None and self.dim is not None and stored != self.dim:
            conn.close()
            return f"holds {stored}-d vectors, this model makes {self.dim}-d ones"
        if stored is not None:
            self.dim = stored
        return conn

    def _unusable(self, reason: str) -> None:
        """The cache cannot be used now, though the file is not damaged (a full disk, a file-size
        limit, a read-only folder, a lock held too long): one warning, then no cache for the rest of
        this run. The file is left where it is."""
        self.close()
        self.disabled = True
        if str(self.path) not in _WARNED:
            _WARNED.add(str(self.path))
            warnings.warn(
                f"embedding cache {self.path}: cannot be used ({reason}); the file is left as it is and "
                "this run encodes without the cache",
                CacheWarning,
                stacklevel=4,
            )

    def close(self) -> None:
        """Close the connection now (not when the garbage collector gets to it): a connection left
        open keeps SQLite's shared WAL index alive in this process, and a later open of the same
        file (after it was damaged or replaced) would read through it."""
        if self.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
        self.conn = None

    def _failed(self, exc: sqlite3.DatabaseError, doing: str) -> None:
        """An SQLite error while reading or writing: a damaged file is closed and moved aside (later
        reads are misses); any other error turns the cache off for this run and moves nothing."""
        if not is_corrupt(exc):
            self._unusable(f"{doing}: {exc}")
            return
        self.close()
        self._broken = True
        _move_aside(self.path, f"unreadable ({exc})")

    # reading and writing ------------------------------------------------------------------
    def get_many(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Returns (indices of cached texts, their vectors). Rows of the wrong size, with a NaN or
        inf, or all zero are not returned (they are counted in ``self.invalid``)."""
        self.invalid = 0
        empty = (np.zeros(0, dtype=np.int64), np.zeros((0, self.dim or 0), dtype=np.float32))
        conn = self._connect(create=False)
        if conn is None or self.dim is None:
            return empty
        keys = [_text_key(t) for t in texts]
        pos: dict[bytes, list[int]] = {}
        for i, k in enumerate(keys):
            pos.setdefault(k, []).append(i)
        found: dict[bytes, bytes] = {}
        uniq = list(pos)
        try:
            for s in range(0, len(uniq), _CHUNK):
                part = uniq[s : s + _CHUNK]
                q = f"SELECT k, v FROM emb WHERE k IN ({','.join('?' * len(part))})"
                found.update(conn.execute(q, part).fetchall())
        except sqlite3.DatabaseError as exc:
            self._failed(exc, "reading")
            return empty
        idx, vecs = [], []
        for k, blob in found.items():
            if not isinstance(blob, bytes) or len(blob) != 4 * self.dim:
                self.invalid += len(pos[k])
                continue
            v = np.frombuffer(blob, dtype=np.float32)
            if not np.isfinite(v).all() or not v.any():
                self.invalid += len(pos[k])
                continue
            for i in pos[k]:
                idx.append(i)
                vecs.append(v)
        if self.invalid:
            warnings.warn(
                f"embedding cache {self.path}: {self.invalid} cached vector(s) were invalid "
                "(wrong size, NaN/inf or all zero); they are encoded again",
                CacheWarning,
                stacklevel=3,
            )
        order = np.argsort(idx, kind="stable")
        return (np.asarray(idx, dtype=np.int64)[order], np.asarray(vecs, dtype=np.float32).reshape(-1, self.dim)[order])

    def put_many(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.dim is None:
            self.dim = int(vectors.shape[1])
        conn = self._connect(create=True)
        if conn is None:
            return
        if self.dim != vectors.shape[1]:  # the file said another dimension: it is not this model's
            self.close()
            _move_aside(self.path, f"holds {self.dim}-d vectors, this model makes {vectors.shape[1]}-d ones")
            self.dim = int(vectors.shape[1])
            conn = self._connect(create=True)
            if conn is None:
                return
        rows = [(_text_key(t), np.ascontiguousarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors)]
        meta = {
            "dim": str(self.dim),
            "identity": json.dumps(self.identity, sort_keys=True, default=str),
            "normalize": json.dumps(self.normalize),
            "created": str(int(time.time())),
        }
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
                conn.executemany("INSERT OR REPLACE INTO emb (k, v) VALUES (?, ?)", rows)
        except sqlite3.DatabaseError as exc:
            self._failed(exc, "writing")


LOCKED_RETRIES = 12  # 0.01 s doubling, capped at 1 s: about 6 s in all
_LOCKED_CODES = {getattr(sqlite3, n) for n in ("SQLITE_BUSY", "SQLITE_LOCKED") if hasattr(sqlite3, n)}


class _Locked(Exception):
    """Opening met another connection's lock (SQLITE_BUSY/LOCKED): try again."""


def _close(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(sqlite3.Error):
            conn.close()


# Inspecting and clearing (embeval cache info|list|clear) -----------------------------------


@dataclass
class CacheEntry:
    path: Path
    size: int
    model: str
    model_path: str
    fingerprint: str
    dim: int | None
    entries: int | None
    modified: float
    problem: str = ""


def _file_size(path: Path) -> int:
    return sum(os.path.getsize(f"{path}{x}") for x in ("", "-wal", "-shm") if os.path.exists(f"{path}{x}"))


def list_caches(folder: Path) -> list[CacheEntry]:
    """Every cache file in ``folder`` with its model, dimension and number of vectors (read-only)."""
    out = []
    for p in sorted(Path(folder).glob("emb-*.sqlite")):
        entry = CacheEntry(
            path=p,
            size=_file_size(p),
            model="?",
            model_path="",
            fingerprint="",
            dim=None,
            entries=None,
            modified=p.stat().st_mtime,
        )
        try:
            conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=10)
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                entry.entries = int(conn.execute("SELECT COUNT(*) FROM emb").fetchone()[0])
            finally:
                conn.close()
            ident = json.loads(meta.get("identity", "{}"))
            entry.model = str(ident.get("model", "?"))
            entry.model_path = str(ident.get("path", ""))
            entry.fingerprint = str(ident.get("fingerprint", ""))
            entry.dim = int(meta["dim"]) if "dim" in meta else None
        except (sqlite3.DatabaseError, ValueError) as exc:
            entry.problem = f"unreadable ({exc})"
        # Measured after the reader closed: closing the last connection may fold the -wal journal into
        # the file and remove it, so a size taken before would differ from the next look (info vs list).
        entry.size = _file_size(p)
        out.append(entry)
    return out


def matches(entry: CacheEntry, model: str | None, identity: dict | None = None) -> bool:
    """Does a cache file belong to ``model`` (its name as given, its folder, or the same weights)?"""
    if model is None:
        return True
    if entry.model == model or (entry.model_path and entry.model_path == model):
        return True
    return bool(identity and identity.get("fingerprint") and identity["fingerprint"] == entry.fingerprint)


def remove(entry: CacheEntry) -> None:
    for extra in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{entry.path}{extra}")

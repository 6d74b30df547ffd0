"""Resumable cluster runs (``checkpoint``): every finished tile's partial result is kept in a
folder, so that the same command run again (after a lost scheduler, a killed client, a Ctrl-C)
loads the tiles it already has instead of recomputing them, and ends with the same report, bit for
bit (a tile's partial result is stored exactly: float64 sums, int64 counts, float32/int64 top-k
arrays, restored to the same types).

The folder holds ``manifest.json`` (the format, the command it belongs to, the embeval version that
created it) and one file per finished tile, ``<sha256>.npz`` (NumPy arrays only, read without
pickle), each written to a temporary name and renamed into place, so a run killed mid-write leaves
no half-written tile.

A tile's name is the SHA-256 of what defines it: embeval's version, the task function (module and
name), and every argument: for a shard its path, rows, dimension, first row and the file's size and
modification time (object storage: size and ETag or modification time), arrays by dtype, shape and
bytes, numbers exactly. A changed shard, parameter (k, t, depth, seed, columns) or embeval version
therefore gives other names: the stale tiles are never read (they stay in the folder, unused, until
it is deleted). Which tiles a run merges is decided by the driver, never by the files present.

:func:`checkpointing` opens a folder for one run (:class:`~embeval.errors.UsageError` for a file, a
folder holding anything else, or a checkpoint of another command: nothing is ever deleted) and
makes it the active checkpoint, which :func:`embeval.distributed.cluster.run_tasks` and
``run_tree`` consult: they submit only the tiles without a file, and save each result as it
arrives (``run_tree``: each group's final, merged value, the only one that reaches the driver).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import struct
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embeval.errors import UsageError

FORMAT = "embeval-checkpoint"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_TILE = re.compile(r"^[0-9a-f]{64}\.npz$")
_TMP = re.compile(r"^\..*\.embeval-tmp-\d+-[0-9a-f]+(\.[^.]*)?$")  # io.atomic's temporary names

_ACTIVE: ContextVar[Checkpoint | None] = ContextVar("embeval_checkpoint", default=None)


def active() -> Checkpoint | None:
    """The checkpoint of the run in progress (inside :func:`checkpointing`), else None."""
    return _ACTIVE.get()


@contextmanager
def checkpointing(folder: str | os.PathLike | None, command: str) -> Iterator[Checkpoint | None]:
    """Open ``folder`` as the checkpoint of a ``command`` run (None: no checkpoint) and make it the
    active one while the block runs."""
    if folder is None:
        yield None
        return
    ck = Checkpoint(folder, command)
    token = _ACTIVE.set(ck)
    try:
        yield ck
    finally:
        _ACTIVE.reset(token)


class Checkpoint:
    """One run's view of a checkpoint folder: the tile files present, and how many tiles this run
    loaded (``reused``) and wrote (``saved``)."""

    def __init__(self, folder: str | os.PathLike, command: str):
        self.folder = Path(folder)
        self.command = command
        self.reused = 0
        self.saved = 0
        self._present = _open_folder(self.folder, command)
        self._stats: dict[str, tuple] = {}
        self._futures: dict[str, bytes] = {}

    @property
    def count(self) -> int:
        """Finished tiles of this run that the folder now holds (a rerun loads them)."""
        return self.reused + self.saved

    # ------------------------------------------------------------------ keys

    def key(self, func: Any, args: Sequence[Any]) -> str:
        """The tile's name: SHA-256 of embeval's version, ``func`` and ``args`` (module docstring)."""
        from embeval._version import __version__

        h = hashlib.sha256()
        self._feed(h, (FORMAT, FORMAT_VERSION, __version__, func))
        self._feed(h, tuple(args))
        return h.hexdigest()

    def _feed(self, h: Any, x: Any) -> None:
        def put(tag: bytes, data: bytes = b"") -> None:
            h.update(tag + struct.pack("<Q", len(data)) + data)

        atom = _atom(x)
        if atom is not None:
            put(*atom)
        elif isinstance(x, (tuple, list)):
            put(b"T" if isinstance(x, tuple) else b"L", str(len(x)).encode())
            for item in x:
                self._feed(h, item)
        elif isinstance(x, dict):
            put(b"D", str(len(x)).encode())
            for k in sorted(x, key=repr):
                self._feed(h, (k, x[k]))
        elif is_dataclass(x) and not isinstance(x, type):
            put(b"R", f"{type(x).__module__}:{type(x).__qualname__}".encode())
            for f in fields(x):
                self._feed(h, (f.name, getattr(x, f.name)))
            path = getattr(x, "path", None)
            if isinstance(path, str):  # a shard: what its file is now
                self._feed(h, self._stat(path))
        elif type(x).__name__ == "Future" and type(x).__module__.startswith("distributed"):
            put(b"U", self._future_digest(x))
        elif callable(x) and hasattr(x, "__qualname__"):
            put(b"C", f"{x.__module__}:{x.__qualname__}".encode())
        else:
            raise TypeError(f"a checkpointed task takes no {type(x).__name__} argument")

    def _stat(self, path: str) -> tuple:
        """(size, modification time) of a shard file as this process sees it, asked once per run."""
        if path not in self._stats:
            self._stats[path] = _file_stamp(path)
        return self._stats[path]

    def _future_digest(self, fut: Any) -> bytes:
        """Data scattered to the workers (the queries of retrieval, pass 1's positive scores):
        fetched back once and hashed by content."""
        if fut.key not in self._futures:
            h = hashlib.sha256()
            self._feed(h, fut.result())
            self._futures[fut.key] = h.digest()
        return self._futures[fut.key]

    # ------------------------------------------------------------------ tiles

    def load(self, key: str) -> tuple[bool, Any]:
        """(True, value) for a tile this folder holds, else (False, None). An unreadable file (a
        disk error) counts as missing: the tile is computed again and the file replaced."""
        name = f"{key}.npz"
        if name not in self._present:
            return False, None
        try:
            with np.load(self.folder / name, allow_pickle=False) as z:
                value = _unflatten(json.loads(str(z["spec"])), z)
        except (OSError, ValueError, KeyError, IndexError, TypeError, EOFError, zipfile.BadZipFile):
            self._present.discard(name)
            return False, None
        self.reused += 1
        return True, value

    def save(self, key: str, value: Any) -> None:
        """Write one tile's value to ``<key>.npz``: a temporary file renamed into place."""
        arrays: list[np.ndarray] = []
        spec = _flatten(value, arrays)
        name = f"{key}.npz"
        tmp = self.folder / f".{name}.embeval-tmp-{os.getpid()}-{secrets.token_hex(4)}.npz"
        try:
            with open(tmp, "wb") as f:
                payload = {"spec": np.array(json.dumps(spec)), **{f"a{i}": a for i, a in enumerate(arrays)}}
                np.savez(f, allow_pickle=False, **payload)
            os.replace(tmp, self.folder / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._present.add(name)
        self.saved += 1

    def plan(self, func: Any, args: Sequence[Sequence[Any]]) -> tuple[list[str], set[int]]:
        """(the key of every task ``func(*args[i])``, the indices i whose tile this folder holds);
        :meth:`load` reads each when it is needed."""
        keys = [self.key(func, a) for a in args]
        return keys, {i for i, k in enumerate(keys) if f"{k}.npz" in self._present}


def _atom(x: Any) -> tuple[bytes, bytes] | None:
    """(tag, exact bytes) of a scalar, a string or an array; None for anything else."""
    if x is None:
        return b"N", b""
    if isinstance(x, (bool, np.bool_)):
        return b"B", b"1" if x else b"0"
    if isinstance(x, int):
        return b"I", str(x).encode()
    if isinstance(x, float):
        return b"F", struct.pack("<d", x)
    if isinstance(x, (str, os.PathLike)):
        return b"S", os.fspath(x).encode("utf-8", "surrogatepass")
    if isinstance(x, bytes):
        return b"Y", x
    if isinstance(x, np.generic):
        return b"G", x.dtype.str.encode() + b":" + np.asarray(x).tobytes()
    if isinstance(x, np.ndarray):
        if x.dtype.hasobject:
            raise TypeError("a checkpointed task takes no object arrays")
        return b"A", f"{x.dtype.str}{x.shape}:".encode() + np.ascontiguousarray(x).tobytes()
    return None


def _file_stamp(path: str) -> tuple:
    from embeval.errors import InputError
    from embeval.io.remote import is_url

    if is_url(path):
        from embeval.io.remote import filesystem

        try:
            fs, inner = filesystem(path)
            info = fs.info(inner)
        except (OSError, PermissionError) as exc:
            raise InputError(path, f"cannot read its size and date for the checkpoint ({exc})") from None
        when = info.get("ETag") or info.get("etag") or info.get("LastModified") or info.get("mtime")
        return ("url", info.get("size"), str(when))
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(path, f"cannot read its size and date for the checkpoint ({exc.strerror})") from None
    return ("file", st.st_size, st.st_mtime_ns)


# ----------------------------------------------------------------------------- the folder


def _manifest(command: str) -> dict[str, Any]:
    from datetime import datetime, timezone

    from embeval._version import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "command": command,
        "embeval": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _open_folder(folder: Path, command: str) -> set[str]:
    """Check (or create) the checkpoint folder of a ``command`` run; the tile files it holds."""
    where = f"`checkpoint` {folder}"
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{where}: is a file; give a folder (new or empty, or the one of an earlier run)")
    from embeval.io.atomic import sweep_stale

    try:
        folder.mkdir(parents=True, exist_ok=True)
        names = set(os.listdir(folder))
    except OSError as exc:
        raise UsageError(f"{where}: cannot create or read it ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{where}: cannot write in it")
    foreign = sorted(n for n in names if n != MANIFEST and not _TILE.match(n) and not _TMP.match(n))
    tiles = {n for n in names if _TILE.match(n)}
    if MANIFEST not in names and tiles:
        foreign = [*sorted(tiles)[:1], *foreign]
    manifest = None
    if MANIFEST in names:
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            foreign = [MANIFEST, *foreign]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" (and {len(foreign) - 3} more)" if len(foreign) > 3 else "")
        raise UsageError(
            f"{where}: holds files that are not an embeval checkpoint ({shown}); give a new or empty "
            "folder (nothing was deleted)"
        )
    if manifest is not None and manifest.get("command") != command:
        raise UsageError(
            f"{where}: holds the checkpoint of another command (embeval {manifest.get('command')}), not "
            f"of embeval {command}; give another folder (nothing was deleted)"
        )
    if manifest is None:
        from embeval.io.atomic import write_atomic

        write_atomic(folder / MANIFEST, json.dumps(_manifest(command), indent=2) + "\n")
    sweep_stale(folder)  # temporary files of a run killed mid-write
    return tiles


# ----------------------------------------------------------------------------- values, exactly


def _flatten(value: Any, arrays: list[np.ndarray]) -> Any:
    """A JSON description of ``value`` whose numbers live in ``arrays`` (exact, any dtype)."""

    def keep(a: np.ndarray) -> int:
        arrays.append(a)
        return len(arrays) - 1

    if value is None:
        return {"t": "none"}
    if isinstance(value, np.generic):  # before float: np.float64 is a float
        return {"t": "scalar", "a": keep(np.asarray(value))}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, int):
        return {"t": "int", "a": keep(np.array(str(value)))}
    if isinstance(value, float):
        return {"t": "float", "a": keep(np.array(value, dtype=np.float64))}
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("a tile's result holds an object array: it cannot be checkpointed")
        return {"t": "array", "a": keep(value)}
    if isinstance(value, (tuple, list)):
        return {"t": type(value).__name__, "items": [_flatten(v, arrays) for v in value]}
    raise TypeError(f"a tile's result of type {type(value).__name__} cannot be checkpointed")


def _unflatten(spec: Any, z: Any) -> Any:
    t = spec["t"]
    if t == "none":
        return None
    if t == "bool":
        return bool(spec["v"])
    if t in ("tuple", "list"):
        items = [_unflatten(s, z) for s in spec["items"]]
        return tuple(items) if t == "tuple" else items
    a = z[f"a{spec['a']}"]
    if t == "int":
        return int(str(a))
    if t == "float":
        return float(a)
    if t == "scalar":
        return a[()]
    if t == "array":
        return a
    raise ValueError(f"unknown kind {t!r} in a checkpoint tile")

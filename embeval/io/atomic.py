"""Atomic writes: a temporary file beside the target, renamed over it only once complete, so a
failed or interrupted run never leaves a half-written output.

* Temporary names follow one pattern, ``.NAME.embeval-tmp-PID-RANDOM`` (files) and
  ``.embeval-staging-PID-RANDOM`` (folders of a batch report). A run killed with SIGKILL cannot
  remove its own; the next write into the same folder removes every one whose process is gone.
* A replaced file keeps its permissions (a 0600 report stays 0600); a new one gets the umask's.
* An OSError while writing (disk full, read-only folder) names the target, not the temp file.
* :class:`AtomicFolder` writes several files as one unit: all into a staging folder first, then
  renamed into place, so a failure while writing never leaves a mix of two runs.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TMP_MARK = ".embeval-tmp-"
STAGING_PREFIX = ".embeval-staging-"
_TMP_RE = re.compile(r"^\..*\.embeval-tmp-(\d+)-[0-9a-f]+(\.[^.]*)?$")
_STAGING_RE = re.compile(r"^\.embeval-staging-(\d+)-[0-9a-f]+$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


def sweep_stale(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files and staging folders left in ``folder`` by embeval runs that were
    killed (their process no longer exists). Returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        m = _TMP_RE.match(e.name) or _STAGING_RE.match(e.name)
        if not m or _alive(int(m.group(1))):
            continue
        try:
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path)
            else:
                os.unlink(e.path)
            removed.append(Path(e.path))
        except OSError:
            pass
    return removed


def _tmp_name(path: Path) -> Path:
    return path.parent / f".{path.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}{path.suffix}"


def _target_mode(path: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); on success it gets the permissions of
    the file it replaces (or a new file's) and replaces ``path``; on failure it is removed and an
    OSError names ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path.parent)
    tmp = _tmp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _target_mode(path))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if (exc.filename is not None and str(exc.filename) == str(tmp)) or exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Write text (UTF-8) or bytes to ``path`` atomically."""
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")


class AtomicFolder:
    """Write several files into ``folder`` as one unit::

        with AtomicFolder(out) as group:
            write_atomic(group.path("report.json"), text)   # lands in a staging folder
        # only now are they renamed into ``out`` (each keeps an existing file's permissions)

    On an exception nothing in ``folder`` changes and the staging folder is removed."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.staging: Path | None = None
        self.names: list[str] = []
        self.stale: list[str] = []

    def __enter__(self) -> AtomicFolder:
        self.folder.mkdir(parents=True, exist_ok=True)
        sweep_stale(self.folder)
        self.staging = self.folder / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        self.staging.mkdir()
        return self

    def path(self, name: str) -> Path:
        assert self.staging is not None
        self.names.append(name)
        p = self.staging / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def remove(self, name: str) -> None:
        """Delete ``folder/name`` (a file of an earlier run that this one does not write) on commit."""
        self.stale.append(name)

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.staging is not None
        try:
            if exc_type is None:
                for name in self.names:
                    src, dst = self.staging / name, self.folder / name
                    if not src.exists():
                        continue
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    os.chmod(src, _target_mode(dst))
                    os.replace(src, dst)
                for name in self.stale:
                    if name not in self.names:
                        (self.folder / name).unlink(missing_ok=True)
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)

    def final(self, name: str) -> Path:
        return self.folder / name


def check_writable(path: str | os.PathLike, option: str) -> None:
    """Fail before any work if ``path`` cannot be written: a folder, or a parent that is a file
    or not writable. A missing parent folder is fine (it is created on write)."""
    from embeval.errors import UsageError

    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{option} {p}: is a folder; give a file name")
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {p}: cannot write in {parent}")
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"{option} {p}: file is not writable")
    if p.exists() and not p.is_file():
        raise UsageError(f"{option} {p}: not a regular file (a FIFO or device); give a file name")

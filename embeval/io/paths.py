"""One check for every input path, so each loader names the real problem: missing, a broken or
looping symbolic link, a folder, a FIFO or device (read once, then gone), an empty file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from embeval.errors import InputError


def require_file(path: str | os.PathLike, *, what: str = "file", allow_empty: bool = False) -> Path:
    """``path`` as a Path when it is a regular, non-empty file (a symlink to one is fine);
    InputError naming the problem otherwise."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        if os.path.lexists(p):
            raise InputError(p, "broken symbolic link (its target does not exist)") from None
        raise InputError(p, f"no such {what}") from None
    except OSError as exc:  # ELOOP, EACCES, ENAMETOOLONG, ...
        raise InputError(p, _reason(exc)) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(p, f"is a folder, expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise InputError(p, f"is {kind}; embeval reads inputs from regular files (save the stream to a file first)")
    if not os.access(p, os.R_OK):
        raise InputError(p, "permission denied (not readable)")
    if st.st_size == 0 and not allow_empty:
        raise InputError(p, "file is empty")
    return p


def require_exists(path: str | os.PathLike, *, what: str = "file") -> Path:
    """Like :func:`require_file` but a folder is fine too (BEIR folders, text inputs)."""
    p = Path(path)
    try:
        if p.is_dir():
            return p
    except OSError as exc:
        raise InputError(p, _reason(exc)) from None
    return require_file(p, what=what, allow_empty=True)


def _reason(exc: OSError) -> str:
    import errno

    if exc.errno == errno.ELOOP:
        return "symbolic link loop (the link points back to itself)"
    return exc.strerror or str(exc)

"""Source specs, shared by every reader in :mod:`embeval.io.sources`: which kind a spec names,
parsing it (our parameters apart, credentials redacted), the :class:`SourceData` a reader returns.
A leaf of the package: the readers import it, and :func:`embeval.io.sources.read_source` above them
dispatches to them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from embeval.errors import InputError

if TYPE_CHECKING:
    import numpy as np

SCHEMES = {"lancedb": "lancedb", "postgresql": "postgres", "postgres": "postgres", "hf-disk": "hf", "faiss": "faiss"}
FAISS_SUFFIXES = (".faiss", ".index")
BATCH_ROWS = 65_536  # rows per read: bounded memory and a progress tick per batch
# Query parameters that are credentials or connection secrets: dropped from every shown form.
_SECRET_PARAMS = {"password", "passfile", "sslpassword", "sslkey", "token", "api_key", "apikey", "secret"}


def source_kind(spec: object) -> str | None:
    """'lancedb', 'postgres', 'hf', 'faiss' when ``spec`` names a source this package reads, else None."""
    text = os.fspath(spec) if isinstance(spec, os.PathLike) else spec
    if not isinstance(text, str):
        return None
    scheme, sep, _ = text.partition("://")
    if sep and scheme.lower() in SCHEMES:
        return SCHEMES[scheme.lower()]
    if text.lower().endswith(FAISS_SUFFIXES) and "://" not in text:
        return "faiss"
    return None


def unknown_source(spec: str) -> InputError:
    """The error for ``scheme://…`` that no reader handles (the spec shown without its password)."""
    scheme = spec.partition("://")[0]
    hint = (
        "; Hugging Face Hub datasets are not downloaded: save one with save_to_disk and pass hf-disk://PATH"
        if scheme.lower() in ("hf", "huggingface")
        else ""
    )
    return InputError(
        redact(spec),
        f"unknown source {scheme + '://'!r}; embeval reads lancedb://, postgresql://, hf-disk://, faiss:// "
        f"and files{hint}",
    )


def redact(spec: str) -> str:
    """The spec with any password (``user:PASSWORD@`` or a ``password=`` parameter) removed."""
    if "://" not in spec:
        return spec
    parts = urlsplit(spec)
    if not parts.password and not any(k.lower() in _SECRET_PARAMS for k, _ in parse_qsl(parts.query)):
        return spec  # nothing secret: keep the spec exactly as the user wrote it
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{hostport}" if user else hostport
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in _SECRET_PARAMS]
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{urlencode(query, safe='/:,')}" if query else "")


def secrets_of(spec: str) -> list[str]:
    """Every secret string a message about ``spec`` must not contain (URI password, PGPASSWORD)."""
    out = []
    if "://" in spec:
        parts = urlsplit(spec)
        if parts.password:
            out += [parts.password, unquote(parts.password)]
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            if k.lower() in _SECRET_PARAMS and v:
                out.append(v)
    env = os.environ.get("PGPASSWORD")
    if env:
        out.append(env)
    return [s for s in out if s]


def scrub(message: str, secrets: list[str]) -> str:
    """``message`` with every secret replaced by a mask that does not itself contain the secret."""
    for s in sorted(secrets, key=len, reverse=True):
        mask = "***" if s not in "***" else "###"
        message = message.replace(s, mask)
    return message


@dataclass
class SourceSpec:
    """A parsed spec: ``kind``, ``location`` (path or connection URI without our parameters),
    ``params`` (ours: table, column, id, label, split), ``shown`` (redacted, for messages)."""

    kind: str
    raw: str
    location: str
    params: dict[str, str] = field(default_factory=dict)
    shown: str = ""


OUR_PARAMS = {"table", "column", "id", "label", "split"}


def parse_spec(spec: str) -> SourceSpec:
    kind = source_kind(spec)
    if kind is None:
        raise InputError(spec, "not a source URI")
    shown = redact(spec)
    if "://" not in spec:  # a bare .faiss/.index file
        return SourceSpec(kind, spec, spec, {}, shown)
    parts = urlsplit(spec)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in OUR_PARAMS}
    unknown = [k for k, _ in query if k not in OUR_PARAMS]
    if kind == "postgres":
        rest = [(k, v) for k, v in query if k not in OUR_PARAMS]
        location = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(rest), ""))
    else:
        if unknown:
            raise InputError(
                shown,
                f"unknown parameter {unknown[0]!r}; expected "
                + ", ".join(sorted(OUR_PARAMS - {"split"} | ({"split"} if kind == "hf" else set()))),
            )
        # lancedb://relative/path keeps its host part as the first path component
        location = unquote(parts.netloc + parts.path)
        if not location:
            raise InputError(shown, "no path after '://'")
    return SourceSpec(kind, spec, location, ours, shown)


@dataclass
class SourceData:
    """What a reader returns: float32 n×d vectors, str ids (n), labels (n) or None, provenance info."""

    vectors: np.ndarray
    ids: np.ndarray
    labels: np.ndarray | None = None
    info: dict = field(default_factory=dict)


def param(s: SourceSpec, name: str, default: str | None) -> str | None:
    return s.params.get(name) or default


def local_path(s: SourceSpec, what: str) -> Path:
    p = Path(s.location).expanduser()
    if not p.exists():
        raise InputError(s.shown, f"no such {what}")
    return p

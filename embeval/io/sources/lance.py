"""LanceDB tables: ``lancedb://PATH?table=T&column=vector&id=id`` (embedded, no server)."""

from __future__ import annotations

from embeval.errors import InputError, require_extra
from embeval.io.sources.arrowvec import collect, pick_columns
from embeval.io.sources.spec import BATCH_ROWS, SourceData, SourceSpec, local_path, param


def read_lancedb(s: SourceSpec, *, id_col, vector_col, label_col, progress) -> SourceData:
    require_extra("reading LanceDB", "sources", "lancedb")
    import lancedb

    path = local_path(s, "LanceDB folder")
    try:
        db = lancedb.connect(str(path))
        names = _table_names(db)
    except Exception as exc:
        raise InputError(s.shown, f"not a readable LanceDB database: {type(exc).__name__}: {exc}") from None
    table = param(s, "table", None)
    if table is None:
        if len(names) != 1:
            raise InputError(
                s.shown, f"{len(names)} tables ({', '.join(sorted(names)) or 'none'}); name one with ?table=NAME"
            )
        table = names[0]
    if table not in names:
        raise InputError(s.shown, f"no table {table!r} (tables: {', '.join(sorted(names)) or 'none'})")
    try:
        tbl = db.open_table(table)
        schema = tbl.schema
        total = tbl.count_rows()
    except Exception as exc:
        raise InputError(s.shown, f"cannot open table {table!r}: {type(exc).__name__}: {exc}") from None
    vcol, icol, lcol = pick_columns(s, schema, id_col, vector_col, label_col)
    cols = [c for c in (vcol, icol, lcol) if c is not None]
    try:
        batches = tbl.search().select(cols).limit(None).to_batches(BATCH_ROWS)
        vectors, ids, labels = collect(
            batches, vector_col=vcol, id_col=icol, label_col=lcol, shown=s.shown, total=total, progress=progress
        )
    except InputError:
        raise
    except Exception as exc:
        raise InputError(s.shown, f"reading table {table!r} failed: {type(exc).__name__}: {exc}") from None
    return SourceData(vectors, ids, labels, {"table": table, "column": vcol, "version": tbl.version})


def _table_names(db) -> list[str]:
    if not hasattr(db, "list_tables"):  # lancedb before 0.25
        return list(db.table_names())
    names, token = [], None
    while True:
        resp = db.list_tables(page_token=token) if token else db.list_tables()
        names.extend(resp.tables)
        token = getattr(resp, "page_token", None)
        if not token:
            return names

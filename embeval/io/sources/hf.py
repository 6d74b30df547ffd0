"""Hugging Face datasets on local disk: ``hf-disk://PATH?column=embedding&id=id&split=train``.

PATH is a ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` folder (memory-mapped Arrow,
read batch by batch), or a folder of ``.parquet`` / ``.arrow`` files (a dataset repository
snapshot, ``Dataset.to_parquet`` output), streamed with ``load_dataset(..., streaming=True)``.
Nothing is downloaded and nothing is written to the Hugging Face cache.
"""

from __future__ import annotations

from pathlib import Path

from embeval.errors import InputError
from embeval.io.sources import BATCH_ROWS, SourceData, SourceSpec, local_path, param
from embeval.io.sources.arrowvec import collect, pick_vector_column


def _choose_split(names: list[str], wanted: str | None, shown: str) -> str:
    if wanted:
        if wanted not in names:
            raise InputError(shown, f"no split {wanted!r} (splits: {', '.join(names)})")
        return wanted
    if len(names) == 1:
        return names[0]
    raise InputError(shown, f"{len(names)} splits ({', '.join(names)}); name one with ?split=NAME")


def read_hf_disk(s: SourceSpec, *, id_col, vector_col, label_col, progress) -> SourceData:
    try:
        import datasets  # noqa: F401
    except ImportError:
        raise InputError(s.shown, "reading Hugging Face datasets needs the 'datasets' package: "
                                  "pip install 'embeval[sources]'") from None
    path = local_path(s, "dataset folder")
    if not path.is_dir():
        raise InputError(s.shown, "expected a dataset folder (save_to_disk output, or .parquet/.arrow files)")
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        return _saved(s, path, id_col=id_col, vector_col=vector_col, label_col=label_col, progress=progress)
    return _files(s, path, id_col=id_col, vector_col=vector_col, label_col=label_col, progress=progress)


def _columns(s: SourceSpec, schema, id_col, vector_col, label_col):
    vcol = pick_vector_column(schema, param(s, "column", None), vector_col, s.shown)
    icol = param(s, "id", id_col)
    if icol not in schema.names:
        if "id" in s.params:
            raise InputError(s.shown, f"no id column {icol!r} (columns: {', '.join(schema.names)})")
        icol = None
    lcol = param(s, "label", label_col)
    if lcol is not None and lcol not in schema.names:
        raise InputError(s.shown, f"no label column {lcol!r} (columns: {', '.join(schema.names)})")
    return vcol, icol, lcol


def _saved(s: SourceSpec, path: Path, *, id_col, vector_col, label_col, progress) -> SourceData:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001 - a corrupt folder is a bad input
        raise InputError(s.shown, f"not a readable save_to_disk folder: {type(exc).__name__}: {exc}") from None
    split = None
    if isinstance(ds, datasets.DatasetDict):
        split = _choose_split(list(ds.keys()), param(s, "split", None), s.shown)
        ds = ds[split]
    elif "split" in s.params:
        raise InputError(s.shown, "this folder holds one dataset, not splits: drop ?split=")
    table = ds.data.table  # memory-mapped pyarrow Table
    if ds._indices is not None:  # a filtered/shuffled view: materialise the selected rows in order
        table = table.take(ds._indices.column(0))
    vcol, icol, lcol = _columns(s, table.schema, id_col, vector_col, label_col)
    cols = [c for c in dict.fromkeys((vcol, icol, lcol)) if c is not None]
    batches = table.select(cols).to_batches(max_chunksize=BATCH_ROWS)
    vectors, ids, labels = collect(batches, vector_col=vcol, id_col=icol, label_col=lcol, shown=s.shown,
                                   total=table.num_rows, progress=progress)
    info = {"column": vcol, "format": "save_to_disk"}
    if split:
        info["split"] = split
    return SourceData(vectors, ids, labels, info)


def _files(s: SourceSpec, path: Path, *, id_col, vector_col, label_col, progress) -> SourceData:
    import datasets
    import pyarrow as pa

    parquet = sorted(path.rglob("*.parquet"))
    arrow = sorted(path.rglob("*.arrow"))
    if not parquet and not arrow:
        raise InputError(s.shown, "no save_to_disk files (state.json, dataset_dict.json) and no .parquet or "
                                  ".arrow files in this folder")
    builder = "parquet" if parquet else "arrow"
    try:
        ds = datasets.load_dataset(str(path), streaming=True)
    except Exception as exc:  # noqa: BLE001
        raise InputError(s.shown, f"not a readable dataset folder: {type(exc).__name__}: {exc}") from None
    split = _choose_split(list(ds.keys()), param(s, "split", None), s.shown)
    stream = ds[split]
    total = None
    if builder == "parquet":
        import pyarrow.parquet as pq

        files = [f for f in parquet if split in f.name or split in f.parent.name] or parquet
        try:
            total = sum(pq.ParquetFile(f).metadata.num_rows for f in files) if len(ds) == 1 else None
        except Exception:  # noqa: BLE001 - the count is only for the progress bar
            total = None
    first = next(iter(stream.with_format("arrow").iter(batch_size=1)), None)
    if first is None:
        raise InputError(s.shown, "no rows")
    schema = first.schema if isinstance(first, pa.Table) else pa.table(first).schema
    vcol, icol, lcol = _columns(s, schema, id_col, vector_col, label_col)
    cols = [c for c in dict.fromkeys((vcol, icol, lcol)) if c is not None]

    def batches():
        for b in stream.select_columns(cols).with_format("arrow").iter(batch_size=BATCH_ROWS):
            yield b if isinstance(b, pa.Table) else pa.table(b)

    try:
        vectors, ids, labels = collect(batches(), vector_col=vcol, id_col=icol, label_col=lcol, shown=s.shown,
                                       total=total, progress=progress)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(s.shown, f"reading the dataset failed: {type(exc).__name__}: {exc}") from None
    return SourceData(vectors, ids, labels, {"column": vcol, "format": builder, "split": split})

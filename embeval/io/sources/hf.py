"""Hugging Face datasets on local disk: ``hf-disk://PATH?column=embedding&id=id&split=train``.

PATH is a ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` folder (memory-mapped Arrow,
read batch by batch), or a folder of ``.parquet`` / ``.arrow`` files (a dataset repository
snapshot, ``Dataset.to_parquet`` output; splits named as the datasets library names them), streamed
file by file. Nothing is downloaded and nothing is written to the Hugging Face cache.
"""

from __future__ import annotations

from pathlib import Path

from embeval.errors import InputError, require_extra
from embeval.io.sources.arrowvec import collect, pick_columns
from embeval.io.sources.spec import BATCH_ROWS, SourceData, SourceSpec, local_path, param


def _choose_split(names: list[str], wanted: str | None, shown: str) -> str:
    if wanted:
        if wanted not in names:
            raise InputError(shown, f"no split {wanted!r} (splits: {', '.join(names)})")
        return wanted
    if len(names) == 1:
        return names[0]
    raise InputError(shown, f"{len(names)} splits ({', '.join(names)}); name one with ?split=NAME")


def read_hf_disk(s: SourceSpec, *, id_col, vector_col, label_col, progress) -> SourceData:
    require_extra("reading Hugging Face datasets", "sources", "datasets")
    path = local_path(s, "dataset folder")
    if not path.is_dir():
        raise InputError(s.shown, "expected a dataset folder (save_to_disk output, or .parquet/.arrow files)")
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        return _saved(s, path, id_col=id_col, vector_col=vector_col, label_col=label_col, progress=progress)
    return _files(s, path, id_col=id_col, vector_col=vector_col, label_col=label_col, progress=progress)


def _saved(s: SourceSpec, path: Path, *, id_col, vector_col, label_col, progress) -> SourceData:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:
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
    vcol, icol, lcol = pick_columns(s, table.schema, id_col, vector_col, label_col)
    cols = [c for c in dict.fromkeys((vcol, icol, lcol)) if c is not None]
    batches = table.select(cols).to_batches(max_chunksize=BATCH_ROWS)
    vectors, ids, labels = collect(
        batches, vector_col=vcol, id_col=icol, label_col=lcol, shown=s.shown, total=table.num_rows, progress=progress
    )
    info = {"column": vcol, "format": "save_to_disk"}
    if split:
        info["split"] = split
    return SourceData(vectors, ids, labels, info)


def _files(s: SourceSpec, path: Path, *, id_col, vector_col, label_col, progress) -> SourceData:
    """A folder of .parquet/.arrow files: splits resolved by the datasets library's own file-naming
    rules (``data/train-00000-of-00001.parquet``, ``test/…``), files streamed batch by batch with
    pyarrow (no Hugging Face cache, no copy)."""
    from datasets.data_files import DataFilesDict, get_data_patterns

    try:
        patterns = get_data_patterns(str(path))
        files = DataFilesDict.from_patterns(patterns, base_path=str(path))
    except Exception as exc:
        raise InputError(
            s.shown,
            "no save_to_disk files (state.json, dataset_dict.json) and no data files "
            f"found ({type(exc).__name__}: {exc})",
        ) from None
    files = {str(name): found for name, found in files.items()}  # NamedSplit keys: plain names
    split = _choose_split(list(files), param(s, "split", None), s.shown)
    chosen = [Path(f) for f in files[split] if str(f).endswith((".parquet", ".arrow"))]
    if not chosen:
        raise InputError(s.shown, f"split {split!r} has no .parquet or .arrow files")
    builder = "parquet" if chosen[0].suffix == ".parquet" else "arrow"
    try:
        schema, total = _file_schema(chosen[0]), _count(chosen)
    except Exception as exc:
        raise InputError(s.shown, f"{chosen[0].name}: not readable ({type(exc).__name__}: {exc})") from None
    vcol, icol, lcol = pick_columns(s, schema, id_col, vector_col, label_col)
    cols = [c for c in dict.fromkeys((vcol, icol, lcol)) if c is not None]
    try:
        vectors, ids, labels = collect(
            _stream(chosen, cols),
            vector_col=vcol,
            id_col=icol,
            label_col=lcol,
            shown=s.shown,
            total=total,
            progress=progress,
        )
    except InputError:
        raise
    except Exception as exc:
        raise InputError(s.shown, f"reading the dataset failed: {type(exc).__name__}: {exc}") from None
    return SourceData(vectors, ids, labels, {"column": vcol, "format": builder, "split": split, "files": len(chosen)})


def _file_schema(f: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if f.suffix == ".parquet":
        return pq.ParquetFile(f).schema_arrow
    with pa.memory_map(str(f)) as src:
        return pa.ipc.open_stream(src).schema


def _count(files: list[Path]) -> int | None:
    import pyarrow.parquet as pq

    if all(f.suffix == ".parquet" for f in files):
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return None


def _stream(files: list[Path], cols: list[str]):
    """Record batches of at most BATCH_ROWS rows, file after file, only ``cols``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for f in files:
        if f.suffix == ".parquet":
            yield from pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS, columns=cols)
            continue
        with pa.memory_map(str(f)) as src:  # HF .arrow files are Arrow IPC streams
            for batch in pa.ipc.open_stream(src):
                batch = batch.select(cols)
                for start in range(0, batch.num_rows, BATCH_ROWS):
                    yield batch.slice(start, BATCH_ROWS)

"""FAISS index files whose stored vectors are exact: ``faiss://PATH`` or a ``.faiss``/``.index`` file.

Readable: IndexFlat (L2/IP), IndexIVFFlat, IndexHNSWFlat, and any of these inside IndexIDMap /
IndexIDMap2 (its ids become the embedding ids; otherwise ids are row numbers). Compressed indexes
(PQ, SQ, LSH, ...) only approximate their vectors and are refused.
"""

from __future__ import annotations

import numpy as np

from embeval.errors import InputError
from embeval.io.sources.spec import BATCH_ROWS, SourceData, SourceSpec, local_path

EXACT = ("IndexFlat", "IndexFlatL2", "IndexFlatIP", "IndexIVFFlat", "IndexHNSWFlat")


def read_faiss(s: SourceSpec, *, id_col, vector_col, label_col, progress) -> SourceData:
    import faiss

    path = local_path(s, "file")
    if path.is_dir():
        raise InputError(s.shown, "is a folder, expected a FAISS index file")
    if path.stat().st_size == 0:
        raise InputError(s.shown, "file is empty")
    if label_col is not None:
        raise InputError(s.shown, "a FAISS index holds no labels: pass `labels` FILE")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise InputError(s.shown, f"not a readable FAISS index: {first}") from None
    except MemoryError:  # std::bad_alloc: a corrupt header claiming more than there is
        raise InputError(
            s.shown, "not a readable FAISS index: it claims more memory than there is (truncated or corrupt?)"
        ) from None
    ids = None
    wrapper = index  # keeps the IDMap (owner of the inner index) alive while the inner one is read
    outer = type(index).__name__
    if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        ids = faiss.vector_to_array(index.id_map).astype(str)
        index = faiss.downcast_index(index.index)
    kind = type(index).__name__
    if kind not in EXACT:
        raise InputError(
            s.shown,
            f"{kind} stores compressed codes, so its vectors cannot be read back exactly; "
            "readable: " + ", ".join(EXACT) + " (optionally inside IndexIDMap)",
        )
    n, d = index.ntotal, index.d
    if n == 0:
        raise InputError(s.shown, "the index holds no vectors")
    try:  # a corrupt file can parse and still fail here (ids out of range, sizes that do not fit)
        if isinstance(index, faiss.IndexIVF):
            index.make_direct_map()
        out = np.empty((n, d), dtype=np.float32)
        with progress.task(f"reading {s.shown}", total=n) as task:
            for start in range(0, n, BATCH_ROWS):
                stop = min(n, start + BATCH_ROWS)
                out[start:stop] = index.reconstruct_n(start, stop - start)
                task.advance(stop - start)
    except (RuntimeError, MemoryError, ValueError) as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InputError(s.shown, f"not a readable FAISS index (corrupt?): {first}") from None
    metric = {faiss.METRIC_L2: "L2", faiss.METRIC_INNER_PRODUCT: "inner_product"}.get(
        index.metric_type, str(index.metric_type)
    )
    from embeval.io.fileinfo import file_info

    info = {
        **{k: v for k, v in file_info(path).items() if k != "path"},
        "index_type": outer if outer != kind else kind,
        "metric": metric,
    }
    if outer != kind:
        info["inner_index"] = kind
    del wrapper
    return SourceData(out, ids if ids is not None else np.arange(n).astype(str), None, info)

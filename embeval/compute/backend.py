"""The back-end interface, device resolution, and the NumPy/BLAS back end.

See :mod:`embeval.compute` for the tile contract. Arrays are first placed on the device with
``backend.put`` (a :class:`Placed`: the device array plus its squared row norms, computed once on
demand); tiles then take row/column slices of placed arrays, so a tile is a pure function of
(block_i, block_j) and can run anywhere the arrays are.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Protocol

import numpy as np

from embeval.compute.requires import _faiss
from embeval.compute.tiles import (  # noqa: F401  (re-exported: the back ends' shared tile helpers)
    BLOCK_ELEMENTS,
    Placed,
    _finish_topk,
    _pad,
    exact_row_topk,
    order_rows,
)
from embeval.errors import MissingExtra, UsageError

AUTO_MIN_ROWS = 20_000  # `auto` considers a GPU only for O(n²) work on at least this many rows
DEVICE_HELP = "auto, cpu, cuda or cuda:N"


def dot_error_bound(d: int) -> float:
    """2·γ_d, γ_d = d·u/(1 − d·u), u = 2⁻²⁴: how far two correct float32 evaluations of the
    inner product of two unit d-vectors can be apart (Higham 2002, §3.1)."""
    u = 2.0**-24
    return 2.0 * d * u / (1.0 - d * u)


class Backend(Protocol):
    """What the drivers and the distributed tiles need from a back end (see :mod:`embeval.compute`)."""

    name: str  # "numpy" or "torch"
    device: str  # "cpu", "cuda:0", ...
    oom_errors: tuple[type[BaseException], ...]  # errors that mean "retry with smaller blocks"

    def put(self, x: np.ndarray) -> Placed: ...
    def sq_norms(self, a: Placed, rows: slice) -> Any: ...
    def block_elements(self) -> int: ...
    def pair_sum(
        self,
        a: Placed,
        b: Placed,
        rows: slice,
        cols: slice,
        kernel,
        *,
        triangle: bool = False,
        skip_diagonal: bool = False,
    ) -> float: ...
    def topk(
        self,
        q: Placed,
        x: Placed,
        rows: slice,
        cols: slice,
        k: int,
        *,
        self_ids: np.ndarray | None = None,
        metric: str = "ip",
    ) -> tuple[np.ndarray, np.ndarray]: ...
    def histogram(
        self, a: Placed, b: Placed, rows: slice, cols: slice, binner, *, skip_diagonal: bool = False
    ) -> np.ndarray: ...
    def class_sums(self, x: Placed, rows: slice, codes: np.ndarray, n_classes: int) -> np.ndarray: ...
    def scores(self, q: Placed, x: Placed, rows: slice, cols: slice, out: np.ndarray | None = None) -> np.ndarray: ...
    def sync(self) -> None: ...


class NumpyBackend:
    """float32 products with NumPy's BLAS; top-k in FAISS's heaps; float64 reductions."""

    name = "numpy"
    device = "cpu"
    oom_errors: tuple[type[BaseException], ...] = ()

    def put(self, x: np.ndarray) -> Placed:
        x = np.ascontiguousarray(x, dtype=np.float32)  # no copy when already float32 C-order
        return Placed(x, x.shape[0], x.shape[1])

    def sq_norms(self, a: Placed, rows: slice):
        if a._sq is None:
            a._sq = np.einsum("ij,ij->i", a.x, a.x)
        return a._sq[rows]

    def block_elements(self) -> int:
        return BLOCK_ELEMENTS

    def sync(self) -> None:
        pass

    def _gram(self, a: Placed, b: Placed, rows: slice, cols: slice) -> np.ndarray:
        return a.x[rows] @ b.x[cols].T

    def pair_sum(self, a, b, rows, cols, kernel, *, triangle=False, skip_diagonal=False) -> float:
        g = self._gram(a, b, rows, cols)
        if kernel.needs_norms:
            g = kernel.numpy(g, self.sq_norms(a, rows), self.sq_norms(b, cols))
        else:
            g = kernel.numpy(g)
        r0, c0 = rows.start or 0, cols.start or 0
        if triangle:  # global column > global row; the block starts on the diagonal (c0 == r0)
            off = r0 - c0
            split = max(0, min(g.shape[1], off + g.shape[0]))  # columns right of it: all above
            return float(g[:, split:].sum(dtype=np.float64)) + float(
                np.triu(g[:, :split], off + 1).sum(dtype=np.float64)
            )
        if skip_diagonal:
            lo, hi = max(r0, c0), min(r0 + g.shape[0], c0 + g.shape[1])
            if lo < hi:
                r = np.arange(lo, hi)
                g[r - r0, r - c0] = 0.0
        return float(g.sum(dtype=np.float64))

    def topk(self, q, x, rows, cols, k, *, self_ids=None, metric="ip"):
        g = self._gram(q, x, rows, cols)
        c0 = cols.start or 0
        if metric == "l2":
            g *= 2.0
            g -= self.sq_norms(x, cols)[None, :]
        if self_ids is not None:
            r = np.flatnonzero((self_ids >= c0) & (self_ids < c0 + g.shape[1]))
            g[r, self_ids[r] - c0] = -np.inf
        nr, nc = g.shape
        kk = min(k, nc)
        probe = min(kk + 1, nc)
        g = np.ascontiguousarray(g)
        faiss = _faiss()
        # An empty min-heap is all (−inf, −1): what heapify() writes, without its OpenMP region
        # (≈ 20 ms per call here); _finish_topk sorts, so reorder() is not needed either.
        scores = np.full((nr, probe), -np.inf, dtype=np.float32)
        idx = np.full((nr, probe), -1, dtype=np.int64)
        heap = faiss.float_minheap_array_t()
        heap.nh, heap.k = nr, probe
        heap.val, heap.ids = faiss.swig_ptr(scores), faiss.swig_ptr(idx)
        heap.addn(nc, faiss.swig_ptr(g), c0, 0, nr)
        return _finish_topk(scores, idx, g, c0, kk, k)

    def histogram(self, a, b, rows, cols, binner, *, skip_diagonal=False) -> np.ndarray:
        slot = binner.numpy(self._gram(a, b, rows, cols))
        n = binner.nbins
        if skip_diagonal:
            r0, c0 = rows.start or 0, cols.start or 0
            lo, hi = max(r0, c0), min(r0 + slot.shape[0], c0 + slot.shape[1])
            if lo < hi:
                r = np.arange(lo, hi)
                slot[r - r0, r - c0] = -1
        slot = slot.ravel()
        slot[(slot < 0) | (slot > n)] = n
        return np.bincount(slot, minlength=n + 1)[:n].astype(np.int64)

    def scores(self, q, x, rows, cols, out=None) -> np.ndarray:
        """The float32 block ``q[rows] · x[cols]ᵀ`` on the host (into ``out`` when its shape fits):
        what the all-pairs AUC pass (:mod:`embeval.compute.auc`) counts."""
        a, b = q.x[rows], x.x[cols]
        if out is not None and out.shape == (a.shape[0], b.shape[0]):
            return np.matmul(a, b.T, out=out)
        return a @ b.T

    def class_sums(self, x, rows, codes, n_classes) -> np.ndarray:
        import scipy.sparse as sp

        xr = x.x[rows]
        m = xr.shape[0]
        ind = sp.csr_matrix((np.ones(m), (codes, np.arange(m))), shape=(n_classes, m))
        return np.asarray(ind @ xr.astype(np.float64))


def _nvidia_driver_present() -> bool:
    """A cheap check that needs no import: is an NVIDIA GPU visible to the OS?"""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if sys.platform.startswith("linux"):
        try:
            return bool(os.listdir("/proc/driver/nvidia/gpus"))
        except OSError:
            return False
    return sys.platform.startswith("win")  # no cheap check there: ask torch


def _torch_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


OTHER_ACCELERATORS = ("mps", "xpu", "npu", "hpu")  # torch devices for encoding; O(n²) work runs on the CPU


def check_device(device: str | None) -> str:
    """Validate a device string without importing anything; returns it normalised. Besides
    auto/cpu/cuda[:N], torch's other accelerators (mps, xpu[:N], ...) are accepted for encoding."""
    text = "auto" if device is None else str(device).strip().lower()
    if text in ("auto", "cpu", "cuda", *OTHER_ACCELERATORS):
        return text
    kind, _, index = text.partition(":")
    if kind in ("cuda", *OTHER_ACCELERATORS[1:]) and index.isdigit():
        return f"{kind}:{int(index)}"
    raise UsageError(f"`device` {device!r}: expected {DEVICE_HELP}")


def fallback_note(text: str) -> str | None:
    """A note when ``text`` (a device already checked, :func:`check_device`) names an accelerator
    that only encoding uses (mps, xpu, …): the O(n²) work runs on the CPU, and the report should
    say so rather than stay silent."""
    kind = text.split(":")[0]
    if kind in OTHER_ACCELERATORS:
        return f"device {text}: the O(n²) work ran on the CPU ({kind} is used only to encode texts)"
    return None


def resolve_device(device: str | None = "auto", *, rows: int | None = None) -> str:
    """The concrete device for ``device`` (``auto``|``cpu``|``cuda``|``cuda:N``): ``cpu`` or
    ``cuda:N``. ``rows``: size of the O(n²) work, used by ``auto`` (see module docstring).
    Raises UsageError for an unknown device, or CUDA asked for and unavailable."""
    return resolve_checked(check_device(device), rows=rows, given=device)


def resolve_checked(text: str, *, rows: int | None = None, given: str | None = None) -> str:
    """:func:`resolve_device` of a device already checked (:func:`check_device`); ``given``: the
    device as the caller wrote it, for messages."""
    shown = text if given is None else given
    if text == "cpu" or text.split(":")[0] in OTHER_ACCELERATORS:
        return "cpu"
    if text == "auto":
        if rows is None or rows < AUTO_MIN_ROWS or not _nvidia_driver_present() or not _torch_importable():
            return "cpu"
        try:
            import torch
        except (ImportError, OSError):  # a broken torch install: stay on the CPU
            return "cpu"
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if not _torch_importable():
        raise MissingExtra(f"`device` {shown!r}", "gpu", "torch")
    import torch

    if not torch.cuda.is_available():
        raise UsageError(f"`device` {shown!r}: CUDA is not available (torch {torch.__version__}; use cpu or auto)")
    n = 0 if text == "cuda" else int(text[5:])
    if n >= torch.cuda.device_count():
        raise UsageError(f"`device` {shown!r}: only {torch.cuda.device_count()} CUDA device(s)")
    return f"cuda:{n}"


_BACKENDS: dict[tuple[str, str], Any] = {}


def get_backend(device: str | None = "cpu", *, rows: int | None = None, engine: str | None = None) -> Backend:
    """The back end for ``device`` (resolved with :func:`resolve_device`). ``engine="torch"`` forces
    the torch back end even on the CPU (how the tests cover it without a GPU)."""
    return backend_for(resolve_device(device, rows=rows), engine)


def backend_for(dev: str, engine: str | None = None) -> Backend:
    """The back end on a resolved device (``cpu`` or ``cuda:N``), made once and kept."""
    eng = engine or ("torch" if dev.startswith("cuda") else "numpy")
    if eng not in ("numpy", "torch"):
        raise UsageError(f"compute engine {engine!r}: expected numpy or torch")
    key = (eng, dev)
    if key not in _BACKENDS:
        if eng == "numpy":
            _BACKENDS[key] = NumpyBackend()
        else:
            from embeval.compute.torch_backend import TorchBackend

            _BACKENDS[key] = TorchBackend(dev)
    return _BACKENDS[key]


def timed(fn, backend) -> float:
    backend.sync()
    t0 = time.perf_counter()
    fn()
    backend.sync()
    return time.perf_counter() - t0

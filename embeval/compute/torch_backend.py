"""The torch back end: the tiles of :mod:`embeval.compute` as torch ops, on CUDA or on CPU tensors.

float32 products with TF32 switched off (``allow_tf32 = False``, matmul precision "highest"), so a
CUDA product is a true float32 product; every reduction accumulates in float64. The only module of
embeval that imports torch at module level.
"""

from __future__ import annotations

import numpy as np
import torch

from embeval.compute.tiles import BLOCK_ELEMENTS, Placed, _finish_topk

MIN_BLOCK = 1 << 16
MAX_BLOCK = 1 << 30


def _no_tf32() -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


class TorchBackend:
    name = "torch"

    def __init__(self, device: str = "cpu"):
        _no_tf32()
        self.device = device
        self.dev = torch.device(device)
        self.cuda = self.dev.type == "cuda"
        self.oom_errors: tuple[type[BaseException], ...] = (torch.cuda.OutOfMemoryError,) if self.cuda else ()

    def put(self, x: np.ndarray) -> Placed:
        x = np.ascontiguousarray(x, dtype=np.float32)
        t = torch.from_numpy(x)  # shares memory on the CPU: no copy
        if self.cuda:
            t = t.to(self.dev)
        return Placed(t, x.shape[0], x.shape[1])

    def sq_norms(self, a: Placed, rows: slice):
        if a._sq is None:
            a._sq = torch.einsum("ij,ij->i", a.x, a.x)
        return a._sq[rows]

    def block_elements(self) -> int:
        """float32 products per block: a quarter of the free device memory over the ~3 block-sized
        temporaries a tile holds (CUDA), or the NumPy back end's block (CPU)."""
        if not self.cuda:
            return BLOCK_ELEMENTS
        free, _ = torch.cuda.mem_get_info(self.dev)
        return int(max(MIN_BLOCK, min(MAX_BLOCK, free // 4 // (4 * 3))))

    def release(self) -> None:
        """Return cached blocks to the device after an out-of-memory error."""
        if self.cuda:
            torch.cuda.empty_cache()

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.dev)

    def _gram(self, a: Placed, b: Placed, rows: slice, cols: slice):
        return a.x[rows] @ b.x[cols].T

    def pair_sum(self, a, b, rows, cols, kernel, *, triangle=False, skip_diagonal=False) -> float:
        g = self._gram(a, b, rows, cols)
        if kernel.needs_norms:
            g = kernel.torch(g, self.sq_norms(a, rows), self.sq_norms(b, cols))
        else:
            g = kernel.torch(g)
        r0, c0 = rows.start or 0, cols.start or 0
        if triangle:
            off = r0 - c0
            split = max(0, min(g.shape[1], off + g.shape[0]))
            total = g[:, split:].sum(dtype=torch.float64) + torch.triu(g[:, :split], off + 1).sum(dtype=torch.float64)
            return float(total)
        if skip_diagonal:
            lo, hi = max(r0, c0), min(r0 + g.shape[0], c0 + g.shape[1])
            if lo < hi:
                r = torch.arange(lo, hi, device=g.device)
                g[r - r0, r - c0] = 0.0
        return float(g.sum(dtype=torch.float64))

    def topk(self, q, x, rows, cols, k, *, self_ids=None, metric="ip"):
        g = self._gram(q, x, rows, cols)
        c0 = cols.start or 0
        if metric == "l2":
            g.mul_(2.0).sub_(self.sq_norms(x, cols)[None, :])
        if self_ids is not None:
            r = np.flatnonzero((self_ids >= c0) & (self_ids < c0 + g.shape[1]))
            if len(r):
                rt = torch.from_numpy(r).to(g.device)
                ct = torch.from_numpy(self_ids[r] - c0).to(g.device)
                g[rt, ct] = float("-inf")
        nc = g.shape[1]
        kk = min(k, nc)
        probe = min(kk + 1, nc)
        s, i = torch.topk(g, probe, dim=1, largest=True, sorted=True)
        scores = s.cpu().numpy().astype(np.float32, copy=True)
        idx = i.cpu().numpy().astype(np.int64) + c0
        return _finish_topk(scores, idx, lambda r: g[r].cpu().numpy(), c0, kk, k)

    def histogram(self, a, b, rows, cols, binner, *, skip_diagonal=False) -> np.ndarray:
        slot = binner.torch(self._gram(a, b, rows, cols))
        n = binner.nbins
        if skip_diagonal:
            r0, c0 = rows.start or 0, cols.start or 0
            lo, hi = max(r0, c0), min(r0 + slot.shape[0], c0 + slot.shape[1])
            if lo < hi:
                r = torch.arange(lo, hi, device=slot.device)
                slot[r - r0, r - c0] = -1
        slot = slot.reshape(-1)
        slot = slot[(slot >= 0) & (slot < n)]
        return torch.bincount(slot, minlength=n)[:n].cpu().numpy().astype(np.int64)

    def scores(self, q, x, rows, cols, out=None) -> np.ndarray:
        """The float32 block ``q[rows] · x[cols]ᵀ`` computed on the device, copied to the host
        (into ``out`` when its shape fits) for the all-pairs AUC counts."""
        g = self._gram(q, x, rows, cols).cpu().numpy()
        if out is not None and out.shape == g.shape:
            np.copyto(out, g)
            return out
        return g

    def class_sums(self, x, rows, codes, n_classes) -> np.ndarray:
        xr = x.x[rows].to(torch.float64)
        out = torch.zeros((n_classes, xr.shape[1]), dtype=torch.float64, device=xr.device)
        out.index_add_(0, torch.from_numpy(np.asarray(codes, dtype=np.int64)).to(xr.device), xr)
        return out.cpu().numpy()

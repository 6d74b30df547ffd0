"""Ranges of the commands' own parameters, declared once as data and checked once, up front, for
the CLI, the Python API and ``embeval run`` configs alike (the diagnostics' parameters are declared
the same way in :mod:`embeval.diagnostics.registry`).

``check_options(seed=-1)`` raises ``OptionError("`seed`=-1: must be ≥ 0")`` before any file
is read; ``None`` means "the default" and is never checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from embeval.errors import OptionError, UsageError
from embeval.params import Param, bound


@dataclass(frozen=True)
class Option(Param):
    """A Param with an open upper bound and, for text, a pattern it must match."""

    high_open: bool = False
    pattern: str | None = None
    pattern_help: str = ""

    def check(self, name: str, value: Any) -> Any:
        try:
            return self._check(name, value)
        except OptionError:
            raise
        except UsageError as exc:  # Param.check's message: "parameter NAME=VALUE: PROBLEM"
            raise OptionError(name, value, str(exc).split(": ", 1)[-1]) from None

    def _check(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        if self.type is int and (isinstance(value, bool) or not _is_int(value)):
            raise OptionError(name, value, "expected an integer")
        if self.type is float and (isinstance(value, bool) or not _is_real(value)):
            raise OptionError(name, value, "expected a number")
        if self.type is str:
            if not isinstance(value, str):
                raise OptionError(name, value, "expected text")
            if self.pattern and not re.fullmatch(self.pattern, value):
                raise OptionError(name, value, self.pattern_help)
            return value
        value = super().check(name, value)
        if self.high_open and self.high is not None and value >= self.high:
            raise OptionError(name, value, f"must be < {bound(self.high)}")
        return value


def _is_int(v: Any) -> bool:
    import numbers

    return isinstance(v, numbers.Integral)


def _is_real(v: Any) -> bool:
    import numbers

    return isinstance(v, numbers.Real)


SEED_MAX = 2**31 - 1  # FAISS k-means takes a C int
# Sampled pairs: a 95% CI from 10⁹ pairs is already ±6·10⁻⁵ standard deviations wide, and 10⁹ pairs
# take about a minute on one core; more only costs time (a typo such as 100000000000 would run for
# hours). A sample of at least n(n−1)/2 pairs computes the exact value instead, and the run's budget
# bounds the sample (embeval.diagnostics.geometry.uniformity).
SAMPLE_MAX = 10**9
# Worker processes of --cluster local:N: each is a Python process with its own BLAS and one tile in
# memory, so more than 4 per core only adds memory and start-up time (a typo like local:100000
# would fork that many); a bigger cluster is a scheduler address (tcp://...).
LOCAL_WORKERS_PER_CPU = 4

OPTIONS: dict[str, Option] = {
    "seed": Option(int, 0, "seed of every random choice", low=0, high=SEED_MAX),
    "sample": Option(int, 0, "random pairs for uniformity (0 = exact)", low=0, high=SAMPLE_MAX),
    "items_k": Option(int, 10, "neighbours for the per-item table", low=1),
    "near_dup_threshold": Option(float, 0.99, "cosine at which a row is a near duplicate", low=-1, high=1),
    "folds": Option(int, 5, "cross-validation folds", low=2),
    "k": Option(int, 10, "neighbours for knn_mixing", low=1),
    "shift_lambda": Option(float, None, "gap_shift distance (rows are unit vectors, so |λ| ≤ 10)", low=-10, high=10),
    "threads": Option(int, None, "CPU threads (default: all cores)", low=1),
    "batch_size": Option(int, 32, "encoding batch size", low=1),
    "max_seq_length": Option(int, None, "tokens per text", low=1),
    "m": Option(int, 32, "hnsw links per node", low=2),
    "ef_construction": Option(int, 200, "hnsw build-time list", low=1),
    "ef_search": Option(int, 128, "hnsw search-time list", low=1),
    "nlist": Option(int, None, "ivf cells", low=1),
    "nprobe": Option(int, 16, "ivf cells visited", low=1),
    "confidence": Option(float, 0.95, "confidence of an interval", low=0, low_open=True, high=1, high_open=True),
    "n_boot": Option(int, 10_000, "bootstrap resamples", low=1, high=10_000_000),
    "device": Option(
        str,
        None,
        "torch device",
        pattern=r"auto|cpu|mps|(cuda|xpu|npu|hpu)(:\d+)?",
        pattern_help="choose auto, cpu, cuda, cuda:N, mps (or xpu/npu/hpu[:N])",
    ),
    "cluster": Option(
        str,
        None,
        "Dask cluster",
        pattern=r"local:[1-9]\d*|[A-Za-z][A-Za-z0-9+.-]*://\S+",
        pattern_help="choose local:N (N ≥ 1 worker processes) or a scheduler address such as tcp://HOST:8786",
    ),
    "split": Option(
        str,
        "test",
        "qrels split of a BEIR folder",
        pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
        pattern_help="a split name such as test, dev or train (letters, digits, _ . -; no folders)",
    ),
}


def check_option(name: str, value: Any) -> Any:
    value = OPTIONS[name].check(name, value)
    if name == "cluster" and isinstance(value, str) and value.startswith("local:"):
        check_local_workers(name, value)
    return value


def local_workers_max() -> int:
    """The most worker processes ``local:N`` may start on this machine (see LOCAL_WORKERS_PER_CPU)."""
    import os

    return LOCAL_WORKERS_PER_CPU * (os.cpu_count() or 1)


def check_local_workers(name: str, spec: str) -> None:
    n = int(spec.split(":", 1)[1])
    top = local_workers_max()
    if n > top:
        raise OptionError(
            name,
            spec,
            f"at most local:{top} ({LOCAL_WORKERS_PER_CPU} worker processes per CPU core of this machine); "
            "for more workers start a Dask cluster and give its scheduler address (tcp://HOST:8786)",
        )


def check_options(**values: Any) -> None:
    """Check each named value against its declaration (unknown names are a programming error)."""
    for name, value in values.items():
        check_option(name, value)


def check_split(split: str) -> None:
    check_option("split", split)
    if ".." in split:
        raise OptionError("split", split, OPTIONS["split"].pattern_help)


# Index parameters whose command-line name differs (``m`` is --hnsw-m).
_INDEX_NAMES = {"m": "hnsw_m"}


def check_index_params(params: dict[str, Any] | None) -> None:
    for name, value in (params or {}).items():
        if name in OPTIONS:
            try:
                check_option(name, value)
            except OptionError as exc:
                raise OptionError(_INDEX_NAMES.get(name, name), value, exc.problem) from None


def check_encoder(encoder) -> None:
    """An EncoderConfig's numbers and device, before any model is loaded."""
    if encoder is None:
        return
    check_options(batch_size=encoder.batch_size, max_seq_length=encoder.max_seq_length, device=encoder.device)
    cache_dir = getattr(encoder, "cache_dir", None)
    if getattr(encoder, "cache", False) and cache_dir is not None:
        from pathlib import Path

        if Path(cache_dir).exists() and not Path(cache_dir).is_dir():
            raise OptionError("cache_dir", str(cache_dir), "exists and is not a folder")
    device = encoder.device
    if device and device.startswith("cuda"):
        from embeval.errors import require_extra

        require_extra(f"`device` {device!r}", "encode", "torch")
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        if index >= count:
            raise OptionError(
                "device",
                device,
                f"no such device: this machine has {count} CUDA device(s)" + ("; use cpu" if count == 0 else ""),
            )

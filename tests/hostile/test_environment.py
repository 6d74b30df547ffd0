"""Exit code 4: the environment failed, not the input and not embeval (review trust-3 H3). A lost Dask
scheduler, lost workers, a full disk, memory running out, a GPU error: one line on stderr, no
traceback unless EMBEVAL_DEBUG=1, Dask's own loggers silent, exit 4, no output file."""

from __future__ import annotations

import errno
import logging
from types import SimpleNamespace

import numpy as np
import pytest


def _dask_errors():
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    return {
        "comm_closed": CommClosedError("in <TCP (closed) ConnectionPool.gather>: Stream is closed"),
        "future_cancelled": FutureCancelledError("_pair_task-1", reason="scheduler-connection-lost"),
        "killed_worker": KilledWorker("_pair_task-1", SimpleNamespace(address="tcp://127.0.0.1:2"), 3),
    }


def _torch_errors():
    import torch

    return {
        "cuda_oom": torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        "cuda_error": RuntimeError("CUDA error: an illegal memory access was encountered"),
    }


FAILURES = {
    "memory": lambda: MemoryError(),
    "enospc": lambda: OSError(errno.ENOSPC, "No space left on device", "r.json"),
    "edquot": lambda: OSError(errno.EDQUOT, "Disk quota exceeded"),
    "efbig": lambda: OSError(errno.EFBIG, "File too large"),
    **{k: (lambda k=k: _dask_errors()[k]) for k in ("comm_closed", "future_cancelled", "killed_worker")},
    **{k: (lambda k=k: _torch_errors()[k]) for k in ("cuda_oom", "cuda_error")},
}
NOT_ENVIRONMENT = {  # what stays 2 (a file problem) and 3 (a bug)
    "enoent": (lambda: OSError(errno.ENOENT, "No such file or directory", "gone.npy"), 2),
    "value_error": (lambda: ValueError("a bug"), 3),
    "plain_runtime": (lambda: RuntimeError("not a GPU problem"), 3),
}


def _raise(make):
    def boom(*a, **k):
        raise make()

    return boom


@pytest.mark.parametrize("kind", list(FAILURES))
def test_environment_failures_are_exit_4_one_line(kind, cli, tmp_path, monkeypatch):
    import embeval.api

    monkeypatch.delenv("EMBEVAL_DEBUG", raising=False)
    monkeypatch.setattr(embeval.api, "geometry_report", _raise(FAILURES[kind]))
    np.save(tmp_path / "a.npy", np.eye(4, dtype="f4") + 1)
    res = cli("geometry", tmp_path / "a.npy", "-q", "-o", tmp_path / "r.json")
    assert res.exit_code == 4, (res.exit_code, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("embeval: error: the environment failed: "), res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("kind", list(NOT_ENVIRONMENT))
def test_other_failures_keep_their_codes(kind, cli, tmp_path, monkeypatch):
    import embeval.api

    make, code = NOT_ENVIRONMENT[kind]
    monkeypatch.setattr(embeval.api, "geometry_report", _raise(make))
    np.save(tmp_path / "a.npy", np.eye(4, dtype="f4") + 1)
    res = cli("geometry", tmp_path / "a.npy", "-q")
    assert res.exit_code == code and "environment" not in res.stderr, res.stderr


def test_debug_shows_the_traceback(cli, tmp_path, monkeypatch):
    import embeval.api

    monkeypatch.setenv("EMBEVAL_DEBUG", "1")
    monkeypatch.setattr(embeval.api, "geometry_report", _raise(FAILURES["memory"]))
    np.save(tmp_path / "a.npy", np.eye(4, dtype="f4") + 1)
    res = cli("geometry", tmp_path / "a.npy", "-q")
    assert res.exit_code == 4 and "Traceback" in res.stderr


def test_batch_item_whose_environment_failed_makes_the_run_exit_4(cli, tmp_path, monkeypatch):
    import embeval.api.geometry

    np.save(tmp_path / "a.npy", np.eye(4, dtype="f4") + 1)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[[datasets]]\nname='a'\nkind='embeddings'\npath='a.npy'\n[[jobs]]\ncommand='geometry'\n"
        "metrics=['uniformity']\n"
    )
    monkeypatch.setattr(embeval.api.geometry, "run_diagnostic", _raise(FAILURES["enospc"]))
    res = cli("run", cfg, "-q", "--out-dir", tmp_path / "o")
    assert res.exit_code == 4, res.stderr
    assert "the environment failed" in (tmp_path / "o" / "report.md").read_text()


def test_help_documents_exit_4(cli):
    text = " ".join(cli("--help").stdout.split())
    assert "4 = the environment failed" in text


def test_scheduler_lost_mid_run_is_exit_4_one_line(cli, tmp_path, monkeypatch):
    """A real LocalCluster whose scheduler is closed after the first tile arrives: Dask cancels the
    rest (scheduler-connection-lost); embeval says so in one line, exit 4, and Dask's loggers (which
    printed a multi-line ERROR record with a traceback before) say nothing."""
    import dask
    import distributed

    rng = np.random.default_rng(0)
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(4):
        np.save(shards / f"s{i}.npy", rng.standard_normal((300, 8)).astype("f4"))
    real = distributed.as_completed
    closed = []

    def close_after_first(futures, *a, **k):
        it = real(futures, *a, **k)
        first = next(it)
        yield first
        first.client.cluster.sync(first.client.cluster.scheduler.close)  # the scheduler dies
        closed.append(True)
        yield from it

    monkeypatch.setattr(distributed, "as_completed", close_after_first)
    monkeypatch.delenv("EMBEVAL_DEBUG", raising=False)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("distributed").addHandler(handler)
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
            res = cli("geometry", shards, "--cluster", "local:1", "-m", "uniformity", "-q", "-o", tmp_path / "r.json")
    finally:
        logging.getLogger("distributed").removeHandler(handler)
    assert closed, "the run finished before the scheduler could be closed"
    assert res.exit_code == 4, (res.exit_code, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "lost the local Dask cluster" in lines[0] and "scheduler" in lines[0], res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "r.json").exists()
    assert not [r for r in records if r.levelno >= logging.WARNING], [r.getMessage() for r in records]

"""Shared fixtures: seeded data, paths to ../shared/data, a Typer runner, and ``--model mock``
(a seeded mock encoder, tests/mock_encoder.py) so that only the real-data checks load the model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import mock_encoder  # noqa: E402  (tests/ is on the path: pyproject's pythonpath)

mock_encoder.register()

import cli_cache  # noqa: E402

cli_cache.install()  # the Typer app's Click tree built once, not on every CliRunner.invoke

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data; the test is skipped where that data is absent (CI has it)."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def gauss(rng) -> np.ndarray:
    return rng.standard_normal((300, 16)).astype(np.float32)


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def cli(runner):
    """Invoke the CLI; returns the click Result (exit_code, stdout, stderr)."""
    from embeval.cli import app

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """One embedding cache for the whole run: each text is encoded by the model once."""
    return tmp_path_factory.mktemp("embeval-cache")


_DASK: dict = {}


@pytest.fixture(scope="session")
def dask_client():
    """One LocalCluster of 2 worker processes (one thread each) for every test that only needs a
    healthy cluster: started on first use, closed right after the last test that uses it (an idle
    scheduler in this process would tick beside every later test). Tests that kill a worker or the
    scheduler, need other worker environment, or test ``--cluster local:N`` itself start their own."""
    pytest.importorskip("distributed")
    from embeval.distributed.cluster import open_client

    _DASK["cm"] = open_client("local:2")
    try:
        yield _DASK["cm"].__enter__()
    finally:
        _close_dask_client()


def _close_dask_client() -> None:
    cm = _DASK.pop("cm", None)
    if cm is not None:
        cm.__exit__(None, None, None)


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: the items that will run
def pytest_collection_modifyitems(items):
    users = [item.nodeid for item in items if "dask_client" in getattr(item, "fixturenames", ())]
    _DASK["last"] = users[-1] if users else None


def pytest_runtest_teardown(item, nextitem):
    if item.nodeid == _DASK.get("last"):
        _close_dask_client()


def write_small_sharded_set(root):
    """240 × 8 seeded rows as ``full.npy`` and as 3 uneven ``.npy`` shards in ``shards/``, 30 queries
    near corpus rows (``queries.npy``) and their qrels (``qrels.tsv``): the cluster tests' small set."""
    import numpy as np

    rng = np.random.default_rng(3)
    x = rng.standard_normal((240, 8)).astype(np.float32)
    np.save(root / "full.npy", x)
    (root / "shards").mkdir()
    for i, (a, b) in enumerate([(0, 70), (70, 160), (160, 240)]):
        np.save(root / "shards" / f"part{i}.npy", x[a:b])
    src = rng.integers(0, 240, 30)
    np.save(root / "queries.npy", x[src] + 0.5 * rng.standard_normal((30, 8)).astype(np.float32))
    (root / "qrels.tsv").write_text("".join(f"{i}\t{s}\t1\n" for i, s in enumerate(src)))
    return root, x
